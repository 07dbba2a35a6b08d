"""Pick the dataset format for a path, and open a dataset as a checked stream of Samples.

Detection tries the most specific layouts first: FER+ also contains a fer2013.csv, and almost
anything made of class folders would pass the generic `folders` test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data import DATASETS
from emoaudit.data.base import DatasetAdapter, Sample
from emoaudit.errors import DataError

DETECTION_ORDER: tuple[str, ...] = (
    "ferplus",
    "fer2013",
    "manifest",
    "rafdb",
    "affectnet",
    "ckplus",
    "ckplus48",
    "jaffe",
    "utkface",
    "fairface",
    "fer2013-folders",
)
# the catch-alls, tried last (after any plug-in formats): class folders, then any images
FALLBACKS = ("folders", "images")


def _candidates() -> list[str]:
    plugins = [n for n in DATASETS.names() if n not in DETECTION_ORDER and n not in FALLBACKS]
    return [*DETECTION_ORDER, *plugins, *FALLBACKS]


def _check_exists(root: Path) -> None:
    if not root.exists():
        raise DataError(errors.MISSING_PATH.format(path=root))


def detect_format(root: Path) -> str:
    """Name of the first registered format whose detect(root) is true; DataError if none."""
    root = Path(root)
    _check_exists(root)
    for name in _candidates():
        if name not in DATASETS:
            continue
        adapter: DatasetAdapter = DATASETS.get(name)
        try:
            if adapter.detect(root):
                return name
        except OSError:
            continue
    raise DataError(errors.UNKNOWN_FORMAT.format(path=root, known=", ".join(DATASETS.names())))


def iter_dataset(root: Path, fmt: str | None = None) -> Iterator[Sample]:
    """Samples of `root` read as `fmt` (detected when None); DataError when there are none."""
    root = Path(root)
    _check_exists(root)
    name = fmt or detect_format(root)
    adapter: DatasetAdapter = DATASETS.get(name)
    count = 0
    for sample in adapter.iter_samples(root):
        count += 1
        yield sample
    if count == 0:
        raise DataError(
            errors.EMPTY_DATASET.format(path=root, fmt=name, expected=adapter.DESCRIPTION)
        )
