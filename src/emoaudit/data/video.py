"""Video: frames sampled at a fixed rate from one video file or a folder of them (PyAV).

Each sampled frame becomes a Sample with id ``<clip>#t=<seconds>`` (seconds from the clip's first
frame, millisecond precision), ``clip_id`` and ``time_s`` set, no label, and the full frame as
a JPEG held in memory (``Sample.encoded``, quality 95, no chroma subsampling): the runner
decodes it, finds and crops the face. Decoding streams: one decoded frame is held at a time and
only sampled frames are converted, so a two-hour video needs the memory of a frame, not of the
video (long videos exhausting RAM is a known failure of other tools). The runner holds a few
chunks of 512 samples: as raw 1080p RGB that was 3 GB a chunk and 6.6 GB at peak (issue 15),
as JPEG it is a few hundred KB a frame. Frames over images.DECODE_PIXELS (8K video) are scaled
down first, as photos are, and turned upright by the stream's display rotation (phones store
portrait video sideways and rely on players to turn it, as EXIF does for photos).

Frame selection: the first frame at or after each multiple of 1/fps. A clip that cannot be
opened, has no video stream, has no frame timestamps or breaks while decoding yields one
``unreadable`` Sample with the reason (after any frames already read), so one bad file cannot
cost the rest of a folder. A packet the decoder refuses is skipped and counted in one
``<clip>#damaged`` row, so it does not cost the rest of the clip either. A clip whose frames
stop well before the duration its container declares yields a ``<clip>#truncated`` row after the
frames that did decode: with frame threading FFmpeg drops the broken frames instead of raising,
so a cut file would otherwise be silently shorter. Damage inside a clip that the decoder
conceals (it fills broken blocks from neighbouring frames, flags the frame corrupt and goes on)
makes that frame, and every frame after it up to the next key frame (they are predicted from
it), ``unreadable`` with the time of the damage: concealed frames look plausible and were scored
ok. A B-frame shown before a damaged frame but predicted from it is not caught, nor damage a
decoder does not flag.
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
NO_TIMESTAMPS = (
    "no frame timestamps, so its frames cannot be placed in time; a raw elementary stream"
    " has none: remux it into a container, e.g. ffmpeg -i IN -c copy OUT.mp4"
)
SOME_UNTIMED = "{path}: {n} decoded frame(s) had no timestamp and were left out"
TRUNCATED = (
    "{path}: video ends early: frames decode up to {end:.3f} s of the {expected:.3f} s its"
    " container declares (truncated or damaged file); the frames before are kept"
)
NOT_A_VIDEO = (
    "{path}: an image file, not a video; --format video reads only video files"
    " (audit images with --format images)"
)
NEEDS_PYAV = "--format video needs PyAV: pip install 'emoaudit[video]' ({why})"
BAD_FPS = "--fps must be a positive number of frames per second, got {fps}"
DAMAGED_FRAME = (
    "{path}: frame at {t:.3f} s is damaged: broken data at {since:.3f} s (concealed or skipped"
    " by the decoder), and frames up to the next key frame are built on it; not scored"
)
BROKEN_PACKETS = (
    "{path}: {n} packet(s) of the video could not be decoded, the first{when} ({why}); their"
    " frames are missing and the frames after each, up to the next key frame, are not scored"
)
TIME_EPS = 1e-6  # frame times are rationals turned into floats; do not miss a grid point by that
# Decoding may stop this short of the declared end (B-frame reordering, rounding of the last
# frame's duration) without the file being cut; a truncated file misses far more.
END_SLACK_S = 0.25
END_SLACK_FRAMES = 3


IMAGE_SUFFIXES = frozenset(".jpg .jpeg .png .bmp .tif .tiff .webp .pgm .ppm".split())


def _files(root: Path) -> list[Path]:
    """Videos and images under `root` in path order: images are listed too, so that each one
    can get a row saying it was not read (a photo left in a clip folder is not silently lost).
    A list of paths, not frames: a folder of clips is small."""
    from emoaudit.data.files import Skipped, walk_paths

    suffixes = VIDEO_SUFFIXES | IMAGE_SUFFIXES

    def wanted(name: str) -> bool:
        return Path(name).suffix.lower() in suffixes

    # the shared walk: hidden names skipped as elsewhere, no recursion limit on deep trees
    return sorted(Path(p) for p in walk_paths(root, wanted) if not isinstance(p, Skipped))


DETECT_SCAN_LIMIT = 1000  # files looked at when guessing whether a folder holds videos


def detect(root: Path) -> bool:
    """A video file, or a folder where video files outnumber images (detect.detect_format then
    refuses a folder holding both kinds: the video format reads no images)."""
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
    paths = _files(root)
    if not any(path.suffix.lower() in VIDEO_SUFFIXES for path in paths):
        expected = ", ".join(sorted(VIDEO_SUFFIXES))
        if paths:  # only images: one line pointing at the right format beats a row per image
            expected += "; it holds image files: --format images reads them"
        raise DataError(errors.EMPTY_DATASET.format(path=root, fmt=NAME, expected=expected))
    for path in paths:
        name = path.relative_to(root).as_posix()
        if path.suffix.lower() in IMAGE_SUFFIXES:
            yield _not_a_video(path, name)
        else:
            yield from iter_clip(path, clip=name, fps=fps)


def _unreadable(path: Path, clip: str, why: object) -> Sample:
    return Sample(
        sample_id=f"{clip}#unreadable",
        dataset=NAME,
        status=UNREADABLE,
        reason=UNREADABLE_VIDEO.format(path=path, why=str(why).strip() or type(why).__name__),
        clip_id=clip,
    )


def _not_a_video(path: Path, name: str) -> Sample:
    return Sample(
        sample_id=name,
        dataset=NAME,
        status=UNREADABLE,
        reason=NOT_A_VIDEO.format(path=path),
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
        last: float | None = None  # time of the last decoded frame, from the clip's start
        previous: float | None = None  # time of the last sampled frame, for its id
        untimed = 0
        damaged_since: float | None = None  # time of a concealed frame, until the next key frame
        decimals = _id_decimals(fps, stream.guessed_rate or stream.average_rate)
        broken = _Refused()  # packets the decoder refused
        seen = 0
        try:
            for frame in _frames(container, stream, broken):
                if frame.time is None:  # no timestamp: cannot place it on the time grid
                    untimed += 1
                    continue
                if start is None:
                    start = frame.time
                t = last = frame.time - start
                if broken.count > seen:  # frames after a skipped packet are predicted from it
                    seen, at = broken.count, broken.last_at
                    at = t if at is None else min(t, max(0.0, at - start))
                    damaged_since = at if damaged_since is None else damaged_since
                if frame.is_corrupt:
                    damaged_since = t if damaged_since is None else damaged_since
                elif frame.key_frame:
                    damaged_since = None
                if t + TIME_EPS < next_time:
                    continue
                next_time = (math.floor((t + TIME_EPS) / step) + 1) * step
                sample = _frame_sample(_frame_jpeg(frame), path, clip, t, previous, decimals)
                if damaged_since is not None:
                    sample.status = UNREADABLE
                    sample.reason = DAMAGED_FRAME.format(
                        path=path, t=sample.time_s, since=damaged_since
                    )
                yield sample
                previous = t
        except (av.FFmpegError, OSError, ValueError) as exc:
            yield _unreadable(path, clip, exc)
            return
        if start is None:
            why = broken.first_error if broken.count else NO_TIMESTAMPS if untimed else "no frames"
            yield _unreadable(path, clip, why)
            return
        if broken.count:
            at = broken.first_at
            when = "" if at is None else f" at {max(0.0, at - start):.3f} s"
            why = broken.first_error
            reason = BROKEN_PACKETS.format(path=path, n=broken.count, when=when, why=why)
            yield _problem(clip, "damaged", reason)
        if untimed:
            yield _problem(clip, "untimed", SOME_UNTIMED.format(path=path, n=untimed))
        span = _short_span(container, stream, start=start, last=last)
        if span is not None:
            reason = TRUNCATED.format(path=path, end=span[0], expected=span[1])
            yield _problem(clip, "truncated", reason)


class _Refused:
    """Packets the decoder refused: how many, the first's time and error, the last's time.
    Counts, not a list: a long damaged recording can refuse a packet in every second."""

    def __init__(self) -> None:
        self.count = 0
        self.first_at: float | None = None
        self.first_error = ""
        self.last_at: float | None = None

    def add(self, at: float | None, exc: Exception) -> None:
        if not self.count:
            self.first_at, self.first_error = at, str(exc).strip() or type(exc).__name__
        self.count += 1
        self.last_at = at


def _frames(container, stream, broken: _Refused) -> Iterator:  # noqa: ANN001 - PyAV objects
    """The stream's decoded frames, as container.decode gives them, except that a packet the
    decoder refuses (broken data) is counted in `broken` and skipped: the decoder starts again
    at the next key frame, so one damaged packet no longer costs every frame after it."""
    import av

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            at = packet.pts if packet.pts is not None else packet.dts
            tb = packet.time_base
            broken.add(float(at * tb) if at is not None and tb else None, exc)
            continue
        yield from frames


def _problem(clip: str, kind: str, reason: str) -> Sample:
    """A row about a clip whose frames were kept but not all of it could be read."""
    return Sample(
        sample_id=f"{clip}#{kind}", dataset=NAME, status=UNREADABLE, reason=reason, clip_id=clip
    )


def _short_span(
    container,  # noqa: ANN001 - av containers and streams, imported lazily
    stream,  # noqa: ANN001
    *,
    start: float,
    last: float | None,
) -> tuple[float, float] | None:
    """(seconds decoded, seconds declared) when decoding stopped well before the end the
    container declares, else None. The stream's own duration is preferred: the container's
    is the longest stream's, and a clip's audio may outlast its video. MPEG-TS and raw streams
    declare none (theirs is guessed from the bit rate), so a cut there goes unnoticed."""
    declared_end = _declared_end(container, stream)
    if declared_end is None or last is None:
        return None
    rate = stream.guessed_rate or stream.average_rate
    period = 1.0 / float(rate) if rate else 0.0
    decoded = last + period
    expected = declared_end - start
    if expected - decoded <= max(END_SLACK_S, END_SLACK_FRAMES * period):
        return None
    return decoded, expected


def _declared_end(container, stream) -> float | None:  # noqa: ANN001
    """Absolute end time of the video stream in seconds, as the file declares it."""
    if stream.duration and stream.time_base:
        offset = stream.start_time or 0
        return float((offset + stream.duration) * stream.time_base)
    if container.duration and len(container.streams) == 1:
        offset = container.start_time or 0
        return (offset + container.duration) / 1_000_000
    return None


FRAME_QUALITY = 95


def _frame_jpeg(frame) -> bytes:  # noqa: ANN001 - av.VideoFrame, imported lazily
    """One frame as JPEG bytes, scaled (by FFmpeg) within images.DECODE_PIXELS first."""
    import cv2

    from emoaudit.data.images import reduction

    factor = reduction(frame.width, frame.height)
    if factor > 1:
        frame = frame.reformat(width=-(-frame.width // factor), height=-(-frame.height // factor))
    bgr = _upright(frame.to_ndarray(format="bgr24"), getattr(frame, "rotation", 0))
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


def _upright(pixels: np.ndarray, rotation: float) -> np.ndarray:
    """Pixels turned as a player shows them. `rotation` is the display matrix's
    counter-clockwise angle (PyAV's VideoFrame.rotation; phones write 90 or -90 for portrait).
    Only quarter turns are applied (other angles are rounded to one, cameras write no others);
    a mirroring display matrix is not applied (PyAV exposes only the angle)."""
    turns = round((rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def frame_pixels(sample: Sample) -> np.ndarray:
    """The RGB pixels of a frame sample (tests and tools; the runner decodes in chunks.py)."""
    from emoaudit.data.images import decode_image_bytes

    return decode_image_bytes(sample.encoded, name=sample.sample_id, check_truncation=False)


ID_DECIMALS = (3, 6, 9, 12)


def _id_decimals(fps: float, rate: object) -> int:
    """Decimals of the ids of a clip's frames: 3 (ids of normal clips, and so caches and
    comparisons, stay as they were) unless sampled frames can be under 1 ms apart, as in a
    10,000 fps clip, where millisecond ids collided and all but one frame of each millisecond
    became a ``bad_input`` duplicate. `rate` is the stream's frame rate (None when unknown)."""
    interval = max(1.0 / fps, 1.0 / float(rate) if rate else 0.0)
    return next((d for d in ID_DECIMALS if interval >= 10.0**-d), ID_DECIMALS[-1])


def _time_text(t: float, previous: float | None, decimals: int = 3) -> str:
    """Seconds with `decimals` digits, more when the previous sampled frame rounds to the same
    text (a variable-rate clip can place two frames closer than its rate says). Times only
    increase, so differing from the previous frame at the digits used keeps ids unique."""
    for d in ID_DECIMALS:
        text = f"{t:.{d}f}"
        if d >= decimals and (previous is None or text != f"{previous:.{d}f}"):
            return text
    return repr(t)


def _frame_sample(
    encoded: bytes,
    path: Path,
    clip: str,
    t: float,
    previous: float | None = None,
    decimals: int = 3,
) -> Sample:
    text = _time_text(t, previous, decimals)
    return Sample(
        sample_id=f"{clip}#t={text}",
        dataset=NAME,
        path=str(path),
        encoded=encoded,
        precropped=False,
        clip_id=clip,
        time_s=float(text),
    )
