"""Pick the dataset format for a path, and open a dataset as a checked stream of Samples.

Detection tries the most specific layouts first: FER+ also contains a fer2013.csv, and almost
anything made of class folders would pass the generic `folders` test. A folder holding both
video files and images is refused when it would be read by a catch-all (video, folders,
images): each of those reads one kind, so guessing silently dropped the other.
"""

from __future__ import annotations

import os
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
# formats that read every file of one kind under a folder: a folder mixing kinds is refused
ONE_KIND = ("video", "folders", "images")
MIXED_MEDIA = (
    "{path}: holds both video files (e.g. {video}) and image files (e.g. {image}); --format"
    " video reads only the videos and --format images only the images: pass --format, or put"
    " each kind in its own folder"
)


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
                break
        except OSError:
            continue
    else:
        message = errors.UNKNOWN_FORMAT.format(path=root, known=", ".join(DATASETS.names()))
        raise DataError(f"{message}. {why_not_detected(root)}")
    if name in ONE_KIND:
        mixed = mixed_media(root)
        if mixed:
            raise DataError(mixed)
    return name


def mixed_media(root: Path) -> str | None:
    """MIXED_MEDIA for a folder holding both videos and images, else None. Walks until it has
    seen one of each, so a folder of one kind is listed once (as its adapter will list it
    anyway). Hidden files are skipped as the adapters skip them; .gif, which both the video and
    the image formats read, counts as neither."""
    from emoaudit.data.files import IMAGE_EXTENSIONS, Skipped, walk_paths
    from emoaudit.data.video import VIDEO_SUFFIXES

    if not root.is_dir():
        return None
    kinds = {"video": VIDEO_SUFFIXES - IMAGE_EXTENSIONS, "image": IMAGE_EXTENSIONS - VIDEO_SUFFIXES}
    both = kinds["video"] | kinds["image"]
    first: dict[str, str] = {}
    for path in walk_paths(root, lambda name: os.path.splitext(name)[1].lower() in both):
        if isinstance(path, Skipped):
            continue
        suffix = os.path.splitext(path)[1].lower()
        kind = "video" if suffix in kinds["video"] else "image"
        first.setdefault(kind, os.path.relpath(path, root))
        if len(first) == len(kinds):
            return MIXED_MEDIA.format(path=root, **first)
    return None


# single-file table formats and the columns each needs (as their adapters require them)
TABLE_COLUMNS = {
    "manifest": "emoaudit.data.manifest",
    "fer2013": "emoaudit.data.fer2013",
    "affectnet": "emoaudit.data.affectnet",
}
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
TRIED_TABLE = "Tried {tried}{separator}; the other formats read folders or video files"
TRIED_FOLDER = (
    "Tried {tried}: none matched this folder's layout (`emoaudit datasets list` shows each)"
)
TRIED_FILE = "Tried {tried}: a {suffix} file is none of their inputs (tables: .csv, .parquet)"
SEPARATOR = "; tables must be comma-separated"


def why_not_detected(root: Path) -> str:
    """What detection tried and why each failed, in one line: for a table, the columns each
    table format needs that the header lacks, and a separator that is not a comma."""
    import importlib

    names = [n for n in _candidates() if n in DATASETS]
    if root.is_dir():
        return TRIED_FOLDER.format(tried=", ".join(names))
    if root.suffix.lower() not in TABLE_SUFFIXES:
        return TRIED_FILE.format(tried=", ".join(names), suffix=root.suffix or "suffix-less")
    header, sep = _header(root)
    tried = []
    for name, module in TABLE_COLUMNS.items():
        required = importlib.import_module(module).REQUIRED
        missing = [c for c in required if c not in header]
        if missing:
            tried.append(f"{name} (missing column(s) {', '.join(missing)})")
        elif sep not in ("", ","):
            tried.append(f"{name} (its columns are there, but separated by '{sep}')")
        else:
            tried.append(f"{name} (columns present; --format {name} names the problem)")
    separator = SEPARATOR.format(sep=sep) if sep not in ("", ",") else ""
    return TRIED_TABLE.format(tried=", ".join(tried), separator=separator)


def _header(path: Path) -> tuple[list[str], str]:
    """Column names of a table file and the separator its first line uses."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names), ","
        except Exception:  # noqa: BLE001 - any unreadable file simply has no columns
            return [], ""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            line = fh.readline(1 << 20).strip()  # a file of one endless line: a bounded piece
    except OSError:
        return [], ""
    sep = max((",", ";", "\t", "|"), key=line.count) if line else ""
    sep = sep if line.count(sep) else ""
    return [c.strip().strip('"') for c in line.split(sep or ",")], sep


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
