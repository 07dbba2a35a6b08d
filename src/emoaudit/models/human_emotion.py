"""Human's emotion model (``@vladmandic/human`` models/emotion.json, an oarriaga-style CNN).

Preprocessing follows ``src/gear/emotion.ts``: the face tensor (RGB in 0..1) is resized to 64x64
with ``tf.image.resizeBilinear(.., false)`` (no half-pixel centres), converted to gray with
weights (0.2989, 0.5870, 0.1140), then ``(g - 0.5) * 2``. The graph ends in a softmax. Labels are
those human assigns to a 1-channel model (oarriaga order).
"""

from __future__ import annotations

from emoaudit.models.base import InputSpec, ModelInfo
from emoaudit.taxonomy import canonical

NAME = "human-emotion"
RAW_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABELS = tuple(canonical(raw) for raw in RAW_LABELS)
INPUT_SPEC = InputSpec(
    height=64,
    width=64,
    layout="NHWC",
    color="gray",
    gray_weights=(0.2989, 0.5870, 0.1140),
    scale=1.0 / 255.0,
    mean=(0.5,),
    std=(0.5,),
    resize="bilinear_tf",
)
OUTPUTS_PROBABILITIES = True


def model_info() -> ModelInfo:
    from emoaudit.models import zoo

    return zoo.model_info(NAME)
