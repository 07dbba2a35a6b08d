"""Horizontal flip: expressions are close to symmetric, so the label should not change.

A label-free consistency check rather than a degradation: it has one severity, and the runner
evaluates it once (condition ``flip:1``).
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "flip"
VALUES = ("horizontal",)


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    severity_value(VALUES, severity, NAME)
    return np.ascontiguousarray(image[:, ::-1])
