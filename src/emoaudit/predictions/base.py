"""Records read from a file of saved model outputs, and the streaming readers formats share.

A predictions format is a module with ``NAME``, ``DESCRIPTION``, ``LABELS`` (the raw labels the
system can emit, or None to learn them from the file), ``PROBABILITIES`` (whether its scores
can be read as probabilities), ``NOTES`` (which metrics apply, in words) and
``read(path) -> Iterator[Record | Problem]``. Readers stream: one line (or row batch) at a time,
a line longer than MAX_LINE is reported rather than held, and a malformed record becomes a
Problem naming its file and line, never an exception, so one bad line cannot cost the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from emoaudit.data.files import bounded_lines

MAX_LINE = 8 * 1024 * 1024  # bytes: longer JSON lines are reported, not parsed
KEY_FIELDS = ("sample_id", "path", "image", "img_path", "file", "input")

LINE_TOO_LONG = "{where}: line longer than {limit} bytes; skipped"
NOT_JSON = "{where}: not valid JSON ({why})"
NOT_AN_OBJECT = "{where}: expected a JSON object, found {found}"
NO_KEY = "{where}: no sample key; expected one of the fields {fields}"
BAD_SCORE = "{where}: score for '{label}' is not a number ({value})"
REPEATED_LABEL = "{where}: labels {labels} both mean '{canonical}'"
NO_OUTPUTS = "{where}: no prediction and no scores"
NOT_FINITE = "{where}: score for '{label}' is {what}"
CORRUPT_SCORE = "{where}: score for '{label}' holds a NUL byte ({value}); a corrupted file?"
COLLIDING_COLUMNS = "{path}: columns {columns} all hold the score for '{label}'; keep one of them"
REPEATED_COLUMNS = "{path}: column '{name}' appears {n} times; keep one of them"
NOT_PROBABILITIES = (
    "Scores are not probabilities: {n} of {total} scored records are not (first: {first}), so "
    "they are kept as score_<label> columns and calibration, log loss, Brier and top-2 accuracy "
    "are not computed; top-1 metrics use the top score (or `pred`)."
)
NOT_EVERY_LABEL = (
    "Scores are not probabilities: no score for {missing}, labels the system emits, so they are "
    "kept as score_<label> columns and calibration, log loss, Brier and top-2 accuracy are not "
    "computed; top-1 metrics use the top score (or `pred`)."
)
OUT_OF_RANGE = "{where}: score for '{label}' is {value:g}, outside [0, 1]"
BAD_SUM = "{where}: scores sum to {total:.4g}, not 1 (within {tolerance})"

# How far a row's scores may sum from 1 and still be read as probabilities. Vendors and
# spreadsheets write probabilities rounded to 2 decimals (percentages to 0-1 decimals, i.e. 2-3
# decimals once divided by 100): rounding each of up to 10 labels moves the sum by at most
# 10 x 0.005 = 0.05. Wider would admit scores that are not a distribution (ECE and Brier
# then measure the scale, not calibration); narrower would reject every file rounded so, one
# unlucky row being enough. Logits, sigmoid outputs and unnormalised scores miss it by far.
SUM_TOLERANCE = 0.05
RANGE_SLACK = 1e-6  # float noise around 0 and 1 (97.5 / 100 and the like), never a real score


@dataclass(slots=True)
class Face:
    """One face's output: raw label -> score (probability-like, 0..1), and/or a stated label."""

    scores: dict[str, float] = field(default_factory=dict)
    pred: str | None = None  # the label the system itself named (DeepFace dominant_emotion)
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    box_units: str = "pixels"  # or "ratio": fractions of the image width and height
    extra: dict[str, Any] = field(default_factory=dict)  # more output columns (likelihood_*)

    def area(self) -> float:
        if self.box is None:
            return 0.0
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@dataclass(slots=True)
class Record:
    """The output for one image: `faces` is empty when the system found no face in it."""

    key: str  # sample id or image path as the file writes it
    where: str  # file:line, for every message about this record
    faces: list[Face]
    # Why the output exists but cannot be scored (a NaN or inf score): the sample is then
    # `bad_output` with this reason, not `no_output`, which would hide that the system answered.
    bad: str | None = None


@dataclass(slots=True)
class Problem:
    """A record that could not be read; counted and reported with its file and line."""

    where: str
    message: str


def normalise_key(key: str) -> str:
    """Keys compare as posix paths without a leading './' (Windows tools write backslashes)."""
    key = str(key).strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (strings, NaN, bools)."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def score_value(raw: Any, *, where: str, label: str) -> float | str | Problem | None:
    """A score as a float; None when blank (missing is missing, not zero); a `bad` reason (str)
    for NaN, inf or a NUL byte, which are an answer that cannot be scored rather than a
    malformed record; a Problem for anything else that is not a number."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if isinstance(raw, str) and "\x00" in raw:
        value = raw.replace("\x00", "\\0")[:40]
        return CORRUPT_SCORE.format(where=where, label=label, value=value)
    if isinstance(raw, bool):
        return Problem(where, BAD_SCORE.format(where=where, label=label, value=str(raw)[:40]))
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return Problem(where, BAD_SCORE.format(where=where, label=label, value=str(raw)[:40]))
    if math.isnan(value):
        return NOT_FINITE.format(where=where, label=label, what="NaN")
    if math.isinf(value):
        return NOT_FINITE.format(where=where, label=label, what="inf" if value > 0 else "-inf")
    return value


class Distributions(NamedTuple):
    """Per row of scores: whether it is not a probability distribution, and why."""

    bad: np.ndarray  # bool: the row has a score and is not a distribution
    out_of_range: np.ndarray  # the column of the row's first score outside [0, 1]; -1 if none
    total: np.ndarray  # the sum of the row's scores (a missing score adds nothing)


def distribution_faults(proba: np.ndarray) -> Distributions:
    """The one test of "is a probability distribution", for a whole table at once (rows x
    labels, NaN where a label has no score): each score in [0, 1] (within RANGE_SLACK) and the
    scores summing to 1 within SUM_TOLERANCE. A row with no score at all is not bad: it is a
    label-only output. The import (not_probabilities, join.py) and the predictions contract
    (analysis/contract.py) both call this, so what one accepts the other accepts."""
    proba = np.asarray(proba, dtype=np.float64)
    present = ~np.isnan(proba)
    values = np.where(present, proba, 0.0)
    outside = (values < -RANGE_SLACK) | ~(values <= 1 + RANGE_SLACK)  # inf is outside too
    any_outside = outside.any(axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf in a row already outside
        total = values.sum(axis=1)
    sums = np.abs(total - 1) <= SUM_TOLERANCE
    bad = present.any(axis=1) & (any_outside | ~sums)
    first = np.where(any_outside, outside.argmax(axis=1), -1)
    return Distributions(bad=bad, out_of_range=first, total=total)


def not_probabilities(scores: dict[str, float], *, where: str) -> str | None:
    """Why one face's scores are not a probability distribution, or None when they are
    (distribution_faults on one row; a face with no score is no distribution)."""
    labels = list(scores)
    if not labels:
        return BAD_SUM.format(where=where, total=0.0, tolerance=SUM_TOLERANCE)
    found = distribution_faults(np.array([[scores[k] for k in labels]], dtype=np.float64))
    if not found.bad[0]:
        return None
    k = int(found.out_of_range[0])
    if k >= 0:
        return OUT_OF_RANGE.format(where=where, label=labels[k], value=scores[labels[k]])
    return BAD_SUM.format(where=where, total=float(found.total[0]), tolerance=SUM_TOLERANCE)


def iter_json_lines(
    path: Path, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None
) -> Iterator[tuple[str, Any] | Problem]:
    """(file:line, parsed value) for each non-blank line; a bad line is a Problem."""
    with open(path, "rb") as fh:
        for line_no, line in bounded_lines(fh, limit=MAX_LINE):
            where = f"{path}:{line_no}"
            if line is None:
                yield Problem(where, LINE_TOO_LONG.format(where=where, limit=MAX_LINE))
                continue
            if not line.strip():
                continue
            try:
                yield where, json.loads(line, object_pairs_hook=object_pairs_hook)
            except (ValueError, UnicodeDecodeError) as exc:
                yield Problem(where, NOT_JSON.format(where=where, why=str(exc)[:80]))


def iter_json_documents(path: Path) -> Iterator[tuple[str, str | None, Any] | Problem]:
    """(where, key, document) from a folder of per-image .json files or from a JSONL file.

    In a folder the key is the file's path relative to it without '.json' (`happy/01.jpg.json`
    -> `happy/01.jpg`); in JSONL it is the line's first KEY_FIELDS entry (None when absent).
    """
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*.json") if p.is_file()):
            where = f"{file}:1"
            if file.stat().st_size > MAX_LINE:
                yield Problem(where, LINE_TOO_LONG.format(where=where, limit=MAX_LINE))
                continue
            try:
                doc = json.loads(file.read_bytes())
            except (ValueError, UnicodeDecodeError) as exc:
                yield Problem(where, NOT_JSON.format(where=where, why=str(exc)[:80]))
                continue
            yield where, file.relative_to(path).as_posix()[: -len(".json")], doc
        return
    for item in iter_json_lines(path):
        if isinstance(item, Problem):
            yield item
            continue
        where, doc = item
        yield where, key_of(doc), doc


def key_of(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    for name in KEY_FIELDS:
        value = doc.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    return None


def keyed(where: str, key: str | None, doc: Any) -> Problem | None:
    """The Problem with a JSON document that is not an object or has no key, else None."""
    if not isinstance(doc, dict | list):
        return Problem(where, NOT_AN_OBJECT.format(where=where, found=type(doc).__name__))
    if key is None:
        return Problem(where, NO_KEY.format(where=where, fields=", ".join(KEY_FIELDS)))
    return None


def read_json_records(
    path: Path, record: Callable[..., Record | Problem]
) -> Iterator[Record | Problem]:
    """A vendor's JSON responses (a folder of files, one per image, or JSONL) as records: each
    document keyed to its image, then parsed by the format's ``record(doc, key=, where=)``;
    problems (malformed JSON, no key) pass through with their file and line."""
    for item in iter_json_documents(path):
        if isinstance(item, Problem):
            yield item
            continue
        where, key, doc = item
        problem = keyed(where, key, doc)
        if problem:
            yield problem
            continue
        yield record(doc, key=key, where=where)
