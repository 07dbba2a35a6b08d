"""CK+48: the widely shared 48x48 face crops of CK+, one folder per expression.

Layout: `<class>/S010_004_00000017.png` with classes anger, contempt, disgust, fear, happy,
sadness, surprise (no neutral). Usually the last three frames of each labelled sequence, so
several near-identical images share a subject and sequence: the subject id (`S010`) is kept
for subject-level resampling. Classes are mapped by folder name; unknown folders are kept as
``unmapped_label``; an image beside the class folders is a ``bad_input`` row, not left out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.files import Skipped, display_path, first_image, subdirs, walk_image_paths
from emoaudit.errors import DataError
from emoaudit.taxonomy import CANONICAL, canonical

NAME = "ckplus48"
DESCRIPTION = "CK+48 crops: <class>/S010_004_00000017.png, 48x48 gray, 7 classes"
PRECROPPED = True

CLASS_NAMES = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
FILE_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.\w+$")
LAYOUT = "<class>/S010_004_00000017.png"


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    classes = subdirs(root)
    if not classes or not all(c.name.lower() in CLASS_NAMES for c in classes):
        return False
    image = first_image(classes[0])
    return image is not None and bool(FILE_NAME.match(image.name))


def iter_samples(root: Path) -> Iterator[Sample]:
    classes = subdirs(root) if root.is_dir() else []
    if not classes:
        raise DataError(
            errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected="<class>/S*_*_*.png")
        )
    from emoaudit.data.folders import stray_samples

    yield from stray_samples(root=root, directory=root, expected=LAYOUT, dataset=NAME)
    for class_dir in classes:
        for image in walk_image_paths(class_dir):
            match = FILE_NAME.match(os.path.basename(image))
            sample = Sample(
                sample_id=display_path(image, root),
                dataset=NAME,
                raw_label=class_dir.name,
                label=canonical(class_dir.name),
                subject_id=match.group(1) if match else None,
                path=str(image),
                precropped=True,
            )
            if isinstance(image, Skipped):  # a link not followed, a folder not listable
                sample.path, sample.status, sample.reason = None, UNREADABLE, image.reason
            elif sample.label is None:
                sample.status = UNMAPPED_LABEL
                sample.reason = errors.UNKNOWN_CLASS_FOLDER.format(
                    path=sample.sample_id, label=class_dir.name, known=", ".join(CANONICAL)
                )
            yield sample
