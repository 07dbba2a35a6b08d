"""Random patch: a hand, a scarf or a passer-by hiding part of the face.

A square of one random colour covering a share of the crop area, at a random position fully
inside the crop. Position and colour come from the rng and are the same at every severity of one
sample, so severities differ only in how much is hidden.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "random_patch"
VALUES = (0.05, 0.10, 0.20, 0.30, 0.40)  # patch area, fraction of crop area


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    area = severity_value(VALUES, severity, NAME)
    h, w = image.shape[:2]
    cx, cy = rng.random(2)  # patch centre, as a fraction of the free range
    colour = rng.integers(0, 256, size=3, dtype=np.uint8)
    side = max(1, round(np.sqrt(area * h * w)))
    ph, pw = min(side, h), min(side, w)
    y0, x0 = round(cy * (h - ph)), round(cx * (w - pw))
    out = image.copy()
    out[y0 : y0 + ph, x0 : x0 + pw] = colour
    return out
