"""Decode any dataset image to RGB uint8, or fail with one line that names the file.

Datasets ship gray, palette (JAFFE), RGBA, 16-bit (some CK+ exports) and EXIF-rotated phone
photos; models want one thing. Decoding lives here so every adapter and worker agrees on the
pixels, and so a bad file becomes ``status=unreadable`` with a reason instead of a crash.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np

from emoaudit import errors
from emoaudit.data.base import Sample
from emoaudit.errors import EmoauditError

# Far above any face photo (a 12-megapixel phone image is 12M) but small enough that a crafted
# file cannot take the machine's memory: 64M pixels of RGB is ~200 MB.
MAX_PIXELS = 64_000_000
# Larger photos are decoded at 1/2, 1/4 or 1/8 size (JPEG decoders scale in the DCT, for free)
# so that at most this many pixels (48 MB of RGB) are held per photo: the runner decodes a few
# photos per core at once, and 48 claimed 8000x8000 JPEGs took 6.4 GB (issue 15). A face in a
# 16-megapixel frame is still far larger than any model's input (64x64 to 112x112).
DECODE_PIXELS = 16_000_000
# Byte budget per image file, checked (fstat) before a byte is read: a 5 GB file is refused, not
# read whole. An 8000x8000 16-bit RGB TIFF uncompressed is 384 MB; real photos are far smaller.
MAX_FILE_BYTES = 256 * 1024 * 1024
# 16-bit and 32-bit gray modes, scaled to 8 bits through float64 BLOCK_PIXELS at a time: the
# whole 64M-pixel image at once held ~1.8 GB (a 143 KB 16-bit PNG could ask for that); a block
# keeps the float64 work near 12 MB whatever the image size.
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
BLOCK_PIXELS = 1 << 20

BAD_PATH = "not a regular file ({kind})"
TOO_MANY_BYTES = "file is {size} bytes, above the limit of {limit}"
JPEG_TOO_SHORT = (
    "JPEG header claims {width}x{height} but the file has {size} bytes, fewer than one bit "
    "per 8x8 block ({needed} bytes); truncated or forged"
)
JPEG_GRAY_FILL = (
    "JPEG data ends early: the last rows are the decoder's flat gray fill (corrupt or "
    "truncated file)"
)


class ImageDecodeError(EmoauditError):
    """One image cannot be decoded; the runner records status ``unreadable`` with str(exc)."""


def decode_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the image at `path` as an (H, W, 3) RGB uint8 array, upright per its EXIF tag."""
    data = read_image_file(path)
    return decode_image_bytes(data, name=str(path), max_pixels=max_pixels)


def read_image_file(path: str | Path, *, max_bytes: int | None = None) -> bytes:
    """The bytes of an image file, or ImageDecodeError with why not (no such file, permission
    denied, a directory or device, over the byte budget) — checked before anything is read."""
    import stat

    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        # O_NONBLOCK: opening a FIFO named as an image must not wait forever for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ImageDecodeError(unreadable_file_reason(path, exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
            why = BAD_PATH.format(kind=kind)
            raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=path, why=why))
        if info.st_size > max_bytes:
            why = TOO_MANY_BYTES.format(size=info.st_size, limit=max_bytes)
            raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=path, why=why))
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(max_bytes + 1)  # a file growing meanwhile: decode_image_bytes refuses
    except OSError as exc:
        raise ImageDecodeError(unreadable_file_reason(path, exc)) from None
    finally:
        os.close(fd)


def unreadable_file_reason(path: str | Path, exc: OSError) -> str:
    """One line for a file that cannot be opened: 'no such file', 'Permission denied', ..."""
    why = "no such file" if isinstance(exc, FileNotFoundError) else _one_line(exc.strerror or exc)
    return errors.UNREADABLE_IMAGE.format(path=path, why=why)


def decode_image_bytes(
    data: bytes,
    *,
    name: str,
    max_pixels: int = MAX_PIXELS,
    keep_gray: bool = False,
    check_truncation: bool = True,
) -> np.ndarray:
    """Decode file bytes already read (the runner hashes them for its cache key first).

    ``keep_gray`` lets a one-channel JPEG come back as a 2-D gray array: gray face datasets
    (FER2013 folders, CK+48) then skip a colour expansion that gray models would undo, with
    identical pixels (R = G = B converts back to exactly the same gray value). An image over
    DECODE_PIXELS comes back reduced (see there). ``check_truncation=False`` is for JPEGs that
    emoaudit encoded itself (video frames): a flat mid-gray bottom there is the picture.
    """
    if len(data) > MAX_FILE_BYTES:
        why = TOO_MANY_BYTES.format(size=len(data), limit=MAX_FILE_BYTES)
        raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=name, why=why))
    if data[:3] == b"\xff\xd8\xff":  # JPEG, by far the most common: OpenCV decodes it 5x faster
        frame = _jpeg_frame(data)
        if frame is not None:
            _check_jpeg_frame(data, frame, name=name, max_pixels=max_pixels)
        fast = _decode_jpeg_cv2(data, frame, keep_gray=keep_gray)
        if fast is None:
            fast = _decode_pil(data, name=name, max_pixels=max_pixels)
        if check_truncation and _ends_in_gray_fill(fast):
            raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=name, why=JPEG_GRAY_FILL))
        return fast
    return _decode_pil(data, name=name, max_pixels=max_pixels)


def reduction(width: int, height: int, *, budget: int | None = None) -> int:
    """The smallest of 1, 2, 4, 8 that brings width x height within `budget` pixels
    (default DECODE_PIXELS)."""
    budget = DECODE_PIXELS if budget is None else budget
    for factor in (1, 2, 4):
        if -(-width // factor) * -(-height // factor) <= budget:
            return factor
    return 8


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
                factor = reduction(width, height)
                if factor > 1 and im.format == "JPEG":  # libjpeg scales while decoding
                    im.draft(im.mode, (-(-width // factor), -(-height // factor)))
                im.load()
                # in place: the default returns a full-size copy even when nothing is rotated
                # (an 8000x8000 16-bit PNG peaked 120 MB higher for it)
                ImageOps.exif_transpose(im, in_place=True)
                return _reduced(_to_rgb(im))
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        why = "not an image file" if data else "empty file"
        raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=name, why=why)) from None
    except Image.DecompressionBombError as exc:  # over PIL's own limit: quote ours, not PIL's
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = found.group(1) if found else "too many"
        raise ImageDecodeError(
            errors.DECOMPRESSION_BOMB.format(path=name, pixels=pixels, limit=max_pixels)
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, broken headers
        raise ImageDecodeError(
            errors.UNREADABLE_IMAGE.format(path=name, why=_one_line(exc))
        ) from None


def _reduced(rgb: np.ndarray) -> np.ndarray:
    """A decoded image over DECODE_PIXELS, area-averaged down (formats that cannot scale while
    decoding: the full image is held once, briefly, within MAX_PIXELS)."""
    height, width = rgb.shape[:2]
    factor = reduction(width, height)
    if factor == 1:
        return rgb
    import cv2

    size = (-(-width // factor), -(-height // factor))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _check_jpeg_frame(
    data: bytes, frame: tuple[int, int, int, int], *, name: str, max_pixels: int
) -> None:
    """Refuse, from the header alone, a JPEG over the pixel limit or too short for its size.

    Huffman coding spends at least one bit on every 8x8 block (a DC code), so a file with fewer
    bytes than blocks/8 cannot hold the image it claims: libjpeg would fill it with flat gray
    and call it decoded (a 24 KB file claiming 7900x7900 scored ok, issue 15). Arithmetic-coded
    JPEGs (rare) can go below a bit a block and are left to the decoder.
    """
    width, height, _, marker = frame
    if width * height > max_pixels:
        raise ImageDecodeError(
            errors.DECOMPRESSION_BOMB.format(path=name, pixels=width * height, limit=max_pixels)
        )
    needed = -(-width // 8) * -(-height // 8) // 8
    if marker not in _ARITHMETIC and len(data) < needed:
        why = JPEG_TOO_SHORT.format(width=width, height=height, size=len(data), needed=needed)
        raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=name, why=why))


def _ends_in_gray_fill(pixels: np.ndarray) -> bool:
    """True when the last 8 rows are exactly the mid-gray libjpeg writes for blocks past the end
    of the data (a truncated file with an end marker appended decodes 'fine', with a warning
    on stderr only), and the image is not mid-gray all over (a blank face is a real image)."""
    if pixels.item(-1) != 128:  # nearly every real image: no array pass at all
        return False
    tail = pixels[-8:]
    return bool((tail == 128).all()) and not bool((pixels == 128).all())


def _decode_jpeg_cv2(
    data: bytes, frame: tuple[int, int, int, int] | None, *, keep_gray: bool = False
) -> np.ndarray | None:
    """RGB (or, with keep_gray, a gray JPEG's 2-D) pixels via OpenCV, EXIF orientation applied,
    reduced by the DCT scaling over DECODE_PIXELS; None to let PIL decide.

    Only a complete file with a readable frame header (checked by the caller) goes here;
    anything OpenCV cannot decode goes to the PIL path, which produces the one-line reason.
    """
    import cv2

    # OpenCV fills a truncated scan with gray instead of failing: only complete files go fast
    complete = data.endswith(b"\xff\xd9") or data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if frame is None or not complete:
        return None
    width, height, components, _ = frame
    factor = reduction(width, height)
    if keep_gray and components == 1:  # IMREAD_GRAYSCALE still applies the EXIF orientation
        return cv2.imdecode(np.frombuffer(data, np.uint8), _flags("GRAYSCALE")[factor])
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _flags("COLOR")[factor])
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@cache
def _flags(kind: str) -> dict[int, int]:
    """OpenCV's read flags by reduction factor (cv2 is imported lazily, hence not constants)."""
    import cv2

    plain = getattr(cv2, f"IMREAD_{kind}")
    return {1: plain, **{f: getattr(cv2, f"IMREAD_REDUCED_{kind}_{f}") for f in (2, 4, 8)}}


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers
_ARITHMETIC = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_frame(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, components, SOF marker) from the JPEG frame header, walking the marker
    segments; None if odd."""
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
            return (width, height, data[i + 9], marker) if width and height else None
        i += 2 + (data[i + 2] << 8 | data[i + 3])
    return None


def gray_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Replicate a 2-D gray array (FER2013 csv rows) to RGB so every sample has one shape."""
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return pixels


def _to_rgb(im) -> np.ndarray:  # noqa: ANN001 - PIL.Image.Image, imported lazily
    mode = im.mode
    # Gray is reduced while still one plane: the colour copy is then made at the reduced size
    # (INTER_AREA treats channels alike, so the pixels are those of reducing the RGB).
    if mode in HIGH_DEPTH_MODES:
        return gray_to_rgb(_reduced(_high_depth_to_uint8(im, mode)))
    if mode == "L":
        return gray_to_rgb(_reduced(np.asarray(im)))
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


def _high_depth_to_uint8(im, mode: str) -> np.ndarray:  # noqa: ANN001 - PIL.Image.Image
    """Scale 16-bit or 32-bit gray to 0-255; 16- and 32-bit images holding only 8-bit values
    (0-255: an 8-bit picture saved into a 16-bit file) stay as they are instead of decoding
    almost black, which a model would score without complaint.

    Tiles are cropped out of PIL's own buffer (twice when the scale needs the maximum first)
    instead of np.asarray(im), a full-size copy: besides the decoded image only the uint8
    result and one tile's float64 work are held.
    """
    width, height = im.size
    tiles = _tiles(width, height)
    top = _high_depth_top(mode, (np.asarray(im.crop(box)) for box in tiles))
    out = np.empty((height, width), np.uint8)
    for x0, y0, x1, y1 in tiles:
        out[y0:y1, x0:x1] = _scaled_block(np.asarray(im.crop((x0, y0, x1, y1))), top)
    return out


def _tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Crop boxes of at most BLOCK_PIXELS, in row order; a very wide image is cut across too."""
    cols = max(1, min(width, BLOCK_PIXELS))
    rows = max(1, BLOCK_PIXELS // cols)
    return [
        (x0, y0, min(x0 + cols, width), min(y0 + rows, height))
        for y0 in range(0, height, rows)
        for x0 in range(0, width, cols)
    ]


def _high_depth_top(mode: str, blocks: Iterable[np.ndarray]) -> float:
    """The value that maps to 255. A NaN maximum (an 'F' image holding NaN) stays NaN here,
    as the maximum of the whole array did, so the choice matches the whole-array formula."""
    maxima = [float(b.max()) for b in blocks if b.size]
    if not maxima:
        return 255.0
    peak = float(np.max(maxima))
    if mode == "F":
        return 1.0 if peak <= 1.0 else 255.0
    return 65535.0 if peak > 255 else 255.0


def _scaled_block(block: np.ndarray, top: float) -> np.ndarray:
    """The original whole-array formula, on one block: rint(x * 255 / top) clipped to 0-255."""
    work = block.astype(np.float64)
    np.multiply(work, 255.0 / top, out=work)
    np.rint(work, out=work)
    np.clip(work, 0, 255, out=work)
    return work.astype(np.uint8)


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
