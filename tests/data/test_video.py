"""Video adapter: videos are encoded here with PyAV from public-domain photos (slow zoom,
brightness drift), in several containers, so the tests need no third-party footage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from emoaudit.data import video
from emoaudit.data.base import UNREADABLE
from emoaudit.errors import DataError

av = pytest.importorskip("av")

SIZE = 96


def photo(name: str) -> np.ndarray:
    import cv2

    if name == "astronaut":
        from skimage.data import astronaut

        img = astronaut()
    else:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            img = cv2.cvtColor(
                cv2.imdecode(np.frombuffer(fh.read(), np.uint8), 1), cv2.COLOR_BGR2RGB
            )
    return cv2.resize(img, (2 * SIZE, 2 * SIZE), interpolation=cv2.INTER_AREA)


def frame_at(img: np.ndarray, i: int, n: int) -> np.ndarray:
    """Frame i of n: a slow zoom into the centre while the brightness drifts up."""
    import cv2

    crop = int(2 * SIZE * (1 - 0.3 * i / max(n - 1, 1)))
    o = (2 * SIZE - crop) // 2
    f = cv2.resize(img[o : o + crop, o : o + crop], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return np.clip(f.astype(np.int16) * 0.5 + 100 * i / max(n - 1, 1), 0, 255).astype(np.uint8)


def write_video(path: Path, *, n: int, rate: int, source: str = "astronaut") -> Path:
    img = photo(source)
    codec = "libvpx" if path.suffix == ".webm" else "mpeg4"
    with av.open(str(path), "w") as container:
        _encode(container, container.add_stream(codec, rate=rate), img, n)
    return path


def _encode(container, stream, img: np.ndarray, n: int) -> None:  # noqa: ANN001 - PyAV objects
    """n frames of the zooming, brightening face, flushed."""
    stream.width = stream.height = SIZE
    stream.pix_fmt = "yuv420p"
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(frame_at(img, i, n), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi", ".mov"])
def test_frames_sampled_at_fps_with_times_and_ids(tmp_path, suffix):
    path = write_video(tmp_path / f"clip{suffix}", n=60, rate=30)  # 2 s at 30 fps
    samples = list(video.iter_samples(path, fps=5))
    times = [round(0.2 * k, 3) for k in range(10)]
    assert [s.time_s for s in samples] == times
    assert [s.sample_id for s in samples] == [f"clip{suffix}#t={t:.3f}" for t in times]
    for s in samples:
        assert s.clip_id == f"clip{suffix}" and s.label is None and s.status == "ok"
        assert not s.precropped and s.dataset == "video" and s.pixels is None
        pixels = video.frame_pixels(s)
        assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.uint8
    # the brightness drift proves the right frames came back, in order
    means = [float(video.frame_pixels(s).mean()) for s in samples]
    assert all(a < b for a, b in zip(means, means[1:], strict=False))


def test_first_frame_at_or_after_each_grid_point(tmp_path):
    path = write_video(tmp_path / "c.mp4", n=48, rate=24)  # frames at k/24 s
    got = [s.time_s for s in video.iter_samples(path, fps=5)]
    frame_times = [Fraction(k, 24) for k in range(48)]
    grid = [Fraction(k, 5) for k in range(10)]
    expected = [round(float(min(t for t in frame_times if t >= g)), 3) for g in grid]
    assert got == expected


def test_fps_above_the_source_rate_returns_every_frame(tmp_path):
    path = write_video(tmp_path / "c.avi", n=12, rate=10)
    assert len(list(video.iter_samples(path, fps=30))) == 12


def test_folder_of_videos_any_container_and_bad_files_kept(tmp_path):
    write_video(tmp_path / "b.mkv", n=10, rate=10, source="grace_hopper")
    (tmp_path / "sub").mkdir()
    write_video(tmp_path / "sub" / "a.webm", n=10, rate=10)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 10)
    (tmp_path / "notes.txt").write_text("ignored")
    assert video.detect(tmp_path)
    samples = list(video.iter_samples(tmp_path, fps=2))
    assert [s.clip_id for s in samples] == ["b.mkv"] * 2 + ["broken.mp4"] + ["sub/a.webm"] * 2
    bad = samples[2]
    assert bad.status == UNREADABLE and bad.sample_id == "broken.mp4#unreadable"
    assert bad.reason.startswith(f"{tmp_path / 'broken.mp4'}: cannot decode video (")
    assert "\n" not in bad.reason and bad.path is None  # no path: the runner must not read it


def test_detect_and_one_line_errors(tmp_path):
    assert not video.detect(tmp_path)
    (tmp_path / "x.png").write_bytes(b"")
    assert not video.detect(tmp_path)
    write_video(tmp_path / "stray.mp4", n=2, rate=10)
    (tmp_path / "y.png").write_bytes(b"")
    assert not video.detect(tmp_path)  # more photos than videos: a photo dataset
    (tmp_path / "stray.mp4").unlink()
    with pytest.raises(DataError, match="no samples found for format 'video'"):
        list(video.iter_samples(tmp_path))
    with pytest.raises(DataError, match="no such file or directory"):
        list(video.iter_samples(tmp_path / "missing.mp4"))
    with pytest.raises(DataError, match="--fps must be a positive number"):
        list(video.iter_samples(tmp_path, fps=0))


def test_long_video_streams_in_bounded_memory(tmp_path):
    """No frame outlives the consumer's reference: the adapter keeps no list of frames or
    samples. (PyAV allocates its frame buffers outside tracemalloc's view; the JPEG bytes each
    sample holds are in it.)"""
    import tracemalloc

    n = 240
    path = write_video(tmp_path / "long.mp4", n=n, rate=30)
    sizes = []
    gen = video.iter_samples(path, fps=30)  # every frame converted
    tracemalloc.start()
    for sample in gen:
        sizes.append(len(sample.encoded))
        del sample
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(sizes) == n
    assert current < sum(sizes) / 8  # what stays is a few frames and imports, not 240 frames


def test_frames_are_held_as_jpeg_and_decode_close_to_the_source(tmp_path):
    """A frame costs its JPEG in memory, not its pixels (1080p: 6 MB as RGB), and the runner
    decodes it to what PyAV gave within JPEG's quality-95 error."""
    from emoaudit.run.chunks import FaceSettings, decode_chunk, read_chunk

    path = write_video(tmp_path / "c.mp4", n=10, rate=10)
    with av.open(str(path)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    samples = list(video.iter_samples(path, fps=10))
    assert all(len(s.encoded) < first.nbytes / 2 for s in samples)
    decoded = video.frame_pixels(samples[0])
    assert np.abs(decoded.astype(int) - first).mean() < 2.0
    chunk = read_chunk(0, samples)
    decode_chunk(chunk, faces=FaceSettings(detector="haar"))
    assert all(s.encoded is None for s in samples)  # released once decoded
    assert [s.status for s in samples] != ["unreadable"] * 10


def test_frames_over_the_decode_budget_are_scaled_down(tmp_path, monkeypatch):
    from emoaudit.data import images

    path = write_video(tmp_path / "c.mp4", n=4, rate=10)
    monkeypatch.setattr(images, "DECODE_PIXELS", SIZE * SIZE // 4)
    sample = next(video.iter_samples(path, fps=10))
    assert video.frame_pixels(sample).shape == (SIZE // 2, SIZE // 2, 3)


class SpyContainer:
    """Wraps a PyAV container to see whether the adapter closes it."""

    def __init__(self, real):
        self.real, self.closed = real, False

    def __enter__(self):
        self.real.__enter__()
        return self

    def __exit__(self, *exc):
        self.closed = True
        return self.real.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_stopping_early_closes_the_file(tmp_path, monkeypatch):
    path = write_video(tmp_path / "c.mp4", n=30, rate=30)
    opened = []
    real_open = av.open
    monkeypatch.setattr(
        av, "open", lambda *a, **k: opened.append(SpyContainer(real_open(*a, **k))) or opened[-1]
    )  # noqa: E501
    gen = video.iter_samples(path, fps=30)
    next(gen)
    assert len(opened) == 1 and not opened[0].closed
    gen.close()
    assert opened[0].closed


def write_h264(path: Path, *, n: int, rate: int, fmt: str | None = None, **options) -> Path:
    """H.264 (the codec phones write) with a key frame every 10 frames; `fmt` "h264" writes a
    raw elementary stream, which carries no timestamps."""
    img = photo("astronaut")
    with av.open(str(path), "w", format=fmt, options=options) as container:
        _encode(container, container.add_stream("libx264", rate=rate, options={"g": "10"}), img, n)
    return path


def test_clip_without_timestamps_is_one_row_saying_so(tmp_path):
    write_h264(tmp_path / "clip.ts", n=20, rate=10, fmt="h264")  # raw stream, misnamed
    write_video(tmp_path / "good.mp4", n=10, rate=10)
    samples = list(video.iter_samples(tmp_path, fps=5))
    assert [s.clip_id for s in samples] == ["clip.ts"] + ["good.mp4"] * 5
    bad = samples[0]
    assert bad.sample_id == "clip.ts#unreadable" and bad.status == UNREADABLE
    assert bad.reason.startswith(f"{tmp_path / 'clip.ts'}: cannot decode video (no frame times")
    assert "\n" not in bad.reason


def test_truncated_clip_keeps_its_frames_and_says_where_decoding_stopped(tmp_path):
    """Frame threading drops the broken frames without raising: the cut must still show."""
    path = write_h264(tmp_path / "full.mp4", n=100, rate=10, movflags="faststart")
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    samples = list(video.iter_samples(cut, fps=5))
    *frames, last = samples
    assert len(frames) > 10 and all(s.status == "ok" for s in frames)
    assert frames[-1].time_s < 9
    assert last.sample_id == "cut.mp4#truncated" and last.status == UNREADABLE
    assert last.clip_id == "cut.mp4" and last.path is None
    end = float(last.reason.split("frames decode up to ")[1].split(" s ")[0])
    assert frames[-1].time_s < end < frames[-1].time_s + 0.5  # sampled at 5 of its 10 fps
    assert last.reason.startswith(f"{cut}: video ends early: frames decode up to {end:.3f} s of")
    assert "of the 10.000 s its container declares" in last.reason and "\n" not in last.reason
    # the whole file: every frame, no problem row
    whole = list(video.iter_samples(path, fps=5))
    assert len(whole) == 50 and all(s.status == "ok" for s in whole)


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_frames_are_turned_upright_by_the_display_rotation(tmp_path, degrees):
    """Phones store portrait video sideways with a display rotation: audited as shown."""
    upright = frame_at(photo("astronaut"), 0, 1)
    stored = np.ascontiguousarray(np.rot90(upright, -degrees // 90))  # rotation is anticlockwise
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(degrees)
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    pixels = video.frame_pixels(next(video.iter_samples(path, fps=5))).astype(int)
    assert np.abs(pixels - upright).mean() < 6
    assert np.abs(pixels - stored).mean() > 6 * np.abs(pixels - upright).mean()


def test_frames_under_a_millisecond_apart_get_unique_ids(tmp_path):
    path = write_video(tmp_path / "fast.mp4", n=20, rate=10000)
    samples = list(video.iter_samples(path, fps=1e9))
    ids = [s.sample_id for s in samples]
    assert len(samples) == 20 and len(set(ids)) == 20
    assert ids[:3] == ["fast.mp4#t=0.000000", "fast.mp4#t=0.000100", "fast.mp4#t=0.000200"]
    assert [s.time_s for s in samples] == [round(k / 10000, 6) for k in range(20)]


def test_ids_keep_millisecond_digits_when_those_are_unique():
    assert video._id_decimals(5, 30) == video._id_decimals(1e9, 1000) == 3
    assert video._id_decimals(1e9, 10000) == video._id_decimals(5000, None) == 6
    assert video._time_text(0.2, None) == "0.200"
    assert video._time_text(0.2, None, 6) == "0.200000"
    assert video._time_text(0.2004, 0.2) == "0.200400"  # variable rate: closer than its rate
    assert video._time_text(0.201, 0.2004) == "0.201"
    assert video._time_text(0.2 + 1e-13, 0.2) == repr(0.2 + 1e-13)


def test_images_in_a_video_folder_get_a_row_each(tmp_path):
    write_video(tmp_path / "a.mp4", n=10, rate=10)
    (tmp_path / "face.jpg").write_bytes(b"")
    samples = list(video.iter_samples(tmp_path, fps=2))
    assert [s.sample_id for s in samples] == ["a.mp4#t=0.000", "a.mp4#t=0.500", "face.jpg"]
    row = samples[-1]
    assert row.status == UNREADABLE and row.path is None
    assert row.reason == (
        f"{tmp_path / 'face.jpg'}: an image file, not a video; --format video reads only video"
        " files (audit images with --format images)"
    )
    (tmp_path / "a.mp4").unlink()
    with pytest.raises(DataError, match="it holds image files: --format images reads them"):
        list(video.iter_samples(tmp_path))


def test_damage_inside_a_clip_is_never_scored_and_costs_no_other_frame(tmp_path):
    """FFmpeg conceals broken data inside a clip (it fills the blocks from other frames, flags
    the frame corrupt and goes on), and frames up to the next key frame are predicted from
    it: all of them looked like faces and were scored ok. Broken data the decoder refuses
    ended the clip there, losing every later frame. Now the frames built on damage are
    unreadable, a refused packet is skipped and reported, and every frame still ok is the
    clean clip's frame."""
    path = write_h264(tmp_path / "full.mp4", n=100, rate=10, movflags="faststart")
    data = path.read_bytes()
    clean = {s.time_s: video.frame_pixels(s) for s in video.iter_samples(path, fps=10)}
    assert len(clean) == 100
    concealed = skipped = 0
    worst_hidden = 0.0
    for twentieth in range(2, 20):  # the first 5% is the index (faststart): no frame at all
        broken = bytearray(data)
        at = len(data) * twentieth // 20
        broken[at : at + 64] = bytes((37 * k + 11) % 256 for k in range(64))
        bad = tmp_path / f"bad{twentieth}.mp4"
        bad.write_bytes(bytes(broken))
        samples = list(video.iter_samples(bad, fps=5))
        frames = [s for s in samples if s.time_s is not None]
        assert len(frames) >= 48, (twentieth, len(frames))  # the rest of the clip is kept
        for s in frames:
            if s.status == "ok":  # what is scored is what the camera recorded
                diff = np.abs(video.frame_pixels(s).astype(int) - clean[s.time_s]).mean()
                assert diff < 0.5, (twentieth, s.sample_id, diff)
        damaged = [s for s in frames if s.status != "ok"]
        concealed += bool(damaged)
        assert len(damaged) <= 5  # up to the next key frame, 1 s on
        for s in damaged:
            assert s.status == UNREADABLE and "\n" not in s.reason
            assert s.reason.startswith(f"{bad}: frame at {s.time_s:.3f} s is damaged")
            hidden = np.abs(video.frame_pixels(s).astype(int) - clean[s.time_s]).mean()
            worst_hidden = max(worst_hidden, hidden)
        problems = [s for s in samples if s.time_s is None]
        assert [s.sample_id for s in problems] in ([], [f"{bad.name}#damaged"])
        if problems:
            skipped += 1
            assert problems[0].status == UNREADABLE and "\n" not in problems[0].reason
            assert problems[0].reason.startswith(f"{bad}: ")
            assert " packet(s) of the video could not be decoded, the first at " in (
                problems[0].reason
            )
    assert concealed >= 10 and skipped >= 2  # both kinds of damage were met
    assert worst_hidden > 2  # and what was concealed was visibly not the clean frame
