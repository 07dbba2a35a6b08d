"""Lower-face mask: a surgical mask, placed from the face template (no landmarks needed).

The crop carries no landmarks, so the mask is placed from FACE_TEMPLATE (perturb.base): the face
proportions of a detector crop with a 20% margin. Severity raises the mask's top edge, from a mask
pulled under the chin (1) to one worn over the nose bridge (5). Same pixels for every seed.
"""

from __future__ import annotations

import numpy as np

from emoaudit.perturb.base import FACE_TEMPLATE, blend, check_image, polygon_alpha, severity_value

NAME = "lower_face_mask"
VALUES = (0.84, 0.76, 0.68, 0.60, 0.52)  # top edge of the mask, fraction of crop height
COLOUR = (170, 200, 222)  # pale surgical blue
PLEAT = (140, 170, 195)


def mask_outline(top: float) -> list[tuple[float, float]]:
    """Mask polygon in crop fractions: straight top over the nose, wrapping the jaw to the chin."""
    jaw_l, jaw_r = FACE_TEMPLATE["jaw_left"], FACE_TEMPLATE["jaw_right"]
    chin_y = FACE_TEMPLATE["chin"][1]
    side_y = max(top + 0.03, jaw_l[1])
    return [
        (jaw_l[0] + 0.03, top + 0.02),
        (0.5, top),
        (jaw_r[0] - 0.03, top + 0.02),
        (jaw_r[0] + 0.02, side_y),
        (jaw_r[0] - 0.08, chin_y - 0.02),
        (0.5, chin_y + 0.06),
        (jaw_l[0] + 0.08, chin_y - 0.02),
        (jaw_l[0] - 0.02, side_y),
    ]


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    top = severity_value(VALUES, severity, NAME)
    h, w = image.shape[:2]
    alpha = polygon_alpha((h, w), mask_outline(top))
    out = blend(image, alpha, COLOUR)
    bottom = FACE_TEMPLATE["chin"][1]
    ys = [top + frac * (bottom - top) for frac in (0.3, 0.55, 0.8)]  # pleats: thin darker bands
    pleats = polygon_alpha(
        (h, w), *([(0.0, y), (1.0, y), (1.0, y + 0.012), (0.0, y + 0.012)] for y in ys)
    )
    return blend(out, pleats * alpha, PLEAT)
