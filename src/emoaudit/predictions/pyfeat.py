"""py-feat Fex CSV (`Detector.detect_image(...).to_csv`): one row per detected face, with
emotion columns anger, disgust, fear, happiness, sadness, surprise, neutral (probabilities),
the face box FaceRectX/Y/Width/Height in pixels and the image path in `input`.

Read like the generic CSV (predictions/table_csv.py): BOM or UTF-16, a stray quote costing only
its own row, a row whose cells do not line up with the header reported with its line.
Rows of one image are consecutive (py-feat writes them so); they become one record with several
faces. A row whose emotions are all empty is an image where py-feat found no face. The same
`input` again after other images is reported as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit.errors import EmoauditError
from emoaudit.predictions.base import BAD_SCORE, Face, Problem, Record, number
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
            if face is not None:
                current.faces.append(face)
            continue
        if current is not None:
            yield current
        current = Record(key=key, where=where, faces=[face] if face is not None else [])
    if current is not None:
        yield current


def _face(row: dict, *, where: str) -> Face | Problem | None:
    """The row's face; None when py-feat found none (every emotion empty)."""
    raw = {label: (row.get(label) or "").strip() for label in LABELS}
    if not (row.get("input") or "").strip():
        from emoaudit.predictions.base import NO_KEY

        return Problem(where, NO_KEY.format(where=where, fields="input"))
    if all(v in ("", "nan", "NaN") for v in raw.values()):
        return None
    face = Face()
    for label, text in raw.items():
        value = number(text)
        if value is None:
            return Problem(where, BAD_SCORE.format(where=where, label=label, value=text[:40]))
        face.scores[label] = value
    x, y, w, h = (number(row.get(c)) for c in BOX)
    if None not in (x, y, w, h):
        face.box = (x, y, x + w, y + h)
    return face
