"""In-plane rotation: a tilted head or a camera that is not level.

The direction (clockwise or not) comes from the rng and is the same at every severity of one
sample. Corners uncovered by the rotation are filled by reflection, so no black wedges appear
that a model could key on.
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "rotation"
VALUES = (5, 10, 15, 20, 30)  # rotation angle in degrees


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    angle = severity_value(VALUES, severity, NAME) * (1 if rng.random() < 0.5 else -1)
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
