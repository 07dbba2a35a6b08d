"""analyze(): the predictions table in, every reported number with its interval out (JSON-able).

One result per (dataset, model, condition). Layout and definitions: docs/statistics.md; JSON
Schema: emoaudit/report/results.schema.json.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emoaudit.analysis import metrics as M
from emoaudit.analysis.agreement import (
    ORIGINAL_LABEL_COLUMNS,
    VOTE_PREFIX,
    human_agreement,
    original_label_agreement,
    vote_categories,
)
from emoaudit.analysis.bootstrap import (
    AVERAGE_REAL_MIN_ROWS,
    ECE_INTERVAL,
    BootstrapSpec,
    Resampled,
    _codes,
    ece_if_calibrated,
    ece_interval,
    interval,
    proportion_interval,
)
from emoaudit.analysis.group_tests import SCORE_TEST, settle
from emoaudit.analysis.groups import (
    MIN_CELL,
    disaggregate,
    ece_bootstrap_bias,
    group_codes,
    groupings,
    suppress_small,
)
from emoaudit.analysis.label_free import GIVEN, HOSTILE, label_free
from emoaudit.analysis.label_order import label_order_check
from emoaudit.analysis.paired_tests import PAIRED_TEST
from emoaudit.data.base import BAD_INPUT, BAD_OUTPUT, NO_FACE, OK, STATUSES, UNREADABLE
from emoaudit.taxonomy import CANONICAL, canonical_order

# One result per slice. Splits are kept apart (a test split and a validation split are two
# audits, e.g. FER2013 PublicTest and PrivateTest); pool_splits=True merges them (split null).
SLICE_KEYS = ("dataset", "model", "condition", "split")
HEADLINE = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "cohen_kappa")
PROBA_METRICS = ("top2_accuracy", "log_loss", "brier", "mean_confidence", "confidence_gap")
CONTINUOUS = ("valence", "arousal")
END_TO_END_STATUSES = (OK, NO_FACE, UNREADABLE, BAD_OUTPUT)  # a model that answers NaN missed
# Below this many subject clusters a clustered bootstrap interval is unreliable (too few units
# to resample); the slice carries a warning.
MIN_CLUSTERS = 20
FEW_CLUSTERS = (
    "intervals resample only {n} subjects (fewer than {min}): they are widened for so few "
    "clusters, and remain rough"
)
CLUSTER_INTERVALS = (
    "with G subjects resampled, bootstrap percentiles are read at the level whose normal "
    "quantile is sqrt(G/(G-1)) * t(G-1) (Hesterberg's expanded percentile; 95% becomes 98.3% "
    "at G = 10, 95.4% at G = 100); normal intervals over subjects use t(G-1) and the G/(G-1) "
    "variance factor"
)
SOME_WITHOUT_PROBABILITIES = (
    "calibration, log loss, Brier and top-2 accuracy use {n} of {total} scored faces: "
    "{missing} carry no probabilities"
)
PROPORTION_INTERVAL = (
    "union of the bootstrap interval (ci_method; clustered or stratified as resampled) and the "
    "exact Clopper-Pearson interval of the count"
)
# The chance verdict is about skill: answers that ignore the face (uniform guessing, always the
# commonest label, guessing in the model's own answer mix) agree with the labels only as often
# as the two mixes make them, so the kappa of every one of them is 0 (in the population). The
# model is told apart from them only when its accuracy interval clears 1/k and its kappa
# interval clears 0 (each one-sided at (1 - confidence) / 2; simulated in test_summary.py).
CHANCE_VERDICT = (
    "better than answers that ignore the face only when the accuracy interval's lower end is "
    "above 1/k (k = true labels present) and Cohen's kappa interval's lower end is above 0"
)
# kappa of a constant answer is 0 up to rounding: no skill is read into the last bit
KAPPA_TOLERANCE = 1e-9
NOT_EMITTED_RULE = (
    "rows whose label the model cannot output (e.g. contempt for a 7-class model) are left out "
    "of every statistic for that model, end-to-end accuracy included"
)


def analyze(
    df: pd.DataFrame,
    *,
    groups: list[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_group_n: int = 30,
    ci_method: str = "percentile",
    reference: dict[str, str] | None = None,
    hostile: tuple[str, ...] = HOSTILE,
    given: str = GIVEN,
    pool_splits: bool = False,
) -> dict[str, Any]:
    """Results for every (dataset, model, condition, split) slice, plus the statistics block
    that states how every interval was made.

    ``reference`` names a reference group per grouping ({"gender": "female"}): each group is then
    compared with it instead of with the rest. ``hostile`` is the set of labels counted as a
    hostile reading in the label-free results; ``given`` the level they are compared at (a label
    whose probability the model emits, default happy, or a numeric column such as a smile
    rating)."""
    spec = BootstrapSpec(
        n_resamples=n_resamples, confidence=confidence, seed=seed, ci_method=ci_method
    )
    grouping = groupings(df, groups)
    splits = sorted(str(s) for s in df["split"].dropna().unique()) if "split" in df else []
    if pool_splits or "split" not in df:
        df = df.assign(split=None)
    results = [
        analyze_slice(
            part,
            spec=spec,
            grouping=grouping,
            min_group_n=min_group_n,
            reference=reference or {},
            hostile=tuple(hostile),
            given=given,
        )
        for _, part in df.groupby(list(SLICE_KEYS), sort=True, dropna=False)
    ]
    stats = statistics_block(spec, min_group_n, df)
    stats["splits"] = {"pooled": bool(pool_splits), "names": splits}
    return {"statistics": stats, "results": results}


def statistics_block(spec: BootstrapSpec, min_group_n: int, df: pd.DataFrame) -> dict[str, Any]:
    has_subjects = "subject_id" in df and df["subject_id"].notna().any()
    return {
        "method": "bootstrap",
        "ci_method": spec.ci_method,
        "n_resamples": spec.n_resamples,
        "confidence": spec.confidence,
        "seed": spec.seed,
        "rng": "numpy.random.default_rng(seed), PCG64",
        "min_group_n": min_group_n,
        "cluster": "subject_id" if has_subjects else None,
        "stratified_by": None if has_subjects else "label",
        "correction": "holm",
        "paired_test": PAIRED_TEST,
        "group_test": f"{SCORE_TEST}: all groups at once, then each group vs the rest",
        "verdict_test": (
            f"{SCORE_TEST} per grouping; Holm over every tested metric and grouping of a "
            "result; a group is named worse only when that test rejects and its own test "
            "against the rest rejects (Holm)"
        ),
        "chance_verdict": CHANCE_VERDICT,
        "alpha": 1 - spec.confidence,
        "min_cell": MIN_CELL,
        "proportion_interval": PROPORTION_INTERVAL,
        "disparity_interval": "percentile, recomputed per resample on the whole statistic",
        "subject_intervals": CLUSTER_INTERVALS,
        "calibration_bins": M.N_BINS,
        "ece_interval": ECE_INTERVAL,
        "notes": [
            "Interval keys: value, ci_low, ci_high, n. Undefined values are null.",
            "Equal-mass bin edges are fixed from the full slice and held in every resample.",
            "Groups with n < min_group_n are reported, flagged small, and left out of disparity "
            "and tests; conditional rates use min_group_n on their own denominator.",
            f"Groups with fewer than {MIN_CELL} rows are never printed (privacy), nor any group "
            "whose numbers would follow from the others by subtraction; their rows are counted "
            "as suppressed.",
            "Binned ECE is biased upward, most in small groups, and its bootstrap resamples sit "
            "above the estimate; ece_bootstrap_bias is the bootstrap estimate of that bias (ECE "
            "minus it is bias-corrected). Every ECE interval's lower end is therefore extended "
            "to max(0, min(ci_low, 2 x ECE - ci_high)), and to 0 when the ECE is no larger "
            "than a perfectly calibrated model's would be on the same bins with probability "
            "(1 + confidence) / 2 (ece_if_calibrated: hits drawn Binomial(count, mean "
            "confidence) per bin, 2,000 draws; ece_interval; docs/statistics.md).",
            f"From {AVERAGE_REAL_MIN_ROWS} rows on, probability and calibration features are "
            "resampled by cells: exact cell counts, within-cell sums drawn from the normal with "
            "their exact mean and covariance (docs/statistics.md).",
        ],
    }


def _prob_labels(part: pd.DataFrame) -> list[str]:
    cols = [c for c in part.columns if c.startswith("prob_") and c[5:] in CANONICAL]
    return canonical_order([c[5:] for c in cols if part[c].notna().any()])


def _subjects(part: pd.DataFrame) -> Any:
    """Integer subject codes (rows without a subject are their own), or None: factorised once
    per slice, since every bootstrap and test of the slice clusters by them."""
    if "subject_id" not in part or not part["subject_id"].notna().any():
        return None
    return _codes(part["subject_id"].to_numpy(dtype=object))


def label_not_emitted(part: pd.DataFrame) -> dict[str, Any]:
    """Rows left out because the model has no output for their label, counted per label."""
    emitted = set(_prob_labels(part))
    labels = part["label"]
    mask = labels.notna() & ~labels.isin(emitted) if emitted else labels.notna() & False
    counts = labels[mask].value_counts()
    return {
        "rule": NOT_EMITTED_RULE,
        "n": int(mask.sum()),
        "by_label": {str(k): int(v) for k, v in sorted(counts.items())},
    }


def n_unlabelled(part: pd.DataFrame) -> int:
    """Rows that carry no label at all. A row whose label was given but could not be used
    (unreadable image, bad row, a label outside the canonical set) has a raw label and is not
    counted here: the report said such rows "have no label", which blamed the dataset's
    labelling for what were file and format problems."""
    raw = part["raw_label"] if "raw_label" in part else part["label"]
    return int((raw.isna() | (raw.astype("string").str.strip() == "")).sum())


def accounting(part: pd.DataFrame) -> dict[str, Any]:
    counts = part["status"].value_counts()
    by_status = {s: int(counts.get(s, 0)) for s in STATUSES}
    by_status.update({str(s): int(c) for s, c in counts.items() if s not in by_status})
    scored = (part["status"] == OK) & part["label"].notna() & part["pred"].notna()
    return {
        "n_rows": len(part),
        "n_by_status": by_status,
        "n_labelled": int(part["label"].notna().sum()),
        "n_unlabelled": n_unlabelled(part),
        "n_evaluated": int(scored.sum()),
        "label_not_emitted": label_not_emitted(part),
    }


def analyze_slice(
    part: pd.DataFrame,
    *,
    spec: BootstrapSpec,
    grouping: dict[str, list[str]],
    min_group_n: int,
    reference: dict[str, str] | None = None,
    hostile: tuple[str, ...] = HOSTILE,
    given: str = GIVEN,
) -> dict[str, Any]:
    key = {k: (None if pd.isna(part[k].iloc[0]) else str(part[k].iloc[0])) for k in SLICE_KEYS}
    out: dict[str, Any] = {**key, "data": accounting(part)}
    out["end_to_end"] = end_to_end_accuracy(part, spec=spec)
    out["label_free"] = label_free(
        part,
        grouping=grouping,
        spec=spec,
        min_group_n=min_group_n,
        clusters_of=_subjects,
        hostile=hostile,
        given=given,
    )
    scored = part[(part["status"] == OK) & part["label"].notna() & part["pred"].notna()]
    if scored.empty:
        out["note"] = "no scored rows with a label: label-free results only"
        _settle(out, spec)
        return out
    labels = canonical_order(list(pd.unique(pd.concat([scored["label"], scored["pred"]]))))
    t, p, _ = M.encode_labels(scored["label"], scored["pred"], labels)
    clusters = _subjects(scored)
    res = Resampled(M.confusion_features(t, p, len(labels)), spec=spec, strata=t, clusters=clusters)
    out["resampling"] = {
        "unit": res.unit,
        "n_units": int(res.units.shape[0]) if res.unit == "subject_id" else len(scored),
        "stratified_by": "label" if res.stratified else None,
        # subject ids given, one photo each: resampled by sample, which is the same thing
        "subject_ids": clusters is not None,
        # the level the bootstrap percentiles are read at (above nominal for few subjects)
        "percentile_level": round(res.interval_confidence, 6),
    }
    out["warnings"] = []
    if res.unit == "subject_id" and out["resampling"]["n_units"] < MIN_CLUSTERS:
        n_units = out["resampling"]["n_units"]
        out["warnings"].append(FEW_CLUSTERS.format(n=n_units, min=MIN_CLUSTERS))
    n = len(scored)
    out["headline"], out["baselines"] = headline(res, t, p, labels)
    out["per_class"] = per_class(res, labels)
    out["confusion"] = confusion(res, labels)
    out["label_order_check"] = label_order_check(M.as_matrix(res.total), labels)
    proba_labels = _prob_labels(scored)
    proba = tp = edges = None
    if proba_labels:
        proba = scored[[f"prob_{x}" for x in proba_labels]].to_numpy(dtype=np.float64)
        tp, _, _ = M.encode_labels(scored["label"], None, proba_labels)
        ok = np.isfinite(proba).all(1)
        proba = np.where(ok[:, None], np.nan_to_num(proba), 0.0)
        tp = np.where(ok, tp, -1)
        edges = M.bin_edges(proba.max(1)[tp >= 0], strategy="uniform")
        out["calibration"] = calibration(
            tp, proba, proba_labels, spec=spec, strata=t, clusters=clusters
        )
        if not ok.all():  # imported records with a label but no scores: say so, not in silence
            missing = int((~ok).sum())
            out["warnings"].append(
                SOME_WITHOUT_PROBABILITIES.format(n=n - missing, total=n, missing=missing)
            )
    out["continuous"] = continuous(scored, spec=spec, clusters=clusters)
    out["groups"] = {}
    for name, attrs in grouping.items():
        codes, names = group_codes(scored, attrs)
        codes, names, suppressed = suppress_small(codes, names)
        if not names:  # every group under the minimum cell size: nothing may be shown
            out.setdefault("groups_suppressed", {})[name] = suppressed
            continue
        keep = codes >= 0
        out["groups"][name] = disaggregate(
            true_idx=t[keep],
            pred_idx=p[keep],
            labels=labels,
            group=codes[keep],
            group_names=names,
            spec=spec,
            clusters=None if clusters is None else clusters[keep],
            min_group_n=min_group_n,
            proba=None if proba is None else proba[keep],
            proba_true_idx=None if tp is None else tp[keep],
            edges=edges,
            reference=(reference or {}).get(name),
        )
        out["groups"][name]["suppressed"] = suppressed
        _add_end_to_end(out["groups"][name], part, attrs, spec=spec)
    cats = vote_categories(scored)
    votes = scored[[VOTE_PREFIX + c for c in cats]].to_numpy(dtype=np.float64) if cats else None
    out["agreement"] = None
    if votes is not None and np.isfinite(votes).any() and np.nansum(votes) > 0:
        out["agreement"] = human_agreement(
            votes=votes,
            categories=cats,
            label=scored["label"].to_numpy(dtype=object),
            pred=scored["pred"].to_numpy(dtype=object),
            proba=proba,
            proba_labels=proba_labels,
            spec=spec,
            clusters=clusters,
        )
        out["agreement"]["original_label"] = _original_label(part, cats, spec=spec)
    _settle(out, spec)
    return out


def _settle(out: dict[str, Any], spec: BootstrapSpec) -> None:
    """Holm families of the tests whose outcome the report may put into words.

    With labels: accuracy and detection per grouping ("who it fails"), one family; the
    label-free readings (hostile readings, at equal smiles) are a second family, reported in
    their own section. Without labels: every label-free test, detection included, is one family.
    Each grouping's accuracy test becomes its ``finding``."""
    alpha = 1 - spec.confidence
    groups = out.get("groups") or {}
    lf = (out.get("label_free") or {}).get("groupings", {})
    labelled = [t for g in groups.values() for t in g.get("tests", {}).values()]
    readings = [t for g in lf.values() for k, t in g["tests"].items() if k != "detection_rate"]
    detection = [
        g["tests"]["detection_rate"] for g in lf.values() if "detection_rate" in g["tests"]
    ]
    if labelled:
        settle(labelled + detection, alpha=alpha)
        settle(readings, alpha=alpha)
    else:
        settle(readings + detection, alpha=alpha)
    for name, g in groups.items():
        if "accuracy" in g.get("tests", {}):
            g["finding"] = g["tests"]["accuracy"]
        if name in lf and "detection_rate" in lf[name]["tests"]:
            g["tests"]["detection_rate"] = lf[name]["tests"]["detection_rate"]


def headline(
    res: Resampled, true_idx: np.ndarray, pred_idx: np.ndarray, labels: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headline metrics with their intervals (accuracy's united with the exact interval of
    its count of hits) and the baselines they are read against. The chance verdict is made here
    and nowhere else; tests/analysis/test_summary.py simulates its error rates through it."""
    n = len(true_idx)
    head = {m: _scalar(res, M.METRICS.meta(m)["batched"], n) for m in HEADLINE}
    acc = head["accuracy"]
    hits = int((true_idx == pred_idx).sum())
    acc["ci_low"], acc["ci_high"] = (
        float(v)
        for v in proportion_interval(hits, n, acc["ci_low"], acc["ci_high"], res.spec.confidence)
    )
    return head, baselines(true_idx, labels, acc, kappa=head["cohen_kappa"])


def baselines(
    true_idx: np.ndarray,
    labels: list[str],
    accuracy: dict[str, Any],
    *,
    kappa: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What answers that ignore the face score: chance (1/k, k the labels the faces of this
    slice carry) and always answering the most common label, and whether the model is told
    apart from them (CHANCE_VERDICT). k counts true labels only: with the model's answers in it,
    chance moved with what the model predicted (k of 4, 5 or 6 across one condition's
    severities) and the card said 'guessing among 2 labels would score 20%'.

    ``distinguishable_from_chance`` needs the accuracy interval above 1/k *and* kappa's
    interval above 0: on 70/30 labels, always answering the common label scores 70% and a
    70/30 guess 58%, both far above 1/2, and the first rule alone called them better than
    chance 100% and 55% of the time. Kappa is 0 in expectation for any answers independent of
    the label, whatever their mix, so its interval carries the test. Without a kappa interval
    nothing backs the verdict, and the model is not called better than chance."""
    counts = np.bincount(true_idx[true_idx >= 0], minlength=len(labels))
    k = int(np.count_nonzero(counts))
    majority = float(counts.max() / counts.sum()) if counts.sum() else None
    chance = 1.0 / k if k else None
    low = accuracy.get("ci_low")
    kappa_low = (kappa or {}).get("ci_low")
    above_chance = None if low is None or chance is None else low > chance
    agrees = None if kappa_low is None else kappa_low > KAPPA_TOLERANCE
    return {
        "chance": chance,
        "k": int(k),
        "majority": majority,
        "majority_label": labels[int(counts.argmax())] if counts.sum() else None,
        "above_chance": above_chance,
        "kappa_above_zero": agrees,
        "distinguishable_from_chance": None
        if above_chance is None
        else bool(above_chance and agrees),
        "above_majority": None if low is None or majority is None else low > majority,
    }


def _add_end_to_end(entry: dict[str, Any], part: pd.DataFrame, attrs: list[str], *, spec) -> None:
    """Per group, over every labelled face shown: end-to-end accuracy (a missed face counts as
    wrong) and the detection rate, beside accuracy on faces found."""
    rows = part[part["label"].notna() & part["status"].isin(END_TO_END_STATUSES)]
    if rows.empty:
        return
    codes, names = group_codes(rows, attrs)
    codes, names, _ = suppress_small(codes, names)
    hit = ((rows["status"] == OK) & (rows["pred"] == rows["label"])).to_numpy(dtype=float)
    found = (rows["status"] == OK).to_numpy(dtype=float)
    n = np.bincount(codes[codes >= 0], minlength=len(names)).astype(float)
    by = {}
    for metric, y in (("end_to_end_accuracy", hit), ("detection_rate", found)):
        x = np.bincount(codes[codes >= 0], weights=y[codes >= 0], minlength=len(names))
        lo, hi = proportion_interval(
            x, n, np.full(len(n), np.nan), np.full(len(n), np.nan), spec.confidence
        )
        with np.errstate(all="ignore"):
            by[metric] = [interval(v, a, b, m) for v, a, b, m in zip(x / n, lo, hi, n, strict=True)]
    for row in entry["groups"]:
        if row["group"] in names:
            i = names.index(row["group"])
            for metric, ivs in by.items():
                row["metrics"][metric] = ivs[i]


def _original_label(part: pd.DataFrame, cats: list[str], *, spec: BootstrapSpec) -> Any:
    """FER+'s original FER2013 label against the plurality and the model (agreement.py)."""
    column = next((c for c in ORIGINAL_LABEL_COLUMNS if c in part), None)
    if column is None:
        return None
    rows = part[part["status"] != BAD_INPUT]
    return original_label_agreement(
        votes=rows[[VOTE_PREFIX + c for c in cats]].to_numpy(dtype=np.float64),
        categories=cats,
        original=rows[column].to_numpy(dtype=object),
        pred=rows["pred"].to_numpy(dtype=object),
        spec=spec,
        clusters=_subjects(rows),
        column=column,
    )


def _scalar(res: Resampled, reduce: Any, n: int) -> dict[str, Any]:
    e = res.estimate(reduce)
    return interval(e.value, e.low, e.high, n)


def end_to_end_accuracy(part: pd.DataFrame, *, spec: BootstrapSpec) -> dict[str, Any] | None:
    """Accuracy over every labelled sample the system was shown: a missed or unreadable face
    counts as wrong (vendors tend to report accuracy on faces found only)."""
    rows = part[part["label"].notna() & part["status"].isin(END_TO_END_STATUSES)]
    emitted = _prob_labels(part)
    if emitted:  # a missed face whose label the model cannot output is not its error either
        rows = rows[rows["label"].isin(emitted)]
    if rows.empty:
        return None
    hit = ((rows["status"] == OK) & (rows["pred"] == rows["label"])).to_numpy(dtype=float)
    feats = M.Features(
        np.tile([0, 1], (len(rows), 1)), np.column_stack([np.ones_like(hit), hit]), 2
    )
    res = Resampled(feats, spec=spec, strata=rows["label"].to_numpy(), clusters=_subjects(rows))
    out = _scalar(res, lambda S: M._div(S[..., 1], S[..., 0], np.nan), len(rows))
    lo, hi = proportion_interval(
        hit.sum(), len(rows), out["ci_low"], out["ci_high"], res.spec.confidence
    )
    out["ci_low"], out["ci_high"] = float(lo), float(hi)
    return out


def per_class(res: Resampled, labels: list[str]) -> dict[str, Any]:
    C = M.as_matrix(res.total)
    ests = {m: res.estimate(M.METRICS.meta(m)["batched"]) for m in ("precision", "recall", "f1")}
    support, predicted = C.sum(1), C.sum(0)
    conf = res.spec.confidence
    diag = np.diag(C)
    for m, den in (("precision", predicted), ("recall", support)):
        e = ests[m]
        e.low, e.high = proportion_interval(diag, den, e.low, e.high, conf)
    out = {}
    for k, lab in enumerate(labels):
        ns = {"precision": predicted[k], "recall": support[k], "f1": support[k] + predicted[k]}
        out[lab] = {m: interval(e.value[k], e.low[k], e.high[k], ns[m]) for m, e in ests.items()}
        out[lab]["support"] = int(support[k])
    return out


def confusion(res: Resampled, labels: list[str]) -> dict[str, Any]:
    C = M.as_matrix(res.total)
    e = res.estimate(M.row_normalised_from_confusion)
    rows = np.broadcast_to(C.sum(1, keepdims=True), C.shape)
    e.low, e.high = proportion_interval(C, rows, e.low, e.high, res.spec.confidence)
    K = len(labels)
    return {
        "labels": labels,
        "counts": C.astype(int).tolist(),
        "row_normalised": [
            [interval(e.value[i, j], e.low[i, j], e.high[i, j], C[i].sum()) for j in range(K)]
            for i in range(K)
        ],
    }


def calibration(
    true_idx: np.ndarray,
    proba: np.ndarray,
    labels: list[str],
    *,
    spec: BootstrapSpec,
    strata: np.ndarray,
    clusters: Any,
) -> dict[str, Any]:
    n = int((true_idx >= 0).sum())
    res = Resampled(
        M.proba_features(true_idx, proba),
        spec=spec,
        strata=strata,
        clusters=clusters,
        average_real=True,
    )
    out: dict[str, Any] = {"labels": labels, "n_bins": M.N_BINS}
    out.update({m: _scalar(res, M.METRICS.meta(m)["batched"], n) for m in PROBA_METRICS})
    out["accuracy_argmax"] = _scalar(res, M.METRICS.meta("argmax_accuracy")["batched"], n)
    conf = proba.max(1)[true_idx >= 0]
    for strategy, key in (("uniform", "equal_width"), ("quantile", "equal_mass")):
        edges = M.bin_edges(conf, strategy=strategy)
        feats = M.binned_features(true_idx, proba, edges)
        bres = Resampled(feats, spec=spec, strata=strata, clusters=clusters, average_real=True)
        block: dict[str, Any] = {"edges": edges.tolist()}
        ece = bres.estimate(M.ece_from_bins)
        bound = ece_if_calibrated(
            bres.total, spec.confidence, seed=spec.seed, subjects=bres.subject_sums()
        )
        ece.low, ece.high = ece_interval(ece.value, ece.low, ece.high, bound)
        block["ece_if_calibrated"] = float(bound) if np.isfinite(bound) else None
        block["ece"] = interval(ece.value, ece.low, ece.high, n)
        block["ece_bootstrap_bias"] = ece_bootstrap_bias(ece)
        block["mce"] = _scalar(bres, M.mce_from_bins, n)
        rel = bres.estimate(M.reliability_from_bins)
        block["reliability"] = [_reliability_bin(rel, edges, b) for b in range(len(edges) - 1)]
        out[key] = block
    return out


def continuous(scored: pd.DataFrame, *, spec: BootstrapSpec, clusters: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CONTINUOUS:
        tcol, pcol = f"target_{name}", f"pred_{name}"
        if tcol not in scored or pcol not in scored:
            continue
        x = scored[tcol].to_numpy(dtype=np.float64)
        y = scored[pcol].to_numpy(dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3:
            continue
        feats, shift = M.continuous_features(x, y)
        res = Resampled(feats, spec=spec, clusters=clusters)
        n = int(ok.sum())
        out[name] = {
            m: _scalar(res, _with_shift(m, shift), n) for m in ("ccc", "rmse", "pearson_r")
        }
    return out


def _with_shift(name: str, shift: float) -> Any:
    batched = M.METRICS.meta(name)["batched"]
    return lambda S: batched(S, shift=shift)


def _reliability_bin(rel: Any, edges: np.ndarray, b: int) -> dict[str, Any]:
    count = rel.value[b, 0]
    return {
        "low": float(edges[b]),
        "high": float(edges[b + 1]),
        "count": int(count),
        "confidence": interval(rel.value[b, 1], rel.low[b, 1], rel.high[b, 1], count),
        "accuracy": interval(rel.value[b, 2], rel.low[b, 2], rel.high[b, 2], count),
    }
