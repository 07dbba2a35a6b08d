"""Temporal stability of a model's labels within each video clip.

A person's expression does not change five times a second; a model whose label does is measuring
noise. Per clip (frames in time order, frames without a prediction skipped; the change across
such a gap still counts):

* label changes per second: changes between consecutive predicted frames / the span of time
  from the first to the last predicted frame (undefined for a clip with one predicted frame);
* mean run length: mean duration in seconds of maximal runs of one label, each frame counting
  for one sampling interval (the median gap between frame times);
* per-second entropy: the label distribution inside each whole second of the clip, its Shannon
  entropy in bits, averaged over those seconds (0 when the label holds for every second).

Clips are the units of the summary: means across clips with a bootstrap over clips (frames of
one clip are not independent). Frame times come from the ``time_s`` and ``clip_id`` columns
when the runner wrote them, else from the sample id ``<clip>#t=<seconds>`` of data/video.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoaudit.analysis.bootstrap import BootstrapSpec, Resampled, interval

CLEAN = "clean"
TIME_MARK = "#t="
MEASURES = ("changes_per_s", "mean_run_s", "entropy_bits")


def clip_and_time(df: Any) -> tuple[Any, Any]:
    """Clip id and frame time per row, from dedicated columns or parsed from the sample id."""
    import pandas as pd

    if "clip_id" in df and "time_s" in df and df["time_s"].notna().any():
        # A clip that could not be decoded has its id and no time: kept, counted as a clip
        # with no predicted frame (parsing ids instead gave it a NaN id: invalid JSON).
        clips = df["clip_id"].astype(object)
        return clips.where(clips.notna(), None), df["time_s"].astype(float)
    parts = df["sample_id"].astype(str).str.rpartition(TIME_MARK)
    times = pd.to_numeric(parts[2], errors="coerce")
    clips = parts[0].where(parts[1] == TIME_MARK, None)
    return clips, times


def run_lengths(labels: list[str]) -> list[int]:
    """Lengths of maximal runs of equal consecutive labels."""
    runs: list[int] = []
    for i, lab in enumerate(labels):
        if i and lab == labels[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    return runs


def per_second_entropy(times: np.ndarray, labels: list[str]) -> float:
    """Mean over whole seconds of the entropy (bits) of the labels predicted in that second."""
    seconds = np.floor(times).astype(np.int64)
    entropies = []
    for sec in np.unique(seconds):
        _, counts = np.unique(np.asarray(labels, dtype=object)[seconds == sec], return_counts=True)
        p = counts / counts.sum()
        entropies.append(float(-(p * np.log2(p)).sum()) + 0.0)
    return float(np.mean(entropies))


def clip_stability(times: np.ndarray, labels: list[str]) -> dict[str, float | None]:
    """The three measures for one clip's predicted frames, sorted by time."""
    order = np.argsort(times, kind="stable")
    t = np.asarray(times, dtype=np.float64)[order]
    labs = [labels[i] for i in order]
    n = len(labs)
    span = float(t[-1] - t[0]) if n else 0.0
    changes = sum(a != b for a, b in zip(labs, labs[1:], strict=False))
    step = float(np.median(np.diff(t))) if n > 1 else None
    runs = run_lengths(labs)
    return {
        "n_frames": n,
        "duration_s": span,
        "changes": changes,
        "changes_per_s": changes / span if span > 0 else None,
        "mean_run_s": float(np.mean(runs)) * step if step else None,
        "mean_run_frames": float(np.mean(runs)) if runs else None,
        "entropy_bits": per_second_entropy(t, labs) if n else None,
    }


def per_clip(df: Any, *, model: str, condition: str = CLEAN) -> list[dict[str, Any]]:
    """One record per clip: the measures and how many of its frames had no prediction."""
    rows = df[(df["model"] == model) & (df["condition"] == condition)]
    clips, times = clip_and_time(rows)
    out = []
    for clip in dict.fromkeys(c for c in clips if isinstance(c, str)):
        in_clip = (clips == clip).to_numpy()
        has_pred = rows["pred"].notna().to_numpy() & in_clip & times.notna().to_numpy()
        record = {"clip": clip, "n_frames_without_prediction": int(in_clip.sum() - has_pred.sum())}
        record |= clip_stability(
            times.to_numpy(dtype=np.float64)[has_pred], list(rows["pred"].to_numpy()[has_pred])
        )
        out.append(record)
    return out


def _across_clips(values: list[float | None], spec: BootstrapSpec) -> dict[str, Any]:
    """Mean over clips where the measure is defined, bootstrapping clips."""
    from emoaudit.analysis.robustness import count_features, mean_of

    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if len(v) == 0:
        return interval(np.nan, np.nan, np.nan, 0)
    res = Resampled(count_features(v), spec=spec)
    e = res.estimate(mean_of)
    return interval(e.value, e.low, e.high, len(v))


def stability_summary(
    df: Any,
    *,
    condition: str = CLEAN,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Per model: the per-clip records and each measure's mean across clips with its CI.

    Returns ``{"method": {...}, "models": {model: {"clips": [...], "summary": {measure: {value,
    ci_low, ci_high, n}}}}}`` where n counts the clips on which the measure is defined.
    """
    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    out: dict[str, Any] = {"method": {**spec.record(), "unit": "clip"}, "models": {}}
    for model in dict.fromkeys(df["model"]):
        clips = per_clip(df, model=model, condition=condition)
        summary = {m: _across_clips([c[m] for c in clips], spec) for m in MEASURES}
        out["models"][model] = {"clips": clips, "summary": summary}
    return out
