"""Protocol sensitivity: how far a model's headline numbers move under equally defensible
preprocessing (run/protocols.py), with intervals.

Per (model, split): accuracy and macro F1 (over faces scored under that protocol) and
end-to-end accuracy (every labelled face shown, a missed face counting as wrong) under the
default and under every protocol; the paired difference of each protocol from the default; and
the range of accuracy across the default and all protocols (lowest, highest, and their gap).
All of them come from one set of resamples of the same samples, so the difference and the range
are paired: between-sample variance does not enter twice. Samples: every labelled sample of the
default (clean) condition whose label the model can output, shown to the model (status ok or
no_face); subjects are resampled when subject ids exist, else samples stratified by label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emoaudit.analysis.bootstrap import BootstrapSpec, Resampled, interval
from emoaudit.analysis.metrics import (
    Features,
    _div,
    concat_features,
    confusion_features,
    f1_macro_from_confusion,
)
from emoaudit.data.base import NO_FACE, OK
from emoaudit.run.protocols import is_protocol, split_protocol
from emoaudit.taxonomy import CANONICAL

DEFAULT = "clean"
STATEMENT = (
    "{model}{where}: accuracy is {low:.0%} to {high:.0%} depending on defensible preprocessing "
    "(default {default:.0%}; lowest under {low_name}, highest under {high_name})"
)


def protocol_conditions(df: pd.DataFrame) -> list[str]:
    return [c for c in dict.fromkeys(df["condition"]) if is_protocol(str(c))]


def protocol_summary(
    df: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Any]:
    """``{"method": {...}, "results": [per (model, split)]}`` for every protocol in `df`."""
    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    conditions = protocol_conditions(df)
    split = df["split"] if "split" in df else pd.Series(None, index=df.index)
    keys = [df["dataset"], df["model"], split]
    out = []
    for (dataset, model, part_split), part in df.groupby(keys, dropna=False, sort=True):
        name = None if pd.isna(part_split) else str(part_split)
        block = model_protocols(part, conditions=conditions, spec=spec)
        if block is not None:
            out.append({"dataset": str(dataset), "model": str(model), "split": name, **block})
            out[-1]["statement"] = statement(out[-1])
    return {
        "method": {
            **spec.record(),
            "default": DEFAULT,
            "paired": True,
            "range": "highest minus lowest accuracy over the default and every protocol, "
            "recomputed in each resample",
        },
        "results": out,
    }


def _indicators(
    part: pd.DataFrame, condition: str, ids: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scored, hit, prediction or None) per sample in `ids` under `condition`; absent rows
    are neither scored nor hit."""
    rows = part[part["condition"] == condition].drop_duplicates("sample_id").set_index("sample_id")
    rows = rows.reindex(ids)
    scored = (rows["status"] == OK) & rows["pred"].notna()
    hit = scored & (rows["pred"] == rows["label"])
    pred = rows["pred"].where(scored, None).to_numpy(dtype=object)
    return scored.to_numpy(dtype=float), hit.to_numpy(dtype=float), pred


def model_protocols(
    part: pd.DataFrame, *, conditions: list[str], spec: BootstrapSpec
) -> dict[str, Any] | None:
    """One model (one split): every number of the protocol section."""
    base = part[part["condition"] == DEFAULT].drop_duplicates("sample_id")
    emitted = [c[5:] for c in part.columns if c.startswith("prob_") and part[c].notna().any()]
    base = base[base["label"].notna() & base["status"].isin([OK, NO_FACE])]
    base = base[base["label"].isin(emitted)]
    if base.empty or not conditions:
        return None
    ids = pd.Index(base["sample_id"])
    names = [DEFAULT, *conditions]
    labels = [lab for lab in CANONICAL if lab in emitted]
    index = {lab: i for i, lab in enumerate(labels)}
    true = np.array([index[lab] for lab in base["label"]], dtype=np.int64)
    cols, confusions, preds = [], [], []
    for condition in names:
        scored, hit, pred = _indicators(part, condition, ids)
        cols += [scored, hit]
        preds.append(np.array([index.get(x, -1) if x is not None else -1 for x in pred]))
        confusions.append(confusion_features(true, preds[-1], len(labels)))
    # macro F1 of the default and of each protocol on the faces both scored, for the paired
    # difference (the F1 of each on its own faces stays the protocol's headline F1)
    for pred_k in preds[1:]:
        both = (preds[0] >= 0) & (pred_k >= 0)
        for pred in (preds[0], pred_k):
            confusions.append(confusion_features(true, np.where(both, pred, -1), len(labels)))
    n = len(ids)
    # paired on the faces both the default and the protocol scored: a protocol that loses
    # faces (a margin, a detector) was compared on fewer, other faces than the default's
    scored0, hit0 = cols[0], cols[1]
    for k in range(1, len(names)):
        scored_k, hit_k = cols[2 * k], cols[2 * k + 1]
        cols += [scored_k * scored0, hit_k * scored0, hit0 * scored_k]
    values = np.column_stack([np.ones(n), *cols])
    width = values.shape[1]
    counts = Features(np.broadcast_to(np.arange(width), values.shape).copy(), values, width)
    feats, blocks = concat_features([counts, *confusions])  # one resample drives them all
    subjects = base["subject_id"] if "subject_id" in base else None
    clusters = (
        subjects.to_numpy(dtype=object) if subjects is not None and subjects.notna().any() else None
    )
    res = Resampled(feats, spec=spec, strata=base["label"].to_numpy(), clusters=clusters)
    K = len(names)

    def acc(S: np.ndarray) -> np.ndarray:
        return np.stack([_div(S[..., 2 + 2 * k], S[..., 1 + 2 * k], np.nan) for k in range(K)], -1)

    def e2e(S: np.ndarray) -> np.ndarray:
        return np.stack([_div(S[..., 2 + 2 * k], S[..., 0], np.nan) for k in range(K)], -1)

    def f1(S: np.ndarray) -> np.ndarray:
        return np.stack([f1_macro_from_confusion(S[..., b]) for b in blocks[1 : 1 + K]], -1)

    def f1_paired(S: np.ndarray) -> np.ndarray:
        diffs = [np.zeros(S.shape[:-1])]
        for k in range(1, K):
            default, protocol = blocks[1 + K + 2 * (k - 1)], blocks[2 + K + 2 * (k - 1)]
            diffs.append(f1_macro_from_confusion(S[..., protocol])
                         - f1_macro_from_confusion(S[..., default]))  # fmt: skip
        return np.stack(diffs, -1)

    a, e, f = res.estimate(acc), res.estimate(e2e), res.estimate(f1)
    fd = res.estimate(f1_paired)
    paired_at = 1 + 2 * K  # per protocol after the default: both scored, its hits, default's

    def paired(S: np.ndarray) -> np.ndarray:
        diffs = [np.zeros(S.shape[:-1])]
        for k in range(1, K):
            j = paired_at + 3 * (k - 1)
            diffs.append(_div(S[..., j + 1] - S[..., j + 2], S[..., j], np.nan))
        return np.stack(diffs, -1)

    d = res.estimate(paired)
    span = res.estimate(lambda S: _nan_stat(acc(S), "max") - _nan_stat(acc(S), "min"))
    low = res.estimate(lambda S: _nan_stat(acc(S), "min"))
    high = res.estimate(lambda S: _nan_stat(acc(S), "max"))
    n_scored = res.total[1::2][:K]
    n_both = [n_scored[0], *(res.total[paired_at + 3 * (k - 1)] for k in range(1, K))]
    rows = []
    for k, condition in enumerate(names):
        key, value = ("default", "default") if k == 0 else split_protocol(condition)
        rows.append(
            {
                "protocol": condition,
                "key": key,
                "value": value,
                "n_scored": int(n_scored[k]),
                "accuracy": interval(a.value[k], a.low[k], a.high[k], n_scored[k]),
                "accuracy_end_to_end": interval(e.value[k], e.low[k], e.high[k], n),
                "difference": interval(d.value[k], d.low[k], d.high[k], n_both[k]),
                "f1_macro": interval(f.value[k], f.low[k], f.high[k], n_scored[k]),
                "f1_macro_difference": interval(fd.value[k], fd.low[k], fd.high[k], n_both[k]),
            }
        )
    valued = [(r["accuracy"]["value"], r["protocol"]) for r in rows]
    valued = [(v, name) for v, name in valued if v is not None]
    lowest = min((v for v, _ in valued), default=None)
    highest = max((v for v, _ in valued), default=None)
    return {
        "n_samples": n,
        "protocols": rows,
        "range": {
            "lowest": interval(low.value, low.low, low.high, n),
            "highest": interval(high.value, high.low, high.high, n),
            "width": interval(span.value, span.low, span.high, n),
            # ties go to the earliest in report order: the default first
            "lowest_protocol": next((n for v, n in valued if v == lowest), None),
            "highest_protocol": next((n for v, n in valued if v == highest), None),
        },
    }


def _nan_stat(x: np.ndarray, how: str) -> np.ndarray:
    """Max or min over protocols, ignoring a protocol undefined in a resample (all-NaN: NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(x, axis=-1) if how == "max" else np.nanmin(x, axis=-1)


def statement(block: dict[str, Any]) -> str | None:
    """The headline sentence: the range of accuracy across protocols, in words."""
    rng = block["range"]
    default = block["protocols"][0]["accuracy"]["value"]
    if rng["lowest"]["value"] is None or default is None:
        return None
    where = f" on {block['split']}" if block.get("split") else ""
    return STATEMENT.format(
        model=block["model"],
        where=where,
        low=rng["lowest"]["value"],
        high=rng["highest"]["value"],
        default=default,
        low_name=_named(rng["lowest_protocol"]),
        high_name=_named(rng["highest_protocol"]),
    )


def _named(condition: str | None) -> str:
    return "the default" if condition == DEFAULT else str(condition)
