"""The converted ONNX models against the ORIGINAL JavaScript libraries' outputs.

tests/fixtures/js_reference.json holds face-api's and Human's probabilities on 19 fixed crops,
produced by tools/js_reference/reference.js (tfjs cpu backend). Here the same crops are rebuilt,
preprocessed exactly as each library does, and run through the ONNX graphs emoaudit builds.

Measured (2 cores, onnxruntime CPU): max |prob diff| 8.9e-7 (face-api) and 8.1e-7 (Human),
top-1 equal on 19/19 for both; the tolerance below leaves ~10x headroom for other CPUs/BLAS.
"""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from emoaudit.models.convert.faceapi_expression import convert_faceapi_expression
from emoaudit.models.convert.onnx_build import serialize
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


def _npm_dir(package: str) -> Path:
    """Unpacked npm package folder for the pinned artifact (faceapi or human).

    EMOAUDIT_NPM_DIR may point at a folder holding `faceapi/` and `human/` (npm pack, unpacked);
    otherwise tools/js_reference/node_modules is used when a developer has installed it.
    """
    candidates = []
    if os.environ.get("EMOAUDIT_NPM_DIR"):
        candidates.append(Path(os.environ["EMOAUDIT_NPM_DIR"]) / package)
    npm_name = {"faceapi": "face-api", "human": "human"}[package]
    candidates.append(ROOT / "tools" / "js_reference" / "node_modules" / "@vladmandic" / npm_name)
    for folder in candidates:
        if (folder / "package.json").is_file():
            return folder
    pytest.skip(f"@vladmandic/{npm_name} not unpacked (set EMOAUDIT_NPM_DIR)")


def _session(model) -> ort.InferenceSession:
    return ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])


def human_input(rgb: np.ndarray) -> np.ndarray:
    """Human's src/gear/emotion.ts on a crop given in 0..1: legacy resize to 64, gray, (g-.5)*2."""
    resized = resize_bilinear_tf_legacy(rgb.astype(np.float32) / np.float32(255), 64, 64)
    gray = (resized * HUMAN_GRAY).sum(axis=2, keepdims=True, dtype=np.float32)
    return (gray - np.float32(0.5)) * np.float32(2)


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


def test_reference_is_not_degenerate(reference):
    """A reference that always says the same thing would prove nothing."""
    for model in reference["models"].values():
        probs = np.array(list(model["outputs"].values()))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert len(set(probs.argmax(axis=1))) >= 3


def test_faceapi_expression_matches_face_api(reference, crops):
    model = convert_faceapi_expression(_npm_dir("faceapi") / "model")
    expected = reference["models"]["faceapi-expression"]
    assert expected["labels"] == [
        "neutral",
        *("happy", "sad", "angry", "fearful", "disgusted", "surprised"),
    ]
    x = np.stack([faceapi_input(rgb) for _, rgb in crops])
    probs = _session(model).run(None, {"input": x})[0]
    _compare(probs, np.array([expected["outputs"][name] for name, _ in crops]))


def test_runner_preprocessing_keeps_faceapi_faithful(reference, crops):
    """The generic runner path (InputSpec -> prepare_batch) must be as faithful as faceapi_input;
    measured 1.3e-6, against up to 0.70 with OpenCV's bilinear and bottom/right padding."""
    from emoaudit.models.faceapi_expression import INPUT_SPEC
    from emoaudit.models.preprocess import prepare_batch

    model = convert_faceapi_expression(_npm_dir("faceapi") / "model")
    x = prepare_batch([rgb for _, rgb in crops], INPUT_SPEC)
    probs = _session(model).run(None, {"input": x})[0]
    expected = reference["models"]["faceapi-expression"]["outputs"]
    _compare(probs, np.array([expected[name] for name, _ in crops]))


def test_human_emotion_matches_human(reference, crops):
    from emoaudit.models.convert.tfjs_graph import convert_tfjs_graph

    model = convert_tfjs_graph(_npm_dir("human") / "models" / "emotion.json")
    expected = reference["models"]["human-emotion"]
    session = _session(model)
    x = np.stack([human_input(rgb) for _, rgb in crops])
    probs = session.run(None, {session.get_inputs()[0].name: x})[0]
    _compare(probs, np.array([expected["outputs"][name] for name, _ in crops]))


def test_astronaut_haar_face_is_happy_for_faceapi_expression():
    """Eileen Collins smiles in skimage's astronaut photo; measured p(happy) = 1.000."""
    import cv2

    model = convert_faceapi_expression(_npm_dir("faceapi") / "model")
    image = ref_inputs.load_photo("astronaut")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    probs = _session(model).run(None, {"input": faceapi_input(image[y : y + h, x : x + w])[None]})
    happy = probs[0][0][1]
    assert happy >= 0.9
