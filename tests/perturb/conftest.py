"""A real face crop for perturbation tests: the public-domain astronaut photo (scikit-image),
cropped the way the runner crops a detected face (box grown by 20% on each side)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

# Haar cascade box of the astronaut's face (x, y, w, h), measured once with OpenCV's
# haarcascade_frontalface_default; fixed here so the tests do not depend on the detector.
ASTRONAUT_FACE = (177, 66, 95, 95)


def face_crop(size: int) -> np.ndarray:
    from skimage.data import astronaut

    x, y, w, h = ASTRONAUT_FACE
    m = round(0.2 * w)
    crop = astronaut()[y - m : y + h + m, x - m : x + w + m]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def face112() -> np.ndarray:
    return face_crop(112)


@pytest.fixture(scope="session")
def face48() -> np.ndarray:
    return face_crop(48)
