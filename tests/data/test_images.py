import io

import numpy as np
import pytest
from PIL import Image

from emoaudit.data.base import Sample
from emoaudit.data.images import ImageDecodeError, decode_image, sample_image


def _save(image, path, **kw):
    image.save(path, **kw)
    return path


def test_gray_becomes_three_equal_channels(tmp_path):
    gray = np.arange(48 * 40, dtype=np.uint32).reshape(40, 48) % 256
    path = _save(Image.fromarray(gray.astype(np.uint8)), tmp_path / "g.png")
    rgb = decode_image(path)
    assert rgb.shape == (40, 48, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_rgba_composited_on_white(tmp_path):
    data = np.zeros((4, 4, 4), dtype=np.uint8)
    data[..., 0] = 200  # red, fully transparent except one pixel
    data[0, 0, 3] = 255
    path = _save(Image.fromarray(data, "RGBA"), tmp_path / "a.png")
    rgb = decode_image(path)
    assert tuple(rgb[0, 0]) == (200, 0, 0)
    assert tuple(rgb[1, 1]) == (255, 255, 255)


def test_sixteen_bit_scaled_to_eight(tmp_path):
    data = np.array([[0, 65535], [257 * 128, 257]], dtype=np.uint16)
    path = _save(Image.fromarray(data), tmp_path / "d.png")
    rgb = decode_image(path)
    assert rgb[:, :, 0].tolist() == [[0, 255], [128, 1]]


def test_an_eight_bit_picture_saved_in_sixteen_bits_keeps_its_brightness(tmp_path):
    """Values 0-255 in a 16-bit file decoded to 0-1 (almost black), which a model scores
    without complaint; they are 8-bit values and stay as they are, as 32-bit 'I' ones do."""
    data = np.array([[0, 255], [128, 1]], dtype=np.uint16)
    path = _save(Image.fromarray(data), tmp_path / "d.png")
    assert Image.open(path).mode == "I;16"
    assert decode_image(path)[:, :, 0].tolist() == [[0, 255], [128, 1]]


def test_exif_orientation_applied(tmp_path):
    image = Image.fromarray(np.zeros((20, 60, 3), dtype=np.uint8))  # wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    path = _save(image, tmp_path / "r.jpg", exif=exif.tobytes())
    assert decode_image(path).shape == (60, 20, 3)  # displayed tall


@pytest.mark.parametrize("mode", ["RGB", "L", "I;16"])
def test_exif_orientation_applied_on_the_pil_path(tmp_path, mode):
    """PNG goes through PIL, whose EXIF rotation now happens in place (no full-size copy)."""
    pixels = np.arange(20 * 60, dtype=np.uint16).reshape(20, 60) % 250
    image = Image.fromarray(pixels.astype(np.uint8)).convert(mode)
    if mode == "I;16":
        image = Image.fromarray((pixels * 257).astype(np.uint16))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "r.png"
    image.save(path, exif=exif.tobytes())
    decoded = decode_image(path)
    assert decoded.shape == (60, 20, 3)
    expected = np.rot90(decode_image(_save(image, tmp_path / "plain.png")), k=-1)
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_decompression_bomb_limit(tmp_path, suffix):
    path = _save(Image.new("L", (100, 100)), tmp_path / f"big.{suffix}")
    with pytest.raises(ImageDecodeError) as info:
        decode_image(path, max_pixels=5000)
    assert str(info.value) == f"{path}: image has 10000 pixels, above the limit of 5000"


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"hello, not an image", "not an image file"), (b"", "empty file")],
)
def test_non_image_files(tmp_path, content, why):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError) as info:
        decode_image(path)
    assert str(info.value) == f"{path}: cannot decode image ({why})"


def test_truncated_and_missing_files(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "JPEG"
    )
    path = tmp_path / "t.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match=f"^{path}: cannot decode image \\(.*truncated"):
        decode_image(path)
    with pytest.raises(ImageDecodeError, match="no such file"):
        decode_image(tmp_path / "nope.png")


def test_sample_image_inline_pixels():
    pixels = np.full((48, 48), 7, dtype=np.uint8)
    rgb = sample_image(Sample(sample_id="row0", dataset="fer2013", pixels=pixels))
    assert rgb.shape == (48, 48, 3) and int(rgb.max()) == 7


def test_jpeg_fast_path_equals_pil_pixels(tmp_path):
    """JPEGs decode through OpenCV for speed; the pixels must be PIL's, progressive too."""
    from skimage import data

    for kw in ({"quality": 90}, {"quality": 75, "progressive": True}):
        buf = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buf, "JPEG", **kw)
        path = tmp_path / "a.jpg"
        path.write_bytes(buf.getvalue())
        with Image.open(path) as im:
            expected = np.asarray(im.convert("RGB"))
        np.testing.assert_array_equal(decode_image(path), expected)


@pytest.mark.parametrize("keep", [0.1, 0.8])
def test_truncated_jpeg_is_unreadable_with_the_file_named(tmp_path, keep):
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: int(len(buf.getvalue()) * keep)])
    with pytest.raises(ImageDecodeError) as info:
        decode_image(path)
    assert str(info.value).startswith(f"{path}: cannot decode image")


def test_keep_gray_returns_the_gray_plane_of_the_colour_decode(tmp_path):
    """Gray JPEG faces stay 2-D for the runner; the pixels are exactly the colour decode's."""
    from skimage import data

    from emoaudit.data.images import decode_image_bytes

    buf = io.BytesIO()
    Image.fromarray(data.camera()[100:196, 200:260]).save(buf, "JPEG", quality=90)
    gray = decode_image_bytes(buf.getvalue(), name="g.jpg", keep_gray=True)
    rgb = decode_image_bytes(buf.getvalue(), name="g.jpg")
    assert gray.shape == (96, 60) and rgb.shape == (96, 60, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)
    colour = io.BytesIO()
    Image.fromarray(data.astronaut()[:64, :64]).save(colour, "JPEG")
    assert decode_image_bytes(colour.getvalue(), name="c.jpg", keep_gray=True).shape == (64, 64, 3)


def test_keep_gray_still_applies_exif_orientation(tmp_path):
    from emoaudit.data.images import decode_image_bytes

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    buf = io.BytesIO()
    Image.fromarray(np.zeros((20, 60), dtype=np.uint8)).save(buf, "JPEG", exif=exif.tobytes())
    assert decode_image_bytes(buf.getvalue(), name="r.jpg", keep_gray=True).shape == (60, 20)


def _photo_jpeg(size=(480, 640), **kw) -> bytes:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    pixels = np.stack([x % 256, y % 256, (x + y) % 256], -1) + rng.integers(0, 30, (*size, 3))
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize("keep_gray", [False, True])
def test_a_truncated_jpeg_with_an_end_marker_appended_is_unreadable(keep_gray):
    """Baseline JPEGs; a progressive one cut after its first scans is a blurred but whole image
    (every block has its DC scan): not caught, stated in docs/threat-model.md."""
    from emoaudit.data.images import JPEG_GRAY_FILL, decode_image_bytes

    data = _photo_jpeg()
    cut = data[: len(data) // 2] + b"\xff\xd9"  # the old fast path trusted any file ending so
    with pytest.raises(ImageDecodeError) as info:
        decode_image_bytes(cut, name="cut.jpg", keep_gray=keep_gray)
    assert str(info.value) == f"cut.jpg: cannot decode image ({JPEG_GRAY_FILL})"
    assert decode_image_bytes(data, name="whole.jpg").shape == (480, 640, 3)


def test_a_tiny_jpeg_claiming_a_huge_frame_is_refused_before_decoding():
    from emoaudit.data.images import _jpeg_frame, decode_image_bytes

    data = bytearray(_photo_jpeg(size=(64, 64)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (7900).to_bytes(2, "big") * 2  # height, width: 62.4M pixels
    assert _jpeg_frame(bytes(data))[:2] == (7900, 7900)
    with pytest.raises(ImageDecodeError) as info:
        decode_image_bytes(bytes(data), name="forged.jpg")
    assert str(info.value) == (
        f"forged.jpg: cannot decode image (JPEG header claims 7900x7900 but the file has "
        f"{len(data)} bytes, fewer than one bit per 8x8 block (122018 bytes); truncated or forged)"
    )


def test_a_blank_mid_gray_jpeg_is_still_an_image():
    from emoaudit.data.images import decode_image_bytes

    buf = io.BytesIO()
    Image.new("L", (48, 48), 128).save(buf, "JPEG")
    assert (decode_image_bytes(buf.getvalue(), name="blank.jpg") == 128).all()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_photos_over_the_decode_budget_come_back_reduced(monkeypatch, fmt):
    from emoaudit.data import images

    buf = io.BytesIO()
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(buf, fmt)
    full = images.decode_image_bytes(buf.getvalue(), name="p")
    monkeypatch.setattr(images, "DECODE_PIXELS", 4000)  # 60,000 pixels -> 1/4: 50x75
    reduced = images.decode_image_bytes(buf.getvalue(), name="p")
    assert full.shape == (200, 300, 3) and reduced.shape == (50, 75, 3)
    assert abs(int(reduced.mean()) - int(full.mean())) <= 1


def test_reduced_decoding_keeps_the_exif_orientation(monkeypatch):
    from emoaudit.data import images

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    buf = io.BytesIO()
    Image.fromarray(np.full((80, 240, 3), 60, np.uint8)).save(buf, "JPEG", exif=exif.tobytes())
    monkeypatch.setattr(images, "DECODE_PIXELS", 80 * 240 // 4)
    assert images.decode_image_bytes(buf.getvalue(), name="r.jpg").shape == (120, 40, 3)


def test_reduction_factor():
    from emoaudit.data.images import DECODE_PIXELS, reduction

    assert reduction(4000, 3000) == 1  # a 12-megapixel phone photo decodes whole
    assert reduction(8000, 8000) == 2 and 4000 * 4000 <= DECODE_PIXELS
    assert reduction(16000, 16000) == 4
    assert reduction(100, 100, budget=10) == 8


def test_the_bomb_reason_quotes_emoaudits_limit_not_pils(tmp_path):
    import struct
    import zlib

    from emoaudit.data.images import MAX_PIXELS

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)  # 400M pixels: over PIL's 179M
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    with pytest.raises(ImageDecodeError) as info:
        decode_image(path)
    assert str(info.value) == f"{path}: image has 400000000 pixels, above the limit of {MAX_PIXELS}"


def test_paths_that_are_no_image_file_say_what_they_are(tmp_path, monkeypatch):
    import os

    from emoaudit.data import images

    with pytest.raises(ImageDecodeError, match=r"\(not a regular file \(a directory\)\)$"):
        decode_image(tmp_path)
    with pytest.raises(ImageDecodeError, match=r"\(not a regular file \(a device, pipe or socket"):
        decode_image("/dev/null")
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * 2000)
    with pytest.raises(ImageDecodeError) as info:
        images.read_image_file(big, max_bytes=1000)
    assert (
        str(info.value)
        == f"{big}: cannot decode image (file is 2003 bytes, above the limit of 1000)"
    )
    real_open = os.open

    def denied(path, *a, **kw):
        if str(path) == str(big):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ImageDecodeError) as info:
        decode_image(big)
    assert str(info.value) == f"{big}: cannot decode image (Permission denied)"


def _whole_array_formula(arr, mode):
    """The scaling as it was before it went block-wise (one float64 pass over the image)."""
    arr = arr.astype(np.float64)
    if mode == "F":
        top = 1.0 if arr.size and float(arr.max()) <= 1.0 else 255.0
    elif arr.size and float(arr.max()) > 255:  # 16- and 32-bit holding only 0-255: kept
        top = 65535.0
    else:
        top = 255.0
    return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)


def _high_depth_cases():
    """Random 16-bit, 32-bit 'I' and 'F' images with the edge values planted in them."""
    rng = np.random.default_rng(7)
    shape = (23, 41)
    u16 = rng.integers(0, 65536, shape).astype(np.uint16)
    u16.flat[:4] = [0, 255, 256, 65535]
    big_i = rng.integers(-70000, 70000, shape).astype(np.int32)  # above 255: scaled as 16-bit
    big_i.flat[:6] = [0, 255, 256, 65535, 2**31 - 1, -(2**31)]
    small_u16 = rng.integers(0, 256, shape).astype(np.uint16)  # an 8-bit picture in 16 bits
    small_u16.flat[:2] = [0, 255]
    small_i = rng.integers(0, 256, shape).astype(np.int32)  # 8-bit values: kept as they are
    small_i.flat[:2] = [0, 255]
    unit_f = rng.random(shape).astype(np.float32)  # 0-1: scaled by 255
    unit_f.flat[:3] = [0.0, 1.0, -0.5]
    wide_f = (rng.random(shape) * 400 - 50).astype(np.float32)
    wide_f.flat[:6] = [np.nan, 0.0, 255.0, 256.0, 65535.0, np.inf]
    nan_unit_f = unit_f.copy()
    nan_unit_f.flat[5] = np.nan  # a NaN maximum: scaled by 255, as the whole array was
    return [
        ("I;16", u16),
        ("I;16B", u16.astype(">u2")),
        ("I;16", small_u16),
        ("I", big_i),
        ("I", small_i),
        ("F", unit_f),
        ("F", wide_f),
        ("F", nan_unit_f),
    ]


@pytest.mark.parametrize("block", [1, 7, 41, 100, 1 << 20])  # 7: tiles cut rows and columns
@pytest.mark.parametrize(("mode", "arr"), _high_depth_cases())
def test_block_wise_scaling_is_bit_identical_to_the_whole_array_formula(
    monkeypatch, block, mode, arr
):
    from emoaudit.data import images

    monkeypatch.setattr(images, "BLOCK_PIXELS", block)
    im = Image.fromarray(arr)
    assert im.mode == mode
    with np.errstate(invalid="ignore"):  # NaN cast to uint8, in both
        expected = _whole_array_formula(np.asarray(im), mode)
        got = images._high_depth_to_uint8(im, mode)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("suffix", "mode", "arr"), [
    (".png", "L", np.random.default_rng(3).integers(0, 256, (23, 41)).astype(np.uint8)),
    (".png", "I;16", _high_depth_cases()[0][1]),
    (".png", "I;16", _high_depth_cases()[2][1]),
    (".tif", "I", _high_depth_cases()[3][1]),
    (".tif", "F", _high_depth_cases()[6][1]),
])  # fmt: skip
def test_a_reduced_gray_image_has_the_pixels_of_reducing_its_rgb(
    tmp_path, monkeypatch, suffix, mode, arr
):
    """The gray plane is reduced before it becomes RGB: the same pixels, a third the memory."""
    import cv2

    from emoaudit.data import images

    path = _save(Image.fromarray(arr), tmp_path / f"d{suffix}")
    monkeypatch.setattr(images, "DECODE_PIXELS", 100)  # 23x41 -> 1/4: 6x11
    with np.errstate(invalid="ignore"):
        gray = arr if mode == "L" else _whole_array_formula(arr, mode)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        got = decode_image(path)
    expected = cv2.resize(rgb, (11, 6), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("mode", "value", "scaled"), [("I;16", 1000, 4), ("F", 100.0, 100)])
def test_scaling_a_high_depth_image_holds_no_full_size_float_copy(mode, value, scaled):
    """A 16-bit PNG of a few hundred KB can decode to 64M pixels: float64 over the whole image
    held ~1.8 GB. The bound: the uint8 result plus a few blocks of work."""
    import tracemalloc

    from emoaudit.data.images import BLOCK_PIXELS, _high_depth_to_uint8

    side = 3000  # 9M pixels: 72 MB as one float64 array
    dtype = np.uint16 if mode == "I;16" else np.float32
    im = Image.fromarray(np.full((side, side), value, dtype))
    tracemalloc.start()
    try:
        out = _high_depth_to_uint8(im, mode)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (side, side) and int(out[0, 0]) == scaled
    assert peak < side * side + 16 * BLOCK_PIXELS  # the result, one tile and its float64 work
