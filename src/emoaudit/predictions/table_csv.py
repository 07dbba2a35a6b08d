"""Generic CSV of outputs: `sample_id` or `path`, then `pred` and/or per-label score columns.

Streamed with the csv module, one row at a time; a row with a field over the csv module's size
limit or a bad score is reported with its line and skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from emoaudit.predictions import table
from emoaudit.predictions.base import Problem, Record

NAME = "csv"
DESCRIPTION = "CSV: sample_id or path, then pred and/or per-label scores"
LABELS = table.LABELS
PROBABILITIES = table.PROBABILITIES
NOTES = table.NOTES
BAD_CSV = "{where}: unreadable CSV row ({why})"


def read(path: Path) -> Iterator[Record | Problem]:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        key, pred, scores = table.columns(path, [h.strip() for h in header])
        names = [h.strip() for h in header]
        while True:
            before = reader.line_num
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                where = f"{path}:{reader.line_num}"
                yield Problem(where, BAD_CSV.format(where=where, why=str(exc)[:80]))
                if reader.line_num == before:  # no progress: the file cannot be read further
                    return
                continue
            if not any(v.strip() for v in values):
                continue
            row = dict(zip(names, values, strict=False))
            where = f"{path}:{reader.line_num}"
            yield table.row_record(row, where=where, key=key, pred=pred, scores=scores)
