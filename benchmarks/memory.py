"""Peak memory of an audit at 10k, 100k and 1M samples, and analysis time from the cache.

Streaming means peak RSS must not grow with the dataset. Each size runs in a fresh process that
reports its own peak RSS (ru_maxrss). The manifest points at a pool of 1,000 distinct 48x48
JPEGs (sample ids unique), and the model is a tiny generated ONNX classifier run through the
generic adapter: what is measured is emoaudit's pipeline (reading, hashing, decoding, shards,
merge, analysis), not a network, and the 1M run then takes minutes instead of a quarter hour.

Usage: python benchmarks/memory.py [--sizes 10000,100000,1000000] [--resamples 1000]

``--large`` measures the inputs that used to take the memory instead (issue 15): 48 JPEG photos
of 8000x8000 and a minute of 1080p video sampled at 10 frames/s (600 frames, two chunks), each
audited whole in a fresh process with face detection on. Goal: peak RSS under 2 GB.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = """[model]
name = "tiny-bench"

[input]
height = 48
width = 48
layout = "NCHW"
color = "gray"

[output]
labels = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
kind = "logits"
"""


def tiny_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(1, 7)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def write_pool(folder: Path, n: int = 1000) -> list[str]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        img = rng.integers(0, 255, (48, 48), dtype=np.uint8)
        name = f"pool/{i:04d}.jpg"
        cv2.imwrite(str(folder.parent / name), img)
        names.append(name)
    return names


def write_manifest(path: Path, pool: list[str], rows: int) -> Path:
    labels = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    groups = ("a", "b", "c")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["sample_id", "path", "label", "group"])
        for i in range(rows):
            w.writerow([f"s{i}", pool[i % len(pool)], labels[i % 7], groups[i % 3]])
    return path


def child(manifest: Path, model: Path, spec: Path, out: Path, resamples: int) -> None:
    """Run in a fresh process: the audit, then the analysis alone from the cache."""
    from emoaudit.analysis.results import build_results
    from emoaudit.run.audit import AuditRequest, run_audit

    start = time.perf_counter()
    req = AuditRequest(
        data=manifest,
        out=out,
        models=[str(model)],
        model_spec=spec,
        fmt="manifest",
        precropped=True,
        n_resamples=resamples,
        groups=["group"],
    )
    run_audit(req)
    audit_s = time.perf_counter() - start
    start = time.perf_counter()
    build_results(out, n_resamples=resamples, groups=["group"])
    analysis_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"audit_s": audit_s, "analysis_s": analysis_s, "peak_rss_mb": peak_mb}))


def write_large_photos(folder: Path, *, n: int = 48, side: int = 8000) -> Path:
    """`n` copies of one 8000x8000 photo-like JPEG (smooth shading plus sensor-like noise, ~10
    MB): decoding cost and memory are those of n distinct photos; copies keep set-up short."""
    import cv2

    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    noise = np.random.default_rng(0).normal(0, 6, (side, side)).astype(np.float32)
    img = np.stack([160 * x + 40, 120 * y + 60, 100 * (x + y) / 2 + 50], -1) + noise[..., None]
    ok, buf = cv2.imencode(
        ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    data = buf.tobytes()
    (folder / "happy").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / "happy" / f"p{i:02d}.jpg").write_bytes(data)
    return folder


def write_1080p_video(path: Path, *, seconds: int = 60, rate: int = 10) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:1080, 0:1920]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.bit_rate = 8_000_000
        for i in range(seconds * rate):
            frame = np.stack([(x + 8 * i) % 256, (y + 4 * i) % 256, (x + y) % 256], -1)
            video_frame = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def own_peak_mb() -> float:
    """This process's peak RSS since exec (VmHWM). Not ru_maxrss: Linux carries a parent's peak
    across fork and exec, and the parent that wrote 8000x8000 photos had 2.4 GB of its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def large_child(data: Path, fmt: str, model: Path, spec: Path, out: Path) -> None:
    """A whole audit of one large input in this process; prints its peak RSS."""
    from emoaudit.run.audit import AuditRequest, run_audit

    start = time.perf_counter()
    extra = {"fps": 10.0} if fmt == "video" else {}
    req = AuditRequest(data=data, out=out, models=[str(model)], model_spec=spec, fmt=fmt,
                       n_resamples=100, extra=extra)  # fmt: skip
    results = run_audit(req)
    peak_mb = own_peak_mb()
    n = results["provenance"]["dataset"]["n_samples"]
    print(
        json.dumps({"samples": n, "audit_s": time.perf_counter() - start, "peak_rss_mb": peak_mb})
    )


def large(tmp: Path) -> None:
    model = tiny_model(tmp / "tiny.onnx")
    spec = tmp / "spec.toml"
    spec.write_text(SPEC)
    inputs = [
        ("48 JPEGs 8000x8000", write_large_photos(tmp / "photos"), "folders"),
        ("1080p video, 60 s, 10 frames/s", write_1080p_video(tmp / "video" / "v.mp4"), "video"),
    ]
    for name, data, fmt in inputs:
        cmd = [sys.executable, __file__, "--large-child", str(data), fmt, str(model), str(spec),
               str(tmp / f"out-{fmt}")]  # fmt: skip
        result = subprocess.run(cmd, check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        print(json.dumps({"input": name, **{k: round(v, 1) for k, v in figures.items()}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--large", action="store_true", help="8000x8000 photos, 1080p video")
    parser.add_argument("--large-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.large_child:
        data, fmt, mod, spec, out = args.large_child
        large_child(Path(data), fmt, Path(mod), Path(spec), Path(out))
        return
    if args.child:
        m, mod, spec, out, res = args.child
        child(Path(m), Path(mod), Path(spec), Path(out), int(res))
        return
    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-mem-"))
    if args.large:
        try:
            large(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        pool = write_pool(tmp / "pool")
        model = tiny_model(tmp / "tiny.onnx")
        spec = tmp / "spec.toml"
        spec.write_text(SPEC)
        for size in (int(s) for s in args.sizes.split(",")):
            manifest = write_manifest(tmp / f"manifest-{size}.csv", pool, size)
            cmd = [sys.executable, __file__, "--child", str(manifest), str(model), str(spec),
                   str(tmp / f"out-{size}"), str(args.resamples)]  # fmt: skip
            result = subprocess.run(cmd, check=True, capture_output=True, text=True)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            print(json.dumps({"samples": size, **{k: round(v, 1) for k, v in figures.items()}}))
            shutil.rmtree(tmp / f"out-{size}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
