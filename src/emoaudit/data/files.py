"""Small streaming helpers shared by the dataset adapters.

Every walk is sorted (one directory listing at a time, never the whole tree) so that sample
order, and therefore prediction shards and resume, is the same on every machine.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from emoaudit import errors
from emoaudit.errors import DataError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)

# Folder names that mean a split, not a class, in `<split>/<class>/<image>` trees.
SPLIT_FOLDERS: dict[str, str] = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "val": "val",
    "valid": "val",
    "validation": "val",
}

# FER2013's Usage values, shared by the csv, folder and FER+ layouts.
FER2013_USAGES = ("Training", "PublicTest", "PrivateTest")


def is_image(path: Path | str) -> bool:
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS


def sorted_entries(directory: Path) -> list[os.DirEntry]:
    """One directory's entries, hidden files left out, sorted by name (deterministic order)."""
    with os.scandir(directory) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def subdirs(directory: Path) -> list[Path]:
    return [Path(e.path) for e in sorted_entries(directory) if e.is_dir()]


def walk_images(directory: Path) -> Iterator[Path]:
    """Image files under `directory`, depth first, sorted; one listing in memory at a time."""
    return map(Path, walk_image_paths(directory))


def walk_image_paths(directory: Path | str) -> Iterator[str]:
    """walk_images as plain strings, for adapters that list large folders: building a Path per
    file (parsing and interning its parts) was a third of the time to list FER2013 folders."""
    dirs = []
    for entry in sorted_entries(directory):
        if entry.is_dir():
            dirs.append(entry.path)
        elif entry.is_file() and is_image(entry.name):
            yield entry.path
    for sub in dirs:
        yield from walk_image_paths(sub)


def first_image(directory: Path) -> Path | None:
    return next(walk_images(directory), None)


def find_file(root: Path, names: Iterable[str]) -> Path | None:
    """`root` itself when it is one of `names`, else the first of `names` inside `root`."""
    names = list(names)
    if root.is_file():
        return root if root.name in names else None
    for name in names:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def unpacked_root(root: Path, *, inner: str, marker: str) -> Path | None:
    """`root` or `root/inner` (archives unpack with their own top folder), whichever holds
    `marker`; None when neither does or `root` is not a folder."""
    if not root.is_dir():
        return None
    for candidate in (root, root / inner):
        if (candidate / marker).exists():
            return candidate
    return None


def csv_header(path: Path) -> list[str]:
    """Header names, stripped (icml_face_data.csv writes ' Usage', ' pixels')."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return []
    return [name.strip() for name in row]


def iter_csv(path: Path, *, required: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row by stripped column name) one line at a time.

    Missing required columns is a whole-file problem and raises one DataError; a short or long
    row is per-row and is yielded with missing fields as "" so the adapter can flag it.
    """
    # errors="replace": one badly encoded cell becomes an unknown label on its row, not a crash.
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        header = _checked_header(path, next(reader, []), required)
        for row in reader:
            if row:
                yield reader.line_num, _row_dict(header, row)


def _checked_header(path: Path, names: list[str], required: Iterable[str]) -> list[str]:
    """Column names, stripped; missing required columns are one DataError for the whole file."""
    header = [name.strip() for name in names]
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(
            errors.MISSING_COLUMNS.format(
                path=path, missing=", ".join(missing), expected=",".join(required)
            )
        )
    return header


def _row_dict(header: list[str], row: list[str]) -> dict[str, str]:
    """A short row gets "" for its missing cells (the adapter flags it); extra cells are dropped."""
    if len(row) < len(header):
        row = row + [""] * (len(header) - len(row))
    return dict(zip(header, row, strict=False))


def iter_large_csv(path: Path, *, required: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``iter_csv`` for big files whose cells hold no quotes, such as FER2013's pixel strings.

    The csv module's state machine costs ~40 us on a 9 KB FER2013 row, more than a third of the
    time the model needs for the face; a plain split gives the same cells for a line without a
    quote. A line that has one is read with the csv module (so quoted cells still work); a quoted
    cell spanning several lines, which FER2013 files never have, becomes broken rows that the
    adapter flags with their line numbers.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = _checked_header(path, next(csv.reader([fh.readline()]), []), required)
        for line, text in enumerate(fh, start=2):
            text = text.rstrip("\r\n")
            if text:
                row = next(csv.reader([text])) if '"' in text else text.split(",")
                yield line, _row_dict(header, row)


def display_path(path: Path | str, root: Path) -> str:
    """Path relative to the dataset root (stable sample ids), posix separators."""
    text, prefix = str(path), _root_prefix(root)
    if text.startswith(prefix) and os.sep + ".." not in text:  # pathlib costs ~10 us a file
        return text[len(prefix) :].replace(os.sep, "/")
    path = Path(path)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


@lru_cache(maxsize=64)
def _root_prefix(root: Path) -> str:
    """The root as a string prefix, computed once per dataset rather than once per file."""
    return str(root).rstrip(os.sep) + os.sep
