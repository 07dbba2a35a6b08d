"""Where the ONNX graphs run: the CPU, or a CUDA GPU through ONNX Runtime or through PyTorch.

Two GPU paths because GPU machines differ: onnxruntime-gpu runs the very same runtime as the CPU
path (fewest numerical differences) but is a separate wheel that must replace onnxruntime; many
GPU machines instead have PyTorch with CUDA already, where the same ONNX bytes are converted with
onnx2torch. Either way the model's sha256 is that of the ONNX bytes, so provenance names the
graph that ran, and `Backend` says how it ran (recorded in run.json).

Nothing here imports torch or onnx2torch at module level: they are optional (`emoaudit[gpu-torch]`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from emoaudit.errors import (
    CUDA_PROVIDER_NOT_LOADED,
    NO_CUDA,
    NOT_ONNX,
    UNKNOWN_CUDA_RUNTIME,
    UNKNOWN_DEVICE,
    EmoauditError,
    ModelError,
)

DEVICES = ("cpu", "cuda")
ORT_CPU = "onnxruntime-cpu"
ORT_CUDA = "onnxruntime-cuda"
TORCH_CUDA = "torch-cuda"
CUDA_RUNTIMES = ("onnxruntime", "torch")
RUNTIME_ENV = "EMOAUDIT_CUDA_RUNTIME"  # force one CUDA path when both are installed
CPU_BATCH_SIZE = 16  # measured fastest on CPU for all three built-ins (docs/benchmarks.md)
# End to end on an H200, batch 64 beat 256 and 1024 for all three built-ins in two runs
# (docs/benchmarks.md): the CPU work per face, not the GPU, bounds an audit of these small nets.
GPU_BATCH_SIZE = 64


@dataclass(frozen=True)
class Backend:
    """How the graphs run: `device` as asked, `runtime` as chosen, `detail` for provenance."""

    device: str
    runtime: str
    detail: str

    def message(self) -> str:
        return f"device: {self.device} via {self.runtime} ({self.detail})"

    def as_dict(self) -> dict[str, str]:
        return {"device": self.device, "runtime": self.runtime, "detail": self.detail}


def default_batch_size(device: str) -> int:
    return GPU_BATCH_SIZE if device == "cuda" else CPU_BATCH_SIZE


def default_workers(device: str) -> int:
    """One worker feeds the GPU; on CPU, one per core.

    On an H200 with 16 cores, 2, 4 and 8 workers sharing the converted module were slower end to
    end than one for fer-mini-xception and human-emotion (the module's Python dispatch competes
    with decoding for the GIL); for faceapi-expression 2 and 4 were within 10% of one (2: +9%)
    and 8 slower (docs/benchmarks.md).
    """
    return 1 if device == "cuda" else max(1, os.cpu_count() or 1)


def choose_backend(device: str = "cpu") -> Backend:
    """Pick the runtime for `device`: ONNX Runtime CUDA first, then PyTorch CUDA, else one error.

    EMOAUDIT_CUDA_RUNTIME=onnxruntime|torch restricts the choice to one path (benchmarks use it
    to measure both on a machine that has both).
    """
    if device not in DEVICES:
        raise EmoauditError(UNKNOWN_DEVICE.format(device=device, known=", ".join(DEVICES)))
    if device == "cpu":
        return Backend(device="cpu", runtime=ORT_CPU, detail="CPUExecutionProvider")
    only = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if only and only not in CUDA_RUNTIMES:
        known = ", ".join(CUDA_RUNTIMES)
        raise EmoauditError(UNKNOWN_CUDA_RUNTIME.format(value=only, known=known))
    reasons = []
    if only in ("", "onnxruntime"):
        providers = _ort_providers()
        if "CUDAExecutionProvider" in providers:
            return Backend(device="cuda", runtime=ORT_CUDA, detail="CUDAExecutionProvider")
        reasons.append(f"onnxruntime has no CUDAExecutionProvider, only {', '.join(providers)}")
    if only in ("", "torch"):
        found, why = _torch_cuda()
        if found:
            return Backend(device="cuda", runtime=TORCH_CUDA, detail=found)
        reasons.append(why)
    raise EmoauditError(NO_CUDA.format(why="; ".join(reasons)))


def _ort_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _torch_cuda() -> tuple[str, str]:
    """(GPU name and torch version, "") when PyTorch can run on CUDA, else ("", why not)."""
    if importlib.util.find_spec("torch") is None:
        return "", "PyTorch is not installed"
    torch = importlib.import_module("torch")
    if not torch.cuda.is_available():
        return "", f"PyTorch {torch.__version__} sees no CUDA device"
    if importlib.util.find_spec("onnx2torch") is None:
        return "", f"PyTorch {torch.__version__} has CUDA but onnx2torch is not installed"
    name = torch.cuda.get_device_name(0)
    return f"{name}, torch {torch.__version__}", ""


def ort_providers(backend: Backend) -> list[Any]:
    """The provider list handed to onnxruntime.InferenceSession for this backend."""
    if backend.runtime == ORT_CUDA:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def check_session_providers(session: Any, *, backend: Backend, name: str) -> None:
    """onnxruntime-gpu silently falls back to CPU when CUDA or cuDNN fail to load: refuse that."""
    if backend.runtime != ORT_CUDA:
        return
    active = list(session.get_providers())
    if not active or active[0] != "CUDAExecutionProvider":
        raise ModelError(CUDA_PROVIDER_NOT_LOADED.format(name=name, active=", ".join(active)))


class TorchSession:
    """An onnx2torch module behind the part of ONNX Runtime's session API that emoaudit uses.

    LoadedModel calls `run(None, {input_name: x})[0]`; benchmarks read `get_inputs()`. Keeping that
    shape means the runner, the predictions and the provenance have one code path for every backend.
    """

    def __init__(self, module: Any, *, input_name: str, input_shape: list, device: str) -> None:
        self.module = module
        self.device = device
        self._inputs = [SimpleNamespace(name=input_name, shape=input_shape)]

    def get_inputs(self) -> list[Any]:
        return self._inputs

    def get_providers(self) -> list[str]:
        return [f"torch:{self.device}"]

    def run(self, output_names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(feeds[self._inputs[0].name], dtype=np.float32))
        with torch.inference_mode():
            y = self.module(x.to(self.device, non_blocking=True))
        if isinstance(y, (tuple, list)):
            y = y[0]
        return [y.float().cpu().numpy()]


def open_torch_session(data: bytes, *, path: Any, device: str = "cuda") -> TorchSession:
    """Convert the ONNX bytes with onnx2torch and place the module on `device`."""
    import onnx
    import onnx2torch

    try:
        proto = explicit_pads(onnx.load_from_string(data))
        module = onnx2torch.convert(proto)
    except Exception as exc:  # onnx2torch raises NotImplementedError, KeyError, ... per op
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(NOT_ONNX.format(path=path, why=f"onnx2torch: {why[:200]}")) from None
    initializers = {t.name for t in proto.graph.initializer}
    first = next(i for i in proto.graph.input if i.name not in initializers)
    dims = first.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]
    module = module.eval().to(device)
    exact_float32(importlib.import_module("torch"))
    return TorchSession(module, input_name=first.name, input_shape=shape, device=device)


def exact_float32(torch: Any) -> None:
    """Keep PyTorch's convolutions and matrix products in full float32 (no TF32) for the audit.

    PyTorch lets cuDNN use TF32 for convolutions by default on Ampere and later GPUs. Measured on
    an H200 (docs/benchmarks.md), that moved fer-mini-xception's probabilities up to 4.1e-4 from
    ONNX Runtime on the CPU; switched off, every built-in agreed to 3e-7. It slows the bare
    network at batch 1024 (fer-mini-xception 157k -> 124k images/s), but an audit runs at 2-5k
    images/s end to end there, bounded by the CPU work per face, so no audit gets slower. An
    audit wants the model's own numbers; the setting is process-wide and set at each load.
    """
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def explicit_pads(proto: Any) -> Any:
    """Replace auto_pad SAME_UPPER/SAME_LOWER by the explicit pads ONNX Runtime would use.

    onnx2torch refuses SAME_* padding, which graphs converted from Keras and tfjs use throughout;
    with fixed spatial sizes (shape inference gives them) the pads are known numbers. A node whose
    sizes stay unknown is left as it was, for onnx2torch to refuse with its own reason.
    """
    import onnx
    from onnx import helper

    inferred = onnx.shape_inference.infer_shapes(proto)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    shapes = {v.name: [d.dim_value or None for d in v.type.tensor_type.shape.dim] for v in values}
    weights = {t.name: list(t.dims) for t in proto.graph.initializer}
    for node in proto.graph.node:
        attrs = {a.name: a for a in node.attribute}
        mode = attrs.get("auto_pad")
        if mode is None or mode.s not in (b"SAME_UPPER", b"SAME_LOWER"):
            continue
        spatial = shapes.get(node.input[0], [])[2:]
        if "kernel_shape" in attrs:
            kernel = list(attrs["kernel_shape"].ints)
        else:
            kernel = weights.get(node.input[1], [])[2:] if len(node.input) > 1 else []
        if not spatial or None in spatial or len(kernel) != len(spatial):
            continue
        rank = len(spatial)
        strides = list(attrs["strides"].ints) if "strides" in attrs else [1] * rank
        dilations = list(attrs["dilations"].ints) if "dilations" in attrs else [1] * rank
        begins, ends = [], []
        for size, k, stride, dil in zip(spatial, kernel, strides, dilations, strict=True):
            total = max((-(-size // stride) - 1) * stride + (k - 1) * dil + 1 - size, 0)
            small = total // 2
            upper = mode.s == b"SAME_UPPER"
            begins.append(small if upper else total - small)
            ends.append(total - small if upper else small)
        node.attribute.remove(mode)
        node.attribute.append(helper.make_attribute("pads", begins + ends))
    return proto
