"""Human's emotion model through the zoo (its JavaScript reference is in test_js_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from emoaudit.models.onnx_model import load_model
from emoaudit.models.preprocess import prepare_batch


@pytest.fixture(scope="module")
def human(built):
    built("human-emotion")
    return load_model("human-emotion")


def test_labels_and_preprocessing_follow_humans_emotion_ts(human):
    assert human.info.labels == ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    spec = human.info.input
    assert (spec.height, spec.width, spec.color, spec.resize) == (64, 64, "gray", "bilinear_tf")
    assert spec.gray_weights == (0.2989, 0.5870, 0.1140)


def test_astronaut_face_is_happy(human, face_crops):
    probs = human.predict_proba(prepare_batch([face_crops["astronaut"]], human.info.input))[0]
    happy = human.info.labels.index("happy")
    assert probs.argmax() == happy
    assert probs[happy] >= 0.9  # measured 0.999


def test_batch_and_single_runs_agree(human, jittered_crops):
    batch = prepare_batch(jittered_crops[:8], human.info.input)
    together = human.predict_proba(batch)
    alone = np.concatenate([human.predict_proba(batch[i : i + 1]) for i in range(8)])
    np.testing.assert_allclose(together, alone, atol=1e-6)
