"""Over-exposure: a face in sunlight or a flash, modelled as a gamma curve out = in ** gamma.

Gamma < 1 lifts shadows and mid-tones toward white; the exponents are the reciprocals of
gamma_dark's, so severity s is equally strong in both directions on a log-gamma scale.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value
from emoaudit.perturb.gamma_dark import VALUES as DARK_VALUES
from emoaudit.perturb.gamma_dark import gamma_lut

NAME = "gamma_bright"
VALUES = tuple(round(1.0 / g, 4) for g in DARK_VALUES)  # 0.6667, 0.5, 0.4, 0.3333, 0.25


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    return gamma_lut(severity_value(VALUES, severity, NAME))[image]
