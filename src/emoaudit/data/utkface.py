"""UTKFace: face images named `[age]_[gender]_[race]_[date&time].jpg` (the cropped set adds
`.chip.jpg`), with no expression label: audited label-free by age band, gender and race.

Codes as documented by the dataset's authors: gender 0 male, 1 female; race 0 White, 1 Black,
2 Asian, 3 Indian, 4 Others (Hispanic, Latino, Middle Eastern). Age (0-116) is kept as an age
band (`AGE_BANDS`), since a group per year would be below the minimum cell size. A file name
that does not follow the pattern (the dataset has a few), or gives an age no person has reached
(over `MAX_AGE`), is `bad_input` with the reason. A link the walk does not follow (out of the
folder, dangling, looping) is an `unreadable` row, as in the class-folder formats.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, UNREADABLE, Sample
from emoaudit.data.files import walk_image_paths, walk_images, walked_sample
from emoaudit.errors import DataError

NAME = "utkface"
DESCRIPTION = "UTKFace: [age]_[gender]_[race]_[date].jpg, no expression labels (label-free)"
PRECROPPED = False

FILE_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_\d+")
PATTERN_TEXT = "<age>_<gender 0|1>_<race 0-4>_<date>.jpg"
GENDERS = {"0": "male", "1": "female"}
RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}
# The oldest documented human lifespan; UTKFace itself stops at 116.
MAX_AGE = 122
AGE_BANDS = ((0, 2, "0-2"), (3, 9, "3-9"), (10, 19, "10-19"), (20, 39, "20-39"),
             (40, 59, "40-59"), (60, MAX_AGE, "60+"))  # fmt: skip
IMPLAUSIBLE_AGE = (
    "{path}: age {age} is over {max_age}, the oldest documented human age (expected {pattern})"
)


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    first = next(walk_images(root), None)
    return first is not None and bool(FILE_NAME.match(first.name))


def age_band(age: int) -> str | None:
    """The band of an age in years; None above `MAX_AGE`.

    A 3-digit age over the limit (`201_0_0_...`, once a crash) is a typo or a forged name, not a
    person: putting it in "60+" would move a face of unknown age into the group whose results
    the audit reports, so the caller makes it `bad_input` instead."""
    return next((name for lo, hi, name in AGE_BANDS if lo <= age <= hi), None)


def iter_samples(root: Path) -> Iterator[Sample]:
    found = False
    for image in walk_image_paths(root) if root.is_dir() else ():
        found = True
        yield _sample(root, image)
    if not found:
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=PATTERN_TEXT))


def _sample(root: Path, image: str) -> Sample:
    sample = walked_sample(image, root, NAME)
    if sample.status == UNREADABLE:  # a link not followed, a folder that cannot be listed
        return sample
    match = FILE_NAME.match(os.path.basename(image))
    band = age_band(int(match.group(1))) if match else None
    if band is None:
        sample.status = BAD_INPUT
        sample.reason = (
            IMPLAUSIBLE_AGE.format(
                path=sample.sample_id, age=match.group(1), max_age=MAX_AGE, pattern=PATTERN_TEXT
            )
            if match
            else errors.BAD_FILENAME.format(
                path=sample.sample_id, dataset="UTKFace", pattern=PATTERN_TEXT
            )
        )
        return sample
    _, gender, race = match.groups()
    sample.attributes = {"age_band": band, "gender": GENDERS[gender], "race": RACES[race]}
    return sample
