"""The Haar detector on real photos: finds the face, ignores blank and noise, scales."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_boxes import ASTRONAUT_FACE, GRACE_FACE, iou, scaled

from emoaudit.faces import DETECTORS, get_detector
from emoaudit.faces.haar import HaarDetector


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


def test_registered_under_its_name():
    assert DETECTORS.get("haar") is HaarDetector
    assert get_detector("haar").name == "haar"


@pytest.mark.parametrize("photo, face", [("astronaut", ASTRONAUT_FACE), ("grace", GRACE_FACE)])
def test_finds_exactly_the_face(haar, photo, face, request):
    boxes = haar.detect(request.getfixturevalue(photo))
    assert len(boxes) == 1
    assert iou(boxes[0], face) >= 0.5


def test_padded_non_square_photos(haar, astronaut, grace):
    wide = np.zeros((512, 900, 3), np.uint8)
    wide[:, 200:712] = astronaut
    tall = np.pad(grace, ((100, 100), (0, 0), (0, 0)))
    (wide_box,) = haar.detect(wide)
    (tall_box,) = haar.detect(tall)
    assert iou(wide_box, scaled(ASTRONAUT_FACE, 1, 1, dx=200)) >= 0.5
    assert iou(tall_box, scaled(GRACE_FACE, 1, 1, dy=100)) >= 0.5


def test_resized_non_square_photo(haar, astronaut):
    # A 1.25x horizontal stretch: a cascade tolerates mild distortion, not a 2:1 squash.
    stretched = cv2.resize(astronaut, (640, 512), interpolation=cv2.INTER_AREA)
    (box,) = haar.detect(stretched)
    assert iou(box, scaled(ASTRONAUT_FACE, 1.25, 1)) >= 0.5


def test_scale_invariance(haar, astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    large = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    (base,) = haar.detect(astronaut)
    (s,) = haar.detect(small)
    (big,) = haar.detect(large)
    assert iou(scaled(s, 2, 2), base) >= 0.8
    assert iou(scaled(big, 0.5, 0.5), base) >= 0.8


@pytest.mark.parametrize("kind", ["blank", "black", "noise"])
def test_no_face_in_blank_or_noise(haar, kind):
    if kind == "noise":
        image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    else:
        image = np.full((480, 640, 3), 128 if kind == "blank" else 0, np.uint8)
    assert haar.detect(image) == []


def test_accepts_gray_images(haar, astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert len(haar.detect(gray)) == 1


def test_min_size_is_relative_to_the_image(haar, astronaut):
    # The face is ~95 px in a 512 px photo; asking for faces of at least 40% of the side
    # (205 px) must find nothing, proving the relative minimum is applied.
    assert HaarDetector(min_size_fraction=0.4).detect(astronaut) == []


def test_one_detector_used_from_many_threads_gives_the_sequential_boxes(astronaut, grace):
    """The runner's workers share one detector; OpenCV's cascade is not thread-safe (it crashed
    with vector::_M_range_check), so each thread gets its own."""
    from concurrent.futures import ThreadPoolExecutor

    detector = HaarDetector()
    small = [cv2.resize(img, (200, 200)) for img in (astronaut, grace)] * 12
    expected = [detector.detect(img) for img in small]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(detector.detect, small)) == expected
