"""Generic CSV of outputs: `sample_id` or `path`, then `pred` and/or per-label score columns.

Read with the dataset adapters' record reader (data.files.csv_records): UTF-8 with or without
a BOM, or UTF-16; a quoted cell may span a few lines, but a stray quote costs only its own
record, reported at its own line, and the lines it had taken are read again as rows. A record
whose cells do not line up with the header is reported, never read by position.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from emoaudit.data.files import WRONG_WIDTH, csv_records, open_csv_text
from emoaudit.predictions import table
from emoaudit.predictions.base import Problem, Record

NAME = "csv"
DESCRIPTION = "CSV: sample_id or path, then pred and/or per-label scores"
LABELS = table.LABELS
PROBABILITIES = table.PROBABILITIES
NOTES = table.NOTES
BAD_CSV = "{where}: unreadable CSV row ({why})"
BAD_WIDTH = "{where}: " + WRONG_WIDTH + "; the row is skipped"


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
        return [h.strip() for h in _header(fh.readline())]


def csv_rows(path: Path, names: list[str]) -> Iterator[tuple[str, dict[str, str]] | Problem]:
    """(file:line, row by header name) for each record after the header, or a Problem for a
    record that cannot be read or whose cells do not line up with `names`."""
    width = len(names)
    with open_csv_text(path) as fh:
        fh.readline()
        for line, cells, problem in csv_records(enumerate(fh, start=2), width=width):
            where = f"{path}:{line}"
            if problem:
                yield Problem(where, BAD_CSV.format(where=where, why=_one_line(problem)))
            elif _misaligned(cells, width):
                found = len(cells)
                yield Problem(where, BAD_WIDTH.format(where=where, found=found, expected=width))
            else:
                yield where, dict(zip(names, cells, strict=False))


def _header(text: str) -> list[str]:
    """The first line's cells; a header never spans lines, a broken one is read leniently."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return text.rstrip("\r\n").split(",")


def _misaligned(cells: list[str], width: int) -> bool:
    """A short row, or a long one with text past the last column (an unquoted comma shifts every
    later cell into the wrong column); empty cells past the end (a trailing comma) are fine."""
    if len(cells) == width:
        return False
    return len(cells) < width or any(cell.strip() for cell in cells[width:])


def _one_line(text: str) -> str:
    return " ".join(text.split())
