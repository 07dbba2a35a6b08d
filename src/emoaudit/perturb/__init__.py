"""Perturbation families, one module per family, looked up by name through PERTURBATIONS."""

from __future__ import annotations

from emoaudit.registry import Registry

PERTURBATIONS: Registry = Registry("perturbations")
