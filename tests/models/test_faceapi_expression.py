"""face-api expression: weight decoding, graph contract, determinism and face-api's preprocessing.

Synthetic weights are written in face-api's real on-disk format (weights manifest + uint8 shard),
so these tests need no download; faithfulness to face-api itself is in test_js_reference.py.
"""

import json

import numpy as np
import onnxruntime as ort
import pytest

from emoaudit.errors import ModelError
from emoaudit.models.convert.faceapi_expression import (
    FACEAPI_LABELS,
    MANIFEST,
    convert_faceapi_expression,
    read_tfjs_weights,
)
from emoaudit.models.convert.onnx_build import serialize
from emoaudit.models.faceapi_expression import (
    INPUT_SPEC,
    LABELS,
    MEAN_RGB,
    RAW_LABELS,
    faceapi_input,
    pad_to_square_centred,
    resize_bilinear_tf_legacy,
)
from emoaudit.taxonomy import canonical


def _faceapi_weight_specs() -> list[tuple[str, list[int]]]:
    specs: list[tuple[str, list[int]]] = []
    cin = 3
    for block, cout in enumerate((32, 64, 128, 256)):
        for conv in range(4):
            prefix = f"dense{block}/conv{conv}"
            c = cin if conv == 0 else cout
            if block == 0 and conv == 0:
                specs.append((f"{prefix}/filters", [3, 3, 3, cout]))
            else:
                specs.append((f"{prefix}/depthwise_filter", [3, 3, c, 1]))
                specs.append((f"{prefix}/pointwise_filter", [1, 1, c, cout]))
            specs.append((f"{prefix}/bias", [cout]))
        cin = cout
    return specs + [("fc/weights", [256, 7]), ("fc/bias", [7])]


def write_synthetic_faceapi_model(folder, *, seed: int = 0):
    """face-api's model/ layout: filters uint8-quantized, biases float32, one shard."""
    rng = np.random.default_rng(seed)
    weights, chunks = [], []
    for name, shape in _faceapi_weight_specs():
        spec = {"name": name, "shape": shape, "dtype": "float32"}
        if name.endswith("bias"):
            chunks.append(rng.normal(0, 0.05, size=shape).astype("<f4").tobytes())
        else:
            spec["quantization"] = {"dtype": "uint8", "scale": 0.1 / 255 * 2, "min": -0.1}
            chunks.append(rng.integers(0, 256, size=shape, dtype=np.uint8).tobytes())
        weights.append(spec)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "face_expression_model.bin").write_bytes(b"".join(chunks))
    manifest = [{"paths": ["face_expression_model.bin"], "weights": weights}]
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_uint8_weights_are_dequantized_like_tfjs(tmp_path):
    manifest = [
        {
            "paths": ["w.bin"],
            "weights": [
                {
                    "name": "q",
                    "shape": [2, 2],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1.0},
                },
                {"name": "f", "shape": [2], "dtype": "float32"},
            ],
        }
    ]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    f = np.array([1.5, -2.25], dtype="<f4")
    (tmp_path / "w.bin").write_bytes(bytes([0, 1, 10, 255]) + f.tobytes())
    weights = read_tfjs_weights(tmp_path / "m.json")
    expected = np.float32([[-1.0, -0.9], [0.0, 24.5]])
    np.testing.assert_array_equal(weights["q"], expected)
    np.testing.assert_array_equal(weights["f"], f)
    assert weights["q"].dtype == np.float32


def test_truncated_shard_is_a_one_line_error_naming_the_file(tmp_path):
    folder = write_synthetic_faceapi_model(tmp_path / "model")
    bin_path = folder / "face_expression_model.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:-10])
    with pytest.raises(
        ModelError, match=r"face_expression_model-weights_manifest\.json: .*fc/bias"
    ):
        convert_faceapi_expression(folder)


def test_missing_manifest_names_the_path(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        convert_faceapi_expression(tmp_path)


def test_graph_contract_and_softmax_output(tmp_path):
    model = convert_faceapi_expression(write_synthetic_faceapi_model(tmp_path / "model"))
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape[1:]) == ("input", [112, 112, 3])
    assert (out.name, out.shape[1]) == ("probabilities", 7)
    x = np.random.default_rng(1).normal(0, 0.3, size=(3, 112, 112, 3)).astype(np.float32)
    probs = session.run(None, {"input": x})[0]
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.array_equal(probs[0], probs[1])  # the input reaches the output


def test_conversion_is_byte_deterministic(tmp_path):
    folder = write_synthetic_faceapi_model(tmp_path / "model")
    first = serialize(convert_faceapi_expression(folder))
    assert first == serialize(convert_faceapi_expression(folder))
    other = write_synthetic_faceapi_model(tmp_path / "other", seed=1)
    assert first != serialize(convert_faceapi_expression(other))


def test_labels_are_face_api_order_in_canonical_names():
    assert RAW_LABELS == FACEAPI_LABELS
    assert LABELS == ("neutral", "happy", "sad", "anger", "fear", "disgust", "surprise")
    assert LABELS == tuple(canonical(label) for label in FACEAPI_LABELS)
    assert INPUT_SPEC.pad_square and INPUT_SPEC.resize == "bilinear_tf"
    assert (INPUT_SPEC.height, INPUT_SPEC.width, INPUT_SPEC.color) == (112, 112, "rgb")


@pytest.mark.parametrize(
    ("shape", "expected_rows", "expected_cols"),
    [
        ((3, 6), (1, 4), (0, 6)),  # wide, diff 3: round(1.5) = 2 rows after, 1 before
        ((6, 4), (0, 6), (1, 5)),  # tall, diff 2: 1 column before, 1 after
        ((5, 5), (0, 5), (0, 5)),
    ],
)
def test_pad_to_square_centres_like_face_api(shape, expected_rows, expected_cols):
    image = np.full((*shape, 3), 7, dtype=np.uint8)
    square = pad_to_square_centred(image)
    side = max(shape)
    assert square.shape == (side, side, 3)
    (r0, r1), (c0, c1) = expected_rows, expected_cols
    assert (square[r0:r1, c0:c1] == 7).all()
    assert square.sum() == image.sum()  # everything else is zero padding


def test_resize_uses_tf_legacy_sampling_not_half_pixel_centres():
    row = np.array([[0.0, 10.0]], dtype=np.float32)[:, :, None]  # 1x2x1
    out = resize_bilinear_tf_legacy(row, 1, 4)[0, :, 0]
    np.testing.assert_array_equal(out, [0.0, 5.0, 10.0, 10.0])  # cv2 would give 0, 2.5, 7.5, 10


def test_faceapi_input_normalises_after_zero_padding():
    crop = np.tile(np.array(MEAN_RGB).round().astype(np.uint8), (56, 112, 1))
    x = faceapi_input(crop)
    assert x.shape == (112, 112, 3) and x.dtype == np.float32
    mean = np.array(MEAN_RGB, dtype=np.float32)
    np.testing.assert_allclose(x[0, 0], -mean / 255, rtol=1e-6)  # black padding, centred
    np.testing.assert_allclose(x[56, 56], (np.round(mean) - mean) / 255, atol=1e-6)
    # InputSpec carries the same normalisation for the generic runner.
    np.testing.assert_allclose(np.array(INPUT_SPEC.mean) * 255, MEAN_RGB)
    assert INPUT_SPEC.scale == pytest.approx(1 / 255)
