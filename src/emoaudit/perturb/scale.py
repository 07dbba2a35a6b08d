"""Small scale change: the same face, cropped a little tighter or looser (detector box jitter).

Zoom in or out (direction from the rng) about the crop centre by the factor at this severity;
zooming out fills the uncovered border by reflection. A label-free consistency check.
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "scale"
VALUES = (1.05, 1.10, 1.15, 1.20, 1.25)  # zoom factor (applied as factor or 1/factor)


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    factor = severity_value(VALUES, severity, NAME)
    if rng.random() < 0.5:
        factor = 1.0 / factor
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, factor)
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
