"""Python objects as models: the contract, label mapping, output checks and cache identity."""

from __future__ import annotations

import numpy as np
import pytest

from emoaudit.errors import ModelError
from emoaudit.models.python_model import (
    BAD_LABEL,
    BAD_OUTPUT,
    NOT_A_MODEL,
    PREDICT_FAILED,
    PythonModel,
    identity,
)

LABELS = ["Happy", "sadness", "neutral"]


class Brightness:
    """A numpy model: brighter faces read happier. Records the batches it was given."""

    labels = LABELS

    def __init__(self, out: str = "probs") -> None:
        self.seen: list[list[np.ndarray]] = []
        self.out = out

    def predict(self, faces):
        self.seen.append(faces)
        m = np.array([f.mean() / 255.0 for f in faces])
        logits = np.stack([4 * (m - 0.5), 4 * (0.5 - m), np.zeros_like(m)], axis=1)
        if self.out == "logits":
            return logits
        z = np.exp(logits)
        return z / z.sum(axis=1, keepdims=True)


def _faces(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8) for i in range(n)]


def test_labels_are_mapped_and_faces_arrive_as_rgb_crops():
    obj = Brightness()
    model = PythonModel(obj, name="bright", version="1")
    assert model.info.labels == ("happy", "sad", "neutral")
    gray = np.full((10, 12), 200, np.uint8)
    probs, errors = model.predict_faces([gray, *_faces(2)], samples=[None] * 3, condition="clean")
    assert errors == {} and probs.shape == (3, 3)
    assert np.allclose(probs.sum(axis=1), 1) and probs[0, 0] > probs[0, 1]
    seen = obj.seen[0]
    assert seen[0].shape == (10, 12, 3) and seen[0].dtype == np.uint8  # gray became RGB
    assert [f.shape for f in seen[1:]] == [(20, 24, 3), (21, 24, 3)]  # sizes as cropped


def test_size_resizes_every_crop_and_logits_are_softmaxed():
    obj = Brightness(out="logits")
    model = PythonModel(obj, name="b", size=(16, 16), outputs="logits")
    probs, _ = model.predict_faces(_faces(3), samples=[None] * 3, condition="clean")
    assert {f.shape for f in obj.seen[0]} == {(16, 16, 3)}
    assert np.allclose(probs.sum(axis=1), 1)


def test_sklearn_pipeline_is_used_as_is():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    y = np.where(x.reshape(60, -1).mean(axis=1) > 127.5, "happy", "sad")
    flat = FunctionTransformer(lambda faces: np.asarray(faces, float).reshape(len(faces), -1))
    pipe = make_pipeline(flat, LogisticRegression(max_iter=500)).fit(list(x), y)
    model = PythonModel(pipe, name="sk", version="1", size=(8, 8))
    assert model.info.labels == ("happy", "sad")  # from classes_
    assert model.info.source["method"] == "predict_proba"
    probs, _ = model.predict_faces(list(x[:5]), samples=[None] * 5, condition="clean")
    assert np.allclose(probs, pipe.predict_proba(list(x[:5])))


def test_cache_identity_needs_a_version_or_digest():
    a, how = identity("m", version="1", digest=None)
    assert how == "version" and a == identity("m", version="1", digest=None)[0]
    assert a != identity("m", version="2", digest=None)[0]
    d, how = identity("m", version="1", digest="abc")
    assert how == "digest" and d != a
    r1, how = identity("m", version=None, digest=None)
    assert how.startswith("off") and r1 != identity("m", version=None, digest=None)[0]
    obj = Brightness()
    obj.version = "3"
    assert PythonModel(obj, name="m").info.source["cache"] == "version"


class NoLabels:
    def predict(self, faces):
        return np.zeros((len(faces), 2))


class Wrong(Brightness):
    def __init__(self, result) -> None:
        super().__init__()
        self.result = result

    def predict(self, faces):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_bad_models_and_outputs_are_one_line_errors():
    with pytest.raises(ModelError) as exc:
        PythonModel(NoLabels(), name="x")
    assert str(exc.value) == NOT_A_MODEL.format(name="x", kind="NoLabels")
    obj = Brightness()
    obj.labels = ["happy", "calm"]
    with pytest.raises(ModelError, match="label 'calm' is not an expression"):
        PythonModel(obj, name="x")
    assert BAD_LABEL.startswith("model '{name}'")
    cases = [
        (np.zeros((2, 2)), "shape (2, 2)"),
        (np.full((2, 3), np.nan), "NaN or inf"),
        (np.full((2, 3), 0.5), "not probabilities"),
        ([[10**400, 1, 0]] * 2, "returned list"),  # a cast to float overflows
        (np.full((2, 3), 1 / 3 + 1j), "complex numbers"),  # the imaginary part, lost in silence
        ([[0.5, 0.5], [1.0]], "returned list"),  # ragged
        (ValueError("boom\nsecond line"), "ValueError: boom"),
    ]
    for result, fragment in cases:
        model = PythonModel(Wrong(result), name="w")
        with pytest.raises(ModelError) as exc:
            model.predict_faces(_faces(2), samples=[None] * 2, condition="clean")
        assert fragment in str(exc.value) and "\n" not in str(exc.value)
    assert BAD_OUTPUT.startswith("model '{name}': predict() returned")
    assert PREDICT_FAILED.startswith("model '{name}': predict() raised")
