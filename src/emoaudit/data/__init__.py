"""Dataset adapters, one module per format, looked up by name through DATASETS."""

from __future__ import annotations

from emoaudit.registry import Registry

DATASETS: Registry = Registry("datasets")
