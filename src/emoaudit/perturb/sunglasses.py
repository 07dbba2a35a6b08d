"""Sunglasses: two dark lenses and a bridge over the eyes, placed from the face template.

The crop carries no landmarks, so the lenses are centred on FACE_TEMPLATE's eye positions
(perturb.base). Severity is the lens opacity, from lightly tinted glasses (1) to opaque
sunglasses (5); the geometry is the same at every severity. Same pixels for every seed.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import FACE_TEMPLATE, blend, check_image, polygon_alpha, severity_value

NAME = "sunglasses"
VALUES = (0.25, 0.45, 0.65, 0.85, 1.0)  # lens opacity
COLOUR = (18, 18, 22)
LENS_HALF_WIDTH = 0.14  # fraction of crop width
LENS_HALF_HEIGHT = 0.085  # fraction of crop height


def lens(centre: tuple[float, float]) -> list[tuple[float, float]]:
    """A rounded lens: an ellipse slightly flattened at the top, as a polygon in crop fractions."""
    cx, cy = centre
    t = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
    ry = np.where(np.sin(t) < 0, LENS_HALF_HEIGHT * 0.8, LENS_HALF_HEIGHT)
    return list(zip(cx + LENS_HALF_WIDTH * np.cos(t), cy + ry * np.sin(t), strict=True))


def glasses_alpha(shape: tuple[int, int]) -> np.ndarray:
    left, right = FACE_TEMPLATE["left_eye"], FACE_TEMPLATE["right_eye"]
    y = left[1] - 0.03
    bridge = [(left[0], y - 0.012), (right[0], y - 0.012), (right[0], y + 0.012), (left[0], y)]
    parts = [polygon_alpha(shape, lens(left)), polygon_alpha(shape, lens(right))]
    parts.append(polygon_alpha(shape, bridge))
    return np.maximum.reduce(parts)


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    opacity = severity_value(VALUES, severity, NAME)
    return blend(image, glasses_alpha(image.shape[:2]) * opacity, COLOUR)
