"""Model adapters, one module per model, looked up by name through MODELS."""

from __future__ import annotations

from emoaudit.registry import Registry

MODELS: Registry = Registry("models")

# Built-in models: name -> "module:callable" taking the zoo-built ONNX path, returning ModelInfo.
MODELS.add(
    "faceapi-expression",
    "emoaudit.models.faceapi_expression:model_info",
    summary="face-api FaceExpressionNet (@vladmandic/face-api 1.7.15), 112x112 RGB, 7 classes",
)
