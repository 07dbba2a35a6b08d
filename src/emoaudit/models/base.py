"""Model adapter contract: an ONNX graph plus the preprocessing and label order it expects.

Every model, built-in or user-supplied, is an ONNX file run by ONNX Runtime; what differs is the
input spec (size, layout, colour, normalisation) and the output label order. Keeping that as data
(``InputSpec``) instead of code lets users audit their own exported models with a TOML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class InputSpec:
    """How a face crop (RGB uint8, any size) becomes the model's input tensor.

    Normalised value = (pixel * scale - mean) / std, per channel (or once for gray).

    ``resize`` names the library whose resampling the model was trained with: ``bilinear``,
    ``area`` and ``nearest`` are OpenCV's (uint8, half-pixel centres; colour converted first, as
    OpenCV pipelines such as fer do); ``bilinear_tf`` is TensorFlow/tfjs ``resizeBilinear`` without
    half-pixel centres, in float32, resizing before the colour conversion (human, face-api).
    ``pil`` is Pillow's bilinear on uint8, which antialiases when shrinking (run/protocols.py).
    """

    height: int
    width: int
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    color: Literal["gray", "rgb", "bgr"] = "rgb"
    gray_weights: tuple[float, float, float] = (0.299, 0.587, 0.114)
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    pad_square: bool = False  # zero-pad to a square (centred) before resizing, as face-api does
    resize: Literal["bilinear", "area", "nearest", "pil", "bilinear_tf"] = "bilinear"

    def as_dict(self) -> dict:
        """Stable, JSON-able description; part of the prediction cache key."""
        return {
            "height": self.height,
            "width": self.width,
            "layout": self.layout,
            "color": self.color,
            "gray_weights": list(self.gray_weights),
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "pad_square": self.pad_square,
            "resize": self.resize,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What the runner needs to know about a model to run and record it."""

    name: str
    onnx_path: Path
    labels: tuple[str, ...]  # canonical names in the model's output order
    input: InputSpec
    outputs_probabilities: bool = True  # False: outputs are logits, softmax is applied
    # Faces per ONNX Runtime call on CPU; None: the runner's batch. Small networks run faster
    # per face in small calls (their activations stay in the core's cache): see the adapters.
    cpu_run_batch: int | None = None
    source: dict = field(default_factory=dict)  # provenance: artifact, version, sha256, licence
