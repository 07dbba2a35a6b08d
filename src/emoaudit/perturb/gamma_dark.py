"""Under-exposure: a dim scene or a backlit face, modelled as a gamma curve out = in ** gamma.

Gamma > 1 darkens mid-tones and shadows while black and white stay put, the way an under-exposed
camera response looks. Over-exposure is the separate family gamma_bright, because mixing both
directions inside one severity scale would hide which way a model drifts.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value, to_uint8

NAME = "gamma_dark"
VALUES = (1.5, 2.0, 2.5, 3.0, 4.0)  # gamma exponent (> 1 darkens)


def gamma_lut(gamma: float) -> np.ndarray:
    return to_uint8(255.0 * (np.arange(256, dtype=np.float64) / 255.0) ** gamma)


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    return gamma_lut(severity_value(VALUES, severity, NAME))[image]
