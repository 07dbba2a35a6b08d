"""Real public-domain photos and the measured face regions the detectors are checked against.

Hand-measured face boxes (x0, y0, x1, y1), cheek to cheek and hairline/hat brim to chin, read off
a 10 px grid drawn over each photo:
- skimage.data.astronaut() (512x512): (180, 75, 265, 178)
- matplotlib grace_hopper.jpg (512 wide, 600 high): (170, 140, 355, 330)
"""

from __future__ import annotations

from emoaudit.faces.base import Box

ASTRONAUT_FACE = Box(180, 75, 265, 178)
GRACE_FACE = Box(170, 140, 355, 330)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


def scaled(box: Box, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Box:
    return Box(box.x0 * sx + dx, box.y0 * sy + dy, box.x1 * sx + dx, box.y1 * sy + dy)
