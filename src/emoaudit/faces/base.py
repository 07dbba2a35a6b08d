"""Face detector contract and cropping of the largest face.

A detector maps an RGB uint8 image to boxes in pixel coordinates. The runner crops the largest
box (plus a margin) because audit datasets hold one subject per photo; a photo with no box gets
``status=no_face`` and is counted, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Box]: ...


def crop_largest(image: np.ndarray, boxes: list[Box], *, margin: float = 0.2) -> np.ndarray | None:
    """Crop the largest box grown by `margin` of its size on each side, clipped to the image."""
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.area)
    h, w = image.shape[:2]
    bw, bh = box.x1 - box.x0, box.y1 - box.y0
    x0 = int(max(0, np.floor(box.x0 - margin * bw)))
    y0 = int(max(0, np.floor(box.y0 - margin * bh)))
    x1 = int(min(w, np.ceil(box.x1 + margin * bw)))
    y1 = int(min(h, np.ceil(box.y1 + margin * bh)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return image[y0:y1, x0:x1]
