"""FER+ (microsoft/FERPlus): ten crowd votes per FER2013 face, joined to its pixels by row order.

`fer2013new.csv` has the same rows as `fer2013.csv`, in the same order, with the header
`Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF`.
Image names are a running counter that skips rows, not the row index, and rows the taggers
judged not to be faces have an empty Image name: the join is therefore by row position only,
and each pair is checked on Usage so that shuffled files fail loudly per row.

Label rule (stated because FER+ papers use several): the plurality over all ten columns. If
unknown or NF has the most votes (or ties for most) the sample is ``unmapped_label``; a tie
between expressions is ``unmapped_label`` too. The raw votes are kept in ``Sample.votes`` and
the original FER2013 label in ``attributes['fer2013_label']`` for agreement analyses.

Three layouts, as users have them:

1. ``fer2013new.csv`` next to ``fer2013.csv``: joined by row position (above); the original
   FER2013 label is kept.
2. ``fer2013new.csv`` with the PNG folders of generate_training_data.py and no ``fer2013.csv``:
   each row's image is ``<folder for its Usage>/<Image name>``. Sample ids are ``row<N>`` as in
   layout 1, so results of the two compare sample by sample. No original label exists here.
3. The PNG folders alone (``FER2013Train|Valid|Test/label.csv``, no header). Their label.csv has
   11 fields (name, ten votes) as generate_training_data.py writes it, or 12 (name, a face box
   ``"(0, 0, 48, 48)"``, ten votes) as committed in microsoft/FERPlus ``data/``. No original
   label exists here either (the image names cannot be mapped to fer2013.csv rows without
   fer2013new.csv).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

import numpy as np

from emoaudit import errors
from emoaudit.data import fer2013
from emoaudit.data.base import BAD_INPUT, OK, UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.files import BAD_RECORD, csv_header, find_file, iter_csv, line_break_in
from emoaudit.errors import DataError
from emoaudit.taxonomy import canonical

NAME = "ferplus"
DESCRIPTION = "FER+ votes (fer2013new.csv) joined by row order to FER2013 pixels (fer2013.csv)"
PRECROPPED = True

LABELS_CSV = "fer2013new.csv"
EXPRESSION_COLUMNS = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"
)  # fmt: skip
OTHER_COLUMNS = ("unknown", "NF")
VOTE_COLUMNS = EXPRESSION_COLUMNS + OTHER_COLUMNS
REQUIRED = ("Usage", "Image name", *VOTE_COLUMNS)
# FERPlus' generate_training_data.py writes one folder per Usage value.
FOLDERS = {"FER2013Train": "Training", "FER2013Valid": "PublicTest", "FER2013Test": "PrivateTest"}
USAGE_FOLDERS = {usage: folder for folder, usage in FOLDERS.items()}
# label.csv widths: generate_training_data.py writes name + votes; microsoft/FERPlus data/ adds
# the face box as the second field.
LABEL_CSV_WIDTHS = (1 + len(VOTE_COLUMNS), 2 + len(VOTE_COLUMNS))
_FACE_BOX = re.compile(r"^\(\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\s*\)$")
LABEL_CSV_EXPECTED = (
    f'name, optional face box "(x, y, w, h)", then 10 vote counts ({", ".join(VOTE_COLUMNS)})'
)
NO_IMAGE_NAME = (
    "{path}:{line}: no Image name, so generate_training_data.py wrote no PNG for this row"
)


def vote_key(column: str) -> str:
    """Canonical vote key: expression columns to canonical names, unknown/NF to 'unknown'/'nf'."""
    return canonical(column) or column.lower()


def _labels_csv(root: Path) -> Path | None:
    return find_file(root, [LABELS_CSV])


def _png_root(folder: Path) -> Path | None:
    """The folder holding generate_training_data.py's FER2013Train|Valid|Test/ next to the
    votes csv, or None."""
    return folder if any((folder / name).is_dir() for name in FOLDERS) else None


def _folder_layout(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [root / name for name in FOLDERS if (root / name / "label.csv").is_file()]


def detect(root: Path) -> bool:
    path = _labels_csv(root)
    if path is not None:
        return {"Image name", "NF"} <= set(csv_header(path))
    return bool(_folder_layout(root))


def iter_samples(root: Path) -> Iterator[Sample]:
    labels = _labels_csv(root)
    if labels is None:
        folders = _folder_layout(root)
        if not folders:
            raise DataError(
                errors.EMPTY_DATASET.format(
                    path=root, fmt=NAME, expected=f"{LABELS_CSV} next to fer2013.csv"
                )
            )
        for folder in folders:
            yield from _iter_folder(folder)
        return
    pixels_csv = find_file(labels.parent, fer2013.CSV_NAMES)
    if pixels_csv is None:
        png_root = _png_root(labels.parent)
        if png_root is not None:
            yield from _iter_named(labels, png_root)
            return
        looked = ", ".join(str(labels.parent / name) for name in fer2013.CSV_NAMES)
        raise DataError(errors.FERPLUS_NEEDS_FER2013.format(path=labels, looked=looked))
    plus_rows = iter_csv(labels, required=REQUIRED, spanning=_spanning)
    fer_rows = fer2013.iter_rows(pixels_csv)  # as the fer2013 adapter
    for index, (plus, fer) in enumerate(zip_longest(plus_rows, fer_rows)):
        yield _joined_sample(index=index, plus=plus, fer=fer, labels=labels, pixels=pixels_csv)


def _joined_sample(
    *,
    index: int,
    plus: tuple[int, dict[str, str]] | None,
    fer: tuple[int, dict[str, str], np.ndarray | None] | None,
    labels: Path,
    pixels: Path,
) -> Sample:
    sample = Sample(sample_id=f"row{index}", dataset=NAME, precropped=True)
    if plus is None or fer is None:
        path, other, (line, row, *_) = (
            (pixels, labels, fer) if plus is None else (labels, pixels, plus)
        )
        sample.split = row.get("Usage", "").strip() or None
        sample.status = BAD_INPUT
        sample.reason = errors.FERPLUS_MISSING_ROW.format(path=path, line=line, other=other.name)
        return sample
    (plus_line, plus_row), (fer_line, fer_row, face) = plus, fer
    sample.split = plus_row["Usage"].strip() or None
    broken = plus_row.get(BAD_RECORD) or fer_row.get(BAD_RECORD)
    if broken:  # cells that do not line up with the header: never guessed at
        sample.status, sample.reason = BAD_INPUT, broken
        return sample
    fer_usage = fer_row.get("Usage", "").strip()
    if fer_usage and sample.split and fer_usage != sample.split:
        sample.status = BAD_INPUT
        sample.reason = errors.FERPLUS_USAGE_MISMATCH.format(
            path=labels, line=plus_line, plus=sample.split, fer=fer_usage, other=pixels.name
        )
        return sample
    original = fer2013.CODES.get(fer_row["emotion"].strip())
    if original is not None:
        sample.attributes["fer2013_label"] = canonical(original) or original
    apply_votes(sample, [plus_row[c] for c in VOTE_COLUMNS], path=labels, line=plus_line)
    if sample.status != BAD_INPUT:
        array, problem = face, ""
        if array is None:
            array, problem = fer2013.parse_pixels(fer_row["pixels"], path=pixels, line=fer_line)
        if problem:
            sample.status, sample.reason, sample.label = BAD_INPUT, problem, None
        sample.pixels = array
    return sample


def apply_votes(sample: Sample, counts: list[str], *, path: Path, line: int) -> None:
    """Fill votes, raw_label, label and status of `sample` from the ten vote fields."""
    try:
        votes = [int(c.strip()) for c in counts]
        if any(v < 0 for v in votes):
            raise ValueError
    except ValueError:
        sample.status = BAD_INPUT
        sample.reason = errors.BAD_ROW.format(
            path=path,
            line=line,
            what=f"vote counts must be {len(VOTE_COLUMNS)} non-negative integers "
            f"({', '.join(VOTE_COLUMNS)})",
        )
        return
    sample.votes = {vote_key(c): v for c, v in zip(VOTE_COLUMNS, votes, strict=True)}
    top = max(votes)
    winners = [c for c, v in zip(VOTE_COLUMNS, votes, strict=True) if v == top]
    sample.raw_label = "+".join(winners)
    others = [c for c in winners if c in OTHER_COLUMNS]
    if top == 0 or others:
        sample.status = UNMAPPED_LABEL
        sample.reason = errors.FERPLUS_NOT_EXPRESSION.format(
            path=path,
            line=line,
            label=others[0] if others else "no votes",
            votes=top,
            total=sum(votes),
        )
    elif len(winners) > 1:
        sample.status = UNMAPPED_LABEL
        sample.reason = errors.FERPLUS_TIE.format(
            path=path, line=line, labels=", ".join(winners), votes=top
        )
    else:
        sample.label = canonical(winners[0])


def _spanning(row: dict[str, str]) -> str:
    """No column of fer2013new.csv holds a line break: a record spanning lines is a stray
    quote that swallowed the next row, which would shift the join (files.iter_csv)."""
    return line_break_in(row, REQUIRED)


def _iter_named(labels: Path, png_root: Path) -> Iterator[Sample]:
    """fer2013new.csv rows joined to PNGs through `Image name` (a running counter that skips
    rows, so never the row index) in the folder of the row's Usage."""
    for index, (line, row) in enumerate(iter_csv(labels, required=REQUIRED, spanning=_spanning)):
        usage = row["Usage"].strip()
        name = row["Image name"].strip()
        sample = Sample(sample_id=f"row{index}", dataset=NAME, split=usage or None, precropped=True)
        if row.get(BAD_RECORD):  # cells that do not line up with the header: never guessed at
            sample.status, sample.reason = BAD_INPUT, row[BAD_RECORD]
            yield sample
            continue
        apply_votes(sample, [row[c] for c in VOTE_COLUMNS], path=labels, line=line)
        folder = USAGE_FOLDERS.get(usage)
        if sample.status == BAD_INPUT:
            pass
        elif folder is None:
            sample.status, sample.label = BAD_INPUT, None
            sample.reason = errors.BAD_ROW.format(
                path=labels, line=line, what=f"Usage must be one of {', '.join(USAGE_FOLDERS)}"
            )
        elif not name:
            if sample.status == OK:  # votes name an expression but there is no image
                sample.status, sample.label = UNREADABLE, None
                sample.reason = NO_IMAGE_NAME.format(path=labels, line=line)
        else:
            image = png_root / folder / name
            sample.path = str(image)
            if not image.is_file() and sample.status == OK:
                sample.status, sample.label = UNREADABLE, None
                sample.reason = errors.MISSING_IMAGE.format(path=image, ref=f"{labels}:{line}")
        yield sample


def _vote_fields(row: list[str]) -> list[str] | None:
    """The ten vote fields of a label.csv row (11 or 12 fields), None when the row is neither."""
    if len(row) == LABEL_CSV_WIDTHS[0]:
        return row[1:]
    if len(row) == LABEL_CSV_WIDTHS[1] and _FACE_BOX.match(row[1].strip()):
        return row[2:]
    return None


def _iter_folder(folder: Path) -> Iterator[Sample]:
    """`FER2013Train/label.csv` rows: image name, an optional face box, the ten votes."""
    split = FOLDERS[folder.name]
    label_csv = folder / "label.csv"
    with open(label_csv, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        for row in reader:
            if not row:
                continue
            name = row[0].strip()
            sample = Sample(
                sample_id=f"{folder.name}/{name}",
                dataset=NAME,
                split=split,
                path=str(folder / name),
                precropped=True,
            )
            fields = _vote_fields(row)
            if fields is None:
                sample.status = BAD_INPUT
                sample.reason = errors.BAD_ROW.format(
                    path=label_csv, line=reader.line_num, what=LABEL_CSV_EXPECTED
                )
                yield sample
                continue
            apply_votes(sample, fields, path=label_csv, line=reader.line_num)
            if sample.status != BAD_INPUT and not (folder / name).is_file():
                sample.status, sample.label = UNREADABLE, None
                sample.reason = errors.MISSING_IMAGE.format(
                    path=folder / name, ref=f"{label_csv}:{reader.line_num}"
                )
            yield sample
