"""Video: frames sampled at a fixed rate from one video file or a folder of them (PyAV).

Each sampled frame becomes a Sample with id ``<clip>#t=<seconds>`` (seconds from the clip's first
frame, millisecond precision), ``clip_id`` and ``time_s`` set, no label, and the full frame as
a JPEG held in memory (``Sample.encoded``, quality 95, no chroma subsampling): the runner
decodes it, finds and crops the face. Decoding streams: one decoded frame is held at a time and
only sampled frames are converted, so a two-hour video needs the memory of a frame, not of the
video (long videos exhausting RAM is a known failure of other tools). The runner holds a few
chunks of 512 samples: as raw 1080p RGB that was 3 GB a chunk and 6.6 GB at peak (issue 15),
as JPEG it is a few hundred KB a frame. Frames over images.DECODE_PIXELS (8K video) are scaled
down first, as photos are.

Frame selection: the first frame at or after each multiple of 1/fps. A clip that cannot be
opened, has no video stream or breaks while decoding yields one ``unreadable`` Sample with the
reason (after any frames already read), so one bad file cannot cost the rest of a folder.
PyAV is the optional ``video`` extra: ``pip install 'emoaudit[video]'``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emoaudit import errors
from emoaudit.data.base import UNREADABLE, Sample
from emoaudit.errors import DataError

NAME = "video"
DESCRIPTION = "A video file, or a folder of video files (any container FFmpeg reads)"
PRECROPPED = False
DEFAULT_FPS = 5.0
# In a folder, files with these endings are read; a single file is tried whatever its name.
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .mts .m2ts .ts .wmv .flv .3gp .ogv .gif".split()
)
UNREADABLE_VIDEO = "{path}: cannot decode video ({why})"
NEEDS_PYAV = "--format video needs PyAV: pip install 'emoaudit[video]' ({why})"
BAD_FPS = "--fps must be a positive number of frames per second, got {fps}"
TIME_EPS = 1e-6  # frame times are rationals turned into floats; do not miss a grid point by that


def _videos(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
            yield path


IMAGE_SUFFIXES = frozenset(".jpg .jpeg .png .bmp .tif .tiff .webp .pgm .ppm".split())
DETECT_SCAN_LIMIT = 1000  # files looked at when guessing whether a folder holds videos


def detect(root: Path) -> bool:
    """A video file, or a folder where video files outnumber images (a photo dataset with a
    stray clip in it stays a photo dataset)."""
    if root.is_file():
        return root.suffix.lower() in VIDEO_SUFFIXES
    if not root.is_dir():
        return False
    videos = images = 0
    for i, path in enumerate(root.rglob("*")):
        if i >= DETECT_SCAN_LIMIT:
            break
        suffix = path.suffix.lower()
        videos += suffix in VIDEO_SUFFIXES
        images += suffix in IMAGE_SUFFIXES
    return videos > images


def iter_samples(root: Path, *, fps: float = DEFAULT_FPS) -> Iterator[Sample]:
    """Sampled frames of `root` (a video file, or every video under a folder, in path order)."""
    root = Path(root)
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise DataError(BAD_FPS.format(fps=fps))
    try:
        import av  # noqa: F401
    except ImportError as exc:
        raise DataError(NEEDS_PYAV.format(why=exc)) from None
    if not root.exists():
        raise DataError(errors.MISSING_PATH.format(path=root))
    if root.is_file():
        yield from iter_clip(root, clip=root.name, fps=fps)
        return
    found = False
    for path in _videos(root):
        found = True
        yield from iter_clip(path, clip=path.relative_to(root).as_posix(), fps=fps)
    if not found:
        suffixes = ", ".join(sorted(VIDEO_SUFFIXES))
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=suffixes))


def _unreadable(path: Path, clip: str, why: object) -> Sample:
    return Sample(
        sample_id=f"{clip}#unreadable",
        dataset=NAME,
        status=UNREADABLE,
        reason=UNREADABLE_VIDEO.format(path=path, why=str(why).strip() or type(why).__name__),
        clip_id=clip,
    )


def iter_clip(path: Path, *, clip: str, fps: float) -> Iterator[Sample]:
    """Frames of one video at `fps`; the container is closed even if the consumer stops early."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        yield _unreadable(path, clip, exc)
        return
    with container:
        if not container.streams.video:
            yield _unreadable(path, clip, "no video stream")
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1.0 / fps
        start: float | None = None
        next_time = 0.0
        try:
            for frame in container.decode(stream):
                if frame.time is None:  # no timestamp: cannot place it on the time grid
                    continue
                if start is None:
                    start = frame.time
                t = frame.time - start
                if t + TIME_EPS < next_time:
                    continue
                next_time = (math.floor((t + TIME_EPS) / step) + 1) * step
                yield _frame_sample(_frame_jpeg(frame), path, clip, t)
        except (av.FFmpegError, OSError, ValueError) as exc:
            yield _unreadable(path, clip, exc)


FRAME_QUALITY = 95


def _frame_jpeg(frame) -> bytes:  # noqa: ANN001 - av.VideoFrame, imported lazily
    """One frame as JPEG bytes, scaled (by FFmpeg) within images.DECODE_PIXELS first."""
    import cv2

    from emoaudit.data.images import reduction

    factor = reduction(frame.width, frame.height)
    if factor > 1:
        frame = frame.reformat(width=-(-frame.width // factor), height=-(-frame.height // factor))
    bgr = frame.to_ndarray(format="bgr24")
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        FRAME_QUALITY,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    ]
    ok, buffer = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise ValueError("frame could not be encoded")
    return buffer.tobytes()


def frame_pixels(sample: Sample) -> np.ndarray:
    """The RGB pixels of a frame sample (tests and tools; the runner decodes in chunks.py)."""
    from emoaudit.data.images import decode_image_bytes

    return decode_image_bytes(sample.encoded, name=sample.sample_id, check_truncation=False)


def _frame_sample(encoded: bytes, path: Path, clip: str, t: float) -> Sample:
    t = round(t, 3)
    return Sample(
        sample_id=f"{clip}#t={t:.3f}",
        dataset=NAME,
        path=str(path),
        encoded=encoded,
        precropped=False,
        clip_id=clip,
        time_s=t,
    )
