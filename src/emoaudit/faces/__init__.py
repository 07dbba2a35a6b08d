"""Face detectors, one module per detector, looked up by name through DETECTORS.

Photos become face crops here: the largest detected face, squared and grown by a margin that
matches what the emotion models were built on. A photo with no face gives ``None``; the runner
records it as ``status=no_face`` and counts it, it is never dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoaudit.faces.base import Box, Detector, crop_largest
from emoaudit.registry import Registry

DETECTORS: Registry = Registry("detectors")
DETECTORS.add(
    "blazeface",
    "emoaudit.faces.blazeface:BlazeFaceDetector",
    description="BlazeFace 256x256 as run by @vladmandic/human 3.3.6 (needs the model zoo)",
)
DETECTORS.add(
    "haar",
    "emoaudit.faces.haar:HaarDetector",
    description="OpenCV frontal-face Haar cascade, as used by the fer package",
)

DEFAULT_DETECTOR = "blazeface"
DEFAULT_MARGIN = 0.2  # for detectors that do not say which margin suits their boxes
BATCH_SIZE = 32  # photos per detector call: bounds memory (32 x 256 x 256 x 3 floats = 25 MB)

_instances: dict[str, Detector] = {}


def get_detector(name: str) -> Detector:
    """The shared instance for `name`, so a model session is loaded once per process."""
    if name not in _instances:
        target = DETECTORS.get(name)
        _instances[name] = target() if isinstance(target, type) else target
    return _instances[name]


def _resolve(detector: str | Detector) -> Detector:
    return get_detector(detector) if isinstance(detector, str) else detector


def detect_batch(
    images: list[np.ndarray], detector: str | Detector = DEFAULT_DETECTOR
) -> list[list[Box]]:
    """Boxes for each image; detectors with a batched path (BlazeFace) run one call per batch."""
    det = _resolve(detector)
    batched = getattr(det, "detect_batch", None)
    if batched is None:
        return [det.detect(img) for img in images]
    out: list[list[Box]] = []
    for start in range(0, len(images), BATCH_SIZE):
        out.extend(batched(images[start : start + BATCH_SIZE]))
    return out


def square_box(box: Box) -> Box:
    """Grow the shorter side to the longer one about the centre, as both fer and Human do,
    so the crop is not stretched when the emotion model resizes it to its square input."""
    side = max(box.x1 - box.x0, box.y1 - box.y0)
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, box.score)


def crop_boxes(image: np.ndarray, boxes: list[Box], *, margin: float) -> np.ndarray | None:
    """Crop the largest of `boxes`, squared and grown by `margin` of its side on each side."""
    if not boxes:
        return None
    largest = max(boxes, key=lambda b: b.area)
    return crop_largest(image, [square_box(largest)], margin=margin)


def detector_margin(detector: str | Detector) -> float:
    """The margin that turns this detector's boxes into the crops emotion models expect."""
    return float(getattr(_resolve(detector), "margin", DEFAULT_MARGIN))


def face_crop(
    image: np.ndarray, detector: str | Detector, *, margin: float | None = None
) -> np.ndarray | None:
    """The largest face in `image`, or None when the detector finds none (-> no_face)."""
    det = _resolve(detector)
    m = detector_margin(det) if margin is None else margin
    return crop_boxes(image, det.detect(image), margin=m)


def face_crops(
    images: list[np.ndarray],
    *,
    detector: str | Detector = DEFAULT_DETECTOR,
    margin: float | None = None,
    boxes: list[Any] | None = None,
) -> list[np.ndarray | None]:
    """Crops for a batch of photos; a dataset-annotated box (x0, y0, x1, y1) skips detection.

    None in the result means no face was found: the caller records status=no_face.
    """
    known = list(boxes) if boxes is not None else [None] * len(images)
    if len(known) != len(images):
        raise ValueError(f"face_crops: {len(images)} images but {len(known)} boxes")
    todo = [i for i, b in enumerate(known) if b is None]
    found: list[list[Box]] = [[] for _ in images]
    if todo:
        det = _resolve(detector)
        for i, bs in zip(todo, detect_batch([images[i] for i in todo], det), strict=True):
            found[i] = bs
        m = detector_margin(det) if margin is None else margin
    else:
        m = DEFAULT_MARGIN if margin is None else margin
    for i, b in enumerate(known):
        if b is not None:
            found[i] = [b if isinstance(b, Box) else Box(*map(float, b))]
    return [crop_boxes(img, bs, margin=m) for img, bs in zip(images, found, strict=True)]
