"""FairFace: `fairface_label_train.csv` / `fairface_label_val.csv` (columns file, age, gender,
race, service_test) beside the `train/` and `val/` image folders, with no expression label:
audited label-free by age, gender and race.

The csv names each image relative to the dataset root (`val/1.jpg`); the split is the csv's
(train or val). Age is already a band ("20-29", "more than 70"); race has 7 values (White, Black,
Latino_Hispanic, East Asian, Southeast Asian, Indian, Middle Eastern). Images are face crops with
a margin (padding 0.25 or 1.25), so faces are still detected. A row whose image is missing (or
is a folder or device) is `unreadable` with file:line; a row without `file` is `bad_input`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, UNREADABLE, Sample
from emoaudit.data.files import BAD_RECORD, iter_csv, no_line_break
from emoaudit.errors import DataError

NAME = "fairface"
DESCRIPTION = "FairFace: fairface_label_{train,val}.csv + train/ val/ images (label-free)"
PRECROPPED = False

CSV_FILES = (("val", "fairface_label_val.csv"), ("train", "fairface_label_train.csv"))
ATTRIBUTES = ("age", "gender", "race")


def _csvs(root: Path) -> list[tuple[str, Path]]:
    if root.is_file():
        return [(s, root) for s, name in CSV_FILES if root.name == name]
    return [(s, root / name) for s, name in CSV_FILES if (root / name).is_file()]


def detect(root: Path) -> bool:
    return bool(_csvs(root))


def iter_samples(root: Path) -> Iterator[Sample]:
    tables = _csvs(root)
    if not tables:
        raise DataError(
            errors.EMPTY_DATASET.format(
                path=root, fmt=NAME, expected="fairface_label_val.csv or fairface_label_train.csv"
            )
        )
    for split, path in tables:
        for line, row in iter_csv(path, required=("file",), spanning=no_line_break):
            yield _sample(row, split=split, base=path.parent, where=f"{path}:{line}")


def _sample(row: dict[str, str], *, split: str, base: Path, where: str) -> Sample:
    rel = row.get("file", "").strip()
    sample = Sample(sample_id=rel or where, dataset=NAME, split=split)
    if row.get(BAD_RECORD):  # cells that do not line up with the header: never guessed at
        sample.status, sample.reason = BAD_INPUT, row[BAD_RECORD]
        return sample
    sample.attributes = {a: row[a].strip() for a in ATTRIBUTES if row.get(a, "").strip()}
    if not rel:
        sample.status, sample.reason = BAD_INPUT, f"{where}: empty 'file' field"
        return sample
    image = base / rel
    if not image.is_file():
        sample.status = UNREADABLE
        if image.exists():  # a folder or device: there, but not an image file
            sample.reason = errors.NOT_A_FILE.format(path=image, ref=where)
        else:
            sample.reason = errors.MISSING_IMAGE.format(path=image, ref=where)
        return sample
    sample.path = str(image)
    return sample
