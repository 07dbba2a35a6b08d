"""--model path.onnx --model-spec spec.toml: parsing, label mapping and one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emoaudit import errors
from emoaudit.errors import ModelError
from emoaudit.models.generic_onnx import SPEC_NEEDED, read_spec
from emoaudit.models.onnx_model import load_model
from emoaudit.models.preprocess import prepare_batch

HSEMOTION_SPEC = """
[model]
name = "tiny-logits"

[input]
height = 8
width = 8
layout = "NCHW"
color = "rgb"
scale = 0.00392156862745098
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
resize = "bilinear"

[output]
labels = ["Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise"]
kind = "logits"
"""


def _tiny_model(path: Path, *, n_out: int = 8) -> Path:
    """An NCHW 3x8x8 -> n_out logits graph (global average pool + fixed linear map)."""
    weights = np.arange(3 * n_out, dtype=np.float32).reshape(3, n_out) / 10.0
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_hsemotion_style_spec_maps_labels_by_name_and_applies_softmax(tmp_path):
    model_path = _tiny_model(tmp_path / "tiny.onnx")
    model = load_model(str(model_path), spec_path=_write(tmp_path, HSEMOTION_SPEC))
    info = model.info
    assert info.name == "tiny-logits"
    assert info.labels == (
        "anger", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise"
    )  # fmt: skip
    assert info.input.layout == "NCHW" and info.input.std == (0.229, 0.224, 0.225)
    assert not info.outputs_probabilities
    faces = [np.full((20, 30, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    probs = model.predict_proba(prepare_batch(faces, info.input))
    assert probs.shape == (3, 8)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert len(model.sha256) == 64


def test_defaults_are_probabilities_and_the_file_stem(tmp_path):
    spec = _write(tmp_path, '[input]\nheight = 8\nwidth = 8\n[output]\nlabels = ["happy"]\n')
    parsed = read_spec(spec)
    assert parsed["kind"] == "probs" and parsed["labels"] == ("happy",)
    assert parsed["input"].layout == "NHWC" and parsed["input"].color == "rgb"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('[input]\nheight = 8\nwidth = 8\n[output]\nlabels = ["happy", "bored"]\n', "'bored'"),
        ('[input]\nheight = 8\nwidth = 8\n[output]\nlabels = ["happy", "joy"]\n', "repeats"),
        ('[input]\nheight = 0\nwidth = 8\n[output]\nlabels = ["happy"]\n', "height"),
        ('[input]\nheight = 8\nwidth = 8\nlayout = "HWC"\n[output]\nlabels = ["sad"]\n', "layout"),
        ('[input]\nheight = 8\nwidth = 8\nmean = [1, 2]\n[output]\nlabels = ["sad"]\n', "mean"),
        ('[input]\nheight = 8\nwidth = 8\nstd = 0\n[output]\nlabels = ["sad"]\n', "std"),
        (
            '[input]\nheight = 8\nwidth = 8\nstd = -1\n[output]\nlabels = ["sad"]\n',
            "std must be greater than 0, got -1.0",
        ),
        (
            '[input]\nheight = 8\nwidth = 8\nstd = nan\n[output]\nlabels = ["sad"]\n',
            "std must be a finite number",
        ),
        (
            '[input]\nheight = 8\nwidth = 8\nstd = [1, -0.5, 1]\n[output]\nlabels = ["sad"]\n',
            "std must be greater than 0",
        ),
        (
            '[input]\nheight = 8\nwidth = 8\nscale = nan\n[output]\nlabels = ["sad"]\n',
            "scale must be a finite number",
        ),
        (
            '[input]\nheight = 8\nwidth = 8\nscale = 0\n[output]\nlabels = ["sad"]\n',
            "scale must be greater than 0",
        ),
        (
            '[input]\nheight = 8\nwidth = 8\nscale = -inf\n[output]\nlabels = ["sad"]\n',
            "scale must be a finite number",
        ),
        (
            '[input]\nheight = 8\nwidth = 8\nmean = inf\n[output]\nlabels = ["sad"]\n',
            "mean must be a finite number",
        ),
        ('[input]\nheight = 8\nwidth = 8\n[output]\nlabels = ["sad"]\nkind = "raw"\n', "kind"),
        ('[input]\nheight = 8\nwidth = 8\nsize = 3\n[output]\nlabels = ["sad"]\n', "'size'"),
        ('[input]\nheight = 8\nwidth = 8\n[outputs]\nlabels = ["sad"]\n', "[outputs]"),
        ("[input]\nheight = 8\nwidth = 8\n", "missing table [output]"),
        ("[input\n", "not TOML"),
    ],
)
def test_bad_spec_is_a_one_line_error_naming_the_file(tmp_path, text, why):
    spec = _write(tmp_path, text)
    with pytest.raises(ModelError) as exc:
        read_spec(spec)
    message = str(exc.value)
    assert message.startswith(f"{spec}: invalid model spec: ")
    assert why in message
    assert "\n" not in message


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"this is a text file, not a protobuf\n" * 3)
    spec = _write(tmp_path, HSEMOTION_SPEC)
    with pytest.raises(ModelError) as exc:
        load_model(str(fake), spec_path=spec)
    assert str(exc.value).startswith(errors.NOT_ONNX.format(path=fake, why="")[:-1])
    assert "\n" not in str(exc.value)


def test_empty_file_is_not_onnx(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_model(str(empty), spec_path=_write(tmp_path, HSEMOTION_SPEC))


def test_onnx_without_spec_says_what_is_missing(tmp_path):
    model_path = _tiny_model(tmp_path / "tiny.onnx")
    with pytest.raises(ModelError) as exc:
        load_model(str(model_path))
    assert str(exc.value) == SPEC_NEEDED.format(path=model_path)


def test_spec_contradicting_the_graph_input_is_refused(tmp_path):
    model_path = _tiny_model(tmp_path / "tiny.onnx")
    spec = _write(tmp_path, HSEMOTION_SPEC.replace("height = 8", "height = 16"))
    with pytest.raises(ModelError, match=r"graph input is \['N', 3, 8, 8\]"):
        load_model(str(model_path), spec_path=spec)


def test_label_count_must_match_the_outputs(tmp_path):
    model_path = _tiny_model(tmp_path / "tiny.onnx", n_out=5)
    model = load_model(str(model_path), spec_path=_write(tmp_path, HSEMOTION_SPEC))
    with pytest.raises(ModelError, match="outputs 5 values per face but 8 labels"):
        model.predict_proba(np.zeros((1, 3, 8, 8), dtype=np.float32))


def test_unknown_registered_name_is_a_model_error_with_a_suggestion():
    with pytest.raises(ModelError, match="did you mean 'fer-mini-xception'"):
        load_model("fer-mini-xceptoin")
