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

from emoaudit import errors
from emoaudit.data import images
from emoaudit.data.base import BAD_INPUT, NO_FACE, OK, UNMAPPED_LABEL, UNREADABLE, Sample
from emoaudit.data.images import ImageDecodeError, decode_image_bytes, gray_to_rgb
from emoaudit.run.cache import stable_digest

MISSING_IMAGE = "{path}: image file not found"
NO_FACE_FOUND = "{sample}: no face found by detector '{detector}'"
BOX_OUTSIDE = (
    "{sample}: annotated face box from ({x0}, {y0}) to ({x1}, {y1}) lies outside the "
    "{width}x{height} image; expected a box overlapping the image"
)
BOX_NO_SIZE = "{sample}: cannot read the image size to place the annotated face box ({why})"


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
    # (model, condition, sample_id) -> reason, for faces a model could not score (a failed API
    # request after its retries): such rows get status model_error, never a made-up prediction
    failures: dict[tuple[str, str, str], str | tuple[str, str]] = field(default_factory=dict)

    # Face protocols (run/protocols.py): condition -> the chunk's faces cropped that way.
    variants: dict[str, list[np.ndarray | None]] = field(default_factory=dict)
    # condition -> (detector, margin) of each face protocol; set by the runner from FaceSettings
    face_variants: dict[str, tuple[str, float | None]] = field(default_factory=dict)


FIRST_CHUNK = 32


def batched(samples: Iterable[Sample], size: int) -> Iterator[list[Sample]]:
    """Chunks of 32, 64, 128, ... samples up to `size`, then `size` each.

    A chunk is the unit the cache stores, so a run killed before its first full chunk of 512
    used to cache nothing and restart from zero; small first chunks are on disk within seconds
    even for photos under the whole robustness suite. The schedule depends only on `size`, so
    a resumed run cuts the same chunks and finds them cached.
    """
    it = iter(samples)
    step = min(size, FIRST_CHUNK)
    while batch := list(islice(it, step)):
        yield batch
        step = min(size, 2 * step)


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
    """Read each sample's bytes and compute the chunk digest (identity of its rows).

    A file that cannot be read gets status ``unreadable`` with why (not found, permission
    denied, a directory, over the byte budget) before its row is hashed. A file over KEEP_BYTES
    is hashed in blocks and not kept: it is read again when decoded, so a chunk of 512 large
    photos holds their hashes, not gigabytes of bytes.
    """
    chunk = Chunk(index=index, samples=samples)
    records = []
    for sample in samples:
        data, content_hash = sample.encoded, None
        if data is None and sample.pixels is None and sample.path is not None:
            try:
                data = read_bytes(sample.path)
            except FileNotFoundError:
                _unreadable(sample, MISSING_IMAGE.format(path=sample.path))
            except OSError as exc:
                _unreadable(sample, images.unreadable_file_reason(sample.path, exc))
            except ImageDecodeError as exc:
                _unreadable(sample, str(exc))
            except _LargeFile as large:
                content_hash = large.sha256
        chunk.content.append(data)
        records.append(_record(sample, content_hash or _content_hash(sample, data)))
    chunk.digest = stable_digest(records)
    return chunk


def _unreadable(sample: Sample, reason: str) -> None:
    if sample.status in (OK, UNMAPPED_LABEL):
        sample.status, sample.reason = UNREADABLE, reason


READ_SIZE = 1 << 16  # under malloc's mmap threshold: a small file is one read, no mmap
KEEP_BYTES = 4 << 20  # larger files are hashed in blocks and read again to decode


class _LargeFile(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256


def read_bytes(path: str) -> bytes:
    """A whole file in three system calls (open, read, close) for files under READ_SIZE.

    The reader thread reads every file of a dataset while the workers need the GIL after each
    ONNX Runtime call, and every system call hands the GIL over: the builtin open() and read()
    make six or seven (fstat, seek, a read to find the end), os-level calls three (a short read
    of a regular file is its end). 7.5 (buffered) -> 4.8 us a 1.6 KB file, measured.

    A longer file is checked first (fstat): not a regular file (/dev/zero never ends) or over
    images.MAX_FILE_BYTES raises ImageDecodeError; over KEEP_BYTES raises _LargeFile with its
    sha256, read in blocks. O_NONBLOCK: a FIFO named as an image reads as empty, never hangs.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        data = os.read(fd, READ_SIZE)
        if len(data) < READ_SIZE:
            return data
        size = _checked_size(fd, path)
        if size > KEEP_BYTES:
            digest = hashlib.sha256(data)
            while block := os.read(fd, 1 << 20):
                digest.update(block)
            raise _LargeFile(digest.hexdigest())
        parts = [data]
        while data := os.read(fd, READ_SIZE):
            parts.append(data)
        return b"".join(parts)
    finally:
        os.close(fd)


def _checked_size(fd: int, path: str) -> int:
    import stat

    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        why = images.BAD_PATH.format(kind="a device, pipe or socket")
        raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=path, why=why))
    if info.st_size > images.MAX_FILE_BYTES:
        why = images.TOO_MANY_BYTES.format(size=info.st_size, limit=images.MAX_FILE_BYTES)
        raise ImageDecodeError(errors.UNREADABLE_IMAGE.format(path=path, why=why))
    return info.st_size


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
        return None, sample.status, errors.one_line(sample.reason)
    if sample.pixels is not None:
        img = sample.pixels if sample.precropped else gray_to_rgb(sample.pixels)
        return np.ascontiguousarray(img, dtype=np.uint8), sample.status, sample.reason
    if sample.path is None:
        return None, UNREADABLE, errors.one_line(MISSING_IMAGE.format(path=sample.sample_id))
    try:
        if data is None:  # a large file read_chunk hashed but did not keep
            data = images.read_image_file(sample.path)
        face = decode_image_bytes(
            data,
            name=sample.path,
            keep_gray=sample.precropped,
            check_truncation=sample.encoded is None,
        )
        return face, sample.status, errors.one_line(sample.reason)
    except ImageDecodeError as exc:
        return None, UNREADABLE, errors.one_line(exc)


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
    sample.encoded = None  # a video frame's JPEG: decoded now, not needed again
    return image


def _decode_and_crop(
    samples: list[Sample], content: list[bytes | None], *, faces: FaceSettings
) -> tuple[list[np.ndarray | None], dict[str, list[np.ndarray | None]]]:
    """Decode a slice and crop its faces, in groups holding at most images.DECODE_PIXELS of
    decoded photos: 8 face-sized photos are still detected together, but 8 decoded 16-megapixel
    photos per worker were 0.8 GB (48 8000x8000 JPEGs peaked at 2.4 GB); now one at a time.
    Face protocols crop the same decoded group (variant_crops) before the default crop, since a
    face the default detector misses may be found by another."""
    out: list[np.ndarray | None] = []
    variants: dict[str, list[np.ndarray | None]] = {}
    group: list[tuple[Sample, np.ndarray | None, tuple[float, float, float, float] | None]] = []
    held = 0

    def crop_group() -> None:
        decoded = [i for _, i, _ in group]
        if faces.variants:
            for condition, crops in variant_crops(decoded, faces.variant_map()).items():
                variants.setdefault(condition, []).extend(crops)
        out.extend(
            _crop_faces(
                [s for s, _, _ in group], decoded, faces=faces, boxes=[b for _, _, b in group]
            )
        )

    for sample, data in zip(samples, content, strict=True):
        image, box = _decoded(sample, data), None
        if image is not None and sample.face_box is not None and not sample.precropped:
            box, problem = _placed_box(sample, data, image)
            if problem:  # the annotation's fault, not the detector's: none is run
                sample.status, sample.reason, image = BAD_INPUT, errors.one_line(problem), None
        group.append((sample, image, box))
        held += 0 if image is None else image.shape[0] * image.shape[1]
        if held >= images.DECODE_PIXELS:
            crop_group()
            group, held = [], 0
    if group:
        crop_group()
    return out, variants


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


def _placed_box(
    sample: Sample, data: bytes | None, image: np.ndarray
) -> tuple[tuple[float, float, float, float] | None, str]:
    """The dataset's face box (annotated in the photo's own pixels) in the pixels of `image`,
    or a reason it cannot be used.

    Photos over images.DECODE_PIXELS are decoded at 1/2, 1/4 or 1/8 size, so an AffectNet box
    applied as is cropped the wrong region of a 6000x3000 photo and scored it ok. The box is
    scaled by the actual reduction: the size in the file's header over the decoded size (one
    factor for both axes, so an EXIF-rotated photo scales alike). A decode under a quarter of
    DECODE_PIXELS cannot have been reduced (even 1/2 size keeps over a quarter), which spares
    the header read for nearly every photo. A box off the image would otherwise be reported
    as the detector finding no face, though none ran.
    """
    x0, y0, x1, y1 = sample.face_box
    height, width = image.shape[:2]
    size = (width, height)
    if sample.pixels is None and 4 * height * width > images.DECODE_PIXELS:
        size = _header_size(sample, data)
        if size is None:
            return None, BOX_NO_SIZE.format(sample=sample.sample_id, why="unreadable header")
    if x1 <= 0 or y1 <= 0 or x0 >= size[0] or y0 >= size[1]:
        return None, BOX_OUTSIDE.format(
            sample=sample.sample_id, x0=x0, y0=y0, x1=x1, y1=y1, width=size[0], height=size[1]
        )
    scale = max(height, width) / max(size)
    return (x0 * scale, y0 * scale, x1 * scale, y1 * scale), ""


def _header_size(sample: Sample, data: bytes | None) -> tuple[int, int] | None:
    """(width, height) as stored in the image file, from its header alone (not decoded)."""
    import io

    from PIL import Image

    data = data if data is not None else sample.encoded
    if data is not None and data[:3] == b"\xff\xd8\xff":
        frame = images._jpeg_frame(data)
        if frame is not None:
            return frame[0], frame[1]
    try:
        with Image.open(io.BytesIO(data) if data is not None else sample.path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, TypeError):
        return None


def _crop_faces(
    samples: list[Sample],
    images: list[np.ndarray | None],
    *,
    faces: FaceSettings,
    boxes: list[tuple[float, float, float, float] | None] | None = None,
) -> list[np.ndarray | None]:
    """Crop each decoded photo at its annotated box (`boxes`, in decoded pixels: see
    _placed_box; by default the samples' own face_box) or where the detector finds a face."""
    from emoaudit.faces import face_crops

    if boxes is None:
        boxes = [getattr(s, "face_box", None) for s in samples]
    todo = [i for i, img in enumerate(images) if img is not None and not samples[i].precropped]
    crops = face_crops(
        [images[i] for i in todo],
        detector=faces.detector,
        margin=faces.margin,
        boxes=[boxes[i] for i in todo],
    )
    out = list(images)
    for i, crop in zip(todo, crops, strict=True):
        if crop is None:
            samples[i].status = NO_FACE
            samples[i].reason = errors.one_line(
                NO_FACE_FOUND.format(sample=samples[i].sample_id, detector=faces.detector)
            )
        out[i] = crop
    return out
