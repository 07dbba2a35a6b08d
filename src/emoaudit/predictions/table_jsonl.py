"""Generic JSON Lines of outputs: one object a line with `sample_id` or `path`, then `pred`
and/or per-label scores (`prob_<label>` fields, label-named fields, or a `scores` object)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit.predictions import table
from emoaudit.predictions.base import (
    KEY_FIELDS,
    NO_KEY,
    NOT_AN_OBJECT,
    Problem,
    Record,
    iter_json_lines,
)

NAME = "jsonl"
DESCRIPTION = "JSON Lines: sample_id or path, then pred and/or per-label scores"
LABELS = table.LABELS
PROBABILITIES = table.PROBABILITIES
NOTES = table.NOTES


def read(path: Path) -> Iterator[Record | Problem]:
    for item in iter_json_lines(path):
        if isinstance(item, Problem):
            yield item
            continue
        where, doc = item
        if not isinstance(doc, dict):
            yield Problem(where, NOT_AN_OBJECT.format(where=where, found=type(doc).__name__))
            continue
        if isinstance(doc.get("scores"), dict):  # {"scores": {"happy": 0.9, ...}} form
            doc = {**{k: v for k, v in doc.items() if k != "scores"}, **doc["scores"]}
        key = next((f for f in KEY_FIELDS if f in doc), None)
        if key is None:
            yield Problem(where, NO_KEY.format(where=where, fields=", ".join(KEY_FIELDS)))
            continue
        names = list(doc)
        pred = next((c for c in table.PRED_COLUMNS if c in names), None)
        scores = {c: lab for c in names if c not in KEY_FIELDS and (lab := table.score_label(c))}
        yield table.row_record(doc, where=where, key=key, pred=pred, scores=scores)
