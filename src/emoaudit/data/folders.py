"""Generic image folders: `<class>/<image>` or `<split>/<class>/<image>`.

The fallback for anything exported as class folders. Class names go through
taxonomy.canonical (so `happiness`, `Happy` and `joy` all mean happy), never through their
sorted position. Folders whose name is not an expression are kept as ``unmapped_label`` with
the folder named in the reason. A top level made only of split names (train, test, val...)
is read as splits. Non-image files are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.files import (
    SPLIT_FOLDERS,
    Skipped,
    display_path,
    first_image,
    subdirs,
    walk_image_paths,
)
from emoaudit.errors import DataError
from emoaudit.taxonomy import CANONICAL, canonical

NAME = "folders"
DESCRIPTION = "Generic <class>/<image> (or <split>/<class>/<image>) folders, classes by name"
PRECROPPED = False


def _class_roots(root: Path) -> list[tuple[str | None, Path]]:
    """(split, folder holding class folders) pairs."""
    top = subdirs(root)
    if top and all(d.name.lower() in SPLIT_FOLDERS for d in top):
        return [(d.name, d) for d in top]
    return [(None, root)]


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    for _, class_root in _class_roots(root):
        for class_dir in subdirs(class_root):
            if canonical(class_dir.name) is not None and first_image(class_dir) is not None:
                return True
    return False


def iter_samples(root: Path) -> Iterator[Sample]:
    if not root.is_dir():
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected="<class>/"))
    found = False
    for split, class_root in _class_roots(root):
        for class_dir in subdirs(class_root):
            for sample in class_folder_samples(root=root, split=split, class_dir=class_dir):
                found = True
                yield sample
    if not found:
        raise DataError(
            errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected="<class>/<image> files")
        )


def class_folder_samples(
    *, root: Path, split: str | None, class_dir: Path, dataset: str = NAME
) -> Iterator[Sample]:
    """A Sample for each image under `class_dir`, labelled by the folder's name (never its sorted
    position); unknown names kept as unmapped. The folder is looked up once: listing is on the
    critical path of an audit of 48x48 faces. A link the walk does not follow (files.py) is an
    ``unreadable`` sample with the reason, so the report counts what was left out."""
    raw_label = class_dir.name
    label = canonical(raw_label)
    for image in walk_image_paths(class_dir):
        sample = Sample(
            sample_id=display_path(image, root),
            dataset=dataset,
            split=split,
            raw_label=raw_label,
            label=label,
            path=image,
        )
        if isinstance(image, Skipped):  # a link not followed, a folder that cannot be listed
            sample.path, sample.status, sample.reason = None, UNREADABLE, image.reason
        elif label is None:
            _unmapped(sample)
        yield sample


def _unmapped(sample: Sample) -> None:
    sample.status = UNMAPPED_LABEL
    sample.reason = errors.UNKNOWN_CLASS_FOLDER.format(
        path=sample.sample_id, label=sample.raw_label, known=", ".join(CANONICAL)
    )
