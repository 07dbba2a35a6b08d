"""UTKFace: face images named `[age]_[gender]_[race]_[date&time].jpg` (the cropped set adds
`.chip.jpg`), with no expression label: audited label-free by age band, gender and race.

Codes as documented by the dataset's authors: gender 0 male, 1 female; race 0 White, 1 Black,
2 Asian, 3 Indian, 4 Others (Hispanic, Latino, Middle Eastern). Age (0-116) is kept as an age
band (`AGE_BANDS`), since a group per year would be below the minimum cell size. A file name
that does not follow the pattern (the dataset has a few) is `bad_input` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, Sample
from emoaudit.data.files import display_path, walk_images
from emoaudit.errors import DataError

NAME = "utkface"
DESCRIPTION = "UTKFace: [age]_[gender]_[race]_[date].jpg, no expression labels (label-free)"
PRECROPPED = False

FILE_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_\d+")
PATTERN_TEXT = "<age>_<gender 0|1>_<race 0-4>_<date>.jpg"
GENDERS = {"0": "male", "1": "female"}
RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}
AGE_BANDS = ((0, 2, "0-2"), (3, 9, "3-9"), (10, 19, "10-19"), (20, 39, "20-39"),
             (40, 59, "40-59"), (60, 200, "60+"))  # fmt: skip


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    first = next(walk_images(root), None)
    return first is not None and bool(FILE_NAME.match(first.name))


def age_band(age: int) -> str:
    return next(name for lo, hi, name in AGE_BANDS if lo <= age <= hi)


def iter_samples(root: Path) -> Iterator[Sample]:
    found = False
    for image in walk_images(root) if root.is_dir() else ():
        found = True
        yield _sample(root, image)
    if not found:
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=PATTERN_TEXT))


def _sample(root: Path, image: Path) -> Sample:
    sample = Sample(sample_id=display_path(image, root), dataset=NAME, path=str(image))
    match = FILE_NAME.match(image.name)
    if not match:
        sample.status = BAD_INPUT
        sample.reason = errors.BAD_FILENAME.format(
            path=sample.sample_id, dataset="UTKFace", pattern=PATTERN_TEXT
        )
        return sample
    age, gender, race = match.groups()
    sample.attributes = {
        "age_band": age_band(int(age)),
        "gender": GENDERS[gender],
        "race": RACES[race],
    }
    return sample
