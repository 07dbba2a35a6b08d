"""How each model's answers hold up under each perturbation, paired against the same faces clean.

Every measure compares a sample with itself: the clean row and the perturbed row of one
(sample, model) are resampled together, so the intervals are those of a paired difference and do
not carry the between-sample variance twice. Per model x condition:

* accuracy under the condition and its difference from clean (needs labels);
* flip rate: share of faces whose top-1 label changes from clean (needs no labels);
* ECE under the condition and its shift from clean (needs labels and probabilities);
* prediction-share shift per label: which labels predictions drift toward (needs no labels).

Words need a test, not just an interval. Per condition, the paired test of analysis.paired_tests
(subjects as the unit when known) asks whether clean and perturbed answers are right equally
often (``p_value``) and, per label, whether faces move toward it as often as away from it
(``drift_tests``). Holm then corrects over every condition of a model (accuracy: ``p_holm``,
``rejected``) and, separately, over every label of every condition of a model (drift): a
report that lists 66 conditions names a drop or a drift that is not there in at most 5% of
audits, not in 5% of its conditions (:func:`settle`).

Rows count as *paired* when both the clean and the perturbed row have a prediction; *labelled*
pairs additionally have status ok and a label. Samples that are not paired are counted in
``n_unpaired`` (with their statuses), never silently dropped. Intervals come from the shared
bootstrap (analysis.bootstrap): subjects are resampled when subject ids exist, else samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emoaudit.analysis.bootstrap import (
    BootstrapSpec,
    Resampled,
    ece_if_calibrated,
    ece_interval,
    holm,
    interval,
)
from emoaudit.analysis.metrics import (
    N_BINS,
    Features,
    accuracy_from_confusion,
    bin_edges,
    binned_features,
    concat_features,
    confusion_features,
    ece_from_bins,
)
from emoaudit.analysis.paired_tests import PAIRED_TEST, paired_test, sign_flip_p
from emoaudit.data.base import OK
from emoaudit.run.protocols import is_protocol

CLEAN = "clean"
MULTIPLICITY = (
    "Holm over the conditions of each model (accuracy difference); Holm over every label of "
    "every condition of each model (drift)"
)


@dataclass
class Paired:
    """Clean and perturbed rows of one (model, condition), aligned by sample."""

    sample_id: np.ndarray
    subject_id: np.ndarray
    labels: list[str]  # the model's label set (its prob_ columns), canonical order
    true: np.ndarray  # index into labels; -1 when unlabelled or status not ok
    pred_clean: np.ndarray  # index into labels
    pred_pert: np.ndarray
    prob_clean: np.ndarray  # (n, len(labels))
    prob_pert: np.ndarray
    n_unpaired: int
    unpaired_statuses: dict[str, int]


def model_labels(df: Any) -> list[str]:
    """The labels a model emits: prob_ columns holding any value for its rows."""
    return [c[len("prob_") :] for c in df.columns if c.startswith("prob_") and df[c].notna().any()]


def paired_rows(df: Any, *, model: str, condition: str, reference: str = CLEAN) -> Paired:
    """Align `condition` rows of `model` with its `reference` rows on sample_id."""
    rows = df[df["model"] == model]
    labels = model_labels(rows)
    prob_cols = [f"prob_{lab}" for lab in labels]
    keep = ["sample_id", "subject_id", "status", "label", "pred", *prob_cols]
    keep = [c for c in keep if c in rows.columns]
    ref = rows.loc[rows["condition"] == reference, keep].drop_duplicates("sample_id")
    per = rows.loc[rows["condition"] == condition, keep].drop_duplicates("sample_id")
    both = ref.merge(per, on="sample_id", how="outer", suffixes=("_c", "_p"), indicator=True)
    usable = (both["_merge"] == "both") & both["pred_c"].notna() & both["pred_p"].notna()
    lost = both[~usable]
    # one reason per lost sample (summing both conditions' statuses counted each twice): the
    # reference's when it failed there, else the condition's, "missing" for an absent row
    clean_failed = lost["status_c"].notna() & (lost["status_c"] != OK)
    why = lost["status_c"].where(clean_failed, lost["status_p"]).fillna("missing")
    statuses = {str(k): int(v) for k, v in why.value_counts().sort_index().items()}
    pairs = both[usable]
    index = {lab: i for i, lab in enumerate(labels)}

    def enc(values: Any) -> np.ndarray:
        return np.array([index.get(v, -1) for v in values], dtype=np.int64)

    labelled = (
        (pairs["status_c"] == OK) & (pairs["status_p"] == OK) & pairs["label_c"].notna()
    ).to_numpy()
    true = np.where(labelled, enc(pairs["label_c"].where(pairs["label_c"].notna(), "")), -1)
    subject = pairs["subject_id_c"] if "subject_id_c" in pairs else [None] * len(pairs)
    return Paired(
        sample_id=pairs["sample_id"].to_numpy(),
        subject_id=np.asarray(subject, dtype=object),
        labels=labels,
        true=true,
        pred_clean=enc(pairs["pred_c"]),
        pred_pert=enc(pairs["pred_p"]),
        prob_clean=pairs[[f"{c}_c" for c in prob_cols]].to_numpy(dtype=np.float64),
        prob_pert=pairs[[f"{c}_p" for c in prob_cols]].to_numpy(dtype=np.float64),
        n_unpaired=int(len(lost)),
        unpaired_statuses=statuses,
    )


def count_features(indicator: np.ndarray) -> Features:
    """Per row: 1 and a value (0/1 indicator or real), so the mean is S[1] / S[0] in every
    resample."""
    n = len(indicator)
    codes = np.broadcast_to(np.arange(2), (n, 2)).copy()
    values = np.column_stack([np.ones(n), np.asarray(indicator, dtype=np.float64)])
    return Features(codes, values, 2)


def share_features(index: np.ndarray, k: int) -> Features:
    """Per row: a count and a one-hot over k labels (shares are S[1:] / S[0])."""
    n = len(index)
    codes = np.column_stack([np.zeros(n, dtype=np.int64), 1 + index])
    return Features(codes, np.ones((n, 2)), k + 1)


def mean_of(S: np.ndarray) -> np.ndarray:
    """Mean of a count_features block (NaN where the resample holds no row)."""
    with np.errstate(all="ignore"):
        return np.where(S[..., 0] > 0, S[..., 1] / np.where(S[..., 0] > 0, S[..., 0], 1), np.nan)


def _shares(S: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return S[..., 1:] / S[..., :1]


def units(pairs: Paired) -> tuple[Any, Any]:
    """Clusters (subjects) and strata (true label, only when every pair is labelled)."""
    clusters = pairs.subject_id if any(s is not None for s in pairs.subject_id) else None
    strata = pairs.true if len(pairs.true) and (pairs.true >= 0).all() else None
    return clusters, strata


def condition_measures(pairs: Paired, *, spec: BootstrapSpec) -> dict[str, Any]:
    """Every measure of one (model, condition), all from one set of paired resamples."""
    k = len(pairs.labels)
    n_pairs = len(pairs.sample_id)
    n_lab = int((pairs.true >= 0).sum())
    edges = bin_edges(np.zeros(0), n_bins=N_BINS)
    blocks, slices = concat_features(
        [
            confusion_features(pairs.true, pairs.pred_clean, k),
            confusion_features(pairs.true, pairs.pred_pert, k),
            count_features(pairs.pred_clean != pairs.pred_pert),
            binned_features(pairs.true, pairs.prob_clean, edges),
            binned_features(pairs.true, pairs.prob_pert, edges),
            share_features(pairs.pred_clean, k),
            share_features(pairs.pred_pert, k),
        ]
    )
    acc_c, acc_p, flips, bins_c, bins_p, share_c, share_p = slices
    clusters, strata = units(pairs)
    res = Resampled(blocks, spec=spec, strata=strata, clusters=clusters)

    def est(reduce: Any, n: int) -> dict[str, Any]:
        e = res.estimate(reduce)
        return interval(e.value, e.low, e.high, n)

    shift = res.estimate(lambda S: _shares(S[..., share_p]) - _shares(S[..., share_c]))
    drift = {
        lab: interval(shift.value[i], shift.low[i], shift.high[i], n_pairs)
        for i, lab in enumerate(pairs.labels)
    }
    return {
        "accuracy": est(lambda S: accuracy_from_confusion(S[..., acc_p]), n_lab),
        "accuracy_diff": est(
            lambda S: (
                accuracy_from_confusion(S[..., acc_p]) - accuracy_from_confusion(S[..., acc_c])
            ),
            n_lab,
        ),
        "flip_rate": est(lambda S: mean_of(S[..., flips]), n_pairs),
        "ece": _ece(
            res.estimate(lambda S: ece_from_bins(S[..., bins_p])),
            n_lab,
            ece_if_calibrated(
                res.total[bins_p],
                spec.confidence,
                seed=spec.seed,
                subjects=res.subject_sums(bins_p),
            ),
        ),
        "ece_shift": est(
            lambda S: ece_from_bins(S[..., bins_p]) - ece_from_bins(S[..., bins_c]), n_lab
        ),
        "pred_share_shift": drift,
        "drift_toward": None,  # named by settle(), once the model's family is tested
        "resampling_unit": res.unit,
        **accuracy_test(pairs),
        "drift_tests": drift_tests(pairs),
    }


def accuracy_test(pairs: Paired) -> dict[str, Any]:
    """Are the labelled faces right as often perturbed as clean? The paired test of
    analysis.paired_tests (McNemar's exact test, with subjects as the unit when known); the
    p-value is raw until :func:`settle` corrects it over the model's conditions."""
    clusters, _ = units(pairs)
    labelled = pairs.true >= 0
    if not labelled.any():
        return {"p_value": None, "p_holm": None, "rejected": False}
    truth = pairs.true[labelled]
    out = paired_test(
        pairs.pred_pert[labelled] == truth,
        pairs.pred_clean[labelled] == truth,
        None if clusters is None else clusters[labelled],
    )
    return {"p_value": out["p_value"], "p_holm": None, "rejected": False}


def drift_tests(pairs: Paired) -> dict[str, dict[str, Any]]:
    """Per label j: do faces move toward j as often as away from it? d = 1[perturbed answer is
    j] - 1[clean answer is j] per face, the sign-flip test by subject; ``net_faces`` is the
    number of faces gained minus lost (its sign is the direction)."""
    clusters, _ = units(pairs)
    if clusters is not None:  # subject ids as integers once, not once a label
        from emoaudit.analysis.group_tests import _cluster_codes

        clusters = _cluster_codes(clusters, len(pairs.pred_pert))
    out = {}
    for j, lab in enumerate(pairs.labels):
        d = (pairs.pred_pert == j).astype(np.int64) - (pairs.pred_clean == j).astype(np.int64)
        out[lab] = {"net_faces": int(d.sum()), "p_value": sign_flip_p(d, clusters)}
    return out


def settle(rows: list[dict[str, Any]], *, alpha: float) -> None:
    """Holm over one model's conditions, in place: ``p_holm`` and ``rejected`` for each
    condition's accuracy test, and for each label of each condition's drift test (a family of
    its own); ``drift_toward`` names the label with the largest rejected rise, else None."""
    with_acc = [r for r in rows if "p_value" in r]
    adjusted = holm([np.nan if r["p_value"] is None else r["p_value"] for r in with_acc])
    for r, p in zip(with_acc, adjusted, strict=True):
        r["p_holm"] = None if np.isnan(p) else float(p)
        r["rejected"] = bool(np.isfinite(p) and p < alpha)
    tests = [(r, t) for r in rows for t in (r.get("drift_tests") or {}).values()]
    adjusted = holm([t["p_value"] for _, t in tests])
    for (_, t), p in zip(tests, adjusted, strict=True):
        t["p_holm"] = float(p)
        t["rejected"] = bool(p < alpha)
    for r in rows:
        if "drift_tests" not in r:
            continue
        rising = {
            lab: t for lab, t in r["drift_tests"].items() if t["rejected"] and t["net_faces"] > 0
        }
        r["drift_toward"] = (
            max(rising, key=lambda lab: rising[lab]["net_faces"]) if rising else None
        )


def clean_measures(pairs: Paired, *, spec: BootstrapSpec) -> dict[str, Any]:
    """Accuracy and ECE on the clean rows themselves (the baseline every difference is from)."""
    k = len(pairs.labels)
    n_lab = int((pairs.true >= 0).sum())
    edges = bin_edges(np.zeros(0), n_bins=N_BINS)
    blocks, (acc, bins) = concat_features(
        [
            confusion_features(pairs.true, pairs.pred_clean, k),
            binned_features(pairs.true, pairs.prob_clean, edges),
        ]
    )
    clusters, strata = units(pairs)
    res = Resampled(blocks, spec=spec, strata=strata, clusters=clusters)
    a = res.estimate(lambda S: accuracy_from_confusion(S[..., acc]))
    e = res.estimate(lambda S: ece_from_bins(S[..., bins]))
    bound = ece_if_calibrated(
        res.total[bins], spec.confidence, seed=spec.seed, subjects=res.subject_sums(bins)
    )
    return {
        "accuracy": interval(a.value, a.low, a.high, n_lab),
        "ece": _ece(e, n_lab, bound),
        "n": len(pairs.sample_id),
    }


def _ece(e: Any, n: int, calibrated_bound: Any = None) -> dict[str, Any]:
    """A plain ECE's interval, its lower end widened as for every ECE (bootstrap.ece_interval);
    a shift of ECE is a difference and keeps its own interval."""
    low, high = ece_interval(e.value, e.low, e.high, calibrated_bound)
    return interval(e.value, low, high, n)


def split_family(condition: str) -> tuple[str, int]:
    family, _, severity = condition.partition(":")
    return family, int(severity) if severity.isdigit() else 0


def robustness_summary(
    df: Any, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Any]:
    """Per model, the clean baseline and every perturbed condition in the predictions table.

    Returns ``{"method": {...}, "models": {model: {"clean": {...}, "conditions": [row, ...]}}}``;
    each row has family, severity, condition, n_pairs, n_unpaired (+ their statuses) and the
    measures of :func:`condition_measures`, every number as {value, ci_low, ci_high, n}, with
    the tests behind the words settled over the model's conditions (:func:`settle`).
    """
    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    conditions = [c for c in dict.fromkeys(df["condition"]) if c != CLEAN]
    conditions = [c for c in conditions if not is_protocol(c)]  # analysis/sensitivity.py's
    out: dict[str, Any] = {
        "method": {
            **spec.record(),
            "paired": True,
            "reference": CLEAN,
            "ece_bins": N_BINS,
            "flip": "top-1 label differs from the same sample's clean top-1",
            "paired_test": PAIRED_TEST,
            "multiplicity": MULTIPLICITY,
            "alpha": round(1 - confidence, 10),
        },
        "models": {},
    }
    for model in dict.fromkeys(df["model"]):
        base = paired_rows(df, model=model, condition=CLEAN)
        rows = []
        for condition in conditions:
            pairs = paired_rows(df, model=model, condition=condition)
            family, severity = split_family(condition)
            row = {"family": family, "severity": severity, "condition": condition}
            row |= {"n_pairs": len(pairs.sample_id), "n_unpaired": pairs.n_unpaired}
            row["unpaired_statuses"] = pairs.unpaired_statuses
            if len(pairs.sample_id):
                row |= condition_measures(pairs, spec=spec)
            rows.append(row)
        settle(rows, alpha=1 - confidence)
        clean = clean_measures(base, spec=spec) if len(base.sample_id) else {"n": 0}
        out["models"][model] = {"clean": clean, "conditions": rows}
    return out
