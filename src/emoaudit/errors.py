"""User-facing error messages as constants, so tests assert on exactly what users read.

Each is one line naming the file (and line or sample where there is one) and what was expected.
"""

from __future__ import annotations


class EmoauditError(Exception):
    """A user mistake or unusable input: the CLI prints str(exc) on one line and exits non-zero."""


class DataError(EmoauditError):
    """The dataset as a whole cannot be read (missing, empty, unknown format)."""


class ModelError(EmoauditError):
    """A model cannot be loaded or built (not ONNX, bad spec, artifact missing)."""


MISSING_PATH = "{path}: no such file or directory"
UNKNOWN_FORMAT = "{path}: could not detect the dataset format; pass --format (one of: {known})"
EMPTY_DATASET = "{path}: no samples found for format '{fmt}' (expected {expected})"
MISSING_COLUMNS = "{path}: missing column(s) {missing}; expected header {expected}"
BAD_ROW = "{path}:{line}: {what}"
WRONG_PIXEL_COUNT = "{path}:{line}: expected {expected} pixel values, found {found}"
BAD_PIXEL_VALUE = "{path}:{line}: pixels must be integers 0-255 separated by spaces"
UNKNOWN_LABEL = "{path}:{line}: label '{label}' is not in the {dataset} label set ({known})"
UNREADABLE_IMAGE = "{path}: cannot decode image ({why})"
DECOMPRESSION_BOMB = "{path}: image has {pixels} pixels, above the limit of {limit}"
NOT_ONNX = "{path}: not an ONNX model ({why})"
BAD_MODEL_SPEC = "{path}: invalid model spec: {why}"
