"""JPEG compression: what a streaming camera or a re-shared photo does to a face.

Encoded and decoded with libjpeg through OpenCV (4:2:0 chroma subsampling, as most cameras).
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value

NAME = "jpeg"
VALUES = (90, 70, 50, 30, 10)  # JPEG quality


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    quality = severity_value(VALUES, severity, NAME)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # OpenCV's encoder assumes BGR channel order
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - libjpeg does not fail on a valid uint8 image
        raise RuntimeError(f"{NAME}: OpenCV could not encode a {image.shape} image")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
