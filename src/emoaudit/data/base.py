"""The Sample record every dataset adapter yields, and the adapter contract.

An adapter is a module with ``NAME``, ``DESCRIPTION``, ``PRECROPPED`` (faces already cropped:
skip detection), ``detect(root) -> bool`` and ``iter_samples(root) -> Iterator[Sample]``.
Adapters stream: they never materialise the whole dataset, so a 1M-row manifest stays small.
A malformed row becomes a Sample with a non-ok status and a one-line reason, never an exception,
so one bad line cannot cost the rest of an audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

# Per-sample statuses. `ok` rows are scored; every other status is counted in the report.
OK = "ok"
UNMAPPED_LABEL = "unmapped_label"  # label has no canonical counterpart, or the model cannot emit it
BAD_INPUT = "bad_input"  # malformed row: wrong pixel count, unknown label code, missing field
UNREADABLE = "unreadable"  # image file missing, truncated, not an image, decompression bomb
NO_FACE = "no_face"  # detector found no face in a photo
BAD_OUTPUT = "bad_output"  # the model's outputs for this face hold NaN or inf: never scored
STATUSES = (OK, UNMAPPED_LABEL, BAD_INPUT, UNREADABLE, NO_FACE, BAD_OUTPUT)
MODEL_ERROR = "model_error"  # the model gave no usable output (an API request failed, ...)


@dataclass(slots=True)
class Sample:
    """One input image with its ground truth and metadata, before any model runs."""

    sample_id: str  # unique and stable within the dataset (relative path, or csv row key)
    dataset: str
    split: str | None = None
    raw_label: str | None = None  # the label exactly as stored (code or name), for accounting
    label: str | None = None  # canonical label name, None when unlabelled or unmapped
    status: str = OK
    reason: str = ""
    subject_id: str | None = None
    path: str | None = None  # image file to decode lazily (workers decode in parallel)
    pixels: np.ndarray | None = None  # already-decoded uint8 image (FER2013 csv rows)
    # An image compressed in memory (video frames, data/video.py): decoded like a file's bytes
    # when its chunk is computed, so a chunk of 512 1080p frames holds ~200 MB, not 3 GB.
    encoded: bytes | None = None
    precropped: bool = False
    attributes: dict[str, str] = field(default_factory=dict)  # -> attr_<name> columns
    votes: dict[str, int] = field(default_factory=dict)  # -> votes_<name> columns (FER+)
    targets: dict[str, float] = field(default_factory=dict)  # -> target_<name> (valence...)
    # Face box (x0, y0, x1, y1) in pixels as annotated by the dataset (AffectNet): a cropper
    # may use it instead of running a detector. Not an attribute: attributes are for grouping.
    face_box: tuple[int, int, int, int] | None = None
    # Video frames (data/video.py): the clip a frame comes from and its time in seconds from the
    # clip's first frame, for temporal stability (analysis/stability.py); None for photos.
    clip_id: str | None = None
    time_s: float | None = None


class DatasetAdapter(Protocol):
    NAME: str
    DESCRIPTION: str
    PRECROPPED: bool

    def detect(self, root: Path) -> bool: ...

    def iter_samples(self, root: Path) -> Iterator[Sample]: ...
