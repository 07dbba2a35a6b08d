"""FER2013 as the Kaggle csv: `emotion,pixels,Usage`, one 48x48 gray face per row.

Codes follow the Kaggle page (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral), which is NOT the sorted order of the names; mapping goes through names so that
the order can never leak. Sample ids are ``row<N>`` with N the 0-based data row, the same index
FER+ uses to join its votes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, Sample
from emoaudit.data.files import BAD_RECORD, csv_header, find_file, iter_csv, line_break_in
from emoaudit.errors import DataError
from emoaudit.taxonomy import canonical

NAME = "fer2013"
DESCRIPTION = "FER2013 Kaggle csv (emotion, pixels, Usage): 48x48 gray faces, codes 0-6"
PRECROPPED = True

CSV_NAMES = ("fer2013.csv", "icml_face_data.csv")
CODES: dict[str, str] = {
    "0": "angry",
    "1": "disgust",
    "2": "fear",
    "3": "happy",
    "4": "sad",
    "5": "surprise",
    "6": "neutral",
}
SIDE = 48
REQUIRED = ("emotion", "pixels")
ONE_LINE = ("emotion", "Usage")  # cells that never hold a line break
PIXELS_NOT_WRAPPED = "its pixel cell does not hold the 2,304 values of a wrapped face"


def find_csv(root: Path) -> Path | None:
    """The FER2013 csv: `root` itself, or a known file name inside it."""
    if root.is_file():
        return root if {"emotion", "pixels"} <= set(csv_header(root)) else None
    return find_file(root, CSV_NAMES)


def detect(root: Path) -> bool:
    path = find_csv(root)
    return path is not None and {"emotion", "pixels"} <= set(csv_header(path))


def iter_samples(root: Path) -> Iterator[Sample]:
    path = find_csv(root)
    if path is None:
        raise DataError(
            errors.EMPTY_DATASET.format(
                path=root, fmt=NAME, expected="a csv with emotion,pixels,Usage columns"
            )
        )
    for index, (line, row, pixels) in enumerate(iter_rows(path)):
        yield row_sample(path=path, line=line, index=index, row=row, pixels=pixels)


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, str], np.ndarray | None]]:
    """(line, row, face) for each record of a FER2013 csv, faces parsed BLOCK_ROWS at a time
    (parse_pixel_block); face None: row_sample parses the cell itself and names why."""
    rows = iter_csv(path, required=REQUIRED, spanning=spanning_problem)
    while block := list(islice(rows, BLOCK_ROWS)):
        parsed = parse_pixel_block([row["pixels"] for _, row in block])
        for (line, row), pixels in zip(block, parsed, strict=True):
            yield line, row, pixels


BLOCK_ROWS = 512  # rows whose faces are parsed together: one chunk of the runner


def spanning_problem(row: dict[str, str]) -> str:
    """Why a record spanning lines is not a face (files.iter_csv `spanning`), or "".

    A quoted pixel cell wrapped across lines is a face (the break reads as a space). Anything
    else is a stray quote that swallowed the rows after it: a line break in the emotion or
    Usage cell, or a pixel cell without 2,304 values (`,",` on two lines made one record and
    the second row was gone).
    """
    problem = line_break_in(row, ONE_LINE)
    if not problem and _count_values(row.get("pixels", "")) != SIDE * SIDE:
        problem = PIXELS_NOT_WRAPPED
    return problem


def row_sample(
    *, path: Path, line: int, index: int, row: dict[str, str], pixels: np.ndarray | None = None
) -> Sample:
    """One csv row as a Sample; shared with FER+, which reads the same file. `pixels`: the row's
    face from parse_pixel_block, None to parse the cell here (parse_pixels names any problem)."""
    code = row["emotion"].strip()
    sample = Sample(
        sample_id=f"row{index}",
        dataset=NAME,
        split=row.get("Usage", "").strip() or None,
        raw_label=code,
        precropped=True,
    )
    if row.get(BAD_RECORD):
        sample.status, sample.label, sample.reason = BAD_INPUT, None, row[BAD_RECORD]
        return sample
    name = CODES.get(code)
    if name is None:
        sample.status, sample.label = BAD_INPUT, None
        sample.reason = errors.unknown_label(
            path=path, line=line, label=code, dataset="FER2013", known=CODES
        )
        return sample
    sample.label = canonical(name)
    problem = ""
    if pixels is None:
        pixels, problem = parse_pixels(row["pixels"], path=path, line=line)
    if problem:
        sample.status, sample.reason, sample.label = BAD_INPUT, problem, None
        return sample
    sample.pixels = pixels
    return sample


def parse_pixels(text: str, *, path: Path, line: int) -> tuple[np.ndarray | None, str]:
    """48x48 uint8 from the space-separated string, or (None, one-line reason).

    numpy's C parser reads a well-formed row (digits and single spaces, the Kaggle file's form)
    into int16. int16 wraps a long number (65536 reads as 0), so the row is accepted only if its
    length is exactly the digits of the parsed values plus the single spaces between them;
    anything else (extra spaces, leading zeros, signs, junk) takes the checked path, which
    names the problem.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            values = np.fromstring(text[: STRICT_CHARS + 1], dtype=np.int16, sep=" ")
    except ValueError:
        values = np.zeros(0, dtype=np.int16)
    if values.size == SIDE * SIDE and values.min() >= 0 and values.max() <= 255:
        digits = values.size + np.count_nonzero(values >= 10) + np.count_nonzero(values >= 100)
        if len(text) == digits + values.size - 1:
            return values.astype(np.uint8).reshape(SIDE, SIDE), ""
    found = _count_values(text) if len(text) > STRICT_CHARS else None
    parts = text.split() if found is None or found == SIDE * SIDE else []
    if len(parts) != SIDE * SIDE:
        reason = errors.WRONG_PIXEL_COUNT.format(
            path=path, line=line, expected=SIDE * SIDE, found=len(parts) if found is None else found
        )
        return None, reason
    try:
        values = np.array(parts, dtype=np.int64)
    except ValueError:
        return None, errors.BAD_PIXEL_VALUE.format(path=path, line=line)
    if values.min() < 0 or values.max() > 255:
        return None, errors.BAD_PIXEL_VALUE.format(path=path, line=line)
    return values.astype(np.uint8).reshape(SIDE, SIDE), ""


# The longest cell in strict form: 2304 three-digit values and 2303 single spaces. A longer cell
# goes to the checked path without being copied into the block's work arrays (a 200 MB line
# took 4 GB there: seven work arrays and then 50 million strings from split()).
STRICT_CHARS = SIDE * SIDE * 4 - 1


def _count_values(text: str) -> int:
    """Whitespace-separated tokens of a long cell, counted without making them (a cell of 50
    million values would be 50 million strings)."""
    return sum(1 for _ in re.finditer(r"\S+", text))


def parse_pixel_block(cells: list[str]) -> list[np.ndarray | None]:
    """The faces of a block of pixel cells, parsed vectorised: None for a cell not in the strict
    form, which parse_pixels then reads and explains.

    Strict form is what the Kaggle file holds and what parse_pixels' fast path accepts: exactly
    2304 tokens of 1-3 digits without leading zeros, 0-255, single spaces, nothing else. Rows go
    SUB_ROWS at a time through arrays allocated once per block: fresh arrays for each step cost
    more in page faults than the arithmetic. ~40 us a row where np.fromstring and its checks,
    one row at a time, cost ~85.
    """
    out: list[np.ndarray | None] = [None] * len(cells)
    todo = [i for i, c in enumerate(cells) if c.isascii() and len(c) <= STRICT_CHARS]  # no scan
    if not todo:
        return out
    groups = [todo[k : k + SUB_ROWS] for k in range(0, len(todo), SUB_ROWS)]
    texts = [("\n\n" + "\n".join(cells[i] for i in group) + "\n").encode() for group in groups]
    work = _Work(max(map(len, texts)))
    for group, text in zip(groups, texts, strict=True):
        lengths = np.fromiter((len(cells[i]) for i in group), dtype=np.int64, count=len(group))
        for i, face in zip(group, work.parse(text, lengths), strict=True):
            out[i] = face
    return out


SUB_ROWS = 64  # rows parsed at once: ~600 KB of text, its work arrays stay in cache


class _Work:
    """Work arrays for parse_pixel_block, sized for the longest group of rows."""

    def __init__(self, size: int) -> None:
        self.digit = np.empty(size, dtype=np.uint8)
        self.is_digit = np.empty(size, dtype=bool)
        self.end = np.empty(size, dtype=bool)
        self.mask = np.empty(size, dtype=bool)
        self.other = np.empty(size, dtype=bool)
        self.value = np.empty(size, dtype=np.uint16)
        self.scaled = np.empty(size, dtype=np.uint16)

    def parse(self, text: bytes, lengths: np.ndarray) -> list[np.ndarray | None]:
        """Faces of one group: `text` is its cells joined by newlines with two in front and
        one after, so every digit has two places before it and every run an end.

        A row is strict when it holds only digits and spaces, 2304 runs of digits, values up to
        255, and exactly as many bytes as the values print with one space between them. Each
        run prints at most its own length (the value of its last three digits, no leading
        zeros), and 2304 runs need 2303 spaces at least, so the byte count is met only when
        every run has 1-3 digits and no leading zero and the spaces are single.
        """
        n = len(text)
        buf = np.frombuffer(text, dtype=np.uint8)
        digit, is_digit, end = self.digit[:n], self.is_digit[:n], self.end[:n]
        mask, other, value, scaled = self.mask[:n], self.other[:n], self.value[:n], self.scaled[:n]
        np.subtract(buf, 48, out=digit)  # wraps below '0': any non-digit is >= 10
        np.less(digit, 10, out=is_digit)
        np.multiply(digit, is_digit, out=digit)  # separators read as 0
        # a run's value at its last digit, from the two places before it
        value[:2] = 0
        np.copyto(value[2:], digit[2:])
        np.multiply(digit[1:-1], 10, out=scaled[2:], dtype=np.uint16)
        value[2:] += scaled[2:]
        np.multiply(digit[:-2], 100, out=scaled[2:], dtype=np.uint16)
        scaled[2:] *= is_digit[1:-1]
        value[2:] += scaled[2:]
        np.greater(is_digit[:-1], is_digit[1:], out=end[:-1])  # the last digit of a run
        end[-1] = False
        starts = 2 + np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
        bad = np.zeros(len(lengths), dtype=bool)
        np.not_equal(buf, 32, out=mask)  # neither a space, nor a digit, nor a row's end
        np.greater(mask, is_digit, out=mask)
        np.not_equal(buf, 10, out=other)
        mask &= other
        if np.count_nonzero(mask):
            rows = np.searchsorted(starts, np.flatnonzero(mask), side="right") - 1
            bad[rows[rows >= 0]] = True
        ends = np.flatnonzero(end)
        bounds = np.append(np.searchsorted(ends, starts), len(ends))  # each row's runs
        values = value[ends]
        runs = SIDE * SIDE
        strict = ~bad & (np.diff(bounds) == runs)
        if strict.all():  # nearly always: every row's values side by side
            grid = values.reshape(len(lengths), runs)
            strict &= grid.max(axis=1) <= 255
            shown = np.count_nonzero(grid >= 10, axis=1) + np.count_nonzero(grid >= 100, axis=1)
            strict &= lengths == shown + (runs + runs - 1)
        else:
            for k in np.flatnonzero(strict).tolist():
                row = values[bounds[k] : bounds[k + 1]]
                shown = np.count_nonzero(row >= 10) + np.count_nonzero(row >= 100)
                strict[k] = row.max() <= 255 and lengths[k] == shown + (runs + runs - 1)
        faces8 = values.astype(np.uint8)  # exact where strict: every value is 0-255
        if strict.all():
            return list(faces8.reshape(len(lengths), SIDE, SIDE))
        faces: list[np.ndarray | None] = [None] * len(lengths)
        for k in np.flatnonzero(strict).tolist():
            faces[k] = faces8[bounds[k] : bounds[k] + runs].reshape(SIDE, SIDE)
        return faces
