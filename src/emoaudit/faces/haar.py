"""OpenCV's frontal-face Haar cascade: the detector the `fer` package runs in front of its model.

It is here so an audit can reproduce fer's own pipeline and so there is a detector with no model
zoo to build. The parameters follow fer (scaleFactor 1.1, minNeighbors 5) except the minimum face
size, which is relative to the image: a fixed 50 px (fer's default) misses every face in small
photos and finds spurious ones in large ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emoaudit.faces.base import Box

CASCADE_FILE = "haarcascade_frontalface_default.xml"
CASCADE_WINDOW = 24  # the cascade's training window: nothing smaller can be found


@dataclass
class HaarDetector:
    """Frontal faces from the Viola-Jones cascade; boxes carry no calibrated score (score=1)."""

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size_fraction: float = 0.08  # of the shorter image side
    name: str = "haar"
    # Haar boxes run from mid-forehead to the chin; fer adds 10 px around boxes of ~100 px.
    margin: float = 0.1
    # One cascade per thread: OpenCV's CascadeClassifier is not thread-safe, and a shared one
    # crashed the runner's workers (vector::_M_range_check) on photo sets with --detector haar.
    _local: Any = field(default_factory=threading.local, init=False, repr=False)

    def _load(self) -> Any:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            import cv2

            path = cv2.data.haarcascades + CASCADE_FILE
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                from emoaudit.errors import ModelError

                raise ModelError(f"{path}: cannot load the OpenCV Haar cascade")
            self._local.cascade = cascade
        return cascade

    def detect(self, image: np.ndarray) -> list[Box]:
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        side = max(CASCADE_WINDOW, int(round(self.min_size_fraction * min(gray.shape[:2]))))
        found = self._load().detectMultiScale(
            np.ascontiguousarray(gray),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        return [Box(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]
