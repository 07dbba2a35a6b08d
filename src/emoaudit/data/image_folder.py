"""A folder of images with no expression labels: audited label-free.

Demographic face sets, a vendor's sample images or one's own photos often have no expression
label at all. Every image below the folder (recursively, hidden files skipped) becomes an `ok`
sample with no label; sub-folder names are kept as the `folder` attribute so a set sorted into
`women/` and `men/` can still be compared ("Who is read how"). Detected only when no sub-folder
is named after an expression (that is the `folders` format).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import Sample
from emoaudit.data.files import display_path, first_image, walk_image_paths, walked_sample
from emoaudit.errors import DataError

NAME = "images"
DESCRIPTION = "Any folder of images without expression labels (audited label-free)"
PRECROPPED = False


def detect(root: Path) -> bool:
    from emoaudit.data import folders

    if not root.is_dir() or first_image(root) is None:
        return False
    return not folders.detect(root)


def iter_samples(root: Path) -> Iterator[Sample]:
    found = False
    for image in walk_image_paths(root) if root.is_dir() else ():
        found = True
        sample_id = display_path(image, root)
        sample = walked_sample(image, root, NAME)  # a link not followed: unreadable, never read
        folder = os.path.dirname(sample_id)
        if folder:
            sample.attributes["folder"] = folder
        yield sample
    if not found:
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected="image files"))
