"""Model adapters, one module per model, looked up by name through MODELS.

An entry resolves to a ModelInfo or to a zero-argument callable returning one; built-ins read
their ONNX file from the zoo (`emoaudit models build`), so resolving one that is not built raises
a one-line ModelError saying so.
"""

from __future__ import annotations

from emoaudit.registry import Registry

MODELS: Registry = Registry("models")

MODELS.add("fer-mini-xception", "emoaudit.models.fer_mini_xception:model_info", builtin=True)
MODELS.add("human-emotion", "emoaudit.models.human_emotion:model_info", builtin=True)
MODELS.add("faceapi-expression", "emoaudit.models.faceapi_expression:model_info", builtin=True)
