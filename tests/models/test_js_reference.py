"""The zoo's built ONNX models against the ORIGINAL JavaScript libraries' outputs.

tests/fixtures/js_reference.json holds face-api's and Human's probabilities on 19 fixed crops,
produced once by tools/js_reference/reference.js (tfjs cpu backend). Here the same crops are
rebuilt in Python (tools/js_reference/reference_inputs.py) and run through the models exactly as
the session's zoo built them (`zoo_home`), two ways:

- exact inputs: each library's preprocessing replicated step by step in numpy, straight into the
  ONNX graph, which isolates the conversion;
- the product's path: `prepare_batch(crops, adapter.INPUT_SPEC)` + `load_model(name)
  .predict_proba`, i.e. what an audit runs.

No node, npm or unpacked package is needed, so CI (which builds the zoo) always runs these; a
model that is not built fails here when $CI is set instead of skipping.

Measured (2 cores, onnxruntime CPU): max |prob diff| 8.9e-7 (face-api, exact input) and 1.3e-6
(face-api via prepare_batch); 8.1e-7 (Human, both ways); top-1 equal on 19/19 for both. The
tolerance leaves ~10x headroom for other CPUs/BLAS.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from emoaudit.models.faceapi_expression import faceapi_input, resize_bilinear_tf_legacy

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "js_reference.json"
TOLERANCE = 1e-5
HUMAN_GRAY = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)


def _load_reference_inputs_module():
    path = ROOT / "tools" / "js_reference" / "reference_inputs.py"
    spec = importlib.util.spec_from_file_location("js_reference_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref_inputs = _load_reference_inputs_module()


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def crops() -> list[tuple[str, np.ndarray]]:
    return ref_inputs.reference_inputs()


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def human_input(rgb: np.ndarray) -> np.ndarray:
    """Human's src/gear/emotion.ts on a crop given in 0..1: legacy resize to 64, gray, (g-.5)*2."""
    resized = resize_bilinear_tf_legacy(rgb.astype(np.float32) / np.float32(255), 64, 64)
    gray = (resized * HUMAN_GRAY).sum(axis=2, keepdims=True, dtype=np.float32)
    return (gray - np.float32(0.5)) * np.float32(2)


def _expected(reference: dict, model: str, crops) -> np.ndarray:
    outputs = reference["models"][model]["outputs"]
    return np.array([outputs[name] for name, _ in crops])


def _compare(probs: np.ndarray, expected: np.ndarray) -> None:
    diff = np.abs(probs - expected).max()
    assert diff < TOLERANCE, f"max |prob diff| {diff:.3g} >= {TOLERANCE}"
    np.testing.assert_array_equal(probs.argmax(axis=1), expected.argmax(axis=1))


def test_inputs_are_the_ones_the_reference_was_made_from(reference, crops):
    assert ref_inputs.inputs_digest(crops) == reference["inputs_digest"]
    for model in reference["models"].values():
        assert list(model["outputs"]) == [name for name, _ in crops]
    assert reference["packages"]["@vladmandic/face-api"] == "1.7.15"
    assert reference["packages"]["@vladmandic/human"] == "3.3.6"
    assert reference["backend"] == "cpu"


def test_reference_is_not_degenerate(reference):
    """A reference that always says the same thing would prove nothing."""
    for model in reference["models"].values():
        probs = np.array(list(model["outputs"].values()))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert len(set(probs.argmax(axis=1))) >= 3


def test_the_comparison_notices_a_wrong_model(reference, crops):
    """Guard against a tolerance so loose that any model passes: swap two classes and fail."""
    expected = _expected(reference, "faceapi-expression", crops)
    with pytest.raises(AssertionError):
        _compare(expected[:, [1, 0, 2, 3, 4, 5, 6]], expected)


# -- face-api ------------------------------------------------------------------------------


def test_faceapi_expression_onnx_matches_face_api_on_exact_inputs(reference, crops, zoo_model):
    labels = reference["models"]["faceapi-expression"]["labels"]
    assert labels == ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
    session = _session(zoo_model("faceapi-expression"))
    x = np.stack([faceapi_input(rgb) for _, rgb in crops])
    probs = session.run(None, {"input": x})[0]
    _compare(probs, _expected(reference, "faceapi-expression", crops))


def test_faceapi_expression_through_the_products_path_matches_face_api(reference, crops, zoo_model):
    """prepare_batch(INPUT_SPEC) + load_model: measured 1.3e-6, against up to 0.70 with OpenCV's
    bilinear and bottom/right padding."""
    from emoaudit.models import faceapi_expression
    from emoaudit.models.onnx_model import load_model
    from emoaudit.models.preprocess import prepare_batch

    zoo_model("faceapi-expression")
    model = load_model("faceapi-expression")
    assert model.info.input == faceapi_expression.INPUT_SPEC
    x = prepare_batch([rgb for _, rgb in crops], faceapi_expression.INPUT_SPEC)
    probs = model.predict_proba(x)
    _compare(probs, _expected(reference, "faceapi-expression", crops))


# -- Human -----------------------------------------------------------------------------------


def test_human_emotion_onnx_matches_human_on_exact_inputs(reference, crops, zoo_model):
    assert reference["models"]["human-emotion"]["labels"][0] == "angry"
    session = _session(zoo_model("human-emotion"))
    x = np.stack([human_input(rgb) for _, rgb in crops])
    probs = session.run(None, {session.get_inputs()[0].name: x})[0]
    _compare(probs, _expected(reference, "human-emotion", crops))


def test_human_emotion_through_the_products_path_matches_human(reference, crops, zoo_model):
    from emoaudit.models import human_emotion
    from emoaudit.models.onnx_model import load_model
    from emoaudit.models.preprocess import prepare_batch

    zoo_model("human-emotion")
    model = load_model("human-emotion")
    assert model.info.input == human_emotion.INPUT_SPEC
    x = prepare_batch([rgb for _, rgb in crops], human_emotion.INPUT_SPEC)
    probs = model.predict_proba(x)
    _compare(probs, _expected(reference, "human-emotion", crops))


def test_human_labels_map_to_the_adapters_canonical_order(reference):
    from emoaudit.models.human_emotion import LABELS
    from emoaudit.taxonomy import canonical

    raw = reference["models"]["human-emotion"]["labels"]
    assert tuple(canonical(r) for r in raw) == LABELS


def test_faceapi_labels_map_to_the_adapters_canonical_order(reference):
    from emoaudit.models.faceapi_expression import LABELS
    from emoaudit.taxonomy import canonical

    raw = reference["models"]["faceapi-expression"]["labels"]
    assert tuple(canonical(r) for r in raw) == LABELS


def test_astronaut_haar_face_is_happy_for_faceapi_expression(zoo_model):
    """Eileen Collins smiles in skimage's astronaut photo; measured p(happy) = 1.000."""
    import cv2

    session = _session(zoo_model("faceapi-expression"))
    image = ref_inputs.load_photo("astronaut")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    probs = session.run(None, {"input": faceapi_input(image[y : y + h, x : x + w])[None]})
    assert probs[0][0][1] >= 0.9


# -- BlazeFace -------------------------------------------------------------------------------
#
# tests/fixtures/blazeface_reference.json: Human's blazeface.json run by tfjs (cpu) on the two
# whole photos, preprocessed as src/face/blazeface.ts getBoxes() does; outputs summarised (top 8
# logits and their anchors, the regressors at the top 3, whole-output sums, the best anchor
# decoded). Measured against the zoo's ONNX fed emoaudit.faces.blazeface.preprocess: inputs equal
# to the JSON's rounding (first values 4.5e-9); logits max |diff| 5.2e-6; regressors (values up
# to 120) 1.7e-5; top-8 anchors identical; whole-output sums within 2e-7 relative; best box
# within 1e-4 px. Tolerances below are ~10x those.

BLAZEFACE_FIXTURE = ROOT / "tests" / "fixtures" / "blazeface_reference.json"
OUTPUT_PAIRS = (("Identity", "Identity_2"), ("Identity_1", "Identity_3"))


@pytest.fixture(scope="module")
def blazeface_reference() -> dict:
    return json.loads(BLAZEFACE_FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def blazeface_run(zoo_model) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """(photo names, preprocessed batch, raw outputs by name) from ONE batched ONNX call."""
    from emoaudit.faces.blazeface import preprocess

    photos = ref_inputs.reference_photos()
    x = preprocess([img for _, img in photos], 256)
    session = _session(zoo_model("blazeface"))
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"input": x}), strict=True))
    return [name for name, _ in photos], x, outputs


def test_blazeface_reference_was_made_from_these_photos(blazeface_reference):
    assert blazeface_reference["photos_digest"] == ref_inputs.inputs_digest(
        ref_inputs.reference_photos()
    )
    assert blazeface_reference["packages"]["@vladmandic/human"] == "3.3.6"
    assert blazeface_reference["backend"] == "cpu"
    assert set(blazeface_reference["photos"]) == {"astronaut", "grace_hopper"}


def test_blazeface_preprocessing_matches_humans_tfjs_input(blazeface_reference, blazeface_run):
    names, x, _ = blazeface_run
    for i, name in enumerate(names):
        ref = blazeface_reference["photos"][name]["input"]
        flat = x[i].astype(np.float64).ravel()
        centre = 3 * (128 * 256 + 128)
        np.testing.assert_allclose(flat[:6], ref["first"], atol=1e-6)
        np.testing.assert_allclose(flat[centre : centre + 6], ref["center"], atol=1e-6)
        assert flat.sum() == pytest.approx(ref["sum"], abs=1e-3)
        assert np.abs(flat).sum() == pytest.approx(ref["abs_sum"], abs=1e-3)


def test_blazeface_onnx_raw_outputs_match_humans_tfjs_graph(blazeface_reference, blazeface_run):
    names, _, outputs = blazeface_run
    for i, name in enumerate(names):
        ref = blazeface_reference["photos"][name]["outputs"]
        for scores_name, regressors_name in OUTPUT_PAIRS:
            logits = outputs[scores_name][i, :, 0]
            expected = ref[scores_name]
            assert [1, *outputs[scores_name].shape[1:]] == expected["shape"]
            top = np.argsort(-logits, kind="stable")[:8]
            assert top.tolist() == expected["top_anchors"], (name, scores_name)
            np.testing.assert_allclose(logits[top], expected["top_logits"], atol=5e-5)
            assert logits.sum(dtype=np.float64) == pytest.approx(expected["sum"], rel=2e-6)
            regressors = outputs[regressors_name][i]
            expected = ref[regressors_name]
            np.testing.assert_allclose(regressors[top[:3]], expected["at_top3"], atol=2e-4)
            total = regressors.sum(dtype=np.float64)
            assert total == pytest.approx(expected["sum"], rel=2e-6)
            abs_total = np.abs(regressors).sum(dtype=np.float64)
            assert abs_total == pytest.approx(expected["abs_sum"], rel=2e-6)


def test_blazeface_detector_finds_humans_best_box(blazeface_reference, zoo_model):
    """The product's path (BlazeFaceDetector: preprocess, one batched call, decode, NMS) gives
    the box Human's decodeBoxes() gives for the best anchor, scaled to the photo."""
    from emoaudit.faces.blazeface import BlazeFaceDetector

    detector = BlazeFaceDetector(model_path=zoo_model("blazeface"))
    photos = ref_inputs.reference_photos()
    found = detector.detect_batch([img for _, img in photos])
    for (name, img), boxes in zip(photos, found, strict=True):
        best = blazeface_reference["photos"][name]["best"]
        assert len(boxes) == 1, name
        sx, sy = img.shape[1] / 256, img.shape[0] / 256
        x0, y0, x1, y1 = best["box_256"]
        got = [boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1]
        np.testing.assert_allclose(got, [x0 * sx, y0 * sy, x1 * sx, y1 * sy], atol=1e-2)
        assert boxes[0].score == pytest.approx(best["score"], abs=1e-5)
