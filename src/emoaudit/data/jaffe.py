"""JAFFE: 213 posed photos of 10 Japanese women, `KA.HA1.29.tiff` = subject KA, expression HA,
pose 1, image 29.

Expression codes AN, DI, FE, HA, NE, SA, SU. The 256x256 photos include hair and shoulders, so
faces are detected and cropped (not precropped). Several TIFFs are palette images; decoding in
emoaudit.data.images converts through the palette rather than reading indices as gray levels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, Sample
from emoaudit.data.files import display_path, walk_images
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
FILE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d*)\.(\d+)\.tiff?$", re.IGNORECASE)
PATTERN_TEXT = "<subject>.<AN|DI|FE|HA|NE|SA|SU><n>.<image>.tiff"


def _tiffs(root: Path) -> Iterator[Path]:
    return (p for p in walk_images(root) if p.suffix.lower() in (".tif", ".tiff"))


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    first = next(_tiffs(root), None)
    return first is not None and bool(FILE_NAME.match(first.name))


def iter_samples(root: Path) -> Iterator[Sample]:
    found = False
    for image in _tiffs(root) if root.is_dir() else ():
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
            path=sample.sample_id, dataset="JAFFE", pattern=PATTERN_TEXT
        )
        return sample
    subject, code = match.group(1).upper(), match.group(2).upper()
    sample.subject_id, sample.raw_label = subject, code
    if code not in CODES:
        sample.status = BAD_INPUT
        sample.reason = errors.BAD_FILENAME.format(
            path=sample.sample_id, dataset="JAFFE", pattern=PATTERN_TEXT
        )
        return sample
    sample.label = canonical(CODES[code])
    return sample
