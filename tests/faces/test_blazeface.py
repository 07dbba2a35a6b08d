"""BlazeFace: the numpy re-implementation of Human's pre/post-processing, then the built graph.

Reference boxes come from running @vladmandic/human 3.3.6 itself (dist/human.esm.js, tfjs 4.22 cpu
backend, node 20) with face.detector {maxDetected: 10, minConfidence: 0.2, rotation: false} and
mesh/iris/emotion disabled, so that ``face.box`` is the detector box enlarged 1.4x, squared,
rounded and clamped, as (x, y, width, height). See docs/faces.md for the script.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from face_boxes import ASTRONAUT_FACE, GRACE_FACE, iou, scaled
from PIL import Image

from emoaudit.errors import ModelError
from emoaudit.faces import DETECTORS
from emoaudit.faces.base import Box
from emoaudit.faces.blazeface import (
    BlazeFaceDetector,
    decode,
    generate_anchors,
    merge_outputs,
    non_max_suppression,
    preprocess,
    resize_bilinear_tf,
)

# --- pure functions: no model needed -------------------------------------------------------


def test_anchors_follow_the_graph_output_order():
    a = generate_anchors(256)
    assert a.shape == (896, 2)
    # 16x16 cells of stride 16, two anchors each, then 8x8 cells of stride 32, six each.
    np.testing.assert_array_equal(a[:2], [[8, 8], [8, 8]])
    np.testing.assert_array_equal(a[2], [24, 8])
    np.testing.assert_array_equal(a[511], [248, 248])
    np.testing.assert_array_equal(a[512:518], [[16, 16]] * 6)
    np.testing.assert_array_equal(a[-1], [240, 240])


def test_resize_uses_tf_legacy_coordinates_not_half_pixel():
    ramp = np.tile(np.arange(4, dtype=np.uint8) * 10, (4, 1))[:, :, None]
    up = resize_bilinear_tf(ramp, 8)[0, :, 0]
    # source x = dst * 0.5: 0, 0.5, 1, ... 3, 3.5 -> clamped to the last pixel at the edge
    np.testing.assert_allclose(up, [0, 5, 10, 15, 20, 25, 30, 30])
    assert not np.allclose(up, cv2.resize(ramp, (8, 4))[0])  # OpenCV shifts by half a pixel


def test_resize_same_size_is_identity():
    img = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_bilinear_tf(img, 16), img.astype(np.float32))


def test_preprocess_stretches_to_minus_one_one():
    imgs = [np.zeros((30, 70, 3), np.uint8), np.full((50, 20), 255, np.uint8)]
    x = preprocess(imgs, 16)
    assert x.shape == (2, 16, 16, 3) and x.dtype == np.float32
    assert x[0].max() == -1.0 and x[1].min() == 1.0


def test_merge_sorts_the_four_outputs_as_human_does():
    rng = np.random.default_rng(2)
    s512, s384 = rng.normal(size=(1, 512, 1)), rng.normal(size=(1, 384, 1))
    r512, r384 = rng.normal(size=(1, 512, 16)), rng.normal(size=(1, 384, 16))
    merged = merge_outputs([r384, s512, s384, r512])  # the graph's own, meaningless order
    assert merged.shape == (1, 896, 17)
    np.testing.assert_allclose(merged[0, :512, 0], s512[0, :, 0], rtol=1e-6)
    np.testing.assert_allclose(merged[0, 512:, 1:], r384[0], rtol=1e-6)


def test_decode_offsets_from_anchor_centres():
    anchors = np.array([[8.0, 8.0], [100.0, 50.0]], np.float32)
    raw = np.zeros((2, 17), np.float32)
    raw[1, :5] = [0.0, 2.0, -4.0, 20.0, 10.0]  # logit 0, centre offset (2, -4), size 20x10
    raw[0, 0] = -1000.0  # must not overflow
    boxes, scores = decode(raw, anchors)
    np.testing.assert_allclose(boxes[1], [92.0, 41.0, 112.0, 51.0])
    np.testing.assert_allclose(scores, [0.0, 0.5], atol=1e-6)


def test_nms_is_greedy_by_score_and_suppresses_at_threshold():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10]], float)
    scores = np.array([0.6, 0.9, 0.7, 0.1], np.float32)
    kept = non_max_suppression(boxes, scores, max_out=10, iou_threshold=0.1, min_score=0.2)
    assert kept == [1, 2]  # box 0 overlaps box 1; box 3 is below min_score
    assert non_max_suppression(boxes, scores, max_out=1, iou_threshold=0.1, min_score=0.2) == [1]
    # IoU exactly at the threshold suppresses (tfjs: iou >= threshold)
    two = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)  # IoU 1/3
    s = np.array([0.9, 0.8], np.float32)
    assert non_max_suppression(two, s, max_out=5, iou_threshold=1 / 3, min_score=0) == [0]


def test_missing_model_is_a_one_line_error(tmp_path):
    det = BlazeFaceDetector(model_path=tmp_path / "nope.onnx")
    with pytest.raises(ModelError) as exc:
        det.detect(np.zeros((10, 10, 3), np.uint8))
    msg = str(exc.value)
    assert "\n" not in msg and "nope.onnx" in msg and "emoaudit models build" in msg


def test_registered_as_the_default_detector():
    from emoaudit.faces import DEFAULT_DETECTOR

    assert DEFAULT_DETECTOR == "blazeface"
    assert DETECTORS.get("blazeface") is BlazeFaceDetector


# --- the built graph ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def blazeface(blazeface_onnx: Path) -> BlazeFaceDetector:
    return BlazeFaceDetector(model_path=blazeface_onnx, min_confidence=0.2, max_detected=10)


def human_box(box: Box, h: int, w: int) -> list[int]:
    """Human's enlargeBox(1.4) -> squarifyBox -> clampBox, as (x, y, width, height)."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    half = 1.4 * max(box.x1 - box.x0, box.y1 - box.y0) / 2
    x0, y0 = round(cx - half), round(cy - half)
    x1, y1 = round(cx + half), round(cy + half)
    return [max(0, x0), max(0, y0), min(w, x1) - max(0, x0), min(h, y1) - max(0, y0)]


def variants(astronaut: np.ndarray, grace: np.ndarray) -> dict[str, np.ndarray]:
    wide = np.zeros((512, 900, 3), np.uint8)
    wide[:, 200:712] = astronaut
    squash = np.asarray(Image.fromarray(grace).resize((400, 300), Image.BILINEAR))
    return {"astronaut": astronaut, "grace": grace, "wide": wide, "squash": squash}


# name -> Human 3.3.6's face boxes (x, y, w, h) and scores (2 decimals)
HUMAN_REFERENCE = {
    "astronaut": [([153, 55, 145, 145], 0.87)],
    "grace": [([126, 101, 284, 284], 0.90)],
    "wide": [([330, 27, 191, 190], 0.84), ([526, 348, 228, 164], 0.24)],
    "squash": [([114, 25, 191, 191], 0.89)],
}


@pytest.mark.zoo
def test_matches_human_on_real_photos(blazeface, astronaut, grace):
    photos = variants(astronaut, grace)
    results = blazeface.detect_batch(list(photos.values()))
    for (name, img), boxes in zip(photos.items(), results, strict=True):
        expected = HUMAN_REFERENCE[name]
        assert len(boxes) == len(expected), name
        for box, (ref, score) in zip(boxes, expected, strict=True):
            got = human_box(box, *img.shape[:2])
            assert np.abs(np.subtract(got, ref)).max() <= 1, (name, got, ref)
            assert box.score == pytest.approx(score, abs=0.01)


@pytest.mark.zoo
def test_default_threshold_finds_one_face_over_the_measured_region(
    blazeface_onnx, astronaut, grace
):
    det = BlazeFaceDetector(model_path=blazeface_onnx)
    photos = variants(astronaut, grace)
    tall = np.pad(grace, ((100, 100), (0, 0), (0, 0)))
    cases = [
        (astronaut, ASTRONAUT_FACE),
        (grace, GRACE_FACE),
        (photos["squash"], scaled(GRACE_FACE, 400 / 512, 300 / 600)),
        (tall, scaled(GRACE_FACE, 1, 1, dy=100)),
        (photos["wide"], scaled(ASTRONAUT_FACE, 1, 1, dx=200)),
    ]
    for img, face in cases:
        boxes = det.detect(img)
        assert len(boxes) == 1
        assert iou(boxes[0], face) >= 0.5, (img.shape, boxes[0])


@pytest.mark.zoo
def test_scale_invariance(blazeface_onnx, astronaut):
    det = BlazeFaceDetector(model_path=blazeface_onnx)
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    large = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    (base,), (s,), (big,) = det.detect_batch([astronaut, small, large])
    assert iou(scaled(s, 2, 2), base) >= 0.9
    assert iou(scaled(big, 0.5, 0.5), base) >= 0.9


@pytest.mark.zoo
def test_no_face_in_blank_or_noise(blazeface_onnx):
    det = BlazeFaceDetector(model_path=blazeface_onnx)
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert det.detect_batch([noise, blank, np.zeros((300, 300, 3), np.uint8)]) == [[], [], []]


@pytest.mark.zoo
def test_batch_equals_one_by_one(blazeface, astronaut, grace):
    photos = list(variants(astronaut, grace).values())
    one = [blazeface.detect(img) for img in photos]
    assert sum(len(boxes) for boxes in one) == 5  # the 5 faces of HUMAN_REFERENCE
    assert blazeface.detect_batch(photos) == one


@pytest.mark.zoo
def test_a_batch_is_one_onnx_call(blazeface_onnx, astronaut, grace, monkeypatch):
    det = BlazeFaceDetector(model_path=blazeface_onnx)
    session = det._load()
    assert session.get_inputs()[0].shape[0] == "N"  # the zoo's graph has a dynamic batch
    calls = []
    real_run = session.run

    def counting_run(names, feeds):
        calls.append(next(iter(feeds.values())).shape)
        return real_run(names, feeds)

    monkeypatch.setattr(session, "run", counting_run)
    det.detect_batch([astronaut, grace, astronaut])
    assert calls == [(3, 256, 256, 3)]
