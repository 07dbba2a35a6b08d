"""JAFFE: 213 posed photos of 10 Japanese women, `KA.HA1.29.tiff` = subject KA, expression HA,
pose 1, image 29.

Expression codes AN, DI, FE, HA, NE, SA, SU. The 256x256 photos include hair and shoulders, so
faces are detected and cropped (not precropped). Several TIFFs are palette images; decoding in
emoaudit.data.images converts through the palette rather than reading indices as gray levels.
The label is in the name, not the file type, so copies converted to PNG or JPEG (common on
dataset mirrors) are read too: they were once left out without a row. A link the walk does not
follow is an ``unreadable`` row, as in the class-folder formats.
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
from emoaudit.taxonomy import canonical

NAME = "jaffe"
DESCRIPTION = "JAFFE: KA.HA1.29.tiff (subject.expression+pose.image), 7 expressions"
PRECROPPED = False

CODES = {
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
# Any image extension (walk_image_paths only yields image names): the name carries the label.
FILE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d*)\.(\d+)\.\w+$", re.IGNORECASE)
PATTERN_TEXT = "<subject>.<AN|DI|FE|HA|NE|SA|SU><n>.<image>.tiff"


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    first = next(walk_images(root), None)
    return first is not None and bool(FILE_NAME.match(first.name))


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
    code = match.group(2).upper() if match else None
    if code not in CODES:
        sample.status = BAD_INPUT
        sample.reason = errors.BAD_FILENAME.format(
            path=sample.sample_id, dataset="JAFFE", pattern=PATTERN_TEXT
        )
        if match:
            sample.subject_id, sample.raw_label = match.group(1).upper(), code
        return sample
    sample.subject_id, sample.raw_label = match.group(1).upper(), code
    sample.label = canonical(CODES[code])
    return sample
