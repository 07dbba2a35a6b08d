"""Small streaming helpers shared by the dataset adapters.

Every walk is sorted (one directory listing at a time, never the whole tree) so that sample
order, and therefore prediction shards and resume, is the same on every machine.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from emoaudit import errors
from emoaudit.data.base import UNREADABLE, Sample
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


def sorted_entries(directory: Path | str) -> list[os.DirEntry]:
    """One directory's entries sorted by name (deterministic order), hidden ones left out on
    purpose: names starting with '.' are macOS AppleDouble files (``._face.jpg``, metadata that
    only looks like an image), ``.DS_Store``, ``.git`` and the like, never dataset images
    (docs/datasets.md, "Hidden files")."""
    with os.scandir(directory) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def subdirs(directory: Path) -> list[Path]:
    """Sub-folders, sorted. A folder that cannot be listed is one DataError naming it; an entry
    whose link loops or dangles is no folder."""
    try:
        entries = sorted_entries(directory)
    except OSError as exc:
        raise DataError(errors.UNLISTABLE_FOLDER.format(path=directory, why=_why(exc))) from None
    return [Path(e.path) for e in entries if _is_dir(e)]


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop (ELOOP), a permission problem on the target
        return False


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class Skipped(str):
    """A path the walk did not follow (a link out of its folder, a folder it cannot list),
    with the one-line reason: adapters turn it into an ``unreadable`` sample, so what was left
    out is counted in the report rather than lost."""

    reason: str

    def __new__(cls, path: str, reason: str) -> Skipped:
        obj = super().__new__(cls, path)
        obj.reason = reason
        return obj


def walk_images(directory: Path) -> Iterator[Path]:
    """Image files under `directory`, depth first, sorted; one listing in memory at a time.
    What walk_image_paths skips is left out here (adapters that report it use that one)."""
    return (Path(p) for p in walk_image_paths(directory) if not isinstance(p, Skipped))


def walk_image_paths(directory: Path | str) -> Iterator[str]:
    """walk_images as plain strings, for adapters that list large folders: building a Path per
    file (parsing and interning its parts) was a third of the time to list FER2013 folders.

    Links: a symlinked folder is never entered (``happy/alias -> ../neutral`` counted neutral
    faces again as happy; a link to a parent looped), and a symlinked file is read only when its
    target lies inside `directory`; each link not followed, and each sub-folder that cannot be
    listed, is yielded as a ``Skipped`` path with its reason. Nothing here follows a link out of
    the folder it was asked to walk.
    """
    return walk_paths(directory, is_image)


def walk_paths(directory: Path | str, wanted: Callable[[str], bool]) -> Iterator[str]:
    """walk_image_paths for any kind of file: names `wanted` accepts (videos, for the formats
    that must give a video among photos a row, and the mixed-folder check), by the same walk,
    so no listing of a dataset can hit the recursion limit or follow a link out."""
    top = str(directory)
    yield from _walk(top, os.path.realpath(top) + os.sep, wanted)


def _walk(top: str, inside: str, wanted: Callable[[str], bool] = is_image) -> Iterator[str]:
    """Depth first with an explicit stack of pending sub-folders, not recursion: a tree nested
    1,100 folders deep (hostile or generated) hit Python's recursion limit and ended the run
    with a traceback. Same order as the recursive walk: a folder's files, then each sub-folder
    in full, in name order. A path too long to list is one ``Skipped`` folder like any other."""
    pending: list[Iterator[str]] = [iter((top,))]
    while pending:
        directory = next(pending[-1], None)
        if directory is None:
            pending.pop()
            continue
        dirs: list[str] = []
        yield from _walk_one(directory, inside, dirs, wanted)
        if dirs:
            pending.append(iter(dirs))


def _walk_one(
    directory: str, inside: str, dirs: list[str], wanted: Callable[[str], bool]
) -> Iterator[str]:
    """One folder's wanted files and links; its sub-folders are appended to `dirs` for later."""
    try:
        entries = sorted_entries(directory)
    except OSError as exc:
        yield Skipped(directory, errors.UNLISTABLE_FOLDER.format(path=directory, why=_why(exc)))
        return
    for entry in entries:  # regular files first: they are nearly every entry
        if entry.is_file(follow_symlinks=False):
            if wanted(entry.name):
                yield entry.path
        elif entry.is_dir(follow_symlinks=False):
            dirs.append(entry.path)
        elif entry.is_symlink():
            skipped = _link_problem(entry, inside, wanted)
            if skipped is not None:
                yield skipped
            elif wanted(entry.name):
                yield entry.path


def _link_problem(
    entry: os.DirEntry, inside: str, wanted: Callable[[str], bool] = is_image
) -> Skipped | None:
    """None for a link to a wanted file inside the walked folder; else why it is not followed.
    Links to other names are ignored like any other file not wanted."""
    if _is_dir(entry):
        return Skipped(entry.path, errors.LINKED_FOLDER.format(path=entry.path))
    if not wanted(entry.name):
        return None
    target = os.path.realpath(entry.path)
    if not target.startswith(inside):
        return Skipped(entry.path, errors.LINK_OUTSIDE.format(path=entry.path, target=target))
    if not os.path.isfile(target):  # dangling, or a loop of file links
        return Skipped(entry.path, errors.BROKEN_LINK.format(path=entry.path))
    return None


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
        with open_csv_text(path) as fh:
            row = header_cells(fh)
    except (OSError, UnicodeDecodeError):
        return []
    return [name.strip() for name in row]


def iter_csv(
    path: Path,
    *,
    required: Iterable[str],
    spanning: Callable[[dict[str, str]], str] | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row by stripped column name) one record at a time.

    Missing or repeated columns are a whole-file problem and raise one DataError. A record the
    csv module cannot take (a stray quote, a cell over the csv field limit) or whose cells do
    not match the header (a short row, or a long one with text past the last column: an
    unquoted comma shifts every cell after it into the wrong column) is yielded with its first
    line's cells and ``row[BAD_RECORD]`` set to a one-line reason, never guessed at; reading
    resumes on the next line, so one broken row never costs the rows after it (see
    ``csv_records``). Empty cells past the last column (a trailing comma) are not a problem.
    `spanning`: for formats whose cells are known (manifests, FER2013, FER+, AffectNet,
    FairFace), why a record that spans lines cannot be one (a line break in a column that never
    holds one, a line that reads as a row of its own, a pixel cell without its 2,304 values: a
    stray quote that swallowed the next row), or "" when it can.
    """
    # errors="replace": one badly encoded cell becomes an unknown label on its row, not a crash.
    with open_csv_text(path) as fh:
        header = _checked_header(path, header_cells(fh), required)
        width = len(header)
        check = None if spanning is None else (lambda cells: spanning(_row_dict(header, cells)))
        records = csv_records(bounded_lines(fh, start=2), width=width, spanning=check)
        for line, cells, problem in records:
            if not problem and len(cells) != width:
                problem = width_problem(cells, width)
            row = _row_dict(header, cells)
            if problem:
                row[BAD_RECORD] = errors.BAD_ROW.format(path=path, line=line, what=problem)
            yield line, row


WRONG_WIDTH = "{found} cells where the header has {expected} (an unquoted comma in a cell?)"


LINE_BREAK_IN = "puts a line break in the '{column}' column, which never holds one"


def line_break_in(row: dict[str, str], columns: Iterable[str]) -> str:
    """For `spanning`: the first of `columns` whose cell holds a line break, as a problem."""
    for name in columns:
        cell = row.get(name, "")
        if "\n" in cell or "\r" in cell:
            return LINE_BREAK_IN.format(column=name)
    return ""


def no_line_break(row: dict[str, str]) -> str:
    """For `spanning` in tables of names, codes and numbers (AffectNet, FairFace, outputs):
    no column holds a line break, so a record spanning lines is always a stray quote."""
    return line_break_in(row, [name for name in row if name != BAD_RECORD])


SWALLOWED_ROW = "holds a line that reads as a row of its own ('{line}')"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what the csv module breaks on; not U+2028


def swallowed_row(row: dict[str, str]) -> str:
    """For `spanning`: a line inside a quoted cell whose first field names an image file
    (`b.png,sad,...`) is a row that a stray quote swallowed, not text a cell holds."""
    for cell in row.values():
        for text in _LINE_BREAK.split(cell)[1:] if isinstance(cell, str) else ():
            if is_image(text.split(",", 1)[0].strip().strip('"')):
                return SWALLOWED_ROW.format(line=errors.one_line(text)[:60])
    return ""


def width_problem(cells: list[str], width: int) -> str:
    """Why a record's cells do not line up with the header, or "" when they do."""
    if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
        return ""
    return WRONG_WIDTH.format(found=len(cells), expected=width)


# Key of a row dict that holds why the record is malformed; never a real column name (NUL).
BAD_RECORD = "\x00bad_record"
# A quoted cell may hold line breaks, but one record spanning more lines than this is a stray
# quote swallowing the rows after it (a manifest note `"he said hi` ate 100 rows, issue 15).
MAX_RECORD_LINES = 16
UNBALANCED_QUOTE = (
    "unbalanced quote: the record does not end within {lines} "
    '(a stray " in a cell?); the row is skipped, the lines after it are read as rows'
)
SPANNING = (
    'a quoted cell spans {lines} lines and {what} (a stray " in a cell?); the lines after it'
    " are read as rows"
)
QUOTED_WIDTH = (
    "a quoted cell spans {lines} lines and the record has {found} cells, not {expected} "
    '(a stray " in a cell?); the lines after it are read as rows'
)


def open_csv_text(path: Path):  # noqa: ANN201 - a text file object
    """A csv file as text: UTF-8 (BOM or not), or UTF-16 when it starts with a UTF-16 BOM
    (Excel's "Unicode text"); undecodable bytes become U+FFFD on their row, never a crash."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    encoding = "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    return open(path, newline="", encoding=encoding, errors="replace")


def header_cells(fh) -> list[str]:  # noqa: ANN001 - a text file object
    """The first line's cells; a header never spans lines, a broken one is read leniently. A
    header over MAX_LINE_CHARS is read no further: its columns are then missing."""
    text = fh.readline(MAX_LINE_CHARS)
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return text.rstrip("\r\n").split(",")


MAX_LINE_CHARS = 16 << 20  # a longer line is reported, not held: ~1,800 FER2013 rows' worth
LINE_TOO_LONG = "line longer than {limit:,} characters, not read (a file of one endless line?)"


SMALL_TEXT_BYTES = 64 * 1024  # an annotation file of a few numbers or words


def read_small_text(path: Path | str, limit: int = SMALL_TEXT_BYTES) -> str:
    """A small annotation file (a CK+ emotion code, RAF-DB attributes) as UTF-8 text.

    ValueError for anything that is not a regular file of at most `limit` bytes, read no
    further: read_text() held a file of any size whole, and waited forever on a FIFO named
    like an annotation. OSError and UnicodeDecodeError as read_text() raises them.
    """
    data = read_small_bytes(path, limit)
    if len(data) > limit:
        raise ValueError(f"{path}: over {limit} bytes")
    return data.decode("utf-8")


def read_small_bytes(path: Path | str, limit: int) -> bytes:
    """At most limit + 1 bytes of a regular file (the caller tells "too large" from the
    length), opened without blocking: IsADirectoryError for a folder (as open() raises it),
    ValueError for a FIFO, device or socket."""
    import errno
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise ValueError("a FIFO, device or socket, not a file")
        parts, left = [], limit + 1
        while left and (part := os.read(fd, left)):
            parts.append(part)
            left -= len(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def bounded_lines(
    fh,  # noqa: ANN001 - a text or binary file object
    *,
    start: int = 1,
    limit: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """(number, line) for each line of a text or binary file; None for a line over `limit`
    (default MAX_LINE_CHARS), whose rest is skipped a bounded piece at a time. Iterating a file
    holds a whole line, and a file of one endless line (no line break in gigabytes) held all."""
    limit = MAX_LINE_CHARS if limit is None else limit
    ends = ("\n", "\r", b"\n")
    number, carry = start, None
    while line := carry if carry is not None else fh.readline(limit + 1):
        carry, whole = None, not (len(line) > limit and line[-1:] not in ends)
        while not whole and line and line[-1:] not in ends:  # skip the rest in pieces
            line = fh.readline(limit)
        if line[-1:] == "\r":  # text: a piece may end between the \r and \n of one break
            after = fh.readline(limit + 1)
            if after == "\n":
                line += after
            else:
                carry = after
        yield number, line if whole else None
        number += 1


def csv_records(
    lines: Iterator[tuple[int, str | None]],
    *,
    width: int,
    max_lines: int = MAX_RECORD_LINES,
    spanning: Callable[[list[str]], str] | None = None,
) -> Iterator[tuple[int, list[str], str]]:
    """(first line number, cells, problem) for each non-blank record of numbered text lines.

    Blank lines, and lines of nothing but spaces or tabs, are not records: a stray line of
    spaces made one, and FER+, which joins two files by record position, then paired every
    later row with the wrong face.
    A line without a quote is split on commas (what the csv module gives for it, at a fraction of
    the cost). A line with a quote is parsed strictly; while its quoted cell is still open the
    next line is added, up to `max_lines`. A record that never closes, or that closes across
    lines with a cell count other than `width`, or that the csv module refuses (a cell over its
    field limit, text after a closing quote), is yielded with the first line split on commas and
    a problem, and the lines it had taken are read again as records of their own. So is one
    that closes across lines with cells `spanning` finds wrong (it returns why, or "").
    A line None (over the length limit, bounded_lines) is a record of no cells and a problem.
    """
    pending: deque[tuple[int, str]] = deque()
    while True:
        if pending:
            line, text = pending.popleft()
        else:
            nxt = next(lines, None)
            if nxt is None:
                return
            line, text = nxt
        if text is None:
            yield line, [], LINE_TOO_LONG.format(limit=MAX_LINE_CHARS)
            continue
        if '"' not in text:
            text = text.rstrip("\r\n")
            if text and not text.isspace():  # a line of spaces is blank, not a record
                yield line, text.split(","), ""
            continue
        group = [text]
        while True:
            cells, problem = _parse_record(
                group, width=width, max_lines=max_lines, spanning=spanning
            )
            if problem != _OPEN:
                break
            nxt = pending.popleft() if pending else next(lines, None)
            if nxt is None or nxt[1] is None:  # the end, or a line too long to join
                if nxt is not None:
                    pending.appendleft(nxt)
                cells, problem = None, UNBALANCED_QUOTE.format(lines=_lines(len(group)))
                break
            group.append(nxt[1])
        if problem:
            pending.extendleft(reversed([(line + k, t) for k, t in enumerate(group[1:], 1)]))
            yield line, text.rstrip("\r\n").split(","), problem
        elif cells:
            yield line, cells, ""


def _lines(n: int) -> str:
    return "1 line" if n == 1 else f"{n} lines"


_OPEN = "open"  # _parse_record: the quoted cell goes on past the last line given


def _parse_record(
    group: list[str],
    *,
    width: int,
    max_lines: int,
    spanning: Callable[[list[str]], str] | None,
) -> tuple[list[str] | None, str]:
    try:
        cells = next(csv.reader(group, strict=True), [])
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return None, f"malformed csv record ({exc})"
        if len(group) >= max_lines:
            return None, UNBALANCED_QUOTE.format(lines=_lines(max_lines))
        return None, _OPEN
    if len(group) > 1 and len(cells) != width:
        return None, QUOTED_WIDTH.format(lines=len(group), found=len(cells), expected=width)
    if len(group) > 1 and spanning is not None and (what := spanning(cells)):
        return None, SPANNING.format(lines=len(group), what=what)
    return cells, ""


def _checked_header(path: Path, names: list[str], required: Iterable[str]) -> list[str]:
    """Column names, stripped; missing required columns, or a name given twice (whichever
    copy were read, the other's values would be silently lost), are one DataError for the
    whole file."""
    header = [name.strip() for name in names]
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(
            errors.MISSING_COLUMNS.format(
                path=path, missing=", ".join(missing), expected=",".join(required)
            )
        )
    repeated = [name for name, n in Counter(header).items() if n > 1 and name]
    if repeated:
        raise DataError(errors.REPEATED_COLUMNS.format(path=path, names=", ".join(repeated)))
    return header


def _row_dict(header: list[str], row: list[str]) -> dict[str, str]:
    """A short row gets "" for its missing cells (the adapter flags it); extra cells are dropped."""
    if len(row) < len(header):
        row = row + [""] * (len(header) - len(row))
    return dict(zip(header, row, strict=False))


def walked_sample(image: str, root: Path, dataset: str) -> Sample:
    """A Sample for a path the walk yielded, its id relative to `root`. A ``Skipped`` path (a link
    not followed out of the folder, dangling or looping; a folder that cannot be listed) is an
    ``unreadable`` row saying why, with no path: it is never read."""
    sample = Sample(sample_id=display_path(image, root), dataset=dataset, path=image)
    if isinstance(image, Skipped):
        sample.path, sample.status, sample.reason = None, UNREADABLE, image.reason
    return sample


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


class OutsideRoot:
    """Counts the image paths of a run that lie outside the dataset's folder.

    A manifest may name any file the user can read (``../other/x.jpg``, ``/home/...``): that is
    what a manifest is for, and emoaudit reads it without comment. Provenance records how many
    such paths a run read and the first few, so a reviewer sees when an audit reached beyond the
    folder it names. Lexical (``..`` resolved, links not): no system call per sample.
    """

    EXAMPLES = 5

    def __init__(self, data: Path) -> None:
        root = data if data.is_dir() else data.parent
        self.prefixes = tuple({str(root).rstrip(os.sep) + os.sep, os.path.abspath(root) + os.sep})
        self.absolute = os.path.abspath(root) + os.sep
        self.n = 0
        self.examples: list[str] = []

    def note(self, path: str | None) -> None:
        if path is None or (path.startswith(self.prefixes) and ".." not in path):
            return
        if os.path.abspath(path).startswith(self.absolute):
            return
        self.n += 1
        if len(self.examples) < self.EXAMPLES:
            self.examples.append(errors.one_line(path))

    def record(self) -> dict[str, object]:
        return {"root": self.absolute.rstrip(os.sep) or os.sep, "n": self.n,
                "examples": self.examples}  # fmt: skip
