"""FER2013 exported to images: `train|test/<class>/{Training,PublicTest,PrivateTest}_<id>.jpg`.

This is the popular Kaggle re-upload. Its folders sort as angry, disgust, fear, happy, neutral,
sad, surprise, which is not the csv code order (neutral is 6 there), so a loader that maps
folder index to code mislabels neutral, sad and surprise. Classes are mapped by folder NAME.
The split comes from the file-name prefix (it keeps PublicTest apart from PrivateTest, both
under test/); the split folder is the fallback. Re-splits add a `val/` (or `valid/`,
`validation/`) folder, read as a split too: it was once ignored whole, and the audit still
exited 0. Any image outside `<split>/<class>/` is a ``bad_input`` row saying where it should be.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import Sample
from emoaudit.data.files import FER2013_USAGES, SPLIT_FOLDERS, subdirs, walk_images
from emoaudit.errors import DataError

NAME = "fer2013-folders"
DESCRIPTION = (
    "FER2013 as images: train|test[|val]/<class>/{Training,PublicTest,PrivateTest}_<id>.jpg"
)
PRECROPPED = True

# Split folder names, lower case; any case is read (a `Train/` folder is the same split).
SPLIT_DIRS = tuple(SPLIT_FOLDERS)
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
LAYOUT = "train|test|val/<class>/<Usage>_<id>.jpg"
_PREFIX = re.compile("^(" + "|".join(FER2013_USAGES) + ")_")


_SPLIT_ORDER = ("train", "test", "val")


def _split_dirs(root: Path) -> list[Path]:
    """Split folders in the order train, test, val (sample order, and so shards, as before
    val was read), then by name."""
    found = [d for d in subdirs(root) if d.name.lower() in SPLIT_DIRS]
    return sorted(found, key=lambda d: (_SPLIT_ORDER.index(SPLIT_FOLDERS[d.name.lower()]), d.name))


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    for split_dir in _split_dirs(root):
        classes = subdirs(split_dir)
        if classes and all(c.name.lower() in CLASS_NAMES for c in classes):
            image = next(walk_images(classes[0]), None)
            return image is not None and bool(_PREFIX.match(image.name))
    return False


def iter_samples(root: Path) -> Iterator[Sample]:
    split_dirs = _split_dirs(root) if root.is_dir() else []
    if not split_dirs:
        raise DataError(
            errors.EMPTY_DATASET.format(
                path=root, fmt=NAME, expected="train/ and test/ folders of <class>/ folders"
            )
        )
    from emoaudit.data.folders import class_folder_samples, stray_samples

    yield from stray_samples(root=root, directory=root, expected=LAYOUT, dataset=NAME)
    for other in subdirs(root):  # a folder beside the splits: none of its images has a split
        if other not in split_dirs:
            yield from stray_samples(
                root=root, directory=other, expected=LAYOUT, dataset=NAME, recursive=True
            )
    for split_dir in split_dirs:
        yield from stray_samples(
            root=root, directory=split_dir, split=split_dir.name, expected=LAYOUT, dataset=NAME
        )
        for class_dir in subdirs(split_dir):
            for sample in class_folder_samples(
                root=root, split=split_dir.name, class_dir=class_dir, dataset=NAME
            ):
                match = _PREFIX.match(os.path.basename(sample.path or sample.sample_id))
                if match:  # the usage in the file name; else the split folder
                    sample.split = match.group(1)
                sample.precropped = True
                yield sample
