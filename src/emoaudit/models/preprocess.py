"""Face crops (RGB uint8, any size) to a model's input tensor, as the model's own library does it.

An audit of a model run with different preprocessing is an audit of a different model, so each
step follows the original code: fer converts to gray with OpenCV on uint8 and resizes with
``cv2.resize`` (INTER_LINEAR); human and face-api resize with tfjs ``resizeBilinear``
(no half-pixel centres) in float and then weight the channels. ``InputSpec.resize`` selects the
family (see its docstring).

This is on the hot path, so work is done a batch at a time where the result stays the same: gray
faces to an OpenCV-bilinear gray model are resized in one OpenCV call, and the tfjs-style resize
is two small matrix products over each group of same-shape crops.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emoaudit.errors import BAD_MODEL_INPUT, ModelError
from emoaudit.models.base import InputSpec

_CV2_GRAY = (0.299, 0.587, 0.114)  # what cv2.cvtColor(RGB2GRAY) computes (fixed point)


def prepare_batch(faces: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """Stack crops into a float32 tensor shaped and normalised per `spec` (NHWC or NCHW)."""
    channels = 1 if spec.color == "gray" else 3
    out = np.empty((len(faces), spec.height, spec.width, channels), dtype=np.float32)
    for i, face in enumerate(faces):
        _check_face(face, i)
    if spec.resize == "bilinear_tf":
        _prepare_tf(faces, spec, out)
    elif spec.resize.startswith("pil_"):
        _prepare_pil(faces, spec, out)
    else:
        _prepare_cv2(faces, spec, out)
    if spec.layout == "NCHW":
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
    return out


def _prepare_tf(faces: list[np.ndarray], spec: InputSpec, out: np.ndarray) -> None:
    """Batch-wide float resize, grouped by crop shape (the GEMMs need one shape)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, face in enumerate(faces):
        groups.setdefault(face.shape, []).append(i)
    for shape, idx in groups.items():
        if len(shape) == 2:
            stack = np.stack([_as_rgb(faces[i]) for i in idx])
        else:
            stack = np.stack([faces[i] for i in idx])
        if spec.pad_square:
            stack = pad_square(stack)
        if len(groups) == 1:
            _resize_then_color_tf(stack, spec, out)
        else:
            out[idx] = _resize_then_color_tf(stack, spec)


def _prepare_cv2(faces: list[np.ndarray], spec: InputSpec, out: np.ndarray) -> None:
    """One OpenCV call per face (each a few microseconds in C), then one in-place normalise:
    five times faster than stacking, transposing and resizing the batch as planes. All-gray
    batches go to _prepare_gray_cv2 (one call a batch for bilinear).

    A 2-D gray face going to a gray model with OpenCV's weights skips the colour conversion:
    cvtColor maps R = G = B = v to exactly v, so the tensor is the same and fer-style gray data
    (FER2013, CK+48) pays for no conversion at all."""
    if not faces:  # nothing to resize; out is already (0, H, W, C)
        return
    gray_as_is = spec.color == "gray" and tuple(spec.gray_weights) == _CV2_GRAY
    if gray_as_is and not spec.pad_square and all(face.ndim == 2 for face in faces):
        _prepare_gray_cv2(faces, spec, out)
        return
    for i, face in enumerate(faces):
        if face.ndim == 2 and gray_as_is and not spec.pad_square:
            out[i, :, :, 0] = _resize_cv2(face, spec)
            continue
        rgb = _as_rgb(face) if face.ndim == 2 else face
        if spec.pad_square:
            rgb = pad_square(rgb[None])[0]
        img = _color_then_resize_cv2(rgb[None], spec)[0]
        out[i] = img
    _normalise_into(out, out, spec)


def _prepare_pil(faces: list[np.ndarray], spec: InputSpec, out: np.ndarray) -> None:
    """Pillow's resize on uint8 after the colour conversion, as ``transforms.Resize`` on a PIL
    image does in torchvision pipelines: shrinking widens the filter (antialiasing), so a large
    crop is averaged, not sampled. One call per face, then one in-place normalise."""
    from PIL import Image

    resample = {"pil_bilinear": Image.Resampling.BILINEAR,
                "pil_bicubic": Image.Resampling.BICUBIC}[spec.resize]  # fmt: skip
    gray_as_is = spec.color == "gray" and tuple(spec.gray_weights) == _CV2_GRAY
    for i, face in enumerate(faces):
        if face.ndim == 2 and gray_as_is and not spec.pad_square:
            img = face
        else:
            rgb = _as_rgb(face) if face.ndim == 2 else face
            if spec.pad_square:
                rgb = pad_square(rgb[None])[0]
            img = _convert_color(rgb, spec)
        if img.shape[:2] != (spec.height, spec.width):
            pil = Image.fromarray(np.ascontiguousarray(img))
            img = np.asarray(pil.resize((spec.width, spec.height), resample))
        out[i] = img.reshape(spec.height, spec.width, -1)
    _normalise_into(out, out, spec)


def _convert_color(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 colour conversion of one RGB face, as _color_then_resize_cv2 does it."""
    import cv2

    if spec.color == "gray":
        if tuple(spec.gray_weights) == _CV2_GRAY:
            return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        return np.rint(rgb.astype(np.float32) @ _gray_weights(spec)).clip(0, 255).astype(np.uint8)
    if spec.color == "bgr":
        return np.ascontiguousarray(rgb[..., ::-1])
    return rgb


def _prepare_gray_cv2(faces: list[np.ndarray], spec: InputSpec, out: np.ndarray) -> None:
    """All-gray batches (FER2013, CK+48 to fer): resized into one uint8 block, then converted
    and normalised in one pass (the same float32 operations as _normalise_into)."""
    if spec.resize == "bilinear":
        block = _resize_gray_block_cv2(faces, spec)
    else:
        block = np.empty((len(faces), spec.height, spec.width), dtype=np.uint8)
        for i, face in enumerate(faces):
            block[i] = _resize_cv2(face, spec)
    a, b = _normalisation(spec, 1)
    flat = out.reshape(len(faces), -1)
    np.multiply(block.reshape(flat.shape), a[0], out=flat)  # float32, as _normalise_into
    flat -= b[0]


def _resize_gray_block_cv2(faces: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """uint8 (N, H, W): every gray face through cv2.resize INTER_LINEAR in one OpenCV call.

    ``cv2.dnn.blobFromImages`` with scale 1, no mean, no crop and an 8-bit blob runs the same
    ``cv2.resize`` on each image (a face already at size is copied as it is), so the block is
    equal to the per-face loop bit for bit (tests/models/test_preprocess.py). One call a batch
    releases the GIL once instead of once a face: under threads each release can hand the GIL
    to another thread and back, which cost more CPU than the resizes themselves.
    """
    import cv2

    size = (spec.width, spec.height)
    blob = cv2.dnn.blobFromImages(faces, 1.0, size, 0, False, False, cv2.CV_8U)
    return blob.reshape(len(faces), spec.height, spec.width)


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
    """OpenCV order: colour conversion on uint8, then cv2.resize on uint8 (as fer does).

    Takes (N, h, w, 3) and returns uint8 (N, H, W, C); called with N = 1 on the hot path.
    """
    import cv2

    n = stack.shape[0]
    channels = 1 if spec.color == "gray" else 3
    out = np.empty((n, spec.height, spec.width, channels), dtype=np.uint8)
    weights = None if tuple(spec.gray_weights) == _CV2_GRAY else _gray_weights(spec)
    for i in range(n):
        face = stack[i]
        if spec.color == "gray":
            if weights is None:
                img = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY)
            else:
                img = np.rint(face.astype(np.float32) @ weights).clip(0, 255).astype(np.uint8)
        elif spec.color == "bgr":
            img = np.ascontiguousarray(face[..., ::-1])
        else:
            img = np.ascontiguousarray(face)
        out[i] = _resize_cv2(img, spec).reshape(spec.height, spec.width, channels)
    return out


def _resize_cv2(img: np.ndarray, spec: InputSpec) -> np.ndarray:
    """cv2.resize on uint8 to the model's size (as fer does); a face already that size is kept."""
    if img.shape[:2] == (spec.height, spec.width):
        return img
    if spec.resize.startswith("pil_"):
        return _resize_pil(img, spec)
    import cv2

    interp = {
        "bilinear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
        "nearest": cv2.INTER_NEAREST,
    }[spec.resize]
    return cv2.resize(img, (spec.width, spec.height), interpolation=interp)


def _resize_pil(img: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Pillow's resize (a filter widened by the scale when shrinking: antialiased)."""
    from PIL import Image

    method = Image.Resampling.BICUBIC if spec.resize == "pil_bicubic" else Image.Resampling.BILINEAR
    resized = Image.fromarray(np.ascontiguousarray(img)).resize((spec.width, spec.height), method)
    return np.asarray(resized)


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


def _resize_then_color_tf(
    stack: np.ndarray, spec: InputSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """tfjs order: float bilinear resize, then channel weighting (as human and face-api do).

    The separable resize runs as two matrix products over the whole batch, laid out so that
    neither needs a transposed copy: columns through one product with a (w*c, W*c) matrix
    (the column weights expanded per channel), then rows as one product per image, written
    straight into `out` in NHWC. The copies the earlier row-first layout needed cost more than
    the products themselves (face-api: 176 -> ~90 us a face). The normalisation is applied to
    the small input: each row of a resize matrix sums to one, so resize(x * a - b) ==
    resize(x) * a - b, and the large output is written only once.
    """
    x = stack.astype(np.float32)
    if spec.color == "gray":
        x = (x @ _gray_weights(spec))[..., None]  # linear, so it commutes with the resize
    elif spec.color == "bgr":
        x = x[..., ::-1]
    n, h, w, c = x.shape
    x = np.ascontiguousarray(x).reshape(n * h, w * c)
    scale, shift = _normalisation(spec, c)
    x *= np.tile(scale, w)  # tiled along the row: a length-3 broadcast is 10x slower
    x -= np.tile(shift, w)
    cols = (x @ _tf_column_matrix(w, spec.width, c)).reshape(n, h, spec.width * c)
    if out is None:
        out = np.empty((n, spec.height, spec.width, c), dtype=np.float32)
    np.matmul(tf_resize_matrix(h, spec.height), cols, out=out.reshape(n, spec.height, -1))
    return out


@lru_cache(maxsize=64)
def _tf_column_matrix(size_in: int, size_out: int, channels: int) -> np.ndarray:
    """(w*c, W*c): the column resize for rows of interleaved channels (NHWC)."""
    eye = np.eye(channels, dtype=np.float32)
    return np.kron(tf_resize_matrix(size_in, size_out).T, eye).astype(np.float32)


def _normalisation(spec: InputSpec, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (a, b) with normalised = pixel * a - b; computed once per spec (it was 3% of
    an audit's CPU outside ONNX Runtime, recomputed for every batch of 16 faces)."""
    return _normalisation_of(float(spec.scale), _floats(spec.mean), _floats(spec.std), channels)


def _floats(values: object) -> tuple[float, ...]:
    """A spec's mean or std as a hashable tuple (a number or an array from the Python API)."""
    if isinstance(values, tuple):
        return values
    return tuple(float(v) for v in np.ravel(values))


@lru_cache(maxsize=64)
def _normalisation_of(
    scale: float, mean: tuple[float, ...], std: tuple[float, ...], channels: int
) -> tuple[np.ndarray, np.ndarray]:
    m = np.broadcast_to(np.asarray(mean, dtype=np.float64), (channels,))
    s = np.broadcast_to(np.asarray(std, dtype=np.float64), (channels,))
    a, b = (scale / s).astype(np.float32), (m / s).astype(np.float32)
    a.setflags(write=False)  # shared by every call: never written
    b.setflags(write=False)
    return a, b


def _normalise_into(dst: np.ndarray, src: np.ndarray, spec: InputSpec) -> None:
    """dst = (src * scale - mean) / std, per channel, written as src * a - b on NHWC arrays."""
    *_, w, c = dst.shape
    a, b = _normalisation(spec, c)
    flat_dst, flat_src = dst.reshape(-1, w * c), src.reshape(-1, w * c)
    np.multiply(flat_src, np.tile(a, w), out=flat_dst)
    flat_dst -= np.tile(b, w)
