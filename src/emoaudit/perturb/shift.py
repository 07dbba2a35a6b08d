"""Small shift: the same face, cropped a few pixels off (detector jitter between frames).

The crop moves by a fraction of its width in a direction drawn from the rng; uncovered borders
are filled by reflection. A label-free consistency check: a stable model should not care.
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "shift"
VALUES = (0.02, 0.04, 0.06, 0.08, 0.10)  # translation, fraction of crop width


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    h, w = image.shape[:2]
    angle = rng.uniform(0.0, 2 * np.pi)
    dist = severity_value(VALUES, severity, NAME) * w
    matrix = np.float32([[1, 0, dist * np.cos(angle)], [0, 1, dist * np.sin(angle)]])
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
