"""Label-free consistency: measures that need no ground truth, for data that has none.

A model whose answer changes when the face is mirrored, shifted by a few pixels or cropped a
little tighter is reporting the crop, not the expression; two models that disagree on the same
face cannot both be right. None of this needs labels, so it works on any footage.

* invariance, per model x label-free condition (``flip:1``, ``shift:s``, ``scale:s``: the
  families registered with ``label_free=True``, run with ``--conditions consistency``):
  agreement with the same face clean (1 - flip rate) and the mean total-variation distance
  between the two probability vectors (0 = identical, 1 = disjoint);
* agreement between models on the same faces, per condition and pair of models: share of faces
  with the same top-1 label and Cohen's kappa (agreement beyond what the two label
  distributions give by chance).

Intervals come from the shared bootstrap, resampling subjects when subject ids exist.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from emoaudit.analysis.bootstrap import BootstrapSpec, Resampled, interval
from emoaudit.analysis.metrics import (
    accuracy_from_confusion,
    concat_features,
    confusion_features,
    kappa_from_confusion,
)
from emoaudit.analysis.robustness import CLEAN, count_features, mean_of, paired_rows, split_family
from emoaudit.taxonomy import CANONICAL


def label_free_families() -> list[str]:
    from emoaudit.perturb import PERTURBATIONS

    return [f for f in PERTURBATIONS.names() if PERTURBATIONS.meta(f).get("label_free")]


def invariance(
    df: Any, *, model: str, condition: str, spec: BootstrapSpec
) -> dict[str, Any] | None:
    """Agreement with clean and mean probability distance for one model and condition."""
    pairs = paired_rows(df, model=model, condition=condition)
    n = len(pairs.sample_id)
    family, severity = split_family(condition)
    row: dict[str, Any] = {"family": family, "severity": severity, "condition": condition}
    row |= {"n_pairs": n, "n_unpaired": pairs.n_unpaired}
    if n == 0:
        return row
    same = pairs.pred_clean == pairs.pred_pert
    tv = 0.5 * np.abs(np.nan_to_num(pairs.prob_clean) - np.nan_to_num(pairs.prob_pert)).sum(1)
    blocks, (agree, dist) = concat_features([count_features(same), count_features(tv)])
    clusters = pairs.subject_id if any(s is not None for s in pairs.subject_id) else None
    res = Resampled(blocks, spec=spec, clusters=clusters)
    a = res.estimate(lambda S: mean_of(S[..., agree]))
    d = res.estimate(lambda S: mean_of(S[..., dist]))
    row["agreement"] = interval(a.value, a.low, a.high, n)
    row["prob_distance"] = interval(d.value, d.low, d.high, n)
    return row


def pair_agreement(
    df: Any, *, models: tuple[str, str], condition: str, spec: BootstrapSpec
) -> dict[str, Any]:
    """Top-1 agreement and Cohen's kappa of two models on the faces both gave an answer for."""
    first, second = models
    cols = ["sample_id", "subject_id", "pred"]
    rows = df[(df["condition"] == condition) & df["pred"].notna()]
    a = rows.loc[rows["model"] == first, [c for c in cols if c in rows]]
    b = rows.loc[rows["model"] == second, ["sample_id", "pred"]]
    both = a.drop_duplicates("sample_id").merge(b.drop_duplicates("sample_id"), on="sample_id")
    labels = [c for c in CANONICAL if c in set(both["pred_x"]) | set(both["pred_y"])]
    labels += sorted((set(both["pred_x"]) | set(both["pred_y"])) - set(labels))
    index = {lab: i for i, lab in enumerate(labels)}
    pa = np.array([index[v] for v in both["pred_x"]], dtype=np.int64)
    pb = np.array([index[v] for v in both["pred_y"]], dtype=np.int64)
    n = len(both)
    out: dict[str, Any] = {"models": [first, second], "condition": condition, "n": n}
    if n == 0:
        return out
    subjects = both["subject_id"].to_numpy(dtype=object) if "subject_id" in both else None
    clusters = subjects if subjects is not None and any(s is not None for s in subjects) else None
    feats, _ = concat_features([confusion_features(pa, pb, len(labels))])
    res = Resampled(feats, spec=spec, clusters=clusters)
    agree = res.estimate(accuracy_from_confusion)
    kappa = res.estimate(kappa_from_confusion)
    out["agreement"] = interval(agree.value, agree.low, agree.high, n)
    out["kappa"] = interval(kappa.value, kappa.low, kappa.high, n)
    return out


def model_agreement(
    df: Any,
    *,
    conditions: list[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """Every pair of models, under each condition (default: clean only)."""
    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    models = list(dict.fromkeys(df["model"]))
    out = []
    for condition in conditions or [CLEAN]:
        for pair in combinations(models, 2):
            out.append(pair_agreement(df, models=pair, condition=condition, spec=spec))
    return out


def consistency_summary(
    df: Any, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Any]:
    """Invariance under every label-free condition present, and model agreement on clean faces.

    Returns ``{"method": {...}, "invariance": {model: [row, ...]}, "agreement": [pair, ...]}``.
    """
    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    free = set(label_free_families())
    conditions = [
        c for c in dict.fromkeys(df["condition"]) if c != CLEAN and split_family(c)[0] in free
    ]
    inv = {
        model: [invariance(df, model=model, condition=c, spec=spec) for c in conditions]
        for model in dict.fromkeys(df["model"])
    }
    return {
        "method": {
            **spec.record(),
            "label_free_families": sorted(free),
            "prob_distance": "total variation, 0.5 * sum |p_clean - p_perturbed|",
        },
        "invariance": inv,
        "agreement": model_agreement(df, n_resamples=n_resamples, seed=seed, confidence=confidence),
    }
