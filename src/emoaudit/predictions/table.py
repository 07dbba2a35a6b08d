"""Generic tables of outputs (CSV, JSONL, Parquet): which column is what, and one row's record.

A row names its sample by `sample_id` or `path` (first found of base.KEY_FIELDS), then gives
`pred` and/or per-label scores: `prob_<label>` columns, or columns named by a label itself
(`happy`, `sadness`, `calm`). Scores are read as probabilities, as a model's softmax would be.
"""

from __future__ import annotations

from typing import Any

from emoaudit.errors import EmoauditError
from emoaudit.predictions.base import (
    BAD_SCORE,
    KEY_FIELDS,
    NO_KEY,
    NO_OUTPUTS,
    Face,
    Problem,
    Record,
    number,
)
from emoaudit.taxonomy import NON_CANONICAL_OUTPUTS, is_known_raw_label

PRED_COLUMNS = ("pred", "prediction", "label_pred")
NO_OUTPUT_COLUMNS = (
    "{path}: no output columns; expected 'pred' and/or per-label scores (prob_<label> or label "
    "names such as happy, sad), found {found}"
)
NO_KEY_COLUMN = "{path}: no sample key column; expected one of {fields}, found {found}"

PROBABILITIES = True
LABELS = None  # learnt from the file: its score columns, else the predicted values
NOTES = (
    "Scores are read as probabilities: calibration, log loss and top-2 accuracy apply when "
    "every label has a score; with `pred` alone only label metrics apply."
)


def score_label(column: str) -> str | None:
    """The raw label a score column holds, or None for a column that is not a score."""
    if column.startswith("prob_") and len(column) > 5:
        return column[5:]
    low = column.strip().lower()
    if is_known_raw_label(low) or low in NON_CANONICAL_OUTPUTS:
        return column
    return None


def columns(path: Any, names: list[str]) -> tuple[str, str | None, dict[str, str]]:
    """(key column, pred column or None, {score column: raw label}); one-line error if unusable."""
    found = ", ".join(names[:20]) or "no columns"
    key = next((c for c in KEY_FIELDS if c in names), None)
    if key is None:
        raise EmoauditError(
            NO_KEY_COLUMN.format(path=path, fields=", ".join(KEY_FIELDS), found=found)
        )
    pred = next((c for c in PRED_COLUMNS if c in names), None)
    scores = {c: lab for c in names if c not in KEY_FIELDS and (lab := score_label(c))}
    if pred is None and not scores:
        raise EmoauditError(NO_OUTPUT_COLUMNS.format(path=path, found=found))
    return key, pred, scores


def row_record(
    row: dict[str, Any], *, where: str, key: str, pred: str | None, scores: dict[str, str]
) -> Record | Problem:
    """One row as a Record; a blank key, a non-numeric score or an empty row is a Problem."""
    sample = row.get(key)
    if sample is None or str(sample).strip() == "":
        return Problem(where, NO_KEY.format(where=where, fields=key))
    face = Face()
    for column, label in scores.items():
        raw = row.get(column)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue  # a missing score is missing, not zero
        value = number(raw)
        if value is None:
            return Problem(where, BAD_SCORE.format(where=where, label=label, value=str(raw)[:40]))
        face.scores[label] = value
    stated = row.get(pred) if pred else None
    if stated is not None and str(stated).strip():
        face.pred = str(stated).strip()
    if face.pred is None and not face.scores:
        return Problem(where, NO_OUTPUTS.format(where=where))
    return Record(key=str(sample), where=where, faces=[face])
