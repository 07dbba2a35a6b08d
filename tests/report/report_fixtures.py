"""Results for report tests, made the real way: a synthetic predictions table through analyze().

The predictions table follows the on-disk contract (DESIGN.md): one row per (sample, model,
condition), canonical labels, prob_<label> columns and attr_<name> columns. Nothing here is
third-party data; the model answers are drawn from a seeded generator with a known accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LABELS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
EVIL = '<script>window.__pwned=1;document.title="pwned"</script>'
EVIL_ATTR = '"><img src=x onerror="window.__pwned=2">'
RESAMPLES = 60


def _rows(
    rng: np.random.Generator,
    *,
    n: int,
    model: str,
    condition: str,
    accuracy: float,
    labels: np.ndarray,
    groups: np.ndarray,
    dataset: str,
) -> pd.DataFrame:
    k = len(LABELS)
    pred = np.where(rng.random(n) < accuracy, labels, rng.integers(0, k, n))
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), pred] += 2.5
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    rows = np.arange(n)  # the contract: pred is the argmax; move the top probability there
    top = proba.argmax(1)
    at_pred, at_top = proba[rows, pred].copy(), proba[rows, top].copy()
    proba[rows, top], proba[rows, pred] = at_pred, at_top
    status = np.where(rng.random(n) < 0.03, "no_face", "ok")
    df = pd.DataFrame(
        {
            "sample_id": [f"img{i:04d}.png" for i in range(n)],
            "subject_id": None,
            "dataset": dataset,
            "split": "test",
            "model": model,
            "model_sha256": "0" * 64,
            "condition": condition,
            "status": status,
            "reason": "",
            "label": [LABELS[i] for i in labels],
            "pred": [LABELS[i] if s == "ok" else None for i, s in zip(pred, status, strict=True)],
            "attr_gender": groups,
        }
    )
    for j, lab in enumerate(LABELS):
        df[f"prob_{lab}"] = np.where(status == "ok", proba[:, j], np.nan)
    return df


def make_predictions(*, seed: int = 0, n: int = 240, evil: bool = False) -> pd.DataFrame:
    """Two models, clean plus a resolution family and a flip, one grouping attribute."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(LABELS), n)
    genders = np.array(["female", "male", EVIL_ATTR if evil else "unsure"])
    groups = genders[rng.choice(3, n, p=[0.45, 0.45, 0.10])]
    dataset = EVIL if evil else "synthetic"
    parts = []
    for model, acc in (("model-a", 0.7), ("model-b", 0.55)):
        name = f"{model}{EVIL}" if evil and model == "model-a" else model
        parts.append(
            _rows(
                rng,
                n=n,
                model=name,
                condition="clean",
                accuracy=acc,
                labels=labels,
                groups=groups,
                dataset=dataset,
            )
        )
        for sev in (1, 3, 5):
            parts.append(
                _rows(
                    rng,
                    n=n,
                    model=name,
                    condition=f"resolution:{sev}",
                    accuracy=acc - 0.08 * sev,
                    labels=labels,
                    groups=groups,
                    dataset=dataset,
                )
            )
        parts.append(  # a protocol (run/protocols.py): the report's protocol section
            _rows(
                rng,
                n=n,
                model=name,
                condition="protocol:resize=area",
                accuracy=acc - 0.05,
                labels=labels,
                groups=groups,
                dataset=dataset,
            )
        )
        parts.append(
            _rows(
                rng,
                n=n,
                model=name,
                condition="flip:1",
                accuracy=acc - 0.02,
                labels=labels,
                groups=groups,
                dataset=dataset,
            )
        )
    return pd.concat(parts, ignore_index=True)


def make_video_predictions(*, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for clip in ("walk.mp4", "talk.mp4"):
        for f in range(25):
            rows.append(
                {
                    "sample_id": f"{clip}#t={f / 5:.2f}",
                    "model": "model-a",
                    "condition": "clean",
                    "status": "ok",
                    "pred": LABELS[int(rng.integers(0, 3))],
                }
            )
    return pd.DataFrame(rows)


def make_results(df: pd.DataFrame, *, demo: bool = False) -> dict:
    from emoaudit.analysis.consistency import consistency_summary
    from emoaudit.analysis.flagging import flagging_analysis
    from emoaudit.analysis.robustness import robustness_summary
    from emoaudit.analysis.sensitivity import protocol_summary
    from emoaudit.analysis.stability import stability_summary
    from emoaudit.analysis.summary import analyze

    kw = {"n_resamples": RESAMPLES, "seed": 0}
    results = {
        "schema_version": "1.0",
        "provenance": {
            "command": "emoaudit audit data --model model-a --model model-b",
            "demo": demo,
            "artifacts": {str(m): "ab" * 32 for m in df["model"].unique()},
        },
        **analyze(df, **kw, min_group_n=10),  # small fixture: directional rates need 10 rows
        "robustness": robustness_summary(df, **kw),
        "protocols": protocol_summary(df, **kw),
        "consistency": consistency_summary(df, **kw),
        "stability": stability_summary(make_video_predictions(), **kw),
    }
    first = sorted(df["model"].unique())[0]
    results["flagging"] = [
        flagging_analysis(df, flag=["anger", "disgust", "fear"], model=first, **kw)
    ]
    return results
