"""Perturbation throughput: images/s per family on 48x48 and 112x112 face crops.

Why: `--conditions standard` runs 66 perturbed conditions per sample, so a slow family would
dominate an audit. Run: python benchmarks/perturbations.py [--seconds 0.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np

from emoaudit.perturb import GROUPS, PERTURBATIONS
from emoaudit.perturb.conditions import apply_condition


def face(size: int) -> np.ndarray:
    from skimage.data import astronaut

    crop = astronaut()[47:180, 158:291]  # the face with a 20% margin
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def images_per_second(image: np.ndarray, family: str, *, seconds: float) -> float:
    """Cycle through the family's severities and sample ids (the rng is made per call, as in
    the runner) for at least `seconds`."""
    conditions = [f"{family}:{s}" for s in PERTURBATIONS.meta(family)["severities"]]
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for i in range(50):
            apply_condition(image, conditions[i % len(conditions)], sample_id=str(i), seed=0)
        n += 50
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the runner perturbs in worker threads; measure one core
    rows = {}
    print(f"{'family':<18}{'48x48 img/s':>14}{'112x112 img/s':>16}")
    for family in GROUPS["all"]:
        r = {str(s): images_per_second(face(s), family, seconds=args.seconds) for s in (48, 112)}
        rows[family] = r
        print(f"{family:<18}{r['48']:>14,.0f}{r['112']:>16,.0f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
