"""--device: which runtime runs the graphs, the one-line refusals, and an unchanged CPU path.

No GPU here, so the CUDA paths are driven through fakes: onnxruntime's provider list is
monkeypatched, and "torch" is a fake module whose onnx2torch.convert returns onnx's own
reference evaluator. That exercises everything emoaudit does around PyTorch (selection,
conversion call, input name and shape, LoadedModel.predict_proba, provenance) without CUDA.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emoaudit import errors
from emoaudit.errors import EmoauditError, ModelError
from emoaudit.models import device
from emoaudit.models.base import InputSpec, ModelInfo
from emoaudit.models.onnx_model import open_session

LABELS = ("neutral", "happy", "sad")


def _tiny_onnx(path: Path) -> Path:
    """NHWC 8x8x1 -> 3 logits: global mean then a fixed linear map (batch axis free)."""
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("GlobalAveragePool", ["nchw"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 8, 1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.array([[1.0, -2.0, 0.5]], np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def tiny_info(tmp_path) -> ModelInfo:
    spec = InputSpec(height=8, width=8, layout="NHWC", color="gray")
    return ModelInfo(
        name="tiny",
        labels=LABELS,
        input=spec,
        onnx_path=_tiny_onnx(tmp_path / "tiny.onnx"),
        outputs_probabilities=False,
    )


def _module(name: str, **attrs) -> types.ModuleType:
    """A module that importlib.util.find_spec can see (it reads __spec__ from sys.modules)."""
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


class _FakeTensor:
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def to(self, *args, **kwargs):
        return self

    def float(self):
        return _FakeTensor(self.array.astype(np.float32))

    def cpu(self):
        return self

    def numpy(self) -> np.ndarray:
        return self.array


class _ReferenceModule:
    """Stands in for onnx2torch's GraphModule: onnx's reference evaluator on the same proto."""

    def __init__(self, proto) -> None:
        from onnx.reference import ReferenceEvaluator

        self.evaluator = ReferenceEvaluator(proto)
        self.input_name = proto.graph.input[0].name
        self.devices: list[str] = []

    def eval(self):
        return self

    def to(self, where: str):
        self.devices.append(where)
        return self

    def __call__(self, x: _FakeTensor):
        return (_FakeTensor(self.evaluator.run(None, {self.input_name: x.array})[0]),)


def _fake_torch(monkeypatch, *, cuda: bool = True, onnx2torch: bool = True) -> None:
    cuda_ns = types.SimpleNamespace(
        is_available=lambda: cuda, get_device_name=lambda index: "Fake GPU 80GB"
    )
    backends = types.SimpleNamespace(  # PyTorch's defaults on Ampere and later GPUs
        cudnn=types.SimpleNamespace(allow_tf32=True),
        cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False)),
    )
    torch = _module(
        "torch",
        __version__="9.9.9+fake",
        cuda=cuda_ns,
        backends=backends,
        from_numpy=_FakeTensor,
        inference_mode=contextlib.nullcontext,
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    if onnx2torch:
        monkeypatch.setitem(
            sys.modules, "onnx2torch", _module("onnx2torch", convert=_ReferenceModule)
        )
    else:
        monkeypatch.setitem(sys.modules, "onnx2torch", None)  # find_spec: not installed


def _providers(monkeypatch, names: list[str]) -> None:
    monkeypatch.setattr(device, "_ort_providers", lambda: list(names))


@pytest.fixture(autouse=True)
def _no_runtime_override(monkeypatch):
    monkeypatch.delenv(device.RUNTIME_ENV, raising=False)


def test_cpu_is_onnxruntime_cpu_whatever_else_is_installed(monkeypatch):
    _providers(monkeypatch, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    backend = device.choose_backend("cpu")
    assert (backend.device, backend.runtime) == ("cpu", device.ORT_CPU)


def test_unknown_device_is_a_one_line_error():
    with pytest.raises(EmoauditError) as exc:
        device.choose_backend("gpu")
    assert str(exc.value) == errors.UNKNOWN_DEVICE.format(device="gpu", known="cpu, cuda")


def test_cuda_with_neither_path_names_both_reasons(monkeypatch):
    _providers(monkeypatch, ["AzureExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(EmoauditError) as exc:
        device.choose_backend("cuda")
    why = (
        "onnxruntime has no CUDAExecutionProvider, only AzureExecutionProvider, "
        "CPUExecutionProvider; PyTorch is not installed"
    )
    assert str(exc.value) == errors.NO_CUDA.format(why=why)
    assert "\n" not in str(exc.value)


def test_onnxruntime_cuda_is_preferred_over_torch(monkeypatch):
    _providers(monkeypatch, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    backend = device.choose_backend("cuda")
    assert backend.runtime == device.ORT_CUDA
    assert device.ort_providers(backend) == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_torch_path_when_onnxruntime_has_no_cuda(monkeypatch):
    _providers(monkeypatch, ["CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    backend = device.choose_backend("cuda")
    assert backend.runtime == device.TORCH_CUDA
    assert backend.message() == "device: cuda via torch-cuda (Fake GPU 80GB, torch 9.9.9+fake)"


def test_runtime_override_picks_torch_even_with_onnxruntime_cuda(monkeypatch):
    _providers(monkeypatch, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    monkeypatch.setenv(device.RUNTIME_ENV, "torch")
    assert device.choose_backend("cuda").runtime == device.TORCH_CUDA
    monkeypatch.setenv(device.RUNTIME_ENV, "tensorrt")
    with pytest.raises(EmoauditError) as exc:
        device.choose_backend("cuda")
    expected = errors.UNKNOWN_CUDA_RUNTIME.format(value="tensorrt", known="onnxruntime, torch")
    assert str(exc.value) == expected


@pytest.mark.parametrize(
    ("cuda", "onnx2torch", "why"),
    [
        (False, True, "PyTorch 9.9.9+fake sees no CUDA device"),
        (True, False, "PyTorch 9.9.9+fake has CUDA but onnx2torch is not installed"),
    ],
)
def test_torch_without_cuda_or_onnx2torch_says_which(monkeypatch, cuda, onnx2torch, why):
    _providers(monkeypatch, ["CPUExecutionProvider"])
    _fake_torch(monkeypatch, cuda=cuda, onnx2torch=onnx2torch)
    with pytest.raises(EmoauditError) as exc:
        device.choose_backend("cuda")
    assert str(exc.value).endswith(why + ")" + errors.NO_CUDA.split("{why})")[1])


def test_cpu_session_unchanged(tiny_info):
    import onnxruntime as ort

    model = open_session(tiny_info)
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    assert model.backend.runtime == device.ORT_CPU
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    direct = ort.InferenceSession(str(tiny_info.onnx_path)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(model.predict_proba(x), device_softmax(direct).astype(np.float32))


def device_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_onnxruntime_cuda_falling_back_to_cpu_is_refused(monkeypatch, tiny_info):
    """The real onnxruntime (CPU build) asked for CUDA runs on CPU; emoaudit must say so."""
    _providers(monkeypatch, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ModelError) as exc:
        open_session(tiny_info, device="cuda")
    assert str(exc.value) == errors.CUDA_PROVIDER_NOT_LOADED.format(
        name="tiny", active="CPUExecutionProvider"
    )


def test_torch_path_gives_the_same_probabilities_through_loaded_model(monkeypatch, tiny_info):
    cpu = open_session(tiny_info)
    _providers(monkeypatch, ["CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    gpu = open_session(tiny_info, device="cuda")
    assert gpu.backend.runtime == device.TORCH_CUDA
    assert gpu.sha256 == cpu.sha256  # provenance names the same graph bytes
    assert gpu.input_name == "x" and gpu.fixed_batch is None and gpu.run_batch is None
    assert gpu.session.module.devices == ["cuda"]
    x = np.random.default_rng(1).random((7, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(gpu.predict_proba(x), cpu.predict_proba(x), atol=1e-6)
    assert gpu.predict_proba(x[:0]).shape == (0, 3)


def test_torch_conversion_failure_is_one_line(monkeypatch, tiny_info):
    def refuse(proto):
        raise NotImplementedError("Converter is not implemented (OperationDescription(Foo))\nmore")

    _providers(monkeypatch, ["CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    monkeypatch.setattr(sys.modules["onnx2torch"], "convert", refuse)
    with pytest.raises(ModelError) as exc:
        open_session(tiny_info, device="cuda")
    assert "onnx2torch: Converter is not implemented" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_real_onnx2torch_matches_onnxruntime_on_cpu(tiny_info):
    """Runs only where PyTorch and onnx2torch are installed (the gpu-torch extra)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx2torch")
    import onnxruntime as ort

    same = _same_padded(tiny_info.onnx_path.parent / "same.onnx")
    rng = np.random.default_rng(2)
    for path, shape in ((tiny_info.onnx_path, (4, 8, 8, 1)), (same, (4, 1, 8, 8))):
        session = device.open_torch_session(path.read_bytes(), path=path, device="cpu")
        x = rng.normal(size=shape).astype(np.float32)
        want = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
        np.testing.assert_allclose(session.run(None, {"x": x})[0], want, atol=1e-5)


def test_torch_path_runs_in_full_float32(monkeypatch, tiny_info):
    """TF32 convolutions moved probabilities by 4e-4 on an H200; the audit switches them off."""
    _providers(monkeypatch, ["CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    torch = sys.modules["torch"]
    torch.backends.cuda.matmul.allow_tf32 = True
    open_session(tiny_info, device="cuda")
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cuda.matmul.allow_tf32 is False


def test_defaults_follow_the_device():
    assert device.default_batch_size("cuda") == device.GPU_BATCH_SIZE == 64
    assert device.default_batch_size("cpu") == 16
    assert device.default_workers("cuda") == 1


@pytest.mark.zoo
def test_cli_cuda_records_the_path_in_run_json(monkeypatch, tmp_path, zoo_home):
    """End to end through the CLI with the fake torch path: message, run.json, same predictions."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from emoaudit.cli import app

    rng = np.random.default_rng(3)
    csv = tmp_path / "fer2013.csv"
    rows = [
        f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},PrivateTest" for i in range(4)
    ]
    csv.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    base = [str(csv), "--model", "fer-mini-xception", "--resamples", "5", "--quiet"]
    runner = CliRunner()
    cpu = runner.invoke(app, ["audit", *base, "--out", str(tmp_path / "cpu")])
    assert cpu.exit_code == 0, cpu.output
    _providers(monkeypatch, ["CPUExecutionProvider"])
    _fake_torch(monkeypatch)
    gpu = runner.invoke(app, ["audit", *base, "--out", str(tmp_path / "gpu"), "--device", "cuda"])
    assert gpu.exit_code == 0, gpu.output
    assert "device: cuda via torch-cuda (Fake GPU 80GB" in gpu.output
    info = json.loads((tmp_path / "gpu" / "run.json").read_text())
    assert info["device"]["runtime"] == device.TORCH_CUDA
    cpu_info = json.loads((tmp_path / "cpu" / "run.json").read_text())
    assert cpu_info["device"] == {"device": "cpu", "runtime": "onnxruntime-cpu",
                                  "detail": "CPUExecutionProvider"}  # fmt: skip
    a = pq.read_table(tmp_path / "cpu" / "predictions.parquet").to_pandas()
    b = pq.read_table(tmp_path / "gpu" / "predictions.parquet").to_pandas()
    probs = [c for c in a.columns if c.startswith("prob_")]
    assert np.abs(a[probs].to_numpy() - b[probs].to_numpy()).max() < 1e-5
    assert list(a["pred"]) == list(b["pred"])


def test_cli_cuda_without_a_path_exits_2_with_one_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from emoaudit.cli import app

    _providers(monkeypatch, ["CPUExecutionProvider"])
    monkeypatch.setitem(sys.modules, "torch", None)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["audit", str(tmp_path), "--out", str(out), "-m", "x", "--device", "cuda", "-q"]
    )
    assert result.exit_code == 2
    assert "emoaudit: error: --device cuda: no CUDA path available" in result.output
    assert not out.exists()


def _same_padded(path: Path) -> Path:
    """NCHW 1x8x8: SAME_UPPER strided conv, SAME_UPPER max pool, SAME_LOWER conv (asymmetric)."""
    rng = np.random.default_rng(4)
    w1 = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    w2 = rng.normal(size=(2, 2, 2, 2)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1"], ["a"], auto_pad="SAME_UPPER", strides=[2, 2]),
            helper.make_node(
                "MaxPool", ["a"], ["b"], auto_pad="SAME_UPPER", kernel_shape=[3, 3], strides=[2, 2]
            ),
            helper.make_node("Conv", ["b", "w2"], ["y"], auto_pad="SAME_LOWER"),
        ],
        "same",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_explicit_pads_compute_what_onnxruntime_computes(tmp_path):
    """onnx2torch refuses auto_pad SAME_*; the rewrite must not change a single output."""
    import onnxruntime as ort

    path = _same_padded(tmp_path / "same.onnx")
    rewritten = device.explicit_pads(onnx.load(path))
    pads = [
        list(helper.get_attribute_value(a))
        for n in rewritten.graph.node
        for a in n.attribute
        if a.name == "pads"
    ]
    assert pads == [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0]]  # 8->4, 4->2 (3x3/2), 2->2 (2x2)
    assert not any(a.name == "auto_pad" for n in rewritten.graph.node for a in n.attribute)
    x = np.random.default_rng(5).normal(size=(3, 1, 8, 8)).astype(np.float32) - 2.0
    before = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    after = ort.InferenceSession(rewritten.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(after, before)


@pytest.mark.zoo
def test_gpu_benchmark_script_runs_on_cpu(tmp_path, zoo_home):
    """No GPU here: gpu.sh must parse, and its shell and Python halves run with --dry-run."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    env = {
        **os.environ,
        "PY": sys.executable,
        "MODELS": "fer-mini-xception",
        "OUT": str(tmp_path / "bench"),
        "EMOAUDIT_HOME": str(zoo_home),
    }
    done = subprocess.run(
        ["bash", str(script), "--dry-run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "device: cpu via onnxruntime-cpu" in done.stdout
    report = json.loads((tmp_path / "bench" / "gpu.json").read_text())
    (row,) = report["results"]
    assert set(row["bare_images_per_s"]) == set(row["end_to_end_images_per_s"]) == {"16", "64"}
    assert row["agreement_vs_cpu"] == {"max_abs_prob_diff": 0.0, "argmax_agreement": 1.0, "n": 64}


def test_cpu_run_batch_splits_session_calls_with_the_same_probabilities(tiny_info):
    """ModelInfo.cpu_run_batch caps faces per session call on CPU; the outputs are identical."""
    from dataclasses import replace

    whole = open_session(tiny_info)
    split = open_session(replace(tiny_info, cpu_run_batch=3))
    assert whole.run_batch is None and split.run_batch == 3
    calls = []
    run = split._run
    split._run = lambda x: calls.append(len(x)) or run(x)
    x = np.random.default_rng(2).random((10, 8, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(split.predict_proba(x), whole.predict_proba(x))
    assert calls == [3, 3, 3, 1]
