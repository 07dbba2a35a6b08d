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
from emoaudit.data.base import UNREADABLE, Sample
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


NOT_AN_IMAGE = (
    "{path}: a video file, not an image; --format images reads only images (audit videos with"
    " --format video)"
)


def iter_samples(root: Path) -> Iterator[Sample]:
    found = False
    for image in walk_image_paths(root) if root.is_dir() else ():
        found = True
        sample = walked_sample(image, root, NAME)  # a link not followed: unreadable, never read
        folder = os.path.dirname(sample.sample_id)
        if folder:
            sample.attributes["folder"] = folder
        yield sample
    videos = _videos(root) if root.is_dir() else []
    if not found:
        hint = "; it holds video files: --format video reads them" if videos else ""
        expected = "image files" + hint
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=expected))
    for video in videos:
        sample_id = display_path(video, root)
        reason = NOT_AN_IMAGE.format(path=errors.one_line(sample_id))
        yield Sample(sample_id=sample_id, dataset=NAME, status=UNREADABLE, reason=reason)


def _videos(root: Path) -> list[str]:
    """Video files under `root` (hidden names skipped, as the image walk skips them), so that
    each gets a row saying it was not read: a clip left among photos is not silently lost, as
    --format video gives each photo among clips a row. GIF is read as an image here."""
    from emoaudit.data.files import IMAGE_EXTENSIONS, Skipped, walk_paths
    from emoaudit.data.video import VIDEO_SUFFIXES

    suffixes = VIDEO_SUFFIXES - IMAGE_EXTENSIONS

    def is_video(name: str) -> bool:
        return os.path.splitext(name)[1].lower() in suffixes

    return [p for p in walk_paths(root, is_video) if not isinstance(p, Skipped)]
