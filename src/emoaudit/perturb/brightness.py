"""Brightness: a washed-out face (strong light, auto-exposure set for a darker scene).

A constant is added to every channel and clipped, as ImageNet-C does, so bright regions saturate
and lose detail first. Darkening is covered by gamma_dark, which keeps black at black.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "brightness"
VALUES = (0.1, 0.2, 0.3, 0.4, 0.5)  # offset added, fraction of 255


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    offset = round(severity_value(VALUES, severity, NAME) * 255)
    lut = np.clip(np.arange(256) + offset, 0, 255).astype(np.uint8)
    return lut[image]
