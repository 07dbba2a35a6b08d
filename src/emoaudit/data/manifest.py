"""A manifest table (CSV or Parquet): the way to audit any dataset without writing an adapter.

Columns: `path` is required; `label` is optional (a face set annotated with age, gender or race
but no expression label is audited label-free: an empty or absent label leaves the row `ok` with
no label, so whether the face was found stays its status); `sample_id`, `subject_id` and `split`
are used when present; `target_<name>` columns become numeric targets and `votes_<name>` vote
counts (names mapped through the taxonomy, so FER+'s own ``votes_happiness`` counts as
``happy``; an unknown name is refused for the whole file); every other column becomes an
attribute for group analyses. Paths are relative to the manifest's folder (absolute paths are
kept). Labels are names, mapped through taxonomy.canonical; an unknown name is
``unmapped_label``.

Streaming: CSV is read line by line and Parquet one record batch at a time, so a manifest with
millions of rows costs a few thousand rows of memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, OK, UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.files import (
    BAD_RECORD,
    csv_header,
    find_file,
    iter_csv,
    line_break_in,
    swallowed_row,
)
from emoaudit.errors import DataError
from emoaudit.taxonomy import (
    CANONICAL,
    VOTE_OTHERS,
    canonical,
    is_known_raw_label,
    vote_category,
)

NAME = "manifest"
DESCRIPTION = "CSV or Parquet table: path[,label][,subject_id][,split][,<attribute columns>]"
PRECROPPED = False

REQUIRED = ("path",)
RESERVED = frozenset({"path", "label", "sample_id", "subject_id", "split", BAD_RECORD})
FILE_NAMES = ("manifest.parquet", "manifest.csv")
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 4096
VOTE_KNOWN = ", ".join(f"votes_{k}" for k in (*CANONICAL, *VOTE_OTHERS))
UNKNOWN_VOTE_COLUMN = (
    "{path}: vote column '{column}' names no expression, unknown or NF; "
    "expected one of {known} (or a synonym such as votes_happiness)"
)
DUPLICATE_VOTE_COLUMN = "{path}: vote columns '{a}' and '{b}' both count '{key}'"


def find_manifest(root: Path) -> Path | None:
    if root.is_file():
        return root if root.suffix.lower() in (".csv", *PARQUET_SUFFIXES) else None
    return find_file(root, FILE_NAMES)


def columns(path: Path) -> list[str]:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception:  # noqa: BLE001 - any unreadable parquet just is not a manifest
            return []
    return csv_header(path)


def detect(root: Path) -> bool:
    path = find_manifest(root)
    return path is not None and "path" in columns(path)


def iter_samples(root: Path) -> Iterator[Sample]:
    path = find_manifest(root)
    if path is None:
        raise DataError(
            errors.EMPTY_DATASET.format(
                path=root, fmt=NAME, expected="a .csv or .parquet file with path,label columns"
            )
        )
    vote_columns(path, columns(path))
    base = path.parent
    seen: dict[str, tuple[str, str]] = {}
    for where, row in _rows(path):
        sample = row_sample(row, base=base, where=where)
        if sample.path is not None and not _text(row.get("sample_id")):
            _once(sample, seen, where=where)
        yield sample


SAME_IMAGE = (
    "{where}: the same image file as {first} ('{path}'); a face counted twice would narrow "
    "every interval, so this row is not scored"
)


def _once(sample: Sample, seen: dict[str, tuple[str, str]], *, where: str) -> None:
    """A second row naming an image already listed, however the path is spelled
    (`./img/a.jpg`, `img//a.jpg`, `img/a.jpg/`, the absolute path), is bad_input. A repeat
    with the same sample id is left to the repeated-id rule (run/runner.py), which renames it;
    rows given sample ids of their own are the user's stated intent and are not checked.
    Lexical, so no system call per row; two names linked to one file are not caught."""
    key = os.path.normpath(os.path.abspath(sample.path))
    first, first_id = seen.setdefault(key, (where, sample.sample_id))
    if first == where or first_id == sample.sample_id:
        return
    if sample.status in (OK, UNMAPPED_LABEL):
        sample.status, sample.label = BAD_INPUT, None
        shown = errors.one_line(sample.sample_id)
        sample.reason = SAME_IMAGE.format(where=where, first=first, path=shown)


ONE_LINE = ("path", "label", "sample_id", "subject_id", "split")  # never hold a line break


def _spanning(row: dict[str, str]) -> str:
    """A record spanning lines (a quoted cell with line breaks, files.iter_csv) is a stray
    quote when the break is in a column that never holds one, or when a line inside the cell
    reads as a row of its own: `a.png,happy,"he said hi` then `b.png,sad,ok"` made b.png part
    of a's note, and b.png was never audited."""
    return line_break_in(row, ONE_LINE) or swallowed_row(row)


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        for line, row in iter_csv(path, required=REQUIRED, spanning=_spanning):
            yield f"{path}:{line}", row
        return
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise DataError(
            errors.MISSING_COLUMNS.format(
                path=path, missing=", ".join(missing), expected=",".join(REQUIRED)
            )
        )
    index = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            index += 1
            yield f"{path}:row {index}", row


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def row_sample(row: dict[str, Any], *, base: Path, where: str) -> Sample:
    rel = _text(row.get("path"))
    raw = _text(row.get("label"))
    sample = Sample(
        sample_id=_text(row.get("sample_id")) or rel or where,
        dataset=NAME,
        split=_text(row.get("split")) or None,
        raw_label=raw or None,
        label=canonical(raw) if raw else None,
        subject_id=_text(row.get("subject_id")) or None,
    )
    if row.get(BAD_RECORD):  # a stray quote or an oversized cell: flagged, never guessed at
        sample.status, sample.label, sample.reason = BAD_INPUT, None, row[BAD_RECORD]
        return sample
    _extra_columns(sample, row)
    if sample.label is None and raw:
        sample.status = UNMAPPED_LABEL
        sample.reason = _label_reason(raw, where)
    image = Path(rel) if Path(rel).is_absolute() else base / rel
    if rel and image.is_file():
        sample.path = str(image)
        return sample
    sample.status, sample.label = UNREADABLE, None
    if rel and image.exists():  # a directory, /dev/null, a pipe: there, but not an image file
        sample.reason = errors.NOT_A_FILE.format(path=image, ref=where)
    else:
        shown = image if rel else "(empty path)"
        sample.reason = errors.MISSING_IMAGE.format(path=shown, ref=where)
    return sample


def _label_reason(raw: str, where: str) -> str:
    if not raw:
        return errors.NOT_AN_EXPRESSION.format(where=where, label="", why="empty label")
    if is_known_raw_label(raw):
        return errors.NOT_AN_EXPRESSION.format(where=where, label=raw, why="a non-expression value")
    path, line = where.rsplit(":", 1)
    return errors.unknown_label(
        path=path, line=line, label=raw, dataset="canonical", known=list(CANONICAL)
    )


def vote_columns(path: Path, names: list[str]) -> dict[str, str]:
    """`votes_*` column -> vote key through the taxonomy (``votes_happiness`` -> ``happy``).

    An unknown name, or two columns for one category, is a whole-file DataError: ignoring a
    vote column shifts every plurality (FER+'s own names once gave accuracy_vs_plurality .351
    instead of .651)."""
    out: dict[str, str] = {}
    for name in names:
        if not name.startswith("votes_"):
            continue
        key = vote_category(name[len("votes_") :])
        if key is None:
            raise DataError(UNKNOWN_VOTE_COLUMN.format(path=path, column=name, known=VOTE_KNOWN))
        if key in out.values():
            other = next(c for c, k in out.items() if k == key)
            raise DataError(DUPLICATE_VOTE_COLUMN.format(path=path, a=other, b=name, key=key))
        out[name] = key
    return out


def _extra_columns(sample: Sample, row: dict[str, Any]) -> None:
    for key, value in row.items():
        if key in RESERVED:
            continue
        text = _text(value)
        if not text:
            continue
        if key.startswith("target_"):
            try:
                sample.targets[key[len("target_") :]] = float(text)
            except ValueError:
                sample.attributes[key] = text
        elif key.startswith("votes_"):
            try:
                sample.votes[vote_category(key[len("votes_") :]) or key] = int(float(text))
            except ValueError:
                sample.attributes[key] = text
        else:
            sample.attributes[key.removeprefix("attr_")] = text
