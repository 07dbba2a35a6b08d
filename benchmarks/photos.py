"""Audit throughput on photos, where face detection rather than the network sets the pace.

N JPEG photos (the public-domain astronaut and Grace Hopper photos, alternating, scaled 0.8-1.4x:
about 410-720 px a side) in one class folder, audited end to end with fer-mini-xception, once
with each face detector, from an empty cache. Model and detector loading are excluded.

Usage: python benchmarks/photos.py [--n 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def make_photos(root: Path, n: int, *, seed: int = 0) -> Path:
    import cv2
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        sources = [data.astronaut(), np.asarray(im.convert("RGB"))]
    rng = np.random.default_rng(seed)
    folder = root / "happy"
    folder.mkdir(parents=True)
    for i in range(n):
        scale = rng.uniform(0.8, 1.4)
        photo = cv2.resize(sources[i % 2], None, fx=scale, fy=scale)
        Image.fromarray(photo).save(folder / f"photo_{i:05d}.jpg", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from emoaudit.data import DATASETS
    from emoaudit.faces import get_detector
    from emoaudit.run.audit import load_models
    from emoaudit.run.chunks import FaceSettings
    from emoaudit.run.runner import RunPlan, run_plan, session_threads

    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-photos-"))
    try:
        photos = make_photos(tmp / "photos", args.n)
        models = load_models(["fer-mini-xception"], None, threads=session_threads(args.workers))
        for detector in ("blazeface", "haar"):
            get_detector(detector).detect(np.zeros((64, 64, 3), np.uint8))  # load it untimed
            plan = RunPlan(
                dataset="folders",
                samples=lambda: DATASETS.get("folders").iter_samples(photos),
                models=models,
                faces=FaceSettings(detector=detector),
                workers=args.workers,
            )
            start = time.perf_counter()
            outcome = run_plan(plan, tmp / f"out-{detector}")
            rate = outcome.n_samples / (time.perf_counter() - start)
            print(f"{detector}: {rate:.1f} photos/s ({args.n} photos, {args.workers} workers)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
