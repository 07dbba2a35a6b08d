"""FER2013 as the Kaggle csv: `emotion,pixels,Usage`, one 48x48 gray face per row.

Codes follow the Kaggle page (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral), which is NOT the sorted order of the names; mapping goes through names so that
the order can never leak. Sample ids are ``row<N>`` with N the 0-based data row, the same index
FER+ uses to join its votes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, Sample
from emoaudit.data.files import BAD_RECORD, csv_header, find_file, iter_large_csv
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
    for index, (line, row) in enumerate(iter_large_csv(path, required=REQUIRED)):
        yield row_sample(path=path, line=line, index=index, row=row)


def row_sample(*, path: Path, line: int, index: int, row: dict[str, str]) -> Sample:
    """One csv row as a Sample; shared with FER+, which reads the same file."""
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
            values = np.fromstring(text, dtype=np.int16, sep=" ")
    except ValueError:
        values = np.zeros(0, dtype=np.int16)
    if values.size == SIDE * SIDE and values.min() >= 0 and values.max() <= 255:
        digits = values.size + np.count_nonzero(values >= 10) + np.count_nonzero(values >= 100)
        if len(text) == digits + values.size - 1:
            return values.astype(np.uint8).reshape(SIDE, SIDE), ""
    parts = text.split()
    if len(parts) != SIDE * SIDE:
        reason = errors.WRONG_PIXEL_COUNT.format(
            path=path, line=line, expected=SIDE * SIDE, found=len(parts)
        )
        return None, reason
    try:
        values = np.array(parts, dtype=np.int64)
    except ValueError:
        return None, errors.BAD_PIXEL_VALUE.format(path=path, line=line)
    if values.min() < 0 or values.max() > 255:
        return None, errors.BAD_PIXEL_VALUE.format(path=path, line=line)
    return values.astype(np.uint8).reshape(SIDE, SIDE), ""
