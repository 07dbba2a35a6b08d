"""Who the model fails: every metric per group and intersection, disparity, directional errors.

All groups of one grouping are resampled *together* (one resample of the whole slice, feature
columns split by group), so a disparity's interval is computed on the whole statistic - the
max-min gap recomputed in each resample - not stitched together from per-group intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emoaudit.analysis import metrics as M
from emoaudit.analysis.bootstrap import (
    BootstrapSpec,
    Estimate,
    Resampled,
    ece_if_calibrated,
    ece_interval,
    holm,
    interval,
    percentile_interval,
    proportion_interval,
)
from emoaudit.analysis.group_tests import (
    finding,
    gap_permutation,
    score_test,
    settle,
    verdict_words,
)

ATTR_PREFIX = "attr_"
INTERSECTION = "&"
MISSING = "(missing)"
GROUP_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "cohen_kappa")
# Rhue (2018): equal smiles were scored angrier for Black than for white players. These are
# the misreadings of a calm or happy face as hostile that such a pattern shows up in.
CALM_LABELS = ("neutral", "happy")
HOSTILE_LABELS = ("anger", "contempt", "disgust")
LOG_TIE_TOLERANCE = np.log1p(1e-7)
UNKNOWN_ATTRIBUTE = "unknown group attribute '{name}'; the predictions have: {known}"
# Privacy: no group smaller than this is ever printed (k-anonymity style); its rows are left out
# of that grouping's analysis and counted as suppressed.
MIN_CELL = 10
# An attribute with more distinct values than this (or one value per few rows) looks like an
# identifier; it is grouped only when named with --groups, and small cells are suppressed then.
MAX_DEFAULT_GROUPS = 50


def attribute_names(df: pd.DataFrame) -> list[str]:
    return [c[len(ATTR_PREFIX) :] for c in df.columns if c.startswith(ATTR_PREFIX)]


def groupings(df: pd.DataFrame, groups: list[str] | None) -> dict[str, list[str]]:
    """Grouping name -> attributes. Default: each attr_* column alone. Given a list: each alone
    plus their full intersection (``gender&race``)."""
    known = attribute_names(df)
    names = [n for n in known if not id_like(df[ATTR_PREFIX + n])] if groups is None else groups
    for name in names:
        if name not in known:
            raise ValueError(UNKNOWN_ATTRIBUTE.format(name=name, known=", ".join(known) or "none"))
    out = {name: [name] for name in names}
    if groups is not None and len(names) > 1:
        out[INTERSECTION.join(names)] = list(names)
    return out


def id_like(column: pd.Series) -> bool:
    """Per-person columns (ids, file names, free text) make one group per person: never a
    default grouping (reports hold aggregates), and grouping them costs time per value."""
    values = column.dropna()
    if values.empty:
        return False
    distinct = values.nunique()
    many = distinct >= 10 and distinct * MIN_CELL > len(values)
    return bool(distinct > MAX_DEFAULT_GROUPS or many)


def suppress_small(
    codes: np.ndarray,
    names: list[str],
    min_cell: int = MIN_CELL,
    *,
    sizes: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Drop groups below the minimum cell size, and as many more as it takes that none can be
    worked out by subtraction (hidden_groups): their rows get code -1 and are counted, never
    named. Keeps the analysis bounded by rows / min_cell groups, whatever the column holds.
    `sizes`: the counts the rule applies to, when they are not the rows of `codes` (label-free
    readings are shown over the faces found, not the faces shown)."""
    if sizes is None:
        sizes = np.bincount(codes[codes >= 0], minlength=len(names))
    hide = hidden_groups(sizes, names, min_cell)
    keep = ~hide
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    info = {"n_groups": int(hide.sum()), "n_rows": int(sizes[hide].sum())}
    return (
        np.where(codes >= 0, remap[np.maximum(codes, 0)], -1),
        [n for n, k in zip(names, keep, strict=True) if k],
        info,
    )


def hidden_groups(
    sizes: np.ndarray, names: list[str], min_cell: int = MIN_CELL, *, hidden: Any = None
) -> np.ndarray:
    """Which groups may not be shown: those under `min_cell`, plus complementary ones.

    The slice's total and every shown group's count and rates are printed, so a lone hidden
    group was their difference: 83 women shown, 40 + 40 of them in two shown intersections,
    and the 3 hidden ones' accuracy and labels followed by subtraction. The rule: within the
    whole grouping, and for an intersection within each value of each attribute (its margin
    is printed by the one-attribute grouping), the hidden groups are none, or at least two
    holding at least `min_cell` rows together; the smallest shown group is hidden until that
    holds. What can then be derived is a total of several groups of `min_cell` or more.
    `hidden`: groups never shown whatever their size (rows whose attribute is missing, where a
    table leaves them out). A hidden group of rows whose attribute is missing does not call for
    a complementary one: it is no group of people, and hiding the smallest real group for 3
    unrecorded values (a common case) would blank a finding about hundreds; its readings can be
    worked out, which docs/statistics.md states.
    """
    sizes = np.asarray(sizes)
    hide = sizes < min_cell
    if hidden is not None:
        hide |= np.asarray(hidden, dtype=bool)
    if not hide.any() or hide.all():
        return hide
    sets = [np.ones(len(names), dtype=bool)]
    parts = [name.split(INTERSECTION) for name in names]
    width = len(parts[0])
    if width > 1 and all(len(p) == width for p in parts):
        for j in range(width):
            level = np.array([p[j] for p in parts], dtype=object)
            sets += [level == value for value in dict.fromkeys(level)]
    known = np.array([MISSING not in name.split(INTERSECTION) for name in names], dtype=bool)
    changed = True
    while changed:
        changed = False
        for members in sets:
            hidden_here = hide & members
            enough = hidden_here.sum() >= 2 and sizes[hidden_here].sum() >= min_cell
            if not (hidden_here & known).any() or enough:
                continue
            shown = np.flatnonzero(members & ~hide)
            if len(shown):
                hide[shown[np.argmin(sizes[shown])]] = True
                changed = True
    return hide


def group_codes(df: pd.DataFrame, attributes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Per row a group index and the group names; a missing attribute is its own group."""
    if len(attributes) == 1:  # factorise the column itself: no string per row at 1M rows
        values = df[ATTR_PREFIX + attributes[0]]
        raw, uniques = pd.factorize(values, use_na_sentinel=True)
        labels = [str(u) for u in uniques] + [MISSING]
        names = sorted(set(labels) if (raw < 0).any() else set(labels[:-1]))
        remap = np.array([names.index(x) if x in names else -1 for x in labels], dtype=np.int64)
        return remap[raw], names  # raw -1 (missing) picks the last entry, MISSING
    parts = [
        df[ATTR_PREFIX + a].astype(object).where(df[ATTR_PREFIX + a].notna(), MISSING).astype(str)
        for a in attributes
    ]
    key = parts[0] if len(parts) == 1 else parts[0].str.cat(parts[1:], sep=INTERSECTION)
    names = sorted(key.unique())
    codes = pd.Categorical(key, categories=names).codes.astype(np.int64)
    return codes, names


def _block(S: np.ndarray, g: int, width: int) -> np.ndarray:
    return S[..., g * width : (g + 1) * width]


def disparity(est: Estimate, eligible: np.ndarray, alpha: float) -> dict[str, Any] | None:
    """Max-min difference and min/max ratio over eligible groups, recomputed in every resample
    (percentile interval of the whole statistic)."""
    if eligible.sum() < 2:
        return None
    v, b = est.value[eligible], est.boot[:, eligible]
    out = {}
    with np.errstate(all="ignore"):
        for name, f in (
            ("difference", lambda x: np.nanmax(x, -1) - np.nanmin(x, -1)),
            ("ratio", lambda x: np.nanmin(x, -1) / np.nanmax(x, -1)),
        ):
            boot = f(b)
            lo, hi = np.nanquantile(boot, [alpha, 1 - alpha])
            out[name] = interval(f(v[None, :])[0], lo, hi, int(eligible.sum()))
    return out


def disaggregate(
    *,
    true_idx: np.ndarray,
    pred_idx: np.ndarray,
    labels: list[str],
    group: np.ndarray,
    group_names: list[str],
    spec: BootstrapSpec,
    clusters: Any = None,
    min_group_n: int = 30,
    proba: np.ndarray | None = None,
    proba_true_idx: np.ndarray | None = None,
    edges: np.ndarray | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Per-group metrics with CIs, each group against the rest (or a reference group), the
    test of "no accuracy difference" behind any verdict, disparities, directional errors, ECE.

    The returned ``tests["accuracy"]`` is not yet Holm-adjusted: the caller settles every test of
    the result together (group_tests.settle)."""
    K, G = len(labels), len(group_names)
    sizes = np.bincount(group, minlength=G)
    small = sizes < min_group_n
    missing = np.array([MISSING in name.split(INTERSECTION) for name in group_names])
    eligible = ~small & ~missing
    feats = M.confusion_features(true_idx, pred_idx, K).split_by(group, G)
    res = Resampled(feats, spec=spec, strata=true_idx, clusters=clusters)

    def per_group(f: Any) -> Any:
        return lambda S: np.stack([f(_block(S, g, K * K)) for g in range(G)], axis=-1)

    estimates = {m: res.estimate(per_group(M.METRICS.meta(m)["batched"])) for m in GROUP_METRICS}
    recall = res.estimate(per_group(M.recall_from_confusion))  # (..., K, G)
    alpha = (1 - res.interval_confidence) / 2  # disparity intervals: expanded for few subjects
    if proba is not None and edges is not None:
        bins = M.binned_features(proba_true_idx, proba, edges).split_by(group, G)
        width = 3 * (len(edges) - 1)
        cal = Resampled(bins, spec=spec, strata=true_idx, clusters=clusters, average_real=True)
        ece = cal.estimate(
            lambda S: np.stack([M.ece_from_bins(_block(S, g, width)) for g in range(G)], -1)
        )
        bound = ece_if_calibrated(
            cal.total.reshape(G, width),
            spec.confidence,
            seed=spec.seed,
            subjects=cal.subject_sums(),
        )
        ece.low, ece.high = ece_interval(ece.value, ece.low, ece.high, bound)
        estimates["ece"] = ece
    C = res.total.reshape(G, K, K)
    hits = np.trace(C, axis1=1, axis2=2)
    acc = estimates["accuracy"]
    acc.low, acc.high = proportion_interval(hits, sizes, acc.low, acc.high, spec.confidence)
    rec_x = np.stack([C[:, k, k] for k in range(K)])  # (K, G)
    rec_n = C.sum(2).T
    recall.low, recall.high = proportion_interval(
        rec_x, rec_n, recall.low, recall.high, spec.confidence
    )
    # n is the rows each number is computed on: ECE only sees rows with probabilities.
    n_of = {m: sizes for m in estimates}
    if "ece" in estimates:
        n_of["ece"] = np.bincount(group[proba_true_idx >= 0], minlength=G)
    ref = group_names.index(reference) if reference in group_names else None
    contrast = _contrast(res, G=G, K=K, reference=ref)
    majority = C.sum(2).max(1) / np.maximum(sizes, 1)
    rows = []
    for g, name in enumerate(group_names):
        entry: dict[str, Any] = {
            "group": name,
            "n": int(sizes[g]),
            "small": bool(small[g]),
            "missing_attribute": bool(missing[g]),
            "metrics": {
                m: interval(e.value[g], e.low[g], e.high[g], n_of[m][g])
                for m, e in estimates.items()
            },
            "accuracy_minus_" + ("reference" if ref is not None else "rest"): contrast[g],
            "majority_class_accuracy": float(majority[g]) if sizes[g] else None,
            "recall": {
                lab: interval(
                    recall.value[k, g],
                    recall.low[k, g],
                    recall.high[k, g],
                    ((group == g) & (true_idx == k)).sum(),
                )
                for k, lab in enumerate(labels)
            },
        }
        if "ece" in estimates:
            entry["ece_bootstrap_bias"] = ece_bootstrap_bias(estimates["ece"], g)
        rows.append(entry)
    tests = {}
    keep = eligible[group]
    if eligible.sum() >= 2:
        names = [n for n, e in zip(group_names, eligible, strict=True) if e]
        recode = np.cumsum(eligible) - 1
        tests["accuracy"] = finding(
            metric="accuracy",
            y=(true_idx == pred_idx)[keep].astype(np.float64),
            group=recode[group[keep]],
            group_names=names,
            clusters=None if clusters is None else np.asarray(clusters)[keep],
        )
    disparities = {m: disparity(e, eligible, alpha) for m, e in estimates.items()}
    if disparities.get("accuracy") and "accuracy" in tests:
        disparities["accuracy"]["difference_permutation_null"] = gap_permutation(
            (true_idx == pred_idx)[keep],
            recode[group[keep]],
            len(names),
            clusters=None if clusters is None else np.asarray(clusters)[keep],
            n_permutations=max(spec.n_resamples, 200),
            seed=spec.seed,
        )
    return {
        "groups": rows,
        "reference": group_names[ref] if ref is not None else None,
        # asked for but not among the groups shown (absent, or hidden to protect its members):
        # the comparison is with the rest, and the report says so instead of ignoring it
        "reference_not_shown": reference if reference is not None and ref is None else None,
        "excluded_from_disparity": [n for n, e in zip(group_names, eligible, strict=True) if not e],
        "disparity": disparities,
        "tests": tests,
        "directional_errors": directional_errors(
            res,
            labels=labels,
            group=group,
            group_names=group_names,
            eligible=eligible,
            min_group_n=min_group_n,
            true_idx=true_idx,
            pred_idx=pred_idx,
            clusters=clusters,
        ),
        "resampling_unit": res.unit,
    }


def _contrast(res: Resampled, *, G: int, K: int, reference: int | None) -> list[dict[str, Any]]:
    """Each group's accuracy minus the rest's (or the reference group's), recomputed in every
    resample: an interval that can contain 0, unlike a max-min gap."""

    def diff(S: np.ndarray) -> np.ndarray:
        C = S.reshape(*S.shape[:-1], G, K, K)
        hits = np.trace(C, axis1=-2, axis2=-1)
        n = C.sum((-2, -1))
        with np.errstate(all="ignore"):
            acc = hits / n
            if reference is not None:
                return acc - acc[..., reference : reference + 1]
            rest = (hits.sum(-1, keepdims=True) - hits) / (n.sum(-1, keepdims=True) - n)
            return acc - rest

    with np.errstate(all="ignore"), _warnings_off():
        e = res.estimate(diff)
    C = res.total.reshape(G, K, K).sum((1, 2))
    n = [C[g] + (C[reference] if reference is not None else C.sum() - C[g]) for g in range(G)]
    return [interval(e.value[g], e.low[g], e.high[g], n[g]) for g in range(G)]


def ece_bootstrap_bias(est: Estimate, group: int | None = None) -> float | None:
    """Mean of the bootstrap replicates minus the estimate: binned ECE is biased upward (noise
    in a bin's accuracy only ever adds |gap|), most in small groups, and the resamples carry the
    bias once more, so the percentile interval sits above the estimate (docs/statistics.md).
    Subtracting this gives the bootstrap bias-corrected ECE."""
    with np.errstate(all="ignore"), _warnings_off():
        boot, value = (
            (est.boot, est.value) if group is None else (est.boot[:, group], est.value[group])
        )
        bias = float(np.nanmean(boot) - value)
    return bias if np.isfinite(bias) else None


def _rates(S: np.ndarray, rows: list[int], cols: list[int], K: int) -> np.ndarray:
    C = M.as_matrix(S)
    num = C[..., rows, :][..., :, cols].sum((-2, -1))
    return M._div(num, C[..., rows, :].sum((-2, -1)), np.nan)


def directional_errors(
    res: Resampled,
    *,
    labels: list[str],
    group: np.ndarray,
    group_names: list[str],
    eligible: np.ndarray,
    min_group_n: int = 30,
    true_idx: np.ndarray | None = None,
    pred_idx: np.ndarray | None = None,
    clusters: Any = None,
) -> dict[str, Any]:
    """For each true label, the distribution of predicted labels per group, with CIs; each
    group against the rest (a bootstrap CI of the difference, and a test), Holm-corrected across
    every test of this grouping. The test is Fisher's exact one for independent images; where a
    subject has several images (the bootstrap resamples subjects) Fisher's p is too small, so it
    is the score test of analysis/group_tests.py with subjects as clusters (same rows, group
    against the rest)."""
    K, G = len(labels), len(group_names)
    width = K * K
    C_all = res.total.reshape(G, K, K)
    rate = lambda S, g: M.row_normalised_from_confusion(_block(S, g, width))  # noqa: E731

    def rest(S: np.ndarray, g: int) -> np.ndarray:
        return S.reshape(*S.shape[:-1], G, width).sum(-2) - _block(S, g, width)

    table: dict[str, Any] = {}
    tests: list[dict[str, Any]] = []
    tables: list[list[float]] = []  # [a, b, c, d] per test: [[a, b], [c, d]]
    alpha = (1 - res.spec.confidence) / 2
    for g, name in enumerate(group_names):
        r_g = rate(res.total[None, :], g)[0]
        r_boot = rate(res.boot, g)
        diff_boot = r_boot - M.row_normalised_from_confusion(rest(res.boot, g))
        diff_val = r_g - M.row_normalised_from_confusion(rest(res.total[None, :], g))[0]
        with np.errstate(all="ignore"), _warnings_off():
            lo, hi = percentile_interval(r_boot, res.interval_confidence)
            dlo, dhi = percentile_interval(diff_boot, res.interval_confidence)
        C_rest = C_all.sum(0) - C_all[g]
        for t, tl in enumerate(labels):
            n_t = int(C_all[g, t].sum())
            table.setdefault(tl, {})[name] = {
                pl: interval(r_g[t, p], lo[t, p], hi[t, p], n_t) for p, pl in enumerate(labels)
            }
            if not eligible[g] or n_t < min_group_n or C_rest[t].sum() < min_group_n:
                continue
            for p, pl in enumerate(labels):
                if p == t:
                    continue
                tables.append(
                    [
                        C_all[g, t, p],
                        n_t - C_all[g, t, p],
                        C_rest[t, p],
                        C_rest[t].sum() - C_rest[t, p],
                    ]
                )
                tests.append(
                    {
                        "true": tl,
                        "pred": pl,
                        "group": name,
                        "rate_group": float(r_g[t, p]),
                        "rate_rest": float(C_rest[t, p] / C_rest[t].sum()),
                        "difference": interval(diff_val[t, p], dlo[t, p], dhi[t, p], n_t),
                    }
                )
    rows = _per_row(true_idx, pred_idx, clusters, res)
    if rows is not None and rows["clusters"] is not None:
        p_values = _clustered_p(tests, rows, labels=labels, group=group, group_names=group_names)
        method = "score test, two-sided, group vs all other groups (subjects as clusters)"
    else:
        p_values = fisher_exact_two_sided(np.array(tables).reshape(-1, 4))
        method = "Fisher exact, two-sided, group vs all other groups (images independent)"
    for t, pval in zip(tests, p_values, strict=True):
        t["p_value"] = float(pval)
    adjusted = holm([t["p_value"] for t in tests])
    for t, p in zip(tests, adjusted, strict=True):
        t["p_holm"] = float(p)
        t["reject_at_alpha"] = bool(p < 2 * alpha)
    return {
        "labels": labels,
        "by_true_label": table,
        "tests": tests,
        "test": method,
        "correction": f"holm over {len(tests)} tests of this grouping",
        "calm_read_as_hostile": _calm_as_hostile(
            res,
            labels,
            group_names,
            eligible,
            alpha,
            min_group_n=min_group_n,
            rows=rows,
            group=group,
        ),
    }


def _per_row(true_idx: Any, pred_idx: Any, clusters: Any, res: Resampled) -> dict[str, Any] | None:
    """The rows behind the tests, with subjects as clusters only where the bootstrap uses them
    (some subject has several images): one image a subject is an independent image."""
    if true_idx is None or pred_idx is None:
        return None
    clustered = clusters is not None and res.unit == "subject_id"
    return {
        "true": np.asarray(true_idx),
        "pred": np.asarray(pred_idx),
        "clusters": np.asarray(clusters) if clustered else None,
    }


def _clustered_p(
    tests: list[dict[str, Any]],
    rows: dict[str, Any],
    *,
    labels: list[str],
    group: np.ndarray,
    group_names: list[str],
) -> list[float]:
    """Each (group, true, called) against the rest by the score test over the rows of that true
    label, subjects as clusters: one test of all groups per (true, called) pair gives every
    group's test against the rest (U_g / sqrt(V_gg), as Fisher's group-vs-rest tables)."""
    index = {lab: k for k, lab in enumerate(labels)}
    which = {name: g for g, name in enumerate(group_names)}
    done: dict[tuple[int, int], list[float]] = {}
    out = []
    for t in tests:
        key = (index[t["true"]], index[t["pred"]])
        if key not in done:
            sel = rows["true"] == key[0]
            y = (rows["pred"][sel] == key[1]).astype(np.float64)
            test = score_test(y, group[sel], len(group_names), clusters=rows["clusters"][sel])
            done[key] = test["p_vs_rest"]
        out.append(float(done[key][which[t["group"]]]))
    return out


def fisher_exact_two_sided(tables: np.ndarray) -> np.ndarray:
    """scipy.stats.fisher_exact(two-sided) p-values of many 2x2 tables ([a, b, c, d] rows) at
    once: the summed hypergeometric probability of every table with the same margins no more
    likely than the observed one. One vectorised pass instead of one scipy call per test, which
    dominated the disaggregation time of 30 groups."""
    from scipy.stats import hypergeom

    a, b, c, d = (np.asarray(tables, dtype=np.int64).reshape(-1, 4).T).copy()
    n1, n2, col = a + b, c + d, a + c
    out = np.ones(len(a))
    ok = (n1 > 0) & (n2 > 0) & (col > 0) & (b + d > 0)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    lo = np.maximum(0, col[idx] - n2[idx])
    hi = np.minimum(col[idx], n1[idx])
    size = hi - lo + 1
    which = np.repeat(np.arange(len(idx)), size)
    x = lo[which] + np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    M_, n_, N_ = (n1 + n2)[idx], n1[idx], col[idx]
    # logpmf (betaln) is ~500x faster than pmf (boost) on large margins
    log_pmf = hypergeom.logpmf(x, M_[which], n_[which], N_[which])
    log_obs = hypergeom.logpmf(a[idx], M_, n_, N_)
    # as likely as the observed table up to rounding: R's fisher.test tolerance (scipy's 1e-14
    # is below the rounding of either pmf, so exact ties could fall either way there)
    keep = log_pmf <= log_obs[which] + LOG_TIE_TOLERANCE
    p = np.bincount(which, weights=np.exp(log_pmf) * keep, minlength=len(idx))
    out[idx] = np.minimum(p, 1.0)
    return out


def _calm_as_hostile(
    res: Resampled,
    labels: list[str],
    group_names: list[str],
    eligible: np.ndarray,
    alpha: float,
    *,
    min_group_n: int = 30,
    rows: dict[str, Any] | None = None,
    group: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """Calm or happy faces read as hostile, per group; a group is compared only when it has
    min_group_n calm rows (the rate's own denominator), not merely min_group_n rows.

    The max-min difference and min/max ratio are descriptive: the difference is never below 0
    and the ratio never above 1 in any resample, so their intervals cannot show "no difference".
    Words come only from ``test`` (calm_hostile_test)."""
    calm = [labels.index(x) for x in CALM_LABELS if x in labels]
    hostile = [labels.index(x) for x in HOSTILE_LABELS if x in labels]
    if not calm or not hostile:
        return None
    K, G = len(labels), len(group_names)
    f = lambda S: np.stack(  # noqa: E731
        [_rates(_block(S, g, K * K), calm, hostile, K) for g in range(G)], -1
    )
    est = res.estimate(f)
    C = res.total.reshape(G, K, K)
    n_calm = C[:, calm, :].sum((1, 2))
    x = C[:, calm, :][:, :, hostile].sum((1, 2))
    est.low, est.high = proportion_interval(x, n_calm, est.low, est.high, res.spec.confidence)
    own = eligible & (n_calm >= min_group_n)
    out = {
        "true_labels": [labels[i] for i in calm],
        "pred_labels": [labels[i] for i in hostile],
        "by_group": {
            name: interval(est.value[g], est.low[g], est.high[g], n_calm[g])
            for g, name in enumerate(group_names)
        },
        "excluded_from_disparity": [n for n, e in zip(group_names, own, strict=True) if not e],
        "disparity": disparity(est, own, (1 - res.interval_confidence) / 2),
    }
    if rows is not None and group is not None and own.sum() >= 2:
        sel = np.isin(rows["true"], calm) & own[group]
        out["test"] = calm_hostile_test(
            hostile=np.isin(rows["pred"][sel], hostile),
            group=(np.cumsum(own) - 1)[group[sel]],
            group_names=[n for n, e in zip(group_names, own, strict=True) if e],
            clusters=None if rows["clusters"] is None else rows["clusters"][sel],
            alpha=2 * alpha,  # alpha here is the tail of a two-sided interval
            what=f"the share of {'/'.join(out['true_labels'])} faces called "
            f"{'/'.join(out['pred_labels'])}",
        )
    return out


def calm_hostile_test(
    *,
    hostile: np.ndarray,
    group: np.ndarray,
    group_names: list[str],
    clusters: Any,
    alpha: float,
    what: str,
) -> dict[str, Any]:
    """The test behind any words on calm faces read as hostile by group: the score test of
    analysis/group_tests.py (subjects as clusters) with its verdict, one family per grouping
    (as the directional table's Holm step), and the sentence a report may print."""
    test = finding(
        metric="calm_read_as_hostile",
        y=np.asarray(hostile, dtype=np.float64),
        group=group,
        group_names=group_names,
        clusters=clusters,
        higher_is_better=False,  # read: called hostile more often
    )
    settle([test], alpha=alpha)
    test["text"] = calm_hostile_sentence(test, what)
    return test


def calm_hostile_sentence(t: dict[str, Any], what: str) -> str:
    return verdict_words(t, what, p_name="p")


class _warnings_off:
    def __enter__(self) -> None:
        import warnings

        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._c.__exit__(*exc)
