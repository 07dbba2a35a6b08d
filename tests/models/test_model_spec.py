"""spec.toml for real exported models: output selection, PIL antialias resize, crop margin."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emoaudit.errors import EmoauditError, ModelError
from emoaudit.models.base import InputSpec
from emoaudit.models.generic_onnx import read_spec
from emoaudit.models.onnx_model import NO_SUCH_OUTPUT, load_model
from emoaudit.models.preprocess import prepare_batch
from emoaudit.run.audit import MARGIN_CONFLICT, crop_margin
from emoaudit.run.runner import _spec_key

LABELS8 = '["Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise"]'
SPEC = """
[input]
height = 8
width = 8
layout = "NCHW"
scale = 0.00392156862745098
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
{input_extra}

[output]
labels = {labels}
kind = "logits"
{output_extra}
"""


def _multi_output(path: Path) -> Path:
    """NCHW 3x8x8 -> 'expression' (N, 8) logits and 'va' (N, 2), plus 'mtl' (N, 10): both in
    one tensor, as HSEmotion's *_mtl models emit (8 scores, then valence and arousal)."""
    w = np.arange(24, dtype=np.float32).reshape(3, 8) / 10.0
    wva = np.array([[1.0, -1.0], [0.5, 0.5], [-1.0, 2.0]], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["expression"]),
            helper.make_node("MatMul", ["flat", "wva"], ["va"]),
            helper.make_node("Concat", ["expression", "va"], ["mtl"], axis=1),
        ],
        "multi",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [
            helper.make_tensor_value_info("va", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("expression", TensorProto.FLOAT, ["N", 8]),
            helper.make_tensor_value_info("mtl", TensorProto.FLOAT, ["N", 10]),
        ],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(wva, "wva")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _spec(tmp_path: Path, *, output_extra: str = "", input_extra: str = "", labels=LABELS8):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(output_extra=output_extra, input_extra=input_extra, labels=labels))
    return path


def _raw(model, faces):
    """The graph's outputs by name, straight from ONNX Runtime."""
    x = prepare_batch(faces, model.info.input)
    names = [o.name for o in model.session.get_outputs()]
    return dict(zip(names, model.session.run(None, {model.input_name: x}), strict=True))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


FACES = [np.full((20, 30, 3), v, dtype=np.uint8) for v in (0, 90, 255)]


@pytest.mark.parametrize("select", ['"expression"', "1"])
def test_select_picks_the_expression_output_by_name_or_index(tmp_path, select):
    onnx_path = _multi_output(tmp_path / "m.onnx")
    model = load_model(str(onnx_path), spec_path=_spec(tmp_path, output_extra=f"select = {select}"))
    assert model.output_index == 1
    probs = model.predict_proba(prepare_batch(FACES, model.info.input))
    np.testing.assert_allclose(probs, _softmax(_raw(model, FACES)["expression"]), rtol=1e-5)


def test_columns_take_the_scores_of_a_multi_task_output(tmp_path):
    onnx_path = _multi_output(tmp_path / "m.onnx")
    spec = _spec(tmp_path, output_extra='select = "mtl"\ncolumns = [0, 8]')
    model = load_model(str(onnx_path), spec_path=spec)
    probs = model.predict_proba(prepare_batch(FACES, model.info.input))
    raw = _raw(model, FACES)
    np.testing.assert_allclose(probs, _softmax(raw["mtl"][:, :8]), rtol=1e-5)
    np.testing.assert_allclose(raw["mtl"][:, :8], raw["expression"], rtol=1e-6)


def test_the_first_output_is_the_default_and_a_wrong_one_is_refused(tmp_path):
    onnx_path = _multi_output(tmp_path / "m.onnx")
    first = load_model(str(onnx_path), spec_path=_spec(tmp_path))
    with pytest.raises(ModelError, match="outputs 2 values per face but 8 labels"):
        first.predict_proba(prepare_batch(FACES, first.info.input))  # 'va' comes first
    for select, which in (('"valence"', "'valence'"), ("7", "#7")):
        with pytest.raises(ModelError) as exc:
            load_model(str(onnx_path), spec_path=_spec(tmp_path, output_extra=f"select = {select}"))
        name = first.info.name
        assert str(exc.value) == NO_SUCH_OUTPUT.format(
            name=name, which=which, outputs="va, expression, mtl"
        )


def test_output_settings_enter_the_cache_key_only_when_set(tmp_path):
    onnx_path = _multi_output(tmp_path / "m.onnx")
    plain = load_model(str(onnx_path), spec_path=_spec(tmp_path)).info
    assert _spec_key(plain) == plain.input.as_dict()  # keys of existing specs are unchanged
    by_name = load_model(
        str(onnx_path), spec_path=_spec(tmp_path, output_extra='select = "expression"')
    ).info
    sliced = load_model(
        str(onnx_path), spec_path=_spec(tmp_path, output_extra='select = "mtl"\ncolumns = [0, 8]')
    ).info
    keys = [json.dumps(_spec_key(i), sort_keys=True) for i in (plain, by_name, sliced)]
    assert len(set(keys)) == 3


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("select = true", "select must be an output name or index"),
        ("select = -1", "select index must be >= 0"),
        ("columns = [0, 10]", "columns [0, 10] select 10 values for 8 labels"),
        ("columns = [3, 3]", "columns must be [start, stop]"),
    ],
)
def test_bad_output_settings_are_one_line(tmp_path, extra, fragment):
    spec = _spec(tmp_path, output_extra=extra)
    with pytest.raises(ModelError) as exc:
        read_spec(spec)
    assert str(exc.value).startswith(f"{spec}: invalid model spec: [output] ")
    assert fragment in str(exc.value)


def test_pil_resize_antialiases_where_opencv_samples():
    """1-pixel stripes shrunk 7x: Pillow averages 3-4 white of 7 columns (grey); OpenCV's
    bilinear samples at whole source pixels here, so it returns pure black or white."""
    stripes = np.zeros((63, 63, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    base = dict(height=9, width=9, color="rgb", scale=1.0)
    pil = prepare_batch([stripes], InputSpec(**base, resize="pil_bilinear"))[0]
    cv = prepare_batch([stripes], InputSpec(**base, resize="bilinear"))[0]
    assert np.abs(pil - 127.5).max() < 40
    assert set(np.unique(cv)) == {0.0, 255.0}
    from PIL import Image

    face = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    for resize, method in (("pil_bilinear", Image.BILINEAR), ("pil_bicubic", Image.BICUBIC)):
        spec = InputSpec(height=16, width=12, layout="NCHW", resize=resize,
                         mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # fmt: skip
        got = prepare_batch([face], spec)[0]
        ref = np.asarray(Image.fromarray(face).resize((12, 16), method), np.float32) / 255.0
        ref = ((ref - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)
        np.testing.assert_allclose(got, ref, atol=1e-5)
    gray = InputSpec(height=8, width=8, color="gray", resize="pil_bilinear", pad_square=True)
    out = prepare_batch([face, face[:, :, 0]], gray)
    assert out.shape == (2, 8, 8, 1)


def test_crop_margin_is_parsed_and_models_must_agree(tmp_path):
    onnx_path = _multi_output(tmp_path / "m.onnx")
    spec = _spec(tmp_path, input_extra="crop_margin = 0.05", output_extra='select = "expression"')
    info = load_model(str(onnx_path), spec_path=spec).info
    assert info.crop_margin == 0.05

    def m(margin):
        return SimpleNamespace(info=SimpleNamespace(crop_margin=margin))

    assert crop_margin([m(None), m(0.05), m(0.05)]) == 0.05
    assert crop_margin([m(None)]) is None
    with pytest.raises(EmoauditError) as exc:
        crop_margin([m(0.05), m(0.2)])
    assert str(exc.value) == MARGIN_CONFLICT.format(margins="0.05, 0.2")
    bad = _spec(tmp_path, input_extra="crop_margin = 2")
    with pytest.raises(ModelError, match="crop_margin must be a number from 0 to 1"):
        read_spec(bad)


def test_crop_margin_reaches_the_face_crops(tmp_path):
    """A photo audited with the spec's margin records it and crops tighter than the default."""
    import skimage.data
    from PIL import Image

    from emoaudit.run.audit import AuditRequest, run_audit

    folder = tmp_path / "photos" / "happy"
    folder.mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()).save(folder / "astronaut.png")
    onnx_path = _multi_output(tmp_path / "m.onnx")
    runs = {}
    for margin in ("", "crop_margin = 0.0"):
        spec = _spec(tmp_path, input_extra=margin, output_extra='select = "expression"')
        out = tmp_path / f"out{len(runs)}"
        req = AuditRequest(data=tmp_path / "photos", out=out, models=[str(onnx_path)],
                           model_spec=spec, detector="haar", n_resamples=10)  # fmt: skip
        run_audit(req)
        runs[margin] = json.loads((out / "run.json").read_text())["faces"]
    assert runs[""]["margin"] is None and runs["crop_margin = 0.0"]["margin"] == 0.0
