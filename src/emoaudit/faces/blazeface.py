"""BlazeFace as run by @vladmandic/human 3.3.6 (src/face/blazeface.ts), re-implemented in numpy.

The graph is Human's ``models/blazeface.json``: MediaPipe's 256x256 "back camera" BlazeFace
(896 anchors: 16x16x2 at stride 16 and 8x8x6 at stride 32), converted to ONNX by the model zoo.
Everything around the graph follows Human exactly so that the Human emotion model sees the faces
it was built for: the whole image is *stretched* to 256x256 (Human's default ``square: false``)
with TF's legacy bilinear resize, scaled to [-1, 1], boxes are decoded from anchor centres in
input pixels, scored with a sigmoid, and de-duplicated by TF's greedy NMS (IoU >= 0.1 suppresses).

Two deliberate differences, both documented in docs/faces.md: the detector returns the tight box
(Human enlarges it 1.4x and squares it before cropping; `face_crop` does that through its margin
of 0.2 per side), and the default score threshold is 0.5, not Human's 0.2, because Human relies
on its face-mesh model to reject the false boxes that 0.2 lets through and we have no mesh step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoaudit.faces.base import Box

ZOO_NAME = "blazeface"
# One line for the CLI; kept here until errors.py has a detector-specific constant.
DETECTOR_NOT_BUILT = (
    "{path}: face detector '{name}' is not built; run `emoaudit models build` "
    "(or pick --detector haar)"
)


def generate_anchors(input_size: int) -> np.ndarray:
    """Anchor centres in input pixels, in the graph's output order (Human's generateAnchors)."""
    if input_size == 192:  # facemesh-detector variant, kept for parity with Human
        spec = ((4, 1),)
    else:
        spec = ((input_size // 16, 2), (input_size // 8, 6))
    centres = []
    for stride, per_cell in spec:
        cells = (input_size + stride - 1) // stride
        grid = (np.arange(cells, dtype=np.float32) + 0.5) * stride
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
    return np.concatenate(centres, axis=0)


def resize_bilinear_tf(image: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false), as Human calls it.

    Source coordinate = destination * (in / out), without the half-pixel shift OpenCV applies;
    the two differ by up to half an input pixel, which moves boxes by a pixel or two.
    """
    h, w = image.shape[:2]

    def taps(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.arange(size, dtype=np.float64) * (n_in / size)
        lo = np.floor(src).astype(np.intp)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)

    y0, y1, fy = taps(h)
    x0, x1, fx = taps(w)
    # Gather only the pixels needed (np.take on flat indices is the fast path), then interpolate
    # along x, then y: TF's order of operations, so results match tfjs bit for bit.
    pixels = np.ascontiguousarray(image).reshape(h * w, -1)
    rows = np.concatenate([y0, y1])[:, None] * w

    def gather(cols: np.ndarray) -> np.ndarray:
        flat = (rows + cols[None, :]).ravel()
        return np.take(pixels, flat, axis=0).astype(np.float32).reshape(2 * size, size, -1)

    left = gather(x0)
    out = gather(x1)
    out -= left
    out *= fx[None, :, None]
    out += left
    top, bottom = out[:size], out[size:]
    bottom -= top
    bottom *= fy[:, None, None]
    bottom += top
    return bottom


def preprocess(images: list[np.ndarray], size: int) -> np.ndarray:
    """RGB uint8 images of any sizes -> (N, size, size, 3) float32 in [-1, 1] (stretched)."""
    batch = np.empty((len(images), size, size, 3), dtype=np.float32)
    for i, img in enumerate(images):
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        batch[i] = resize_bilinear_tf(img[:, :, :3], size)
    np.divide(batch, 127.5, out=batch)
    np.subtract(batch, 1.0, out=batch)
    return batch


def merge_outputs(outputs: list[np.ndarray]) -> np.ndarray:
    """The graph's outputs -> (N, anchors, 17): [logit, cx, cy, w, h, 6 landmarks x 2].

    The tfjs graph has four outputs whose order is not meaningful, so Human sorts them by size:
    scores 384, scores 512, regressors 384, regressors 512; the 512 (stride 16) anchors come
    first. A converter that already merged them is accepted as is.
    """
    outs = [np.asarray(o, dtype=np.float32) for o in outputs]
    if len(outs) == 1:
        return outs[0]
    if len(outs) == 2:
        scores, regressors = sorted(outs, key=lambda o: o.shape[-1])
        return np.concatenate([scores, regressors], axis=-1)
    s384, s512, r384, r512 = sorted(outs, key=lambda o: o.size)
    return np.concatenate(
        [np.concatenate([s512, r512], axis=-1), np.concatenate([s384, r384], axis=-1)], axis=1
    )


def decode(raw: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's (anchors, 17) output -> boxes (x0, y0, x1, y1) in input pixels, scores."""
    centres = raw[:, 1:3] + anchors
    half = raw[:, 3:5] / 2.0
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    logits = np.clip(raw[:, 0].astype(np.float64), -80.0, 80.0)
    scores = 1.0 / (1.0 + np.exp(-logits))
    return boxes, scores.astype(np.float32)


def _iou_one_to_many(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    lo = np.minimum(box[:2], box[2:])
    hi = np.maximum(box[:2], box[2:])
    olo = np.minimum(others[:, :2], others[:, 2:])
    ohi = np.maximum(others[:, :2], others[:, 2:])
    area = np.prod(hi - lo)
    oarea = np.prod(ohi - olo, axis=1)
    inter = np.prod(np.clip(np.minimum(hi, ohi) - np.maximum(lo, olo), 0, None), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area + oarea - inter)
    iou[(oarea <= 0) | (area <= 0)] = 0.0
    return iou


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, *, max_out: int, iou_threshold: float, min_score: float
) -> list[int]:
    """TF's greedy NMS: keep scores > min_score, best first; IoU >= threshold suppresses."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > min_score]
    kept: list[int] = []
    for i in order:
        if len(kept) >= max_out:
            break
        if kept and np.any(_iou_one_to_many(boxes[i], boxes[kept]) >= iou_threshold):
            continue
        kept.append(i)
    return kept


@dataclass
class BlazeFaceDetector:
    """Human's BlazeFace; `detect_batch` sends all its photos to ONNX as one batched tensor."""

    min_confidence: float = 0.5
    iou_threshold: float = 0.1  # Human's default
    max_detected: int = 20  # Human keeps 1; an audit wants to see crowded photos too
    model_path: Path | None = None  # default: the model zoo's built file
    name: str = "blazeface"
    margin: float = 0.2  # Human crops the box enlarged 1.4x (0.2 per side), squared
    _session: Any = field(default=None, init=False, repr=False)
    _anchors: np.ndarray | None = field(default=None, init=False, repr=False)

    def _load(self) -> Any:
        if self._session is not None:
            return self._session
        path = self.model_path or _zoo_path()
        if not Path(path).is_file():
            from emoaudit.errors import ModelError

            raise ModelError(DETECTOR_NOT_BUILT.format(path=path, name=self.name))
        import onnxruntime as ort

        # One thread a call: the runner calls the detector from one thread per core, and ORT's
        # own pool on top of that oversubscribes the cores and spin-waits.
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._anchors = generate_anchors(self.input_size)
        return self._session

    @property
    def input_size(self) -> int:
        shape = self._load().get_inputs()[0].shape
        return int(shape[2] if shape[-1] == 3 else shape[-1])  # NHWC or NCHW, square

    def detect(self, image: np.ndarray) -> list[Box]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Box]]:
        if not images:
            return []
        raw = self._run(preprocess(images, self.input_size))
        return [self._boxes(r, img.shape[:2]) for r, img in zip(raw, images, strict=True)]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The whole batch in one ONNX call (the zoo's graph has a dynamic batch axis; measured
        bit-identical to one image per call). A file built before the converter freed the batch
        still says [1, 256, 256, 3] and is run one image at a time."""
        session = self._load()
        inp = session.get_inputs()[0]
        if inp.shape[-1] != 3:
            batch = batch.transpose(0, 3, 1, 2)
        fixed_batch = isinstance(inp.shape[0], int) and inp.shape[0] == 1
        if fixed_batch and len(batch) > 1:
            parts = [self._run(batch[i : i + 1]) for i in range(len(batch))]
            return np.concatenate(parts, axis=0)
        out = merge_outputs(session.run(None, {inp.name: np.ascontiguousarray(batch)}))
        return out.reshape(len(batch), -1, out.shape[-1])

    def _boxes(self, raw: np.ndarray, hw: tuple[int, int]) -> list[Box]:
        assert self._anchors is not None
        boxes, scores = decode(raw, self._anchors)
        keep = non_max_suppression(
            boxes,
            scores,
            max_out=self.max_detected,
            iou_threshold=self.iou_threshold,
            min_score=self.min_confidence,
        )
        size = self.input_size
        sx, sy = hw[1] / size, hw[0] / size  # the image was stretched, so scale axes apart
        return [
            Box(
                float(boxes[i, 0] * sx),
                float(boxes[i, 1] * sy),
                float(boxes[i, 2] * sx),
                float(boxes[i, 3] * sy),
                float(scores[i]),
            )
            for i in keep
        ]


def _zoo_path() -> Path:
    """The zoo's built file; the zoo raises its own one-line 'not built, run ...' ModelError."""
    from emoaudit.models import zoo

    return Path(zoo.model_path(ZOO_NAME))
