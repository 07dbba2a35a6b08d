"""Resolution: the face a camera delivers at distance, shown to the model at its input size.

The crop is shrunk (area averaging, like a sensor integrating light) so the face is VALUES[s]
pixels across, then enlarged back with bilinear interpolation, because models resize whatever
they get to their input size and the lost detail does not come back. A crop already narrower than
the target is returned unchanged: a 48 px FER2013 crop has no 64 px detail to lose.
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "resolution"
VALUES = (64, 48, 32, 24, 16)  # face width in pixels after downscaling


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    target = severity_value(VALUES, severity, NAME)
    h, w = image.shape[:2]
    if w <= target:
        return image.copy()
    small = (target, max(1, round(h * target / w)))
    reduced = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(reduced, (w, h), interpolation=cv2.INTER_LINEAR)
