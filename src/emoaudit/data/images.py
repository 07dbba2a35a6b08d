"""Decode any dataset image to RGB uint8, or fail with one line that names the file.

Datasets ship gray, palette (JAFFE), RGBA, 16-bit (some CK+ exports) and EXIF-rotated phone
photos; models want one thing. Decoding lives here so every adapter and worker agrees on the
pixels, and so a bad file becomes ``status=unreadable`` with a reason instead of a crash.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from emoaudit import errors
from emoaudit.data.base import Sample
from emoaudit.errors import EmoauditError

# Far above any face photo (a 12-megapixel phone image is 12M) but small enough that a crafted
# file cannot take the machine's memory: 64M pixels of RGB is ~200 MB.
MAX_PIXELS = 64_000_000


class ImageDecodeError(EmoauditError):
    """One image cannot be decoded; the runner records status ``unreadable`` with str(exc)."""


def decode_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the image at `path` as an (H, W, 3) RGB uint8 array, upright per its EXIF tag."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError(
            errors.UNREADABLE_IMAGE.format(path=path, why="no such file")
        ) from None
    except OSError as exc:
        raise ImageDecodeError(
            errors.UNREADABLE_IMAGE.format(path=path, why=_one_line(exc))
        ) from None
    return decode_image_bytes(data, name=str(path), max_pixels=max_pixels)


def decode_image_bytes(
    data: bytes, *, name: str, max_pixels: int = MAX_PIXELS, keep_gray: bool = False
) -> np.ndarray:
    """Decode file bytes already read (the runner hashes them for its cache key first).

    ``keep_gray`` lets a one-channel JPEG come back as a 2-D gray array: gray face datasets
    (FER2013 folders, CK+48) then skip a colour expansion that gray models would undo, with
    identical pixels (R = G = B converts back to exactly the same gray value).
    """
    if data[:3] == b"\xff\xd8\xff":  # JPEG, by far the most common: OpenCV decodes it 5x faster
        fast = _decode_jpeg_cv2(data, name=name, max_pixels=max_pixels, keep_gray=keep_gray)
        if fast is not None:
            return fast
    return _decode_pil(data, name=name, max_pixels=max_pixels)


def _decode_pil(data: bytes, *, name: str, max_pixels: int) -> np.ndarray:
    """Every other format, and JPEGs OpenCV would get wrong; PIL names what is broken."""
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Our own limit below decides; PIL's warning would only add noise to the log.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        errors.DECOMPRESSION_BOMB.format(
                            path=name, pixels=width * height, limit=max_pixels
                        )
                    )
                im.load()
                im = ImageOps.exif_transpose(im)
                return _to_rgb(im)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        why = "not an image file" if data else "empty file"
        raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=name, why=why)) from None
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(
            errors.UNREADABLE_IMAGE.format(path=name, why=_one_line(exc))
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, broken headers
        raise ImageDecodeError(
            errors.UNREADABLE_IMAGE.format(path=name, why=_one_line(exc))
        ) from None


def _decode_jpeg_cv2(
    data: bytes, *, name: str, max_pixels: int, keep_gray: bool = False
) -> np.ndarray | None:
    """RGB (or, with keep_gray, a gray JPEG's 2-D) pixels via OpenCV, EXIF orientation applied;
    None to let PIL decide.

    The size limit is checked on the header first; anything OpenCV cannot decode goes to the
    PIL path, which produces the one-line reason.
    """
    import cv2

    # OpenCV fills a truncated scan with gray instead of failing: only complete files go fast
    complete = data.endswith(b"\xff\xd9") or data.rstrip(b"\x00").endswith(b"\xff\xd9")
    frame = _jpeg_frame(data) if complete else None
    if frame is None:
        return None
    width, height, components = frame
    if width * height > max_pixels:
        raise ImageDecodeError(
            errors.DECOMPRESSION_BOMB.format(path=name, pixels=width * height, limit=max_pixels)
        )
    if keep_gray and components == 1:  # IMREAD_GRAYSCALE still applies the EXIF orientation
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) from the JPEG frame header, walking the marker segments;
    None if odd."""
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            height = data[i + 5] << 8 | data[i + 6]
            width = data[i + 7] << 8 | data[i + 8]
            return (width, height, data[i + 9]) if width and height else None
        i += 2 + (data[i + 2] << 8 | data[i + 3])
    return None


def gray_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Replicate a 2-D gray array (FER2013 csv rows) to RGB so every sample has one shape."""
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return pixels


def _to_rgb(im) -> np.ndarray:  # noqa: ANN001 - PIL.Image.Image, imported lazily
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return gray_to_rgb(_high_depth_to_uint8(np.asarray(im), mode))
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        # Composite on white: transparent pixels otherwise keep arbitrary hidden colours.
        from PIL import Image

        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def _high_depth_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit or 32-bit gray to 0-255; 'I' images holding 8-bit values stay as they are."""
    arr = arr.astype(np.float64)
    if mode == "F":
        top = 1.0 if arr.size and float(arr.max()) <= 1.0 else 255.0
    elif mode.startswith("I;16") or (arr.size and float(arr.max()) > 255):
        top = 65535.0
    else:
        top = 255.0
    return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def sample_image(sample: Sample) -> np.ndarray:
    """The RGB pixels of a sample, whether stored inline (csv rows) or as a file."""
    if sample.pixels is not None:
        return gray_to_rgb(sample.pixels)
    if sample.path is None:
        raise ImageDecodeError(
            errors.UNREADABLE_IMAGE.format(path=sample.sample_id, why="sample has no image")
        )
    return decode_image(sample.path)
