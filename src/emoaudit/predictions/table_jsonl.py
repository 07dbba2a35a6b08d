"""Generic JSON Lines of outputs: one object a line with `sample_id` or `path`, then `pred`
and/or per-label scores (`prob_<label>` fields, label-named fields, or a `scores` object).

Each line is its own header, so a field given twice (json.loads would keep the last silently)
or two fields for one label (`prob_happy` and `happy`) make that line a Problem, not the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
REPEATED_FIELD = "field '{name}' appears twice in one object"


def read(path: Path) -> Iterator[Record | Problem]:
    for item in iter_json_lines(path, object_pairs_hook=_unique_fields):
        if isinstance(item, Problem):
            yield item
            continue
        where, doc = item
        if not isinstance(doc, dict):
            yield Problem(where, NOT_AN_OBJECT.format(where=where, found=type(doc).__name__))
            continue
        names = list(doc)
        if isinstance(doc.get("scores"), dict):  # {"scores": {"happy": 0.9, ...}} form
            names = [k for k in doc if k != "scores"] + list(doc["scores"])
            doc = {**{k: v for k, v in doc.items() if k != "scores"}, **doc["scores"]}
        key = next((f for f in KEY_FIELDS if f in doc), None)
        if key is None:
            yield Problem(where, NO_KEY.format(where=where, fields=", ".join(KEY_FIELDS)))
            continue
        pred = next((c for c in table.PRED_COLUMNS if c in names), None)
        scores = {c: lab for c in names if c not in KEY_FIELDS and (lab := table.score_label(c))}
        clash = table.column_clash(where, names, used=[key, *([pred] if pred else []), *scores])
        if clash:
            yield Problem(where, clash)
            continue
        yield table.row_record(doc, where=where, key=key, pred=pred, scores=scores)


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object builder that refuses a repeated field (ValueError: a NOT_JSON Problem
    naming the field) instead of keeping its last value."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(REPEATED_FIELD.format(name=str(name)[:40]))
        out[name] = value
    return out
