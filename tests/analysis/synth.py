"""Generated predictions tables in the exact predictions.parquet column layout."""

from __future__ import annotations

import numpy as np
import pandas as pd

LABELS = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"]


def predictions(
    n: int = 400,
    *,
    seed: int = 0,
    accuracy: float = 0.6,
    subjects: int | None = None,
    votes: bool = False,
    model: str = "m1",
    condition: str = "clean",
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    K = len(LABELS)
    t = rng.integers(0, K, n)
    right = rng.random(n) < accuracy
    p = np.where(right, t, (t + rng.integers(1, K, n)) % K)
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), p] += 3.0
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    status = np.where(rng.random(n) < 0.05, "no_face", "ok")
    df = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "subject_id": ([f"p{i % subjects}" for i in range(n)] if subjects else [None] * n),
            "dataset": "synthetic",
            "split": "test",
            "model": model,
            "model_sha256": "0" * 64,
            "condition": condition,
            "status": status,
            "reason": "",
            "label": [LABELS[i] for i in t],
            "pred": [LABELS[i] if s == "ok" else None for i, s in zip(p, status, strict=True)],
        }
    )
    for k, lab in enumerate(LABELS):
        df[f"prob_{lab}"] = np.where(status == "ok", proba[:, k], np.nan)
    df["prob_contempt"] = np.nan
    df["attr_gender"] = rng.choice(["female", "male", "unsure"], n, p=[0.48, 0.48, 0.04])
    df["attr_race"] = rng.choice(["a", "b", "c"], n)
    df.loc[df.index[:3], "attr_race"] = None
    if votes:
        cats = [*LABELS, "contempt", "unknown", "nf"]
        V = np.zeros((n, len(cats)), dtype=int)
        for i in range(n):
            share = rng.dirichlet(np.ones(len(cats)) * 0.3)
            share[t[i]] += 2
            V[i] = rng.multinomial(10, share / share.sum())
        for j, c in enumerate(cats):
            df[f"votes_{c}"] = V[:, j]
    return df


def table(label, pred, **columns) -> pd.DataFrame:
    """The smallest table in the predictions contract: given labels and predictions (status
    ok unless `status` is given), one model, clean; extra columns (attr_*, status) as given."""
    n = len(label)
    base = {
        "sample_id": [f"s{i}" for i in range(n)],
        "subject_id": None,
        "dataset": "d",
        "split": None,
        "model": "m",
        "model_sha256": "0",
        "condition": "clean",
        "status": "ok",
        "reason": "",
        "label": label,
        "pred": pred,
    }
    return pd.DataFrame({**base, **columns})
