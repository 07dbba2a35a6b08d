"""Time `emoaudit report DIR` (build_results: analyze + optional sections) on 1,000,000 cached
predictions (target: < 30 s with 1,000 resamples, 2 cores).

The table is generated in the predictions.parquet contract: one model, condition clean, 7
canonical labels with prob_* columns, 3 attributes (gender, race, age band), 5% missed faces,
and - for the cluster variant - subject ids (20 images per subject, as CK+/JAFFE-style data).
Run: python benchmarks/analysis.py [--rows N] [--resamples B] [--variant sample|cluster|both]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

LABELS = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"]


def predictions(n: int, *, subjects: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    K = len(LABELS)
    t = rng.choice(K, n, p=[0.25, 0.25, 0.12, 0.12, 0.06, 0.05, 0.15])
    right = rng.random(n) < 0.65
    p = np.where(right, t, (t + rng.integers(1, K, n)) % K)
    logits = rng.normal(size=(n, K)).astype(np.float32)
    logits[np.arange(n), p] += 2.5
    proba = np.exp(logits)
    proba /= proba.sum(1, keepdims=True)
    rows = np.arange(n)  # the contract: p is the argmax; move the top probability there
    top = proba.argmax(1)
    at_p, at_top = proba[rows, p].copy(), proba[rows, top].copy()
    proba[rows, top], proba[rows, p] = at_p, at_top
    ok = rng.random(n) >= 0.05
    labels = np.array(LABELS, dtype=object)
    df = pd.DataFrame(
        {
            "sample_id": pd.Series(np.arange(n)).map("s{:07d}".format),
            "subject_id": (
                pd.Series(np.arange(n) // 20).map("p{:06d}".format) if subjects else None
            ),
            "dataset": "synthetic",
            "split": "test",
            "model": "m1",
            "model_sha256": "0" * 64,
            "condition": "clean",
            "status": np.where(ok, "ok", "no_face"),
            "reason": np.where(ok, "", "no face found"),
            "label": labels[t],
            "pred": np.where(ok, labels[p], None),
        }
    )
    for k, lab in enumerate(LABELS):
        df[f"prob_{lab}"] = np.where(ok, proba[:, k], np.nan)
    df["attr_gender"] = rng.choice(["female", "male", "unsure"], n, p=[0.48, 0.48, 0.04])
    df["attr_race"] = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    df["attr_age"] = rng.choice(["0-3", "4-19", "20-39", "40-69", "70+"], n)
    if subjects:  # attributes belong to a person, not an image
        first = df.groupby("subject_id", sort=False)[["attr_gender", "attr_race", "attr_age"]]
        df[["attr_gender", "attr_race", "attr_age"]] = first.transform("first")
    return df


def time_report(out_dir: Path, *, n_resamples: int) -> float:
    from emoaudit.analysis.results import build_results

    start = time.perf_counter()
    build_results(out_dir, n_resamples=n_resamples)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--variant", choices=["sample", "cluster", "both"], default="both")
    args = ap.parse_args()
    variants = ["sample", "cluster"] if args.variant == "both" else [args.variant]
    for variant in variants:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            df = predictions(args.rows, subjects=variant == "cluster")
            df.to_parquet(out / "predictions.parquet", index=False)
            del df
            took = time_report(out, n_resamples=args.resamples)
            print(
                f"{variant}: build_results on {args.rows:,} predictions, "
                f"{args.resamples} resamples: {took:.1f} s"
            )


if __name__ == "__main__":
    main()
