"""Generic image folders: `<class>/<image>` or `<split>/<class>/<image>`.

The fallback for anything exported as class folders. Class names go through
taxonomy.canonical (so `happiness`, `Happy` and `joy` all mean happy), never through their
sorted position. Folders whose name is not an expression are kept as ``unmapped_label`` with
the folder named in the reason. A top level made only of split names (train, test, val...)
is read as splits. Non-image files are ignored; an image outside any class folder is a
``bad_input`` row (``stray_samples``), never silently left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.files import (
    SPLIT_FOLDERS,
    Skipped,
    display_path,
    first_image,
    is_image,
    sorted_entries,
    subdirs,
    walk_image_paths,
)
from emoaudit.errors import DataError
from emoaudit.taxonomy import CANONICAL, canonical

NAME = "folders"
DESCRIPTION = "Generic <class>/<image> (or <split>/<class>/<image>) folders, classes by name"
PRECROPPED = False

OUTSIDE_CLASS_FOLDER = "{path}: image outside any class folder; expected {expected}"
LAYOUT = "<class>/<image>"
SPLIT_LAYOUT = "<split>/<class>/<image>"


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
    roots = _class_roots(root)
    expected = LAYOUT if roots[0][0] is None else SPLIT_LAYOUT
    if roots[0][1] != root:  # split folders: images beside them have neither split nor class
        for sample in stray_samples(root=root, directory=root, expected=expected):
            found = True
            yield sample
    for split, class_root in roots:
        for sample in stray_samples(
            root=root, directory=class_root, split=split, expected=expected
        ):
            found = True
            yield sample
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


def stray_samples(
    *,
    root: Path,
    directory: Path,
    expected: str,
    split: str | None = None,
    dataset: str = NAME,
    recursive: bool = False,
) -> Iterator[Sample]:
    """A ``bad_input`` Sample for each image directly in `directory` (every image below it when
    `recursive`), where a class folder was expected: such images used to be skipped without a
    row, so an audit could lose files and still exit 0.

    Why ``bad_input`` and not ``unmapped_label``: unmapped rows are still scored label-free, but
    in a labelled layout an image with no class folder is a misplaced file, not a face of an
    unknown expression; scoring it would mix unlabelled rows into a labelled audit. The row is
    counted in the report, never scored, and its reason says where the image should go. Its
    path is left empty so the file is never read (a stray link is not followed either).
    """
    images = walk_image_paths(directory) if recursive else _images_in(directory)
    for image in images:
        sample_id = display_path(image, root)
        reason = OUTSIDE_CLASS_FOLDER.format(path=sample_id, expected=expected)
        if isinstance(image, Skipped):  # a link or unlistable folder: say that instead
            reason = image.reason
        yield Sample(
            sample_id=sample_id,
            dataset=dataset,
            split=split,
            status=UNREADABLE if isinstance(image, Skipped) else BAD_INPUT,
            reason=reason,
        )


def _images_in(directory: Path) -> list[str]:
    """Image names directly in `directory` that are not folders (a folder link is a class
    folder, as subdirs reads it). A folder that cannot be listed gives none here: subdirs
    reports it for the whole dataset."""
    try:
        entries = sorted_entries(directory)
    except OSError:
        return []
    return [e.path for e in entries if is_image(e.name) and not _is_folder(e)]


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a looping link: not a folder
        return False
