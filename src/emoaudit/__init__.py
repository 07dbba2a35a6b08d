"""emoaudit: audit facial-expression ("emotion") recognition models.

Kept import-light on purpose: heavy parts (onnxruntime, pyarrow, ray, av) load when used, and
the Python API (``emoaudit.audit``, ``emoaudit.Audit``, ``emoaudit.PythonModel``) is imported
on first use, so ``import emoaudit`` stays fast.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Audit", "PythonModel", "__version__", "audit"]

_LAZY = {
    "audit": "emoaudit.api",
    "Audit": "emoaudit.api",
    "PythonModel": "emoaudit.models.python_model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emoaudit' has no attribute {name!r}")
