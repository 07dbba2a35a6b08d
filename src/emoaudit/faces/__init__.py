"""Face detectors, one module per detector, looked up by name through DETECTORS."""

from __future__ import annotations

from emoaudit.registry import Registry

DETECTORS: Registry = Registry("detectors")
