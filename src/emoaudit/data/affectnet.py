"""AffectNet, in its two distributed layouts.

1. The original release: `Manually_Annotated_file_lists/{training,validation}.csv` with
   `subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,
   valence,arousal`, images under `Manually_Annotated_Images/<subDirectory_filePath>`. Codes:
   0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt, 8 none,
   9 uncertain, 10 no-face (8-10 are kept as ``unmapped_label``). Valence and arousal lie in
   [-1, 1]; -2 means not annotated and is omitted. Images are whole web photos: the annotated
   face box goes to ``Sample.face_box`` so a cropper can skip detection.
2. The later cropped release: `{train,val}_set/images/<n>.jpg` with
   `{train,val}_set/annotations/<n>_exp.npy` (and `_val.npy`, `_aro.npy`), same codes.

Image folders are looked up next to the csv, one level up, and inside a `Manually_Annotated/`
folder (how the archives unpack), so pointing at either the csv or the dataset folder works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.files import (
    BAD_RECORD,
    csv_header,
    display_path,
    iter_csv,
    no_line_break,
    read_small_bytes,
    sorted_entries,
)
from emoaudit.errors import DataError
from emoaudit.taxonomy import canonical

NAME = "affectnet"
DESCRIPTION = "AffectNet: training/validation csv + Manually_Annotated_Images, or *_set/ folders"
PRECROPPED = False

CODES = {
    "0": "neutral",
    "1": "happy",
    "2": "sad",
    "3": "surprise",
    "4": "fear",
    "5": "disgust",
    "6": "anger",
    "7": "contempt",
    "8": "none",
    "9": "uncertain",
    "10": "no-face",
}
REQUIRED = ("subDirectory_filePath", "expression")
CSV_DIRS = (".", "Manually_Annotated_file_lists", "Automatically_Annotated_file_lists")
IMAGE_DIRS = (
    "Manually_Annotated_Images",
    "Manually_Annotated/Manually_Annotated_Images",
    "Automatically_Annotated_Images",
    "Automatically_Annotated/Automatically_Annotated_Images",
)
SET_DIRS = ("train_set", "val_set", "test_set")
MISSING_TARGET = -2.0


def annotation_csvs(root: Path) -> list[Path]:
    """AffectNet csv files: `root` itself, or csv files in `root` and its file-list folders."""
    if root.is_file():
        return [root] if set(REQUIRED) <= set(csv_header(root)) else []
    found = []
    for sub in CSV_DIRS:
        folder = root / sub
        if folder.is_dir():
            for entry in sorted_entries(folder):
                if entry.name.lower().endswith(".csv") and set(REQUIRED) <= set(
                    csv_header(Path(entry.path))
                ):
                    found.append(Path(entry.path))
    return found


def _set_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [root / s for s in SET_DIRS if (root / s / "annotations").is_dir()]


def detect(root: Path) -> bool:
    return bool(annotation_csvs(root)) or bool(_set_dirs(root))


def iter_samples(root: Path) -> Iterator[Sample]:
    csvs, sets = annotation_csvs(root), _set_dirs(root)
    if not csvs and not sets:
        raise DataError(
            errors.EMPTY_DATASET.format(
                path=root, fmt=NAME, expected="training.csv/validation.csv or train_set/ folders"
            )
        )
    for path in csvs:
        yield from _iter_csv(path)
    for set_dir in sets:
        yield from _iter_set(set_dir)


def split_from_name(name: str) -> str:
    lowered = name.lower()
    for key, split in (("train", "train"), ("valid", "val"), ("val", "val"), ("test", "test")):
        if key in lowered:
            return split
    return lowered


def image_bases(csv_path: Path) -> list[Path]:
    """Folders that may hold `subDirectory_filePath`, most likely first."""
    here = csv_path.parent
    bases = [here / d for d in IMAGE_DIRS] + [here.parent / d for d in IMAGE_DIRS]
    return [b for b in bases if b.is_dir()] + [here]


def _iter_csv(path: Path) -> Iterator[Sample]:
    split = split_from_name(path.stem)
    bases = image_bases(path)
    for line, row in iter_csv(path, required=REQUIRED, spanning=no_line_break):
        rel = row["subDirectory_filePath"].strip()
        sample = Sample(sample_id=rel or f"{path.name}:{line}", dataset=NAME, split=split)
        if row.get(BAD_RECORD):  # cells that do not line up with the header: never guessed at
            sample.status, sample.reason = BAD_INPUT, row[BAD_RECORD]
            yield sample
            continue
        label_code(sample, row["expression"], where=f"{path}:{line}")
        sample.targets = targets(row.get("valence", ""), row.get("arousal", ""))
        sample.face_box = face_box(row)
        image = next((b / rel for b in bases if (b / rel).is_file()), None)
        if image is None:
            sample.status, sample.label = UNREADABLE, None
            there = next((b / rel for b in bases if rel and (b / rel).exists()), None)
            if there is not None:  # a folder or device: there, but not an image file
                sample.reason = errors.NOT_A_FILE.format(path=there, ref=f"{path}:{line}")
            else:
                shown = bases[0] / rel if rel else "(empty path)"
                sample.reason = errors.MISSING_IMAGE.format(path=shown, ref=f"{path}:{line}")
        else:
            sample.path = str(image)
        yield sample


def label_code(sample: Sample, code: str, *, where: str) -> None:
    code = code.strip()
    sample.raw_label = code
    name = CODES.get(code)
    if name is None:
        path, line = where.rsplit(":", 1)
        sample.status = BAD_INPUT
        sample.reason = errors.unknown_label(
            path=path, line=line, label=code, dataset="AffectNet", known=CODES
        )
        return
    sample.label = canonical(name)
    if sample.label is None:
        sample.status = UNMAPPED_LABEL
        sample.reason = errors.NOT_AN_EXPRESSION.format(
            where=where, label=f"{code} {name}", why="AffectNet codes 8-10 are not expressions"
        )


def targets(valence: str, arousal: str) -> dict[str, float]:
    out = {}
    for key, text in (("valence", valence), ("arousal", arousal)):
        try:
            value = float(str(text).strip())
        except ValueError:
            continue
        if value != MISSING_TARGET:
            out[key] = value
    return out


def face_box(row: dict[str, str]) -> tuple[int, int, int, int] | None:
    try:
        x, y, w, h = (int(float(row[k])) for k in ("face_x", "face_y", "face_width", "face_height"))
    except (KeyError, ValueError):
        return None
    return (x, y, x + w, y + h) if w > 0 and h > 0 else None


def _iter_set(set_dir: Path) -> Iterator[Sample]:
    split = split_from_name(set_dir.name)
    annotations = set_dir / "annotations"
    images = set_dir / "images"
    for entry in sorted_entries(images) if images.is_dir() else []:
        stem = entry.name.rsplit(".", 1)[0]
        sample = Sample(
            sample_id=display_path(Path(entry.path), set_dir.parent),
            dataset=NAME,
            split=split,
            path=entry.path,
            precropped=True,
        )
        exp_file = annotations / f"{stem}_exp.npy"
        code, problem = npy_number(exp_file, what="expression annotation", integer=True)
        found = {}
        for key in ("val", "aro"):
            path = annotations / f"{stem}_{key}.npy"
            if problem or not path.exists():  # valence/arousal are optional; broken is not
                continue
            found[key], problem = npy_number(path, what=f"{TARGET_NAMES[key]} annotation")
        if problem:
            sample.status, sample.reason = BAD_INPUT, problem
            yield sample
            continue
        label_code(sample, code, where=f"{exp_file}:1")
        sample.targets = targets(found.get("val", ""), found.get("aro", ""))
        yield sample


TARGET_NAMES = {"val": "valence", "aro": "arousal"}
NPY_MAGIC = b"\x93NUMPY"
NPY_EXPECTED = "expected a .npy file holding one number"
NPY_MAX_BYTES = 1 << 16  # one number is ~130 bytes; a large file is not an annotation


def npy_number(path: Path, *, what: str, integer: bool = False) -> tuple[str, str]:
    """(the number as text, "") from a one-number .npy annotation, or ("", a one-line reason).

    The *_set release stores each annotation as a 0-d .npy array, as a string ('3') or a
    number. np.load would open an .npz archive or unpickle objects and raises EOFError on an
    empty file (the CLI then printed only "Aborted."), so the file is checked here and read
    with allow_pickle=False: whatever is wrong costs this sample, never the run.
    """
    import numpy as np

    def bad(why: str) -> tuple[str, str]:
        why = " ".join(why.split())[:160]
        return "", errors.UNREADABLE_TEXT.format(path=path, what=what, why=f"{why}; {NPY_EXPECTED}")

    try:
        data = read_small_bytes(path, NPY_MAX_BYTES)  # a FIFO named 0_exp.npy hung the run
    except FileNotFoundError:
        return bad("no such file")
    except OSError as exc:
        return bad(exc.strerror or type(exc).__name__)
    except ValueError as exc:
        return bad(str(exc))
    if not data:
        return bad("empty file")
    if data.startswith(b"PK\x03\x04"):
        return bad("an .npz archive, not a .npy array")
    if not data.startswith(NPY_MAGIC):
        return bad("not a .npy file")
    if len(data) > NPY_MAX_BYTES:
        return bad(f"file is over {NPY_MAX_BYTES} bytes")
    try:
        import io

        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            return bad("holds pickled Python objects")
        return bad(f"corrupt .npy: {exc}")
    except (OSError, EOFError) as exc:
        return bad(f"corrupt .npy: {exc or type(exc).__name__}")
    if array.size != 1:
        return bad(f"holds an array of shape {array.shape}")
    if array.dtype.kind not in "iufUS":
        return bad(f"holds a value of type {array.dtype}")
    value = array.reshape(()).item()
    text = (value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)).strip()
    try:
        number = float(text)
    except ValueError:
        return bad(f"holds {text[:40]!r}, not a number")
    if not np.isfinite(number):
        return bad(f"holds {text}")
    if integer:
        if not number.is_integer():
            return bad(f"holds {text}, not a whole-number code")
        return str(int(number)), ""
    return text, ""
