"""Motion blur: the subject or the camera moved during the exposure.

A straight streak whose length is a fraction of the crop width, in a direction drawn from the
rng (the same direction at every severity of one sample, so severities differ only in length).
The streak is drawn with bilinear splatting, so lengths below a pixel still blur smoothly.
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value, to_uint8

NAME = "motion_blur"
VALUES = (0.03, 0.06, 0.10, 0.15, 0.20)  # streak length, fraction of crop width


def line_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised line of `length` pixels at `angle` radians, centred, bilinearly splatted."""
    half = int(np.ceil(length / 2)) + 1
    n = 2 * half + 1
    t = np.linspace(-length / 2, length / 2, max(2, int(np.ceil(length * 4)) + 1))
    x = half + t * np.cos(angle)
    y = half + t * np.sin(angle)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((n + 1, n + 1), dtype=np.float64)
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    kernel = kernel[:n, :n]
    return (kernel / kernel.sum()).astype(np.float32)


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    length = severity_value(VALUES, severity, NAME) * image.shape[1]
    angle = rng.uniform(0.0, np.pi)
    kernel = line_kernel(length, angle)
    # float32 filtering is about twice as fast as uint8 in OpenCV for kernels this size
    blurred = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return to_uint8(blurred)
