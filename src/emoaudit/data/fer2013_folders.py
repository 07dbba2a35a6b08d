"""FER2013 exported to images: `train|test/<class>/{Training,PublicTest,PrivateTest}_<id>.jpg`.

This is the popular Kaggle re-upload. Its folders sort as angry, disgust, fear, happy, neutral,
sad, surprise, which is not the csv code order (neutral is 6 there), so a loader that maps
folder index to code mislabels neutral, sad and surprise. Classes are mapped by folder NAME.
The split comes from the file-name prefix (it keeps PublicTest apart from PrivateTest, both
under test/); the parent train/test folder is the fallback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import Sample
from emoaudit.data.files import FER2013_USAGES, subdirs, walk_images
from emoaudit.errors import DataError

NAME = "fer2013-folders"
DESCRIPTION = "FER2013 as images: train|test/<class>/{Training,PublicTest,PrivateTest}_<id>.jpg"
PRECROPPED = True

SPLIT_DIRS = ("train", "test")
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
_PREFIX = re.compile("^(" + "|".join(FER2013_USAGES) + ")_")


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    for split_dir in (root / name for name in SPLIT_DIRS):
        if not split_dir.is_dir():
            continue
        classes = subdirs(split_dir)
        if classes and all(c.name.lower() in CLASS_NAMES for c in classes):
            image = next(walk_images(classes[0]), None)
            return image is not None and bool(_PREFIX.match(image.name))
    return False


def iter_samples(root: Path) -> Iterator[Sample]:
    split_dirs = [root / name for name in SPLIT_DIRS if (root / name).is_dir()]
    if not split_dirs:
        raise DataError(
            errors.EMPTY_DATASET.format(
                path=root, fmt=NAME, expected="train/ and test/ folders of <class>/ folders"
            )
        )
    from emoaudit.data.folders import class_folder_samples

    for split_dir in split_dirs:
        for class_dir in subdirs(split_dir):
            for sample in class_folder_samples(
                root=root, split=split_dir.name, class_dir=class_dir, dataset=NAME
            ):
                match = _PREFIX.match(os.path.basename(sample.path or sample.sample_id))
                if match:  # the usage in the file name; else the train/test folder
                    sample.split = match.group(1)
                sample.precropped = True
                yield sample
