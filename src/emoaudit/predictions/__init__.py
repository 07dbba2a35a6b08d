"""Saved outputs of a system audited without running it here: one module per file format,
looked up by name through PREDICTION_FORMATS (`emoaudit audit DATA --predictions FILE
--predictions-format F`). The join with the dataset lives in predictions/join.py."""

from __future__ import annotations

from emoaudit.registry import Registry

PREDICTION_FORMATS: Registry = Registry("prediction_formats")

for _name, _module in (
    ("csv", "table_csv"),
    ("jsonl", "table_jsonl"),
    ("parquet", "table_parquet"),
    ("rekognition", "rekognition"),
    ("google-vision", "google_vision"),
    ("deepface", "deepface"),
    ("pyfeat", "pyfeat"),
):
    PREDICTION_FORMATS.add(_name, f"emoaudit.predictions.{_module}")
del _name, _module
