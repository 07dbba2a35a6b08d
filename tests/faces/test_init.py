"""Detector lookup, batching and the squared largest-face crop the runner uses."""

from __future__ import annotations

import numpy as np
import pytest

import emoaudit.faces as faces
from emoaudit.faces import (
    DETECTORS,
    crop_boxes,
    detect_batch,
    detector_margin,
    face_crop,
    face_crops,
    get_detector,
    square_box,
)
from emoaudit.faces.base import Box
from emoaudit.registry import RegistryError


class FixedDetector:
    """Returns the same boxes for every image and counts calls, to check batching."""

    name = "fixed"
    margin = 0.1

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes
        self.calls: list[int] = []

    def detect(self, image: np.ndarray) -> list[Box]:
        self.calls.append(1)
        return list(self.boxes)


class BatchedDetector(FixedDetector):
    def detect_batch(self, images: list[np.ndarray]) -> list[list[Box]]:
        self.calls.append(len(images))
        return [list(self.boxes) for _ in images]


def test_builtin_detectors_are_registered():
    assert {"blazeface", "haar"} <= set(DETECTORS.names())


def test_unknown_detector_suggests_a_name():
    with pytest.raises(RegistryError, match="did you mean 'haar'"):
        get_detector("haarr")


def test_get_detector_returns_one_shared_instance():
    assert get_detector("haar") is get_detector("haar")


def test_square_box_grows_the_short_side_about_the_centre():
    sq = square_box(Box(10, 20, 30, 60, score=0.7))
    assert (sq.x0, sq.y0, sq.x1, sq.y1, sq.score) == (0, 20, 40, 60, 0.7)


def test_crop_is_square_around_the_largest_box_with_margin():
    image = np.zeros((200, 200, 3), np.uint8)
    boxes = [Box(10, 10, 20, 20), Box(50, 60, 90, 140)]  # largest: 40 x 80
    crop = crop_boxes(image, boxes, margin=0.25)
    # squared to 80 x 80 centred at (70, 100), grown by 20 px per side -> 120 x 120
    assert crop.shape == (120, 120, 3)


def test_crop_is_clipped_to_the_image():
    image = np.zeros((100, 100, 3), np.uint8)
    crop = crop_boxes(image, [Box(0, 0, 50, 50)], margin=0.2)
    assert crop.shape == (60, 60, 3)


def test_no_box_means_no_crop():
    image = np.zeros((50, 50, 3), np.uint8)
    assert crop_boxes(image, [], margin=0.2) is None
    assert face_crop(image, FixedDetector([])) is None


def test_face_crop_uses_the_detectors_margin_unless_given():
    image = np.zeros((200, 200, 3), np.uint8)
    det = FixedDetector([Box(50, 50, 150, 150)])
    assert detector_margin(det) == 0.1
    assert face_crop(image, det).shape == (120, 120, 3)
    assert face_crop(image, det, margin=0.0).shape == (100, 100, 3)


def test_detect_batch_uses_the_batched_path_in_chunks(monkeypatch):
    monkeypatch.setattr(faces, "BATCH_SIZE", 4)
    det = BatchedDetector([Box(0, 0, 5, 5)])
    out = detect_batch([np.zeros((10, 10, 3), np.uint8)] * 10, det)
    assert len(out) == 10 and det.calls == [4, 4, 2]
    plain = FixedDetector([])
    assert detect_batch([np.zeros((10, 10, 3), np.uint8)] * 3, plain) == [[], [], []]
    assert plain.calls == [1, 1, 1]


def test_face_crops_prefers_dataset_boxes_and_marks_misses():
    images = [np.zeros((100, 100, 3), np.uint8) for _ in range(3)]
    det = BatchedDetector([])  # finds nothing
    crops = face_crops(images, detector=det, margin=0.0, boxes=[None, (10, 10, 40, 30), None])
    assert crops[0] is None and crops[2] is None
    assert crops[1].shape == (30, 30, 3)  # the annotated 30 x 20 box, squared
    assert det.calls == [2]  # only the two photos without a box were sent to the detector


def test_face_crops_rejects_mismatched_boxes():
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        face_crops([np.zeros((5, 5, 3), np.uint8)] * 2, detector=FixedDetector([]), boxes=[None])


def test_haar_crop_on_a_real_photo(astronaut):
    crop = face_crop(astronaut, "haar")
    # Haar box (177, 66, 272, 161); margin 0.1 adds 9.5 px per side, rounded outwards: 115 px
    assert crop is not None and crop.shape[0] == crop.shape[1] == 115
