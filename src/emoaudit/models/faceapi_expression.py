"""face-api's FaceExpressionNet (@vladmandic/face-api 1.7.15, MIT): 112x112 RGB, 7 expressions.

Preprocessing, from face-api's sources (FaceFeatureExtractor.forwardInput -> NetInput.toBatchTensor
(112, isCenterInputs=true) -> ops/padToSquare, then ops/normalize):

1. pad the crop to a square with zeros (black), CENTRED: ``round(diff / 2)`` rows/columns after
   the image (bottom/right) and the rest before it (top/left);
2. ``tf.image.resizeBilinear(x, [112, 112], alignCorners=false, halfPixelCenters=false)``: TF's
   legacy sampling (source = dest * in/out, no half-pixel offset), which is not OpenCV's;
3. subtract mean RGB [122.782, 117.001, 104.298], divide by 255.

`faceapi_input` does exactly that in numpy; the JavaScript references prove it (together with the
converted graph) against face-api itself. The ONNX graph takes step 3's output.
"""

from __future__ import annotations

import numpy as np

from emoaudit.models.base import InputSpec, ModelInfo
from emoaudit.taxonomy import canonical

NAME = "faceapi-expression"
INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
# face-api's FACE_EXPRESSION_LABELS, in its output order, and as canonical names.
RAW_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
LABELS = tuple(canonical(raw) for raw in RAW_LABELS)
OUTPUTS_PROBABILITIES = True  # the graph ends in face-api's softmax

# Faces per ONNX Runtime call on CPU: ORT CPU time a face, one single-thread session per core on
# 2 cores, was 1,345-1,354 us at 4 and 1,586-1,818 at 16-32 (docs/benchmarks.md, batch size)
CPU_RUN_BATCH = 4

INPUT_SPEC = InputSpec(
    height=INPUT_SIZE,
    width=INPUT_SIZE,
    layout="NHWC",
    color="rgb",
    scale=1.0 / 255.0,
    mean=tuple(m / 255.0 for m in MEAN_RGB),
    std=(1.0, 1.0, 1.0),
    pad_square=True,
    resize="bilinear_tf",
)


def model_info() -> ModelInfo:
    """ModelInfo of the zoo-built ONNX file (provenance from the zoo manifest)."""
    from emoaudit.models import zoo

    return zoo.model_info(NAME)


def pad_to_square_centred(image: np.ndarray) -> np.ndarray:
    """face-api's padToSquare(img, isCenterImage=true): zeros, round(diff/2) after, rest before.

    JavaScript's Math.round rounds halves up, so an odd difference puts the extra row or column
    after the image (bottom/right).
    """
    h, w = image.shape[:2]
    diff = abs(h - w)
    if diff == 0:
        return image
    after = int(np.floor(diff * 0.5 + 0.5))
    before = diff - after
    pads = [(before, after), (0, 0)] if h < w else [(0, 0), (before, after)]
    pads += [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pads, mode="constant", constant_values=0)


def _legacy_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample positions of TF's resizeBilinear without half-pixel centres (tfjs cpu kernel)."""
    src = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
    lo = np.maximum(0, np.floor(src)).astype(np.intp)
    hi = np.minimum(n_in - 1, np.ceil(src)).astype(np.intp)
    return lo, hi, src - lo


def resize_bilinear_tf_legacy(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """tf.image.resizeBilinear(image, [height, width], alignCorners=false, halfPixelCenters=false)
    on an HxWxC array, with the tfjs cpu kernel's interpolation order, returned as float32."""
    x = image.astype(np.float32)
    r0, r1, rf = _legacy_axis(x.shape[0], height)
    c0, c1, cf = _legacy_axis(x.shape[1], width)
    cf = cf[None, :, None]
    top = x[r0][:, c0] + (x[r0][:, c1] - x[r0][:, c0]) * cf
    bottom = x[r1][:, c0] + (x[r1][:, c1] - x[r1][:, c0]) * cf
    return (top + (bottom - top) * rf[:, None, None]).astype(np.float32)


def faceapi_input(rgb: np.ndarray) -> np.ndarray:
    """Exactly face-api's preprocessing of one RGB uint8 crop: float32 [112, 112, 3]."""
    square = pad_to_square_centred(np.asarray(rgb))
    resized = resize_bilinear_tf_legacy(square, INPUT_SIZE, INPUT_SIZE)
    return ((resized - np.array(MEAN_RGB, dtype=np.float32)) / np.float32(255.0)).astype(np.float32)
