"""A model ready to run: its ModelInfo plus one ONNX Runtime session, and the sha256 of its bytes.

Every model, built-in or user-supplied, runs the same way, so the runner needs one code path. The
sha256 is computed from the exact bytes handed to ONNX Runtime, external data files included
(models/external_data.py): what the provenance records is what ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoaudit.errors import BAD_MODEL_INPUT, MISSING_PATH, NOT_ONNX, ModelError
from emoaudit.models.base import InputSpec, ModelInfo
from emoaudit.models.external_data import resolve_external_data


@dataclass
class LoadedModel:
    info: ModelInfo
    session: Any  # onnxruntime.InferenceSession
    sha256: str
    input_name: str
    fixed_batch: int | None = None  # a graph exported with batch 1 is run one sample at a time
    run_batch: int | None = None  # faces per session call at most (ModelInfo.cpu_run_batch)
    backend: Any = None  # emoaudit.models.device.Backend: where and how the graph runs
    output_index: int = 0  # which graph output holds the scores (ModelInfo.output)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """(n, n_labels) float32 probabilities in ``info.labels`` order."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, len(self.info.labels)), dtype=np.float32)
        step = 1 if self.fixed_batch == 1 else self.run_batch
        if step and len(x) > step:
            out = np.concatenate([self._run(x[i : i + step]) for i in range(0, len(x), step)])
        else:
            out = self._run(x)
        out = out.reshape(len(x), -1).astype(np.float32, copy=False)
        if self.info.output_columns is not None:
            start, stop = self.info.output_columns
            out = np.ascontiguousarray(out[:, start:stop])
        if out.shape[1] != len(self.info.labels):
            why = f"outputs {out.shape[1]} values per face but {len(self.info.labels)} labels"
            raise ModelError(BAD_MODEL_INPUT.format(name=self.info.name, why=why))
        if not self.info.outputs_probabilities:
            out = softmax(out)
        return out

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[self.output_index]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def load_model(
    name_or_path: str,
    *,
    spec_path: Path | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> LoadedModel:
    """A registered model by name, or ``path/to/model.onnx`` described by a TOML spec file."""
    if str(name_or_path).endswith(".onnx"):
        from emoaudit.models.generic_onnx import generic_model_info

        info = generic_model_info(Path(name_or_path), spec_path=spec_path)
    else:
        info = resolve_info(name_or_path)
    return open_session(info, threads=threads, device=device)


def resolve_info(name: str) -> ModelInfo:
    """Look a name up in MODELS; unknown names and unbuilt built-ins become one-line ModelErrors."""
    from emoaudit.models import MODELS
    from emoaudit.registry import RegistryError

    try:
        target = MODELS.get(name)
    except RegistryError as exc:
        raise ModelError(str(exc)) from None
    info = target if isinstance(target, ModelInfo) else target()
    if not isinstance(info, ModelInfo):
        raise ModelError(f"model '{name}': registry entry did not give a ModelInfo")
    return info


def open_session(
    info: ModelInfo, *, threads: int | None = None, device: str = "cpu"
) -> LoadedModel:
    """Create the ONNX Runtime session; a file that is not ONNX gets errors.NOT_ONNX.

    `device="cuda"` runs the same bytes through onnxruntime's CUDA provider or, without
    onnxruntime-gpu, through PyTorch (emoaudit.models.device); the sha256 is the same either way.
    """
    import onnxruntime as ort

    from emoaudit.models.device import (
        TORCH_CUDA,
        check_session_providers,
        choose_backend,
        open_torch_session,
        ort_providers,
    )

    backend = choose_backend(device)
    path = Path(info.onnx_path)
    if not path.is_file():
        raise ModelError(MISSING_PATH.format(path=path))
    data, sha256 = resolve_external_data(path.read_bytes(), path=path)
    if backend.runtime == TORCH_CUDA:
        session = open_torch_session(data, path=path)
        return _loaded(info, session, sha256=sha256, backend=backend)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(data, sess_options=opts, providers=ort_providers(backend))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(NOT_ONNX.format(path=path, why=why[:200])) from None
    check_session_providers(session, backend=backend, name=info.name)
    return _loaded(info, session, sha256=sha256, backend=backend)


def _loaded(info: ModelInfo, session: Any, *, sha256: str, backend: Any) -> LoadedModel:
    first = session.get_inputs()[0]
    check_input_shape(info.input, first.shape, name=info.name)
    batch = first.shape[0] if isinstance(first.shape[0], int) else None
    return LoadedModel(
        info=info,
        session=session,
        sha256=sha256,
        input_name=first.name,
        fixed_batch=batch,
        run_batch=info.cpu_run_batch if backend.device == "cpu" else None,
        backend=backend,
        output_index=output_index(info, session),
    )


NO_SUCH_OUTPUT = "model '{name}': the graph has no output {which} (outputs: {outputs})"


def output_index(info: ModelInfo, session: Any) -> int:
    """Resolve ModelInfo.output (a name or an index) against the graph's outputs."""
    if info.output is None:
        return 0
    get = getattr(session, "get_outputs", None)
    names = [o.name for o in get()] if get is not None else []
    if isinstance(info.output, str) and info.output in names:
        return names.index(info.output)
    if isinstance(info.output, int) and 0 <= info.output < max(1, len(names)):
        return info.output
    which = repr(info.output) if isinstance(info.output, str) else f"#{info.output}"
    raise ModelError(
        NO_SUCH_OUTPUT.format(name=info.name, which=which, outputs=", ".join(names) or "?")
    )


def check_input_shape(spec: InputSpec, shape: list, *, name: str) -> None:
    """Refuse a spec that contradicts the graph's fixed input dimensions (one-line reason)."""
    channels = 1 if spec.color == "gray" else 3
    if spec.layout == "NHWC":
        expected = [None, spec.height, spec.width, channels]
    else:
        expected = [None, channels, spec.height, spec.width]
    if len(shape) != 4:
        why = f"graph input has rank {len(shape)}; expected 4 ({spec.layout})"
        raise ModelError(BAD_MODEL_INPUT.format(name=name, why=why))
    for got, want in zip(shape[1:], expected[1:], strict=True):
        if isinstance(got, int) and got > 0 and got != want:
            why = f"graph input is {shape}, spec says {spec.layout} {expected[1:]}"
            raise ModelError(BAD_MODEL_INPUT.format(name=name, why=why))
