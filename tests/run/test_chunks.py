"""Decoding in the runner: gray faces stay gray, photos become RGB, failures become statuses."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from emoaudit.data.base import Sample
from emoaudit.run.chunks import FaceSettings, decode_chunk, read_chunk


def _jpeg(tmp_path, name: str, pixels: np.ndarray):
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    path = tmp_path / name
    path.write_bytes(buf.getvalue())
    return path


def test_precropped_gray_faces_stay_two_dimensional_and_photos_become_rgb(tmp_path):
    from skimage import data

    gray = data.camera()[100:148, 200:248]
    colour = _jpeg(tmp_path, "c.jpg", data.astronaut()[:48, :48])
    samples = [
        Sample(sample_id="csv", dataset="t", pixels=gray, precropped=True),
        Sample(sample_id="jpg", dataset="t", path=str(_jpeg(tmp_path, "g.jpg", gray)),
               precropped=True),
        Sample(sample_id="colour", dataset="t", path=str(colour), precropped=True),
        Sample(sample_id="missing", dataset="t", path=str(tmp_path / "nope.jpg"), precropped=True),
    ]  # fmt: skip
    chunk = read_chunk(0, samples)
    decode_chunk(chunk, faces=FaceSettings())
    shapes = [None if f is None else f.shape for f in chunk.faces]
    assert shapes == [(48, 48), (48, 48), (48, 48, 3), None]
    np.testing.assert_array_equal(chunk.faces[0], gray)
    assert [s.status for s in samples] == ["ok", "ok", "ok", "unreadable"]
    assert samples[3].reason == f"{tmp_path / 'nope.jpg'}: image file not found"


def test_gray_pixels_of_a_photo_are_expanded_for_the_face_detector(tmp_path):
    from skimage import data

    gray = data.camera()
    sample = Sample(sample_id="photo", dataset="t", pixels=gray, precropped=False)
    chunk = read_chunk(0, [sample])
    decode_chunk(chunk, faces=FaceSettings(detector="haar"))
    face = chunk.faces[0]
    assert face is None or face.ndim == 3  # the cameraman may or may not be found; never 2-D


def test_photos_cropped_in_a_pool_match_the_inline_crops_in_order(tmp_path):
    """Detection is spread over threads in slices; the crops must land on their own samples."""
    from concurrent.futures import ThreadPoolExecutor

    from skimage import data

    photos = [data.astronaut(), np.full((120, 160, 3), 128, np.uint8)] * 9  # faces and blanks

    def chunk():
        samples = [
            Sample(sample_id=f"p{i}", dataset="t", pixels=img) for i, img in enumerate(photos)
        ]
        return read_chunk(0, samples)

    inline, pooled = chunk(), chunk()
    decode_chunk(inline, faces=FaceSettings(detector="haar"))
    with ThreadPoolExecutor(3) as pool:
        decode_chunk(pooled, faces=FaceSettings(detector="haar"), pool=pool)
    assert [s.status for s in pooled.samples] == ["ok", "no_face"] * 9
    assert [s.status for s in pooled.samples] == [s.status for s in inline.samples]
    for a, b in zip(inline.faces, pooled.faces, strict=True):
        assert (a is None and b is None) or np.array_equal(a, b)


def test_photos_are_decoded_and_cropped_a_slice_at_a_time(monkeypatch):
    """Only PHOTOS_PER_TASK full-size photos are decoded before their crops replace them."""
    from emoaudit.run import chunks

    seen = []
    crop = chunks._crop_faces

    def spy(samples, images, *, faces, **kw):
        seen.append(len(images))
        return crop(samples, images, faces=faces, **kw)

    monkeypatch.setattr(chunks, "_crop_faces", spy)
    photo = np.full((120, 160, 3), 128, np.uint8)
    samples = [Sample(sample_id=f"p{i}", dataset="t", pixels=photo) for i in range(21)]
    chunk = read_chunk(0, samples)
    decode_chunk(chunk, faces=FaceSettings(detector="haar"))
    assert seen == [8, 8, 5]
    assert [s.status for s in samples] == ["no_face"] * 21
    seen.clear()
    monkeypatch.setattr(chunks.images, "DECODE_PIXELS", 3 * 120 * 160)  # as if 3 were large
    for s in samples:
        s.status = "ok"
    decode_chunk(read_chunk(0, samples), faces=FaceSettings(detector="haar"))
    assert seen == [3, 3, 2, 3, 3, 2, 3, 2]  # slices of 8, cropped every DECODE_PIXELS held


@pytest.mark.parametrize("size", [0, 1, 1600, 65535, 65536, 65537, 200_000])
def test_read_bytes_reads_whole_files_of_any_size(tmp_path, size):
    from emoaudit.run.chunks import READ_SIZE, read_bytes

    assert READ_SIZE == 65536
    path = tmp_path / "f.jpg"
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    assert read_bytes(str(path)) == data


def test_read_bytes_of_a_folder_or_missing_file_is_an_oserror(tmp_path):
    from emoaudit.run.chunks import read_bytes

    for bad in (tmp_path, tmp_path / "missing.jpg"):
        with pytest.raises(OSError):
            read_bytes(str(bad))


def test_paths_that_cannot_be_read_say_why_not_that_they_are_missing(tmp_path, monkeypatch):
    import os

    denied = _jpeg(tmp_path, "denied.jpg", np.zeros((8, 8), np.uint8))
    real_open = os.open

    def refusing(path, *a, **kw):
        if str(path) == str(denied):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", refusing)
    paths = [denied, tmp_path, "/dev/null", "/dev/zero", tmp_path / "no\nsuch.jpg"]
    samples = [Sample(sample_id=f"s{i}", dataset="t", path=str(p)) for i, p in enumerate(paths)]
    chunk = read_chunk(0, samples)
    decode_chunk(chunk, faces=FaceSettings())
    assert [s.status for s in samples] == ["unreadable"] * 5
    assert [s.reason for s in samples] == [
        f"{denied}: cannot decode image (Permission denied)",
        f"{tmp_path}: cannot decode image (Is a directory)",
        "/dev/null: cannot decode image (empty file)",
        "/dev/zero: cannot decode image (not a regular file (a device, pipe or socket))",
        f"{tmp_path}/no\\nsuch.jpg: image file not found",  # one line, the break escaped
    ]


def test_a_large_file_is_hashed_in_blocks_and_read_again_to_decode(tmp_path, monkeypatch):
    from skimage import data

    from emoaudit.run import chunks

    path = _jpeg(tmp_path, "big.jpg", data.astronaut())
    kept = read_chunk(0, [Sample(sample_id="a", dataset="t", path=str(path))])
    monkeypatch.setattr(chunks, "KEEP_BYTES", 1000)
    monkeypatch.setattr(chunks, "READ_SIZE", 512)
    large = read_chunk(0, [Sample(sample_id="a", dataset="t", path=str(path))])
    assert kept.content[0] is not None and large.content == [None]
    assert large.digest == kept.digest  # same cache identity whether the bytes were kept
    decode_chunk(kept, faces=FaceSettings(detector="haar"))
    decode_chunk(large, faces=FaceSettings(detector="haar"))
    assert large.samples[0].status == kept.samples[0].status == "ok"
    np.testing.assert_array_equal(large.faces[0], kept.faces[0])


def test_first_chunks_are_small_so_short_runs_cache_progress():
    from emoaudit.run.chunks import batched

    sizes = [len(b) for b in batched(range(1500), 512)]
    assert sizes == [32, 64, 128, 256, 512, 508]
    assert [len(b) for b in batched(range(40), 16)] == [16, 16, 8]
    assert sum(sizes) == 1500


FACE_RGB = (220, 30, 30)


def _photo_with_face(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A flat gray photo with a red 'face' filling `box` (x0, y0, x1, y1): a crop in the right
    place is red, one in the wrong place gray."""
    photo = np.full((height, width, 3), 90, np.uint8)
    x0, y0, x1, y1 = box
    photo[y0:y1, x0:x1] = FACE_RGB
    return photo


def _face_fraction(crop: np.ndarray) -> float:
    return float((np.abs(crop.astype(int) - FACE_RGB).max(axis=2) < 40).mean())


def _boxed(tmp_path, name: str, photo: np.ndarray, box) -> Sample:
    path = tmp_path / name
    if name.endswith(".png"):
        Image.fromarray(photo).save(path)
    else:
        _jpeg(tmp_path, name, photo)
    return Sample(sample_id=name, dataset="affectnet", path=str(path), face_box=box)


def _crops(samples: list[Sample]) -> list[np.ndarray | None]:
    chunk = read_chunk(0, samples)
    decode_chunk(chunk, faces=FaceSettings(detector="haar", margin=0.0))
    return chunk.faces


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png"])  # OpenCV DCT scaling, PIL resize
def test_an_annotated_box_crops_the_same_region_of_a_reduced_decode(tmp_path, monkeypatch, name):
    """Photos over DECODE_PIXELS decode at 1/2 size or less, but face boxes are in the file's
    pixels: the box is scaled, so the crop is the face, as in the full-size decode."""
    from emoaudit.data import images

    near, far = (300, 150, 420, 270), (680, 460, 780, 560)  # `far` lies past the 1/2 image
    photo = _photo_with_face(800, 600, near)
    photo[far[1] : far[3], far[0] : far[2]] = FACE_RGB
    full = _crops([_boxed(tmp_path, name, photo, near)])[0]
    assert full.shape[:2] == (120, 120) and _face_fraction(full) > 0.97
    monkeypatch.setattr(images, "DECODE_PIXELS", 800 * 600 // 3)  # decoded at 400x300
    samples = [_boxed(tmp_path, name, photo, box) for box in (near, far)]
    reduced = _crops(samples)
    assert [s.status for s in samples] == ["ok", "ok"]
    for crop, (x0, y0, x1, y1) in zip(reduced, (near, far), strict=True):
        assert abs(crop.shape[1] - (x1 - x0) / 2) <= 2 and abs(crop.shape[0] - (y1 - y0) / 2) <= 2
        assert _face_fraction(crop) > 0.9
    import cv2

    halved = cv2.resize(full, reduced[0].shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(halved.astype(int) - reduced[0]).mean() < 12


def test_a_large_reduced_file_read_again_to_decode_still_scales_its_box(tmp_path, monkeypatch):
    from emoaudit.data import images
    from emoaudit.run import chunks

    box = (300, 150, 420, 270)
    sample = _boxed(tmp_path, "big.jpg", _photo_with_face(800, 600, box), box)
    monkeypatch.setattr(images, "DECODE_PIXELS", 800 * 600 // 3)
    monkeypatch.setattr(chunks, "KEEP_BYTES", 1000)
    monkeypatch.setattr(chunks, "READ_SIZE", 512)
    (crop,) = _crops([sample])
    assert sample.status == "ok" and _face_fraction(crop) > 0.9


def test_a_box_off_the_image_is_bad_input_not_a_detector_miss(tmp_path, monkeypatch):
    from emoaudit import faces

    def no_detector(name):
        raise AssertionError(f"detector {name} run for an annotated box")

    monkeypatch.setattr(faces, "get_detector", no_detector)
    photo = _photo_with_face(400, 300, (100, 50, 200, 150))
    samples = [
        _boxed(tmp_path, "a.jpg", photo, (900, 900, 950, 950)),
        _boxed(tmp_path, "b.jpg", photo, (-80, 10, 0, 90)),
        _boxed(tmp_path, "c.jpg", photo, (100, 50, 200, 150)),
    ]
    crops = _crops(samples)
    assert [s.status for s in samples] == ["bad_input", "bad_input", "ok"]
    assert crops[:2] == [None, None] and _face_fraction(crops[2]) > 0.97
    assert samples[0].reason == (
        "a.jpg: annotated face box from (900, 900) to (950, 950) lies outside the 400x300 "
        "image; expected a box overlapping the image"
    )
    assert "no face found" not in samples[1].reason and "\n" not in samples[1].reason


def test_a_box_off_a_reduced_image_names_the_files_own_size(tmp_path, monkeypatch):
    from emoaudit.data import images

    monkeypatch.setattr(images, "DECODE_PIXELS", 800 * 600 // 3)
    sample = _boxed(tmp_path, "a.jpg", _photo_with_face(800, 600, (0, 0, 9, 9)), (810, 0, 900, 90))
    assert _crops([sample]) == [None]
    assert sample.status == "bad_input"
    assert "lies outside the 800x600 image" in sample.reason
