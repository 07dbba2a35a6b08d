"""Perturbation contract: a family is a function (image, severity, rng) -> image.

Randomness comes only from ``rng(sample_id, seed)`` so the same sample, seed and severity always
produce the same pixels, whichever process or machine runs it (a cached prediction stays valid).
"""

from __future__ import annotations

import hashlib

import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)


def rng(sample_id: str, seed: int, *, salt: str = "") -> np.random.Generator:
    """A generator that depends only on (sample_id, seed, salt), stable across processes."""
    digest = hashlib.sha256(f"{seed}\x00{salt}\x00{sample_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


# --- Shared helpers for family modules (added with the perturbation suite) -------------------

BAD_IMAGE = "perturbation '{family}' expects an RGB uint8 image of shape (H, W, 3), got {got}"
BAD_SEVERITY = "perturbation '{family}': severity must be one of {allowed}, got {severity!r}"

# Where a face sits inside a crop when no landmarks are available, as fractions of the crop
# (x of width, y of height). The runner crops the detector box grown by 20% on each side
# (faces.base.crop_largest), and aligned dataset crops (FER2013, RAF-DB) frame the face the same
# way to within a few percent, so one template serves both. Occlusions are placed from these.
FACE_TEMPLATE: dict[str, tuple[float, float]] = {
    "left_eye": (0.34, 0.40),  # subject's right eye appears on the image left
    "right_eye": (0.66, 0.40),
    "nose_tip": (0.50, 0.58),
    "mouth": (0.50, 0.72),
    "chin": (0.50, 0.90),
    "jaw_left": (0.20, 0.66),
    "jaw_right": (0.80, 0.66),
}


def check_image(image: np.ndarray, family: str) -> np.ndarray:
    """Return a C-contiguous view: OpenCV needs one, and crops are often strided slices."""
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
    ):
        got = (
            f"shape {image.shape} dtype {image.dtype}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise ValueError(BAD_IMAGE.format(family=family, got=got))
    return np.ascontiguousarray(image)


def severity_value(values: tuple, severity: int, family: str):  # noqa: ANN201 (any value type)
    """The family's parameter at `severity` (1-based), with a one-line error when out of range."""
    if not isinstance(severity, int | np.integer) or not 1 <= severity <= len(values):
        allowed = ", ".join(str(s) for s in range(1, len(values) + 1))
        raise ValueError(BAD_SEVERITY.format(family=family, allowed=allowed, severity=severity))
    return values[int(severity) - 1]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image back to uint8 (plain astype would wrap around)."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def blend(image: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Paint `colour` over `image` with per-pixel opacity `alpha` (H, W) in [0, 1]."""
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    out = image.copy()
    if not len(rows):
        return out
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # only where painted
    a = alpha[box].astype(np.float32)[:, :, None]
    sub = image[box].astype(np.float32)
    sub += (np.asarray(colour, np.float32) - sub) * a
    out[box] = to_uint8(sub)
    return out


def polygon_alpha(shape: tuple[int, int], *polygons: list[tuple[float, float]]) -> np.ndarray:
    """Anti-aliased coverage (H, W) of polygons given in crop fractions (x of width, y of
    height); the polygons must not overlap (OpenCV fills one call's polygons even-odd).

    Sub-pixel vertex positions (OpenCV's `shift`) keep the shape the same on a 48 px and a 112 px
    crop instead of snapping to whole pixels.
    """
    import cv2

    h, w = shape
    scale = 16  # 4 fractional bits
    pts = [
        np.array([[x * w * scale, y * h * scale] for x, y in points], dtype=np.int32)
        for points in polygons
    ]
    canvas = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(canvas, pts, 255, lineType=cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0
