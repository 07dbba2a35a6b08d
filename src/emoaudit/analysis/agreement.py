"""How the model compares with people, from per-image annotator votes (FER+ ``votes_*``).

The human reference is the rate at which one annotator, drawn at random, agrees with the
plurality of the *other* annotators. The model gets the very same treatment - its label against
the plurality of the same leave-one-out rests - so the two rates are directly comparable (a model
scored against all ten votes would be judged by a larger, steadier panel than the human is).
Ties in a plurality give fractional credit: the expectation over breaking the tie at random.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emoaudit.analysis.bootstrap import BootstrapSpec, Resampled, interval
from emoaudit.analysis.metrics import EPS, Features, _div
from emoaudit.taxonomy import CANONICAL

VOTE_PREFIX = "votes_"
LEVELS = ("unanimous", "majority", "split")
# A subset papers report beside the three disjoint levels: top category holds >= 90% of the
# votes (9 or 10 of FER+'s ten). It overlaps `unanimous` and `majority`.
HIGH_AGREEMENT = "at_least_9_of_10"
HIGH_AGREEMENT_SHARE = 0.9
# The label a dataset had before re-annotation (FER+ keeps FER2013's as attr_fer2013_label).
ORIGINAL_LABEL_COLUMNS = ("attr_fer2013_label",)
COLUMNS = (
    "n",
    "hit_label",
    "has_plurality",
    "hit_plurality",
    "label_is_plurality",
    "human_vs_rest",
    "model_vs_rest",
    "has_ce",
    "ce",
    *[f"{lvl}_{x}" for lvl in (*LEVELS, HIGH_AGREEMENT) for x in ("n", "hit")],
)


def vote_categories(df: pd.DataFrame) -> list[str]:
    return [c[len(VOTE_PREFIX) :] for c in df.columns if c.startswith(VOTE_PREFIX)]


def _unique_argmax(V: np.ndarray) -> np.ndarray:
    top = V.max(1, keepdims=True)
    is_top = V == top
    return np.where(is_top.sum(1) == 1, V.argmax(1), -1)


def leave_one_out(V: np.ndarray, pred_col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected agreement of a random annotator, and of the model, with the plurality of the
    remaining annotators (ties: fractional credit)."""
    n, C = V.shape
    total = V.sum(1)
    human = np.zeros(n)
    model = np.zeros(n)
    rows = np.arange(n)
    for k in range(C):
        rest = V.copy()
        rest[:, k] -= 1
        has = V[:, k] > 0
        top = rest == rest.max(1, keepdims=True)
        size = top.sum(1)
        human += np.where(has, V[:, k] * top[:, k] / size, 0.0)
        model_hit = np.where(pred_col >= 0, top[rows, np.maximum(pred_col, 0)], False)
        model += np.where(has, V[:, k] * model_hit / size, 0.0)
    return _div(human, total), _div(model, total)


def row_features(
    *,
    votes: np.ndarray,
    categories: list[str],
    label: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    proba_labels: list[str],
) -> Features:
    V = np.nan_to_num(np.asarray(votes, dtype=np.float64))
    total = V.sum(1)
    has_votes = total > 0
    pred_col = np.array([categories.index(p) if p in categories else -1 for p in pred])
    plural = _unique_argmax(V)
    plural_label = np.array([categories[i] if i >= 0 else None for i in plural], dtype=object)
    has_plural = (plural >= 0) & has_votes
    share = _div(V.max(1), total)
    level = np.select([share >= 1.0, share > 0.5], [0, 1], 2)
    human, model = leave_one_out(V, pred_col)
    cols = {
        "n": np.ones(len(V)),
        "hit_label": (pred == label).astype(float),
        "has_plurality": has_plural.astype(float),
        "hit_plurality": (has_plural & (pred == plural_label)).astype(float),
        "label_is_plurality": (has_plural & (label == plural_label)).astype(float),
        "human_vs_rest": human,
        "model_vs_rest": model,
        "has_ce": np.zeros(len(V)),
        "ce": np.zeros(len(V)),
    }
    if proba is not None:
        shared = [c for c in proba_labels if c in categories]
        q = V[:, [categories.index(c) for c in shared]]
        qsum = q.sum(1)
        p = np.clip(proba[:, [proba_labels.index(c) for c in shared]], EPS, 1 - EPS)
        ok = qsum > 0
        cols["has_ce"] = ok.astype(float)
        cols["ce"] = np.where(ok, -(_div(q, qsum[:, None]) * np.log(p)).sum(1), 0.0)
    for i, lvl in enumerate(LEVELS):
        cols[f"{lvl}_n"] = (level == i).astype(float)
        cols[f"{lvl}_hit"] = ((level == i) & (pred == label)).astype(float)
    high = share >= HIGH_AGREEMENT_SHARE - 1e-9
    cols[f"{HIGH_AGREEMENT}_n"] = high.astype(float)
    cols[f"{HIGH_AGREEMENT}_hit"] = (high & (pred == label)).astype(float)
    vals = np.column_stack([cols[c] for c in COLUMNS]) * has_votes[:, None]
    codes = np.broadcast_to(np.arange(len(COLUMNS)), vals.shape).copy()
    return Features(codes, vals, len(COLUMNS))


def human_agreement(
    *,
    votes: np.ndarray,
    categories: list[str],
    label: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    proba_labels: list[str],
    spec: BootstrapSpec,
    clusters: Any = None,
) -> dict[str, Any]:
    """Model accuracy against the original label and the annotators' plurality, by annotator
    agreement level, cross-entropy against the vote distribution, and the human reference."""
    feats = row_features(
        votes=votes,
        categories=categories,
        label=np.asarray(label, dtype=object),
        pred=np.asarray(pred, dtype=object),
        proba=proba,
        proba_labels=proba_labels,
    )
    res = Resampled(feats, spec=spec, strata=label, clusters=clusters)
    col = {c: i for i, c in enumerate(COLUMNS)}
    total = res.total

    def ratio(num: str, den: str) -> dict[str, Any]:
        e = res.estimate(lambda S: _div(S[..., col[num]], S[..., col[den]], np.nan))
        return interval(e.value, e.low, e.high, total[col[den]])

    def diff() -> dict[str, Any]:
        def f(S: np.ndarray) -> np.ndarray:
            n = S[..., col["n"]]
            return _div(S[..., col["model_vs_rest"]] - S[..., col["human_vs_rest"]], n, np.nan)

        e = res.estimate(f)
        return interval(e.value, e.low, e.high, total[col["n"]])

    return {
        "vote_categories": categories,
        "n_with_votes": int(total[col["n"]]),
        "n_tied_plurality": int(total[col["n"]] - total[col["has_plurality"]]),
        "accuracy_vs_label": ratio("hit_label", "n"),
        "accuracy_vs_plurality": ratio("hit_plurality", "has_plurality"),
        "label_agrees_with_plurality": ratio("label_is_plurality", "has_plurality"),
        "human_single_vs_rest": ratio("human_vs_rest", "n"),
        "model_vs_rest": ratio("model_vs_rest", "n"),
        "model_minus_human": diff(),
        "cross_entropy_vs_votes": ratio("ce", "has_ce") if proba is not None else None,
        "accuracy_by_agreement": {
            lvl: ratio(f"{lvl}_hit", f"{lvl}_n") for lvl in (*LEVELS, HIGH_AGREEMENT)
        },
        "definitions": {
            "unanimous": "every vote for one category",
            HIGH_AGREEMENT: "top category has at least 90% of the votes (9 or 10 of FER+'s "
            "ten); overlaps unanimous and majority",
            "majority": "top category has more than half of the votes",
            "split": "no category has more than half of the votes",
            "plurality": "the unique most-voted category; tied rows are excluded and counted",
            "human_single_vs_rest": "expected agreement of one random annotator with the "
            "plurality of the others (ties: fractional credit)",
        },
    }


def original_label_agreement(
    *,
    votes: np.ndarray,
    categories: list[str],
    original: np.ndarray,
    pred: np.ndarray,
    spec: BootstrapSpec,
    clusters: Any = None,
    column: str,
) -> dict[str, Any] | None:
    """How often a dataset's original label (FER2013's, before FER+ re-annotated it) matches
    the annotators' plurality, and the model's accuracy against that original label.

    With FER+ the reported `label` IS the plurality, so without this block the original label
    would feed no statistic. Rows: every row with votes and an original label (whatever the
    model did with it), so `agrees_with_plurality` is the same for every model; the plurality
    is the unique most-voted category, and a row whose plurality is not an expression
    (unknown, NF) or is tied is left out of that ratio and counted. `accuracy_vs_original`
    takes every such row the model predicted.
    """
    V = np.nan_to_num(np.asarray(votes, dtype=np.float64))
    original = np.asarray(original, dtype=object)
    pred = np.asarray(pred, dtype=object)
    keep = (V.sum(1) > 0) & np.array([isinstance(x, str) and x != "" for x in original])
    if not keep.any():
        return None
    V, original, pred = V[keep], original[keep], pred[keep]
    plural = _unique_argmax(V)
    plural_label = np.array([categories[i] if i >= 0 else None for i in plural], dtype=object)
    has_plural = np.array([p is not None and p in CANONICAL for p in plural_label])
    has_pred = np.array([isinstance(p, str) for p in pred])
    vals = np.column_stack(
        [
            has_plural,
            has_plural & (original == plural_label),
            has_pred,
            has_pred & (pred == original),
        ]
    ).astype(float)
    codes = np.broadcast_to(np.arange(4), vals.shape).copy()
    cl = None if clusters is None else np.asarray(clusters)[keep]
    res = Resampled(Features(codes, vals, 4), spec=spec, strata=original, clusters=cl)

    def ratio(num: int, den: int) -> dict[str, Any]:
        e = res.estimate(lambda S: _div(S[..., num], S[..., den], np.nan))
        return interval(e.value, e.low, e.high, res.total[den])

    return {
        "column": column,
        "n_rows": int(keep.sum()),
        "n_no_expression_plurality": int(keep.sum() - res.total[0]),
        "agrees_with_plurality": ratio(1, 0),
        "accuracy_vs_original": ratio(3, 2),
    }
