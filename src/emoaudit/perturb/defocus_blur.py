"""Defocus blur: an out-of-focus lens spreads each point over a disc.

The disc radius is a fraction of the crop width, so a 48 px and a 112 px crop of the same face get
the same blur relative to the face. The disc is anti-aliased (area coverage on a 4x grid) so that
sub-pixel radii on small crops still blur a little more at every severity.
"""

from __future__ import annotations

import cv2
import numpy as np

from emoaudit.perturb.base import check_image, severity_value, to_uint8

NAME = "defocus_blur"
VALUES = (0.015, 0.025, 0.04, 0.06, 0.08)  # disc radius, fraction of crop width


def disc_kernel(radius: float, *, supersample: int = 4) -> np.ndarray:
    """Normalised disc of `radius` pixels, each tap weighted by the share of it inside the disc."""
    half = int(np.ceil(radius)) + 1
    step = 1.0 / supersample
    offsets = (np.arange(supersample) + 0.5) * step - 0.5
    centres = np.arange(-half, half + 1, dtype=np.float64)
    sub = (centres[:, None] + offsets[None, :]).ravel()
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius**2
    n = 2 * half + 1
    kernel = inside.reshape(n, supersample, n, supersample).mean(axis=(1, 3))
    kernel[half, half] = max(kernel[half, half], 1e-6)  # radius ~0 stays the identity
    return (kernel / kernel.sum()).astype(np.float32)


def apply(image: np.ndarray, *, severity: int, rng: np.random.Generator) -> np.ndarray:
    image = check_image(image, NAME)
    radius = severity_value(VALUES, severity, NAME) * image.shape[1]
    # float32 filtering is about twice as fast as uint8 in OpenCV for kernels this size
    blurred = cv2.filter2D(
        image.astype(np.float32), -1, disc_kernel(radius), borderType=cv2.BORDER_REFLECT_101
    )
    return to_uint8(blurred)
