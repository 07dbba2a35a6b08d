"""Turn a stream of Samples into prepared chunks: bytes read, content hashed, faces cropped.

Reading and hashing come first and are cheap; decoding and face detection run only when some
shard of the chunk is not cached yet, so a fully cached re-run does no image work at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from emoaudit.data.base import NO_FACE, OK, UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.images import ImageDecodeError, decode_image_bytes, gray_to_rgb
from emoaudit.run.cache import stable_digest

MISSING_IMAGE = "{path}: image file not found"
NO_FACE_FOUND = "{sample}: no face found by detector '{detector}'"


@dataclass
class Chunk:
    """One fixed-size slice of the dataset, in dataset order."""

    index: int
    samples: list[Sample]

    def __len__(self) -> int:
        return len(self.samples)

    content: list[bytes | None] = field(default_factory=list)  # raw file bytes (None: in memory)
    digest: str = ""
    faces: list[np.ndarray | None] = field(default_factory=list)
    decoded: bool = False
    # Face protocols (run/protocols.py): condition -> the chunk's faces cropped that way.
    variants: dict[str, list[np.ndarray | None]] = field(default_factory=dict)
    # condition -> (detector, margin) of each face protocol; set by the runner from FaceSettings
    face_variants: dict[str, tuple[str, float | None]] = field(default_factory=dict)


def batched(samples: Iterable[Sample], size: int) -> Iterator[list[Sample]]:
    it = iter(samples)
    while batch := list(islice(it, size)):
        yield batch


def _content_hash(sample: Sample, data: bytes | None) -> str:
    if sample.pixels is not None:
        arr = np.ascontiguousarray(sample.pixels)
        return hashlib.sha256(str(arr.shape).encode() + arr.tobytes()).hexdigest()
    if data is None:
        return "missing"
    return hashlib.sha256(data).hexdigest()


def _record(sample: Sample, content_hash: str) -> list:
    return [
        sample.sample_id,
        content_hash,
        sample.split,
        sample.raw_label,
        sample.label,
        sample.status,
        sample.reason,
        sample.subject_id,
        sample.attributes,
        sample.votes,
        sample.targets,
        sample.face_box,
        sample.precropped,
        sample.clip_id,
        sample.time_s,
    ]


def read_chunk(index: int, samples: list[Sample]) -> Chunk:
    """Read each sample's bytes and compute the chunk digest (identity of its rows)."""
    chunk = Chunk(index=index, samples=samples)
    records = []
    for sample in samples:
        data = None
        if sample.pixels is None and sample.path is not None:
            try:
                data = read_bytes(sample.path)
            except OSError:
                data = None
        chunk.content.append(data)
        records.append(_record(sample, _content_hash(sample, data)))
    chunk.digest = stable_digest(records)
    return chunk


READ_SIZE = 1 << 16  # under malloc's mmap threshold: a small file is one read, no mmap


def read_bytes(path: str) -> bytes:
    """A whole file in three system calls (open, read, close) for files under READ_SIZE.

    The reader thread reads every file of a dataset while the workers need the GIL after each
    ONNX Runtime call, and every system call hands the GIL over: the builtin open() and read()
    make six or seven (fstat, seek, a read to find the end), os-level calls three (a short read
    of a regular file is its end). 7.5 (buffered) -> 4.8 us a 1.6 KB file, measured.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        data = os.read(fd, READ_SIZE)
        if len(data) < READ_SIZE:
            return data
        parts = [data]
        while data := os.read(fd, READ_SIZE):
            parts.append(data)
        return b"".join(parts)
    finally:
        os.close(fd)


def sample_digest_records(chunks_digests: list[str]) -> str:
    """Dataset digest: the hash of every chunk digest in order (recorded in provenance)."""
    return stable_digest(chunks_digests)


@dataclass(frozen=True)
class FaceSettings:
    """How faces are obtained for photos; part of the cache key."""

    detector: str = "blazeface"
    margin: float | None = None  # None: the detector's own margin
    # Face protocols: (condition, detector, margin) to crop each photo again with. Not in key():
    # each protocol is a condition, and the condition is in every shard's key already.
    variants: tuple[tuple[str, str, float | None], ...] = ()

    def variant_map(self) -> dict[str, tuple[str, float | None]]:
        return {condition: (det, margin) for condition, det, margin in self.variants}

    def key(self, precropped: bool) -> dict:
        if precropped:
            return {"precropped": True}
        return {"detector": self.detector, "margin": self.margin}


def all_precropped(samples: list[Sample]) -> bool:
    """Faces settings only matter for chunks holding at least one uncropped photo."""
    return all(s.precropped for s in samples)


def _decode_one(sample: Sample, data: bytes | None) -> tuple[np.ndarray | None, str, str]:
    """Decode one sample to a uint8 array, or a (status, reason) for the table.

    Photos become RGB (the face detectors want colour); pre-cropped gray faces stay 2-D gray,
    which preprocessing and perturbations accept, so gray models do not convert twice.
    """
    if sample.status not in (OK, UNMAPPED_LABEL):
        return None, sample.status, sample.reason
    if sample.pixels is not None:
        img = sample.pixels if sample.precropped else gray_to_rgb(sample.pixels)
        return np.ascontiguousarray(img, dtype=np.uint8), sample.status, sample.reason
    if data is None:
        return None, UNREADABLE, MISSING_IMAGE.format(path=sample.path)
    try:
        face = decode_image_bytes(data, name=sample.path, keep_gray=sample.precropped)
        return face, sample.status, sample.reason
    except ImageDecodeError as exc:
        return None, UNREADABLE, str(exc)


def decode_chunk(
    chunk: Chunk, *, faces: FaceSettings, pool: ThreadPoolExecutor | None = None
) -> None:
    """Decode images and crop faces of photos; set status on failure.

    Photos go in slices of PHOTOS_PER_TASK, each decoded and cropped before the next, so only a
    few full-size photos are in memory at once (a chunk of 512 phone photos decoded whole would
    be gigabytes); with a `pool` the slices run on every core, so a photo set smaller than one
    chunk (JAFFE has 213 images) still uses them all. Pre-cropped faces decode inline: ~20 us
    each, less than handing them to a thread.
    """
    samples, content = chunk.samples, chunk.content
    if all_precropped(samples):
        images = [_decoded(s, d) for s, d in zip(samples, content, strict=True)]
    else:
        parts = [range(k, min(k + PHOTOS_PER_TASK, len(samples)))
                 for k in range(0, len(samples), PHOTOS_PER_TASK)]  # fmt: skip
        mapper = pool.map if pool is not None else map
        crops = list(
            mapper(
                lambda part: _decode_and_crop(
                    [samples[i] for i in part], [content[i] for i in part], faces=faces
                ),
                parts,
            )
        )
        images = [face for part, _ in crops for face in part]
        for condition, _, _ in faces.variants:
            chunk.variants[condition] = [f for _, v in crops for f in v[condition]]
    chunk.faces = images
    chunk.content = []  # bytes are no longer needed; keep memory bounded
    chunk.decoded = True


PHOTOS_PER_TASK = 8  # photos decoded and searched at once: bounds memory, spreads over cores


def decode_slice(chunk: Chunk, lo: int, hi: int) -> list[np.ndarray | None]:
    """Decode the pre-cropped faces chunk.samples[lo:hi], recording failures as statuses.

    The runner decodes a pre-cropped chunk one batch at a time, each batch inferred before the
    next is decoded: see run/predict.py part_probabilities for why.
    """
    samples, content = chunk.samples[lo:hi], chunk.content[lo:hi]
    return [_decoded(s, d) for s, d in zip(samples, content, strict=True)]


def _decoded(sample: Sample, data: bytes | None) -> np.ndarray | None:
    """Decode one sample, recording a failure as its status and reason."""
    image, sample.status, sample.reason = _decode_one(sample, data)
    return image


def _decode_and_crop(
    samples: list[Sample], content: list[bytes | None], *, faces: FaceSettings
) -> tuple[list[np.ndarray | None], dict[str, list[np.ndarray | None]]]:
    images = [_decoded(s, d) for s, d in zip(samples, content, strict=True)]
    # before _crop_faces: a face the default detector misses may be found by another
    variants = variant_crops(images, faces.variant_map()) if faces.variants else {}
    return _crop_faces(samples, images, faces=faces), variants


def variant_crops(
    images: list[np.ndarray | None], settings: dict[str, tuple[str, float | None]]
) -> dict[str, list[np.ndarray | None]]:
    """Faces as each face protocol finds them: condition -> crops by its (detector, margin) on
    every decoded image (a given gray crop is searched as RGB), None where no face is found.

    Each detector runs once and every margin crops its boxes, so the three margin protocols
    cost one detection. Statuses are untouched: a protocol's misses are its own
    (run/predict.py)."""
    from emoaudit.faces import crop_boxes, detect_batch, detector_margin

    todo = [i for i, img in enumerate(images) if img is not None]
    rgb = [gray_to_rgb(images[i]) if images[i].ndim == 2 else images[i] for i in todo]
    boxes = {det: detect_batch(rgb, det) for det in dict.fromkeys(d for d, _ in settings.values())}
    out: dict[str, list[np.ndarray | None]] = {}
    for condition, (det, margin) in settings.items():
        m = detector_margin(det) if margin is None else margin
        crops: list[np.ndarray | None] = [None] * len(images)
        for i, img, found in zip(todo, rgb, boxes[det], strict=True):
            crops[i] = crop_boxes(img, found, margin=m)
        out[condition] = crops
    return out


def _crop_faces(
    samples: list[Sample], images: list[np.ndarray | None], *, faces: FaceSettings
) -> list[np.ndarray | None]:
    from emoaudit.faces import face_crops

    todo = [i for i, img in enumerate(images) if img is not None and not samples[i].precropped]
    crops = face_crops(
        [images[i] for i in todo],
        detector=faces.detector,
        margin=faces.margin,
        boxes=[getattr(samples[i], "face_box", None) for i in todo],
    )
    out = list(images)
    for i, crop in zip(todo, crops, strict=True):
        if crop is None:
            samples[i].status = NO_FACE
            samples[i].reason = NO_FACE_FOUND.format(
                sample=samples[i].sample_id, detector=faces.detector
            )
        out[i] = crop
    return out
