"""RAF-DB basic: `EmoLabel/list_patition_label.txt` lines such as `train_00001.jpg 5`.

Codes 1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral (RAF-DB
readme). Aligned 100x100 faces `Image/aligned/train_00001_aligned.jpg` are preferred (and are
precropped); `Image/original/train_00001.jpg` is the fallback and goes through face detection.
`Annotation/manual/train_00001_manu_attri.txt` holds 5 landmark lines then gender, race and
age group, decoded to readable attribute values because group analyses are RAF-DB's point.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, UNREADABLE, Sample
from emoaudit.data.files import bounded_lines, read_small_text, unpacked_root
from emoaudit.errors import DataError
from emoaudit.taxonomy import canonical

NAME = "rafdb"
DESCRIPTION = "RAF-DB basic: EmoLabel/list_patition_label.txt, Image/aligned, manual attributes"
PRECROPPED = True

LIST_FILE = Path("EmoLabel") / "list_patition_label.txt"  # sic: the dataset's own spelling
CODES = {
    "1": "surprise",
    "2": "fear",
    "3": "disgust",
    "4": "happiness",
    "5": "sadness",
    "6": "anger",
    "7": "neutral",
}
GENDER = {"0": "male", "1": "female", "2": "unsure"}
RACE = {"0": "Caucasian", "1": "African-American", "2": "Asian"}
AGE = {"0": "0-3", "1": "4-19", "2": "20-39", "3": "40-69", "4": "70+"}
LANDMARK_LINES = 5
EXPECTED_LINE = "expected '<image name> <code 1-7>'"
NOT_UTF8 = "not UTF-8 text (byte 0x{byte} at column {column}); " + EXPECTED_LINE
MAX_LIST_LINE = 4096  # bytes: a list line is a file name and a digit
LIST_LINE_TOO_LONG = "line longer than {limit:,} bytes, not read; " + EXPECTED_LINE


def _plain_name(name: str) -> bool:
    """An image name is a bare file name: `../x.jpg` or `/etc/x.jpg` would make emoaudit read a
    file outside the dataset folder (a list file is data, not a manifest)."""
    return name not in (".", "..") and "/" not in name and "\\" not in name


def dataset_root(root: Path) -> Path | None:
    """The `basic/` folder: `root` itself or `root/basic` (the archive unpacks with it)."""
    base = unpacked_root(root, inner="basic", marker=str(LIST_FILE))
    return base if base is not None and (base / LIST_FILE).is_file() else None


def detect(root: Path) -> bool:
    return dataset_root(root) is not None


def iter_samples(root: Path) -> Iterator[Sample]:
    base = dataset_root(root)
    if base is None:
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=str(LIST_FILE)))
    list_path = base / LIST_FILE
    try:
        fh = open(list_path, "rb")  # bytes: each line is decoded on its own
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise DataError(
            errors.UNREADABLE_TEXT.format(path=list_path, what="the label list", why=why)
        ) from None
    with fh:
        for line_no, raw in bounded_lines(fh, limit=MAX_LIST_LINE):
            if raw is None:
                line, problem = "", LIST_LINE_TOO_LONG.format(limit=MAX_LIST_LINE)
            else:
                line, problem = _decode_line(raw, first=line_no == 1)
            if problem or line.strip():
                yield _sample(
                    base=base, list_path=list_path, line_no=line_no, line=line, problem=problem
                )


def _decode_line(raw: bytes, *, first: bool) -> tuple[str, str]:
    """(text, problem) for one line of the label list, decoded on its own.

    The list is ASCII in every copy seen, but a hand-edited one may hold a Latin-1 byte (once a
    UnicodeDecodeError that ended the run) or start with a UTF-8 BOM (once glued to the first
    image name, so that image was "not found"). The BOM is dropped; a line that is not UTF-8 is
    a ``bad_input`` row naming the byte, and the lines around it are read as usual. The name is
    not guessed from another encoding: a wrong guess would score a different file.
    """
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        byte = raw[exc.start : exc.start + 1].hex()
        return "", NOT_UTF8.format(byte=byte, column=exc.start + 1)


def _sample(*, base: Path, list_path: Path, line_no: int, line: str, problem: str = "") -> Sample:
    parts = line.split()
    if not problem and (len(parts) != 2 or not _plain_name(parts[0])):
        problem = EXPECTED_LINE
    if problem:
        return Sample(
            sample_id=f"line{line_no}",
            dataset=NAME,
            status=BAD_INPUT,
            reason=errors.BAD_ROW.format(path=list_path, line=line_no, what=problem),
        )
    name, code = parts
    stem = name.rsplit(".", 1)[0]
    sample = Sample(sample_id=name, dataset=NAME, split=stem.split("_", 1)[0], raw_label=code)
    raw_name = CODES.get(code)
    if raw_name is None:
        sample.status = BAD_INPUT
        sample.reason = errors.unknown_label(
            path=list_path, line=line_no, label=code, dataset="RAF-DB basic", known=CODES
        )
        return sample
    sample.label = canonical(raw_name)
    sample.attributes = read_attributes(base / "Annotation" / "manual" / f"{stem}_manu_attri.txt")
    aligned = base / "Image" / "aligned" / f"{stem}_aligned.jpg"
    original = base / "Image" / "original" / name
    if aligned.is_file():
        sample.path, sample.precropped = str(aligned), True
    elif original.is_file():
        sample.path, sample.precropped = str(original), False
    else:
        sample.status, sample.label = UNREADABLE, None
        sample.reason = errors.MISSING_IMAGE.format(path=aligned, ref=f"{list_path}:{line_no}")
    return sample


def read_attributes(path: Path) -> dict[str, str]:
    """gender/race/age from a manual attribute file; {} when absent or malformed (then the
    sample counts in the 'missing' group rather than being thrown away)."""
    try:
        lines = [ln.strip() for ln in read_small_text(path).splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    values = lines[LANDMARK_LINES : LANDMARK_LINES + 3]
    if len(values) != 3:
        return {}
    attributes = {}
    tables = {"gender": GENDER, "race": RACE, "age": AGE}
    for (key, table), value in zip(tables.items(), values, strict=True):
        if value in table:
            attributes[key] = table[value]
    return attributes
