"""Model adapters, one module per model, looked up by name through MODELS."""

from __future__ import annotations

from emoaudit.registry import Registry

MODELS: Registry = Registry("models")
