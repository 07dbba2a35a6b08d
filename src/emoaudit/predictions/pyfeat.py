"""py-feat Fex CSV (`Detector.detect_image(...).to_csv`): one row per detected face, with
emotion columns anger, disgust, fear, happiness, sadness, surprise, neutral (probabilities),
the face box FaceRectX/Y/Width/Height in pixels and the image path in `input`.

Read like the generic CSV (predictions/table_csv.py): BOM or UTF-16, a stray quote costing only
its own row, a row whose cells do not line up with the header reported with its line.
Rows of one image are consecutive (py-feat writes them so); they become one record with several
faces. A row whose emotions are all empty is an image where py-feat found no face. A row with
some emotions NaN or inf (pandas writes NaN as an empty cell) is an answer that cannot be
scored: its image becomes `bad_output` with the row's line, as in every other format. The same
`input` again after other images is reported as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit.errors import EmoauditError
from emoaudit.predictions.base import (
    NO_KEY,
    NOT_FINITE,
    Face,
    Problem,
    Record,
    number,
    score_value,
)
from emoaudit.predictions.table_csv import csv_rows, header_names

NAME = "pyfeat"
DESCRIPTION = "py-feat Fex CSV (one row per face; anger ... neutral, FaceRect*, input)"
LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
PROBABILITIES = True
NOTES = (
    "py-feat emits seven labels (no contempt): samples labelled contempt are unmapped_label. "
    "Its emotion columns are probabilities, so calibration applies."
)
BOX = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight")
MISSING_FEX_COLUMNS = "{path}: not a py-feat Fex CSV; missing column(s) {missing}"
EMPTY_AS_NAN = "empty (NaN: pandas writes NaN as an empty cell)"
NO_FACE_VALUES = ("", "nan")  # every emotion so: py-feat found no face in the image


def read(path: Path) -> Iterator[Record | Problem]:
    names = header_names(path)
    missing = [c for c in ("input", *LABELS) if c not in names]
    if missing:
        raise EmoauditError(MISSING_FEX_COLUMNS.format(path=path, missing=", ".join(missing)))
    current: Record | None = None
    for item in csv_rows(path, names):
        if isinstance(item, Problem):
            yield item
            continue
        where, row = item
        face = _face(row, where=where)
        if isinstance(face, Problem):
            yield face
            continue
        key = (row.get("input") or "").strip()
        if current is not None and current.key == key:
            _add(current, face)
            continue
        if current is not None:
            yield current
        current = Record(key=key, where=where, faces=[])
        _add(current, face)
    if current is not None:
        yield current


def _add(record: Record, face: Face | str | None) -> None:
    """One row's face into its image's record; a NaN or inf score makes the image bad_output
    (its other faces are then not scored, as in deepface and rekognition)."""
    if isinstance(face, str):
        record.bad = record.bad or face
        record.faces = []
    elif face is not None and record.bad is None:
        record.faces.append(face)


def _face(row: dict, *, where: str) -> Face | Problem | str | None:
    """The row's face; None when py-feat found none (every emotion empty or NaN); the reason
    (str) when some emotions are NaN or inf: py-feat answered, but nothing can be scored."""
    raw = {label: (row.get(label) or "").strip() for label in LABELS}
    if not (row.get("input") or "").strip():
        return Problem(where, NO_KEY.format(where=where, fields="input"))
    if all(v.lower() in NO_FACE_VALUES for v in raw.values()):
        return None
    face = Face()
    for label, text in raw.items():
        value = score_value(text, where=where, label=label)
        if value is None:  # a NaN beside numbers, as pandas writes it
            return NOT_FINITE.format(where=where, label=label, what=EMPTY_AS_NAN)
        if isinstance(value, Problem | str):
            return value
        face.scores[label] = value
    x, y, w, h = (number(row.get(c)) for c in BOX)
    if None not in (x, y, w, h):
        face.box = (x, y, x + w, y + h)
    return face
