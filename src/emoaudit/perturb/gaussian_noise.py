"""Gaussian noise: sensor noise of a small or badly lit camera, independent per pixel and channel.

Standard deviations follow ImageNet-C (Hendrycks & Dietterich 2019: 0.08-0.38 of the intensity
range) so results compare with the corruption-robustness literature.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import check_image, severity_value, to_uint8

NAME = "gaussian_noise"
VALUES = (0.08, 0.12, 0.18, 0.26, 0.38)  # noise standard deviation, fraction of 255


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    sigma = severity_value(VALUES, severity, NAME) * 255.0
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    return to_uint8(image.astype(np.float32) + sigma * noise)
