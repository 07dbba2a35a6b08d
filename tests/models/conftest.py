"""Real public-domain face crops for model tests (skimage astronaut, matplotlib grace_hopper).

Faces are found with OpenCV's Haar cascade (as fer does) so the crops are what a user gets; the
shifted/scaled crops are drawn from a fixed seed, so every run sees the same pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def _photos() -> dict[str, np.ndarray]:
    import cv2
    import matplotlib.cbook
    import skimage.data

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    hopper = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return {"astronaut": skimage.data.astronaut(), "grace_hopper": hopper}


def _largest_face(image: np.ndarray) -> tuple[int, int, int, int]:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
    assert len(faces), "Haar cascade found no face in a photo that has one"
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


@pytest.fixture(scope="session")
def face_crops() -> dict[str, np.ndarray]:
    """The Haar face box of each photo, cropped tight."""
    out = {}
    for name, image in _photos().items():
        x, y, w, h = _largest_face(image)
        out[name] = image[y : y + h, x : x + w]
    return out


@pytest.fixture(scope="session")
def jittered_crops() -> list[np.ndarray]:
    """2 tight crops + 200 square crops shifted by up to 25% and scaled 0.7-1.6x (seeded)."""
    rng = np.random.default_rng(20240601)
    crops = []
    for image in _photos().values():
        x, y, w, h = _largest_face(image)
        height, width = image.shape[:2]
        crops.append(image[y : y + h, x : x + w])
        for _ in range(100):
            side = int(w * rng.uniform(0.7, 1.6))
            dx, dy = rng.uniform(-0.25, 0.25, 2)
            cx = min(max(int(x + w / 2 + dx * w - side / 2), 0), width - side)
            cy = min(max(int(y + h / 2 + dy * h - side / 2), 0), height - side)
            crops.append(image[cy : cy + side, cx : cx + side])
    return crops


@pytest.fixture(scope="session")
def zoo_model(zoo_home):
    """Path of a model the session's zoo built. Not built: skip locally, FAIL under CI ($CI set),
    because CI runs `emoaudit models build` and a reference test that silently skips there
    would prove nothing."""
    from emoaudit.models import zoo

    def need(name: str) -> Path:
        status = zoo.available()[name]
        if status.state != "built":
            message = f"{name}: {status}"
            if os.environ.get("CI"):
                pytest.fail(f"{message} (CI must build the whole zoo)")
            pytest.skip(message)
        return zoo.model_path(name)

    return need
