"""CK+ (Extended Cohn-Kanade): posed sequences from neutral onset to expression peak.

Layout: `cohn-kanade-images/S005/001/S005_001_00000011.png` and, for labelled sequences only,
`Emotion/S005/001/S005_001_00000011_emotion.txt` holding one float such as `3.0000000e+00`
(0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise), named
after the peak frame. Only 327 of 593 sequences carry a label.

What is yielded: ONE sample per sequence, its last (peak) frame. Labelled sequences give the
label from the emotion file (ok); unlabelled ones are yielded too, status ok with no label
(audited label-free), so the accounting shows all 593 rather than silently dropping 266. Onset
frames are not yielded as "neutral": that label would be ours, not the annotators'. Subject is
the `S005` prefix, which matters because each subject posed several sequences (bootstrap by
subject).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emoaudit import errors
from emoaudit.data.base import BAD_INPUT, UNREADABLE, Sample
from emoaudit.data.files import (
    display_path,
    is_image,
    read_small_text,
    sorted_entries,
    subdirs,
    unpacked_root,
)
from emoaudit.errors import DataError
from emoaudit.taxonomy import canonical

NAME = "ckplus"
DESCRIPTION = "CK+: cohn-kanade-images/ + Emotion/ label files; one peak frame per sequence"
PRECROPPED = False

IMAGES_DIR = "cohn-kanade-images"
EMOTION_DIR = "Emotion"
CODES = {
    "0": "neutral",
    "1": "anger",
    "2": "contempt",
    "3": "disgust",
    "4": "fear",
    "5": "happy",
    "6": "sadness",
    "7": "surprise",
}
FRAME_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.(png|jpg|jpeg|bmp|tif|tiff)$", re.IGNORECASE)


def dataset_root(root: Path) -> Path | None:
    base = unpacked_root(root, inner="CK+", marker=str(IMAGES_DIR))
    return base if base is not None and (base / IMAGES_DIR).is_dir() else None


def detect(root: Path) -> bool:
    return dataset_root(root) is not None


def iter_samples(root: Path) -> Iterator[Sample]:
    base = dataset_root(root)
    if base is None:
        raise DataError(
            errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=f"{IMAGES_DIR}/S*/NNN/")
        )
    for subject_dir in subdirs(base / IMAGES_DIR):
        for sequence_dir in subdirs(subject_dir):
            sample = _sequence_sample(base=base, subject_dir=subject_dir, sequence_dir=sequence_dir)
            if sample is not None:
                yield sample


def _sequence_sample(*, base: Path, subject_dir: Path, sequence_dir: Path) -> Sample | None:
    frames = [Path(e.path) for e in sorted_entries(sequence_dir) if is_image(e.name)]
    emotion_dir = base / EMOTION_DIR / subject_dir.name / sequence_dir.name
    emotion_files = sorted(emotion_dir.glob("*_emotion.txt")) if emotion_dir.is_dir() else []
    if not frames and not emotion_files:
        return None  # an empty folder is not a sequence
    seq_id = f"{subject_dir.name}/{sequence_dir.name}"
    if emotion_files:
        label_file = emotion_files[-1]
        frame = sequence_dir / (label_file.name[: -len("_emotion.txt")] + ".png")
        if not frame.is_file():
            frame = next((f for f in frames if f.stem == frame.stem), frame)
    else:
        label_file, frame = None, frames[-1]
    sample = Sample(
        sample_id=display_path(frame, base / IMAGES_DIR),
        dataset=NAME,
        subject_id=subject_dir.name,
        path=str(frame),
    )
    match = FRAME_NAME.match(frame.name)
    if match:
        sample.subject_id = match.group(1)
    if label_file is None:  # no emotion file: audited label-free (status ok, label None)
        sample.reason = errors.UNLABELLED_SEQUENCE.format(path=seq_id)
        return sample
    _apply_label(sample, label_file)
    if sample.status != BAD_INPUT and not frame.is_file():
        sample.status, sample.label, sample.path = UNREADABLE, None, None
        sample.reason = errors.MISSING_IMAGE.format(path=frame, ref=label_file)
    return sample


def _apply_label(sample: Sample, label_file: Path) -> None:
    try:
        text = read_small_text(label_file).strip()
        value = float(text)
        code = str(int(value)) if value.is_integer() else text
    except (OSError, UnicodeDecodeError, ValueError):
        sample.status = BAD_INPUT
        sample.reason = errors.BAD_ROW.format(
            path=label_file, line=1, what="expected one number such as 3.0000000e+00"
        )
        return
    sample.raw_label = code
    name = CODES.get(code)
    if name is None:
        sample.status = BAD_INPUT
        sample.reason = errors.unknown_label(
            path=label_file, line=1, label=text, dataset="CK+", known=CODES
        )
        return
    sample.label = canonical(name)
