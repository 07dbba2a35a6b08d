"""Generic tables of outputs (CSV, JSONL, Parquet): which column is what, and one row's record.

A row names its sample by `sample_id` or `path` (first found of base.KEY_FIELDS), then gives
`pred` and/or per-label scores: `prob_<label>` columns, or columns named by a label itself
(`happy`, `sadness`, `calm`). Scores are read as probabilities, as a model's softmax would be.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from emoaudit.errors import EmoauditError
from emoaudit.predictions.base import (
    COLLIDING_COLUMNS,
    KEY_FIELDS,
    NO_KEY,
    NO_OUTPUTS,
    REPEATED_COLUMNS,
    Face,
    Problem,
    Record,
    score_value,
)
from emoaudit.taxonomy import NON_CANONICAL_OUTPUTS, is_known_raw_label, output_label

PRED_COLUMNS = ("pred", "prediction", "label_pred")
NO_OUTPUT_COLUMNS = (
    "{path}: no output columns; expected 'pred' and/or per-label scores (prob_<label> or label "
    "names such as happy, sad), found {found}"
)
NO_KEY_COLUMN = "{path}: no sample key column; expected one of {fields}, found {found}"

PROBABILITIES = True  # when every scored row is a distribution (join.probability_check)
LABELS = None  # learnt from the file: its score columns, else the predicted values
NOTES = (
    "Scores are read as probabilities (each in [0, 1], each row summing to 1): calibration, log "
    "loss and top-2 accuracy apply when every label has a score; with `pred` alone only label "
    "metrics apply."
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
    clash = column_clash(path, names, used=[key, *([pred] if pred else []), *scores])
    if clash:
        raise EmoauditError(clash)
    return key, pred, scores


def column_clash(where: Any, names: list[str], *, used: list[str]) -> str | None:
    """Why the columns cannot be read unambiguously, or None: a used column named twice, or two
    score columns for one label (`prob_happy` and `happy`, `sad` and `Sadness`). Read by name,
    one copy would silently overwrite the other, so the file is refused rather than guessed at."""
    counts = Counter(names)
    for name in dict.fromkeys(used):
        if counts[name] > 1:
            return REPEATED_COLUMNS.format(path=where, name=name, n=counts[name])
    by_label: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        label = score_label(name) if name not in KEY_FIELDS else None
        if label:
            by_label.setdefault(output_label(label), []).append(name)
    for label, group in by_label.items():
        if len(group) > 1:
            columns = ", ".join(f"'{c}'" for c in group)
            return COLLIDING_COLUMNS.format(path=where, columns=columns, label=label)
    return None


def row_record(
    row: dict[str, Any], *, where: str, key: str, pred: str | None, scores: dict[str, str]
) -> Record | Problem:
    """One row as a Record; a blank key, a non-numeric score or an empty row is a Problem; a
    NaN or inf score makes a Record with `bad` set (the sample becomes bad_output)."""
    sample = row.get(key)
    if sample is None or str(sample).strip() == "":
        return Problem(where, NO_KEY.format(where=where, fields=key))
    face = Face()
    bad = None
    for column, label in scores.items():
        value = score_value(row.get(column), where=where, label=label)
        if isinstance(value, Problem):
            return value
        if isinstance(value, str):
            bad = bad or value  # the first, but a later malformed score still wins
        elif value is not None:  # a missing score is missing, not zero
            face.scores[label] = value
    if bad:
        return Record(key=str(sample), where=where, faces=[], bad=bad)
    stated = row.get(pred) if pred else None
    if stated is not None and str(stated).strip():
        face.pred = str(stated).strip()
    if face.pred is None and not face.scores:
        return Problem(where, NO_OUTPUTS.format(where=where))
    return Record(key=str(sample), where=where, faces=[face])
