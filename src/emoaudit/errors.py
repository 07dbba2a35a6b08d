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
REPEATED_COLUMNS = (
    "{path}: column(s) {names} appear more than once in the header; rename or remove the copies"
)
BAD_ROW = "{path}:{line}: {what}"
WRONG_PIXEL_COUNT = "{path}:{line}: expected {expected} pixel values, found {found}"
BAD_PIXEL_VALUE = "{path}:{line}: pixels must be integers 0-255 separated by spaces"
UNKNOWN_LABEL = "{path}:{line}: label '{label}' is not in the {dataset} label set ({known})"
LABEL_SHOWN = 40  # characters of an unknown label quoted in a reason (a broken row: 9 KB)
UNREADABLE_IMAGE = "{path}: cannot decode image ({why})"
DECOMPRESSION_BOMB = "{path}: image has {pixels} pixels, above the limit of {limit}"
NOT_ONNX = "{path}: not an ONNX model ({why})"
BAD_MODEL_SPEC = "{path}: invalid model spec: {why}"

# Dataset adapters (emoaudit.data): per-sample reasons (a Sample status) and whole-dataset errors.
MISSING_IMAGE = "{path}: image file not found (referenced by {ref})"
NOT_A_FILE = "{path}: not a regular file (a folder or device; referenced by {ref})"
NOT_AN_EXPRESSION = "{where}: label '{label}' is not an expression ({why})"
UNKNOWN_CLASS_FOLDER = "{path}: folder '{label}' is not a known expression label (known: {known})"
BAD_FILENAME = "{path}: file name does not match the {dataset} pattern {pattern}"
FERPLUS_TIE = "{path}:{line}: FER+ votes tie between {labels} ({votes} each); no plurality label"
FERPLUS_NOT_EXPRESSION = (
    "{path}:{line}: FER+ plurality is '{label}' ({votes} of {total} votes), not an expression"
)
FERPLUS_USAGE_MISMATCH = (
    "{path}:{line}: Usage '{plus}' differs from '{fer}' on the same row of {other}; "
    "the two files are not in the same row order"
)
FERPLUS_MISSING_ROW = "{path}:{line}: no matching row in {other} (the files differ in row count)"
FERPLUS_NEEDS_FER2013 = (
    "{path}: FER+ votes need the FER2013 pixels; put fer2013.csv next to fer2013new.csv "
    "(looked for {looked})"
)
UNLABELLED_SEQUENCE = "{path}: CK+ sequence has no Emotion/*_emotion.txt file; not labelled"
UNREADABLE_TEXT = "{path}: cannot read {what} ({why})"
UNLISTABLE_FOLDER = "{path}: cannot list folder ({why})"
LINKED_FOLDER = "{path}: symbolic link to a folder; not followed (it could repeat or loop)"
LINK_OUTSIDE = "{path}: symbolic link to {target}, outside its folder; not followed"
BROKEN_LINK = "{path}: symbolic link with no file at its end (dangling or looping)"

# Model zoo and converters (emoaudit.models).
NOT_CONVERTIBLE = "{path}: cannot convert to ONNX: {why}"
MODEL_NOT_BUILT = "model '{name}' is not built ({path} missing); run `emoaudit models build`"
ARTIFACT_SHA256_MISMATCH = "{path}: sha256 {found} does not match the pinned {expected}"
ARTIFACT_FETCH_FAILED = "could not fetch {spec} with `{tool}`: {why}"
ARTIFACT_MEMBER_MISSING = "{path}: expected member '{member}' is not in the archive"
MODEL_UNAVAILABLE = "model '{name}' is unavailable: {why}"
BAD_MODEL_INPUT = "model '{name}': {why}"

# Reports, comparison and the flagging analysis (emoaudit.report, emoaudit.analysis.flagging).
UNKNOWN_FLAG_LABEL = "--flag: '{label}' is not an expression label (known: {known})"
FLAG_NOT_IN_DATA = "{where}: no ok sample has a {which} true label; cannot estimate {what}"
BAD_FLAG_NUMBER = "--{name}: expected {expected}, got {value}"
AMBIGUOUS_MODEL = "{where}: several models ({models}); pick one with --model"
UNKNOWN_MODEL = "{where}: no predictions for model '{model}' (found: {models})"
MISSING_RESULTS = "{path}: no results.json here; run `emoaudit audit` or `emoaudit report` first"

# Devices (emoaudit.models.device): --device cpu|cuda.
UNKNOWN_DEVICE = "--device: '{device}' is not a device (expected one of: {known})"
NO_CUDA = (
    "--device cuda: no CUDA path available ({why}); install onnxruntime-gpu, "
    "or PyTorch with CUDA plus onnx2torch (pip install 'emoaudit[gpu-torch]')"
)
UNKNOWN_CUDA_RUNTIME = (
    "EMOAUDIT_CUDA_RUNTIME='{value}' is not a CUDA path (expected one of: {known})"
)
CUDA_PROVIDER_NOT_LOADED = (
    "model '{name}': onnxruntime-gpu did not load CUDA (session runs on {active}); "
    "check the CUDA/cuDNN libraries, or set EMOAUDIT_CUDA_RUNTIME=torch"
)


def unknown_label(
    *, path: object, line: object, label: str, dataset: str, known: dict | list | tuple
) -> str:
    """The one-line reason for a label outside a dataset's set; codes listed as "0 angry, ...".

    The label is clipped: a broken row can put kilobytes of pixel text in its label cell.
    """
    if isinstance(known, dict):
        known = [f"{code} {name}" for code, name in known.items()]
    return UNKNOWN_LABEL.format(
        path=path, line=line, label=clipped(label), dataset=dataset, known=", ".join(known)
    )


def one_line(text: object) -> str:
    """`text` with line breaks and other control characters escaped (\\n, \\x1b): a file named
    'a\\nERROR: ...' must not print a second, forged line in a log or a report."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def utf8_text(text: str) -> str:
    """`text` as valid UTF-8: a file name whose bytes are not UTF-8 (common in zips made on
    Windows) reaches Python as lone surrogates (``caf\udce9.jpg``), which Parquet and JSON writers
    refuse, and one such name stopped a whole run. Its bytes are shown escaped (``caf\\xe9.jpg``)
    in outputs; the file itself is still opened by its real name."""
    if text.isascii():
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no file name produced
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def clipped(text: object, limit: int = LABEL_SHOWN) -> str:
    """`text` for a one-line reason: at most `limit` characters, the cut marked with '...'."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
