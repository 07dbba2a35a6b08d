"""emoaudit: audit facial-expression ("emotion") recognition models.

Kept import-light on purpose: heavy parts (onnxruntime, pyarrow, ray, av) load when used.
"""

__version__ = "0.1.0"
