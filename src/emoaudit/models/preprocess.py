"""Face crops (RGB uint8, any size) to a model's input tensor, as the model's own library does it.

An audit of a model run with different preprocessing is an audit of a different model, so each
step follows the original code: fer converts to gray with OpenCV on uint8 and resizes with
``cv2.resize`` (INTER_LINEAR); human and face-api resize with tfjs ``resizeBilinear``
(no half-pixel centres) in float and then weight the channels. ``InputSpec.resize`` selects the
family (see its docstring).

This is on the hot path, so crops are grouped by shape and each group is processed in one go:
OpenCV resizes many crops at once when they are stacked along the channel axis, and the tfjs-style
resize is two small matrix products over the whole group.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emoaudit.errors import BAD_MODEL_INPUT, ModelError
from emoaudit.models.base import InputSpec

_CV2_GRAY = (0.299, 0.587, 0.114)  # what cv2.cvtColor(RGB2GRAY) computes (fixed point)
_CV2_MAX_CHANNELS = 512  # OpenCV's CV_CN_MAX


def prepare_batch(faces: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """Stack crops into a float32 tensor shaped and normalised per `spec` (NHWC or NCHW)."""
    channels = 1 if spec.color == "gray" else 3
    out = np.empty((len(faces), spec.height, spec.width, channels), dtype=np.float32)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, face in enumerate(faces):
        groups.setdefault(_check_face(face, i).shape, []).append(i)
    whole = len(groups) == 1
    for shape, idx in groups.items():
        stack = np.stack([_as_rgb(faces[i]) for i in idx]) if len(shape) == 2 else None
        if stack is None:
            stack = np.stack([faces[i] for i in idx])
        if spec.pad_square:
            stack = pad_square(stack)
        if spec.resize == "bilinear_tf":
            done = _resize_then_color_tf(stack, spec)  # normalised on the small input
        else:
            done = np.empty((len(idx), spec.height, spec.width, channels), dtype=np.float32)
            _normalise_into(done, _color_then_resize_cv2(stack, spec), spec)
        if whole:
            np.copyto(out, done)
        else:
            out[idx] = done
    if spec.layout == "NCHW":
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
    return out


def _check_face(face: np.ndarray, index: int) -> np.ndarray:
    is_array = isinstance(face, np.ndarray)
    ok_shape = is_array and (face.ndim == 2 or (face.ndim == 3 and face.shape[2] == 3))
    if not ok_shape or face.dtype != np.uint8:
        why = f"face {index} must be a uint8 HxWx3 RGB (or HxW gray) array"
        raise ModelError(BAD_MODEL_INPUT.format(name="preprocess", why=f"{why}, got {_desc(face)}"))
    if face.shape[0] < 1 or face.shape[1] < 1:
        why = f"face {index} is empty ({face.shape})"
        raise ModelError(BAD_MODEL_INPUT.format(name="preprocess", why=why))
    return face


def _desc(face: object) -> str:
    if isinstance(face, np.ndarray):
        return f"{face.dtype} {face.shape}"
    return type(face).__name__


def _as_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def pad_square(stack: np.ndarray) -> np.ndarray:
    """Zero-pad (N, H, W, C) crops to squares as face-api's ``padToSquare(img, true)`` does.

    face-api appends ``round(diff / 2)`` rows or columns after the image and the rest before it.
    """
    _, h, w, _ = stack.shape
    if h == w:
        return stack
    diff = abs(h - w)
    after = int(np.floor(diff * 0.5 + 0.5))  # JavaScript Math.round (halves round up)
    before = diff - after
    pads = (
        [(0, 0), (before, after), (0, 0), (0, 0)]
        if h < w
        else [(0, 0), (0, 0), (before, after), (0, 0)]
    )
    return np.pad(stack, pads)


def _gray_weights(spec: InputSpec) -> np.ndarray:
    return np.asarray(spec.gray_weights, dtype=np.float32)


def _color_then_resize_cv2(stack: np.ndarray, spec: InputSpec) -> np.ndarray:
    """OpenCV order: colour conversion on uint8, then cv2.resize on uint8 (as fer does)."""
    import cv2

    if spec.color == "gray":
        if tuple(spec.gray_weights) == _CV2_GRAY:
            n, h, w, _ = stack.shape
            flat = stack.reshape(n * h, w, 3)
            img = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(n, h, w, 1)
        else:
            img = np.rint(stack.astype(np.float32) @ _gray_weights(spec)).clip(0, 255)
            img = img.astype(np.uint8)[..., None]
    elif spec.color == "bgr":
        img = stack[..., ::-1]
    else:
        img = stack
    interp = {
        "bilinear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
        "nearest": cv2.INTER_NEAREST,
    }[spec.resize]
    return _cv2_resize_stack(img, spec.height, spec.width, interp).astype(np.float32)


def _cv2_resize_stack(img: np.ndarray, height: int, width: int, interp: int) -> np.ndarray:
    """Resize (N, h, w, C) uint8 with one cv2.resize call per 512 channels."""
    import cv2

    n, h, w, c = img.shape
    if (h, w) == (height, width):
        return img
    planes = np.ascontiguousarray(img.transpose(1, 2, 0, 3).reshape(h, w, n * c))
    parts = []
    step = (_CV2_MAX_CHANNELS // c) * c
    for start in range(0, n * c, step):
        chunk = np.ascontiguousarray(planes[:, :, start : start + step])
        res = cv2.resize(chunk, (width, height), interpolation=interp)
        parts.append(res.reshape(height, width, -1))
    resized = np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
    return resized.reshape(height, width, n, c).transpose(2, 0, 1, 3)


@lru_cache(maxsize=256)
def tf_resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(out, in) weights of tf resize_bilinear with align_corners=False, half_pixel_centers=False.

    Source coordinate = dst * in / out; neighbours floor and ceil (clamped); tfjs cpu backend's
    formula, so the result equals ``tf.image.resizeBilinear(x, size, false)`` up to float rounding.
    """
    ratio = size_in / size_out
    m = np.zeros((size_out, size_in), dtype=np.float64)
    for r in range(size_out):
        src = ratio * r
        lo = max(0, int(np.floor(src)))
        hi = min(size_in - 1, int(np.ceil(src)))
        frac = src - lo
        m[r, lo] += 1.0 - frac
        m[r, hi] += frac
    return m.astype(np.float32)


def _resize_then_color_tf(stack: np.ndarray, spec: InputSpec) -> np.ndarray:
    """tfjs order: float bilinear resize, then channel weighting (as human and face-api do).

    The separable resize runs as two large matrix products over the whole batch (rows, then
    columns) rather than one small product per image, which BLAS does many times faster. The
    normalisation is applied to the small input: each row of a resize matrix sums to one, so
    resize(x * a - b) == resize(x) * a - b, and the large output is written only once.
    """
    x = stack.astype(np.float32)
    if spec.color == "gray":
        x = (x @ _gray_weights(spec))[..., None]  # linear, so it commutes with the resize
    elif spec.color == "bgr":
        x = x[..., ::-1]
    x = np.ascontiguousarray(x)
    _normalise_into(x, x, spec)
    n, h, w, c = x.shape
    ry = tf_resize_matrix(h, spec.height)
    rx = tf_resize_matrix(w, spec.width)
    rows = ry @ x.transpose(1, 0, 2, 3).reshape(h, n * w * c)  # (H, n*w*c)
    rows = rows.reshape(spec.height, n, w, c).transpose(2, 1, 0, 3).reshape(w, -1)
    cols = rx @ rows  # (W, n*H*c)
    return cols.reshape(spec.width, n, spec.height, c).transpose(1, 2, 0, 3)


def _normalise_into(dst: np.ndarray, src: np.ndarray, spec: InputSpec) -> None:
    """dst = (src * scale - mean) / std, per channel, written as src * a - b."""
    c = dst.shape[-1]
    mean = np.broadcast_to(np.asarray(spec.mean, dtype=np.float64), (c,))
    std = np.broadcast_to(np.asarray(spec.std, dtype=np.float64), (c,))
    a = (spec.scale / std).astype(np.float32)
    b = (mean / std).astype(np.float32)
    np.multiply(src, a, out=dst)
    dst -= b