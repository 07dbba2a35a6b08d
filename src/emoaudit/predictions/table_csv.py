"""Generic CSV of outputs: `sample_id` or `path`, then `pred` and/or per-label score columns.

Read with the dataset adapters' record reader (data.files.csv_records): UTF-8 with or without
a BOM, or UTF-16; a quoted cell may span a few lines, but a stray quote costs only its own
record, reported at its own line, and the lines it had taken are read again as rows. A record
whose cells do not line up with the header is reported, never read by position.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

from emoaudit.data.files import (
    bounded_lines,
    csv_records,
    header_cells,
    no_line_break,
    open_csv_text,
    width_problem,
)
from emoaudit.errors import one_line
from emoaudit.predictions import table
from emoaudit.predictions.base import Problem, Record

NAME = "csv"
DESCRIPTION = "CSV: sample_id or path, then pred and/or per-label scores"
LABELS = table.LABELS
PROBABILITIES = table.PROBABILITIES
NOTES = table.NOTES
BAD_CSV = "{where}: unreadable CSV row ({why})"


def read(path: Path) -> Iterator[Record | Problem]:
    names = header_names(path)
    key, pred, scores = table.columns(path, names)
    for item in csv_rows(path, names):
        if isinstance(item, Problem):
            yield item
            continue
        where, row = item
        yield table.row_record(row, where=where, key=key, pred=pred, scores=scores)


def header_names(path: Path) -> list[str]:
    """The header's cells, stripped; a BOM or UTF-16 does not become part of the first name."""
    with open_csv_text(path) as fh:
        return [h.strip() for h in header_cells(fh)]


def _spanning(names: list[str], cells: list[str]) -> str:
    """No column of an outputs table holds a line break (ids, paths, labels, scores): a record
    spanning lines is a stray quote that swallowed the rows after it (files.csv_records)."""
    return no_line_break(dict(zip(names, cells, strict=False)))


def csv_rows(path: Path, names: list[str]) -> Iterator[tuple[str, dict[str, str]] | Problem]:
    """(file:line, row by header name) for each record after the header, or a Problem for a
    record that cannot be read or whose cells do not line up with `names`."""
    width = len(names)
    with open_csv_text(path) as fh:
        lines = bounded_lines(fh)
        next(lines, None)  # the header, however long: skipped in bounded pieces
        records = csv_records(lines, width=width, spanning=partial(_spanning, names))
        for line, cells, problem in records:
            where = f"{path}:{line}"
            if problem:
                yield Problem(where, BAD_CSV.format(where=where, why=one_line(problem)))
            elif len(cells) != width and (misaligned := width_problem(cells, width)):
                yield Problem(where, f"{where}: {misaligned}; the row is skipped")
            else:
                yield where, dict(zip(names, cells, strict=False))
