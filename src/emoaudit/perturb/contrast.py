"""Contrast: haze, fog, a dirty lens or flat lighting squeeze intensities toward their mean.

Each pixel moves toward the image mean: out = mean + factor * (in - mean).
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value, to_uint8

NAME = "contrast"
VALUES = (0.7, 0.5, 0.35, 0.2, 0.1)  # contrast factor kept


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    factor = severity_value(VALUES, severity, NAME)
    mean = float(image.mean())
    lut = to_uint8(mean + factor * (np.arange(256, dtype=np.float64) - mean))
    return lut[image]
