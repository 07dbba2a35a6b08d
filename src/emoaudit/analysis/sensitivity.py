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

Words follow a test, not the point estimates: with no real protocol effect the lowest and the
highest of seven accuracies still differ by a few points in every run (and the width's interval
can never hold 0). Each protocol is tested against the default on the faces both scored
(analysis/paired_tests.py: McNemar's exact test, by subject when subject ids exist), Holm over
the protocols of one (model, split) at alpha = 1 - confidence. The statement says accuracy
depends on preprocessing only when a protocol is rejected, and names only rejected protocols.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emoaudit.analysis.bootstrap import BootstrapSpec, Resampled, holm, interval
from emoaudit.analysis.metrics import (
    Features,
    _div,
    concat_features,
    confusion_features,
    f1_macro_from_confusion,
)
from emoaudit.analysis.paired_tests import PAIRED_TEST, paired_test
from emoaudit.data.base import NO_FACE, OK
from emoaudit.run.protocols import is_protocol, split_protocol
from emoaudit.taxonomy import CANONICAL

DEFAULT = "clean"
# Only when at least one protocol differs from the default after Holm; names only those.
STATEMENT = (
    "{model}{where}: accuracy depends on defensible preprocessing (default {default:.0%}; "
    "{moved}; {low:.0%} to {high:.0%} over the default and {k} protocol{s})"
)
MOVED = "{points} point{s} {way} under {name} (Holm p = {p:.3g})"
NO_CHANGE = (
    "{model}{where}: no preprocessing protocol changed accuracy detectably (default "
    "{default:.0%}; {low:.0%} to {high:.0%} over the default and {k} protocol{s})"
)
CORRECTION = "holm over the protocols of each (model, split)"


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
            "test": PAIRED_TEST + ", each protocol against the default on the faces both scored",
            "correction": CORRECTION,
            "alpha": 1 - confidence,
            "range": "highest minus lowest accuracy over the default and every protocol, "
            "recomputed in each resample",
        },
        "results": out,
    }


def _indicators(
    part: pd.DataFrame, names: list[str], ids: pd.Index, index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scored, hit, prediction code or -1), each (condition, sample in `ids`), in one pass;
    absent rows are neither scored nor hit, and a repeated (condition, sample) counts once."""
    rows = part.loc[part["condition"].isin(names), ["condition", "sample_id", "status", "pred",
                                                    "label"]]  # fmt: skip
    rows = rows.drop_duplicates(["condition", "sample_id"])
    at = ids.get_indexer(rows["sample_id"])
    k = pd.Index(names).get_indexer(rows["condition"])
    keep = at >= 0
    pred = rows["pred"].to_numpy(dtype=object)
    ok = ((rows["status"] == OK) & rows["pred"].notna()).to_numpy(dtype=bool)
    right = ok & (pred == rows["label"].to_numpy(dtype=object))
    code = np.array([index.get(x, -1) if o else -1 for x, o in zip(pred, ok, strict=True)])
    shape = (len(names), len(ids))
    scored, hit, codes = np.zeros(shape), np.zeros(shape), np.full(shape, -1, dtype=np.int64)
    scored[k[keep], at[keep]] = ok[keep]
    hit[k[keep], at[keep]] = right[keep]
    codes[k[keep], at[keep]] = code[keep]
    return scored, hit, codes


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
    scored_all, hit_all, codes = _indicators(part, names, ids, index)
    subjects = base["subject_id"] if "subject_id" in base else None
    clusters = (
        subjects.to_numpy(dtype=object) if subjects is not None and subjects.notna().any() else None
    )
    return protocol_block(
        names,
        labels=labels,
        true=true,
        scored=scored_all,
        hit=hit_all,
        pred=codes,
        clusters=clusters,
        spec=spec,
    )


def protocol_block(
    names: list[str],
    *,
    labels: list[str],
    true: np.ndarray,
    scored: np.ndarray,
    hit: np.ndarray,
    pred: np.ndarray,
    clusters: Any,
    spec: BootstrapSpec,
) -> dict[str, Any]:
    """The numbers and tests of one (model, split) from arrays: `names` the default then the
    protocols; `scored`, `hit` and `pred` (label code, -1 when unscored) one row per name and
    one column per sample; `true` the label codes; `clusters` subject ids or None."""
    scored_all, hit_all, codes = (np.asarray(x) for x in (scored, hit, pred))
    cols, confusions, preds = [], [], []
    for k in range(len(names)):
        cols += [scored_all[k], hit_all[k]]
        preds.append(codes[k])
        confusions.append(confusion_features(true, preds[-1], len(labels)))
    # macro F1 of the default and of each protocol on the faces both scored, for the paired
    # difference (the F1 of each on its own faces stays the protocol's headline F1)
    for pred_k in preds[1:]:
        both = (preds[0] >= 0) & (pred_k >= 0)
        for pred in (preds[0], pred_k):
            confusions.append(confusion_features(true, np.where(both, pred, -1), len(labels)))
    n = len(true)
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
    strata = np.asarray(labels, dtype=object)[true]
    res = Resampled(feats, spec=spec, strata=strata, clusters=clusters)
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

    tests = protocol_tests(list(hit_all), list(scored_all), clusters, alpha=1 - spec.confidence)
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
                **(UNTESTED if k == 0 else tests[k - 1]),
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


# the default is what every protocol is tested against, not a protocol tested itself
UNTESTED: dict[str, Any] = {"p_value": None, "p_holm": None, "rejected": None}


def protocol_tests(
    hit: list[np.ndarray], scored: list[np.ndarray], clusters: Any, *, alpha: float
) -> list[dict[str, Any]]:
    """Each protocol (index 1 on; 0 is the default) against the default on the faces both
    scored: the paired test by subject (McNemar's exact test without subjects), Holm over the
    protocols. ``n_only_protocol_right`` and ``n_only_default_right`` are its discordant faces."""
    out = []
    for k in range(1, len(hit)):
        both = (scored[0] > 0) & (scored[k] > 0)
        sub = None if clusters is None else np.asarray(clusters, dtype=object)[both]
        t = paired_test(hit[k][both] > 0, hit[0][both] > 0, sub)
        out.append(
            {
                "n_only_protocol_right": t["b"],
                "n_only_default_right": t["c"],
                "n_units": t["n_units"],
                "p_value": t["p_value"],
            }
        )
    for row, p in zip(out, holm([r["p_value"] for r in out]), strict=True):
        row["p_holm"] = float(p)
        row["rejected"] = bool(p < alpha)
    return out


def _nan_stat(x: np.ndarray, how: str) -> np.ndarray:
    """Max or min over protocols, ignoring a protocol undefined in a resample (all-NaN: NaN)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(x, axis=-1) if how == "max" else np.nanmin(x, axis=-1)


def statement(block: dict[str, Any]) -> str | None:
    """The headline sentence. Accuracy "depends on preprocessing" only when a protocol differs
    from the default after Holm (see protocol_tests), and only those protocols are named; the
    range is descriptive and shown either way. None when a protocol was never tested (a block
    written before the tests existed): no words without a test."""
    rng = block["range"]
    default = block["protocols"][0]["accuracy"]["value"]
    tested = block["protocols"][1:]
    if rng["lowest"]["value"] is None or default is None:
        return None
    if not tested or any(r.get("rejected") is None for r in tested):
        return None
    words = {
        "model": block["model"],
        "where": f" on {block['split']}" if block.get("split") else "",
        "default": default,
        "low": rng["lowest"]["value"],
        "high": rng["highest"]["value"],
        "k": len(tested),
        "s": "" if len(tested) == 1 else "s",
    }
    moved = [_moved(r) for r in tested if r["rejected"]]
    if not moved:
        return NO_CHANGE.format(**words)
    return STATEMENT.format(moved="; ".join(moved), **words)


def _moved(row: dict[str, Any]) -> str:
    """One rejected protocol: its paired difference from the default (faces both scored), the
    direction the test's discordant faces take, and its Holm p."""
    diff = row["difference"]["value"]
    way = "higher" if row["n_only_protocol_right"] > row["n_only_default_right"] else "lower"
    points = 100 * abs(diff) if diff is not None else float("nan")
    shown = f"{points:.0f}" if points >= 1 else f"{points:.1g}"
    return MOVED.format(
        points=shown, s="" if shown == "1" else "s", way=way, name=row["protocol"], p=row["p_holm"]
    )
