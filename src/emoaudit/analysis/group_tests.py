"""Tests of "no difference between the groups", and the verdicts they license.

A max-min gap between group rates is never negative, so its bootstrap interval cannot contain 0
and cannot by itself say that groups differ. Every verdict in words ("group X is worse") comes
from here instead:

* ``score_test``: the cluster-robust score (Rao) test that a per-row quantity (a hit, a missed
  face, a hostile reading, a probability) has the same mean in every group, optionally within
  strata (bins of another score: "at equal smiles"). Without clusters and strata it is Pearson's
  chi-square test of a G x 2 table up to the n/(n-1) factor; with subjects, each subject's
  contributions are summed before the variance is taken, so images of one person count as one
  unit, as in the cluster bootstrap. Each group against the rest comes from the same score.
* ``holm_family``: Holm's step-down over every test one result turns into words.
* ``verdict``: a group is named worse (or better) only when the grouping's omnibus test rejects
  after Holm *and* that group's test against the rest rejects after Holm within the grouping.
  Naming requires the omnibus rejection, so under no group effect the chance of naming any group
  is at most the level (shown by simulation in tests/analysis/test_group_tests.py).
* ``min_detectable_difference``: the smallest gap between the smallest group and the rest that
  this data would detect with 80% power at the Holm-adjusted level, so "no evidence of a
  difference" always says how large a difference could have hidden.
"""

from __future__ import annotations

from typing import Any

import numpy as np

POWER = 0.8
SCORE_TEST = "cluster-robust score test (Pearson chi-square without subjects)"


def _cluster_codes(clusters: Any, n: int) -> np.ndarray:
    """Integer cluster per row; rows without a subject are their own cluster."""
    if clusters is None:
        return np.arange(n)
    from emoaudit.analysis.bootstrap import _codes

    return _codes(clusters)


def score_test(
    y: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    *,
    strata: np.ndarray | None = None,
    clusters: Any = None,
) -> dict[str, Any]:
    """Test that E[y] is equal across groups (within each stratum when strata are given).

    The score for group g is U_g = sum_i (1[g_i = g] - pi_g(s_i)) (y_i - ybar(s_i)), with pi_g(s)
    the share of group g in stratum s; its variance is the sum over clusters of the outer
    products of their summed scores (times C/(C-1)). The omnibus statistic U' V^+ U is
    chi-square with rank(V) degrees of freedom; U_g / sqrt(V_gg) tests group g against the rest.
    """
    from scipy.stats import chi2, norm

    y = np.asarray(y, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    n = len(y)
    s = np.zeros(n, dtype=np.int64) if strata is None else _dense(np.asarray(strata))
    S = int(s.max(initial=-1)) + 1
    count = np.bincount(s, minlength=S).astype(np.float64)
    ybar = np.bincount(s, y, minlength=S) / np.maximum(count, 1)
    share = np.zeros((S, n_groups))
    np.add.at(share, (s, group), 1.0)
    share /= np.maximum(count, 1)[:, None]
    r = y - ybar[s]
    D = -share[s]  # each row's group indicator minus its stratum's group shares
    D[np.arange(n), group] += 1.0
    X = D * r[:, None]
    U = X.sum(0)
    # independent rows: the pooled within-stratum variance under no difference, which makes
    # this Pearson's chi-square (Cochran-Mantel-Haenszel's, with strata) exactly
    Dw = D * np.sqrt(np.bincount(s, r * r, minlength=S) / np.maximum(count, 1))[s][:, None]
    V_rows = Dw.T @ Dw
    if clusters is None:
        C, V = n, V_rows
    else:
        c = _cluster_codes(clusters, n)  # codes with gaps are fine: empty clusters add nothing
        width = int(c.max(initial=-1)) + 1
        C = int(np.count_nonzero(np.bincount(c, minlength=width)))
        per_cluster = np.stack([np.bincount(c, X[:, j], width) for j in range(n_groups)], -1)
        V = per_cluster.T @ per_cluster * (C / max(C - 1, 1))
    out: dict[str, Any] = {"test": SCORE_TEST, "n": n, "n_clusters": C, "n_strata": S}
    scale = float(np.abs(V).max(initial=0.0))
    eig = np.linalg.eigvalsh(V / scale) if scale > 0 else np.zeros(0)
    rank = int((eig > 1e-9).sum())
    if rank == 0:
        out.update(statistic=0.0, df=0, p_value=1.0, z=[0.0] * n_groups, p_vs_rest=[1.0] * n_groups)
        return out
    stat = float(U @ np.linalg.pinv(V, rcond=1e-9, hermitian=True) @ U)
    if clusters is not None:  # what the same rows would give as independent images
        out["statistic_independent"] = float(
            U @ np.linalg.pinv(V_rows, rcond=1e-9, hermitian=True) @ U
        )
    var = np.diag(V)
    with np.errstate(all="ignore"):
        z = np.where(var > 0, U / np.sqrt(var), 0.0)
    out.update(
        statistic=stat,
        df=rank,
        p_value=float(chi2.sf(stat, rank)),
        z=z.tolist(),
        p_vs_rest=(2 * norm.sf(np.abs(z))).tolist(),
    )
    return out


def _dense(codes: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(codes, return_inverse=True)
    return inverse.ravel().astype(np.int64)


def holm_family(tests: list[dict[str, Any]], *, alpha: float) -> None:
    """Holm-adjust the omnibus p-values of every test in the family, in place (``p_holm``,
    ``rejected``); tests without a p-value are left out of the family size."""
    from emoaudit.analysis.bootstrap import holm

    adjusted = holm([t.get("p_value", np.nan) for t in tests])
    for t, p in zip(tests, adjusted, strict=True):
        t["p_holm"] = None if np.isnan(p) else float(p)
        t["rejected"] = bool(np.isfinite(p) and p < alpha)
        t["alpha"] = round(alpha, 10)
        t["family_size"] = int(np.isfinite(adjusted).sum())


def verdict(
    test: dict[str, Any],
    *,
    group_names: list[str],
    higher_is_better: bool,
    alpha: float,
) -> None:
    """Name worse and better groups in ``test`` (in place) only where the tests back it."""
    from emoaudit.analysis.bootstrap import holm

    test["worse"], test["better"] = [], []
    p_rest = np.asarray(test.get("p_vs_rest") or [], dtype=np.float64)
    if not len(p_rest):
        return
    # two groups: "each against the rest" is one comparison seen from both sides, not two tests
    p_adj = p_rest.copy() if len(p_rest) == 2 else holm(p_rest)
    test["p_vs_rest_holm"] = [None if np.isnan(p) else float(p) for p in p_adj]
    if not test.get("rejected"):
        return
    z = np.asarray(test["z"], dtype=np.float64)
    for g, name in enumerate(group_names):
        if not (np.isfinite(p_adj[g]) and p_adj[g] < alpha):
            continue
        above = z[g] > 0
        (test["better"] if above == higher_is_better else test["worse"]).append(name)


def spread_and_sizes(y: np.ndarray, group: np.ndarray, n_groups: int) -> dict[str, Any] | None:
    """What the detectable difference needs: the pooled standard deviation of y (for a rate seen
    constant, 0 of n, that of the rule-of-three bound 3/n), the smallest group's size and the
    rest's; None with fewer than two groups."""
    sizes = np.bincount(group, minlength=n_groups)
    present = sizes[sizes > 0]
    if len(present) < 2:
        return None
    sd = float(np.std(np.asarray(y, dtype=np.float64)))
    if sd == 0:
        p = min(0.5, 3.0 / max(len(y), 1))
        sd = float(np.sqrt(p * (1 - p)))
    small = float(present.min())
    return {"sd": sd, "n_small": small, "n_rest": float(present.sum() - small)}


def min_detectable_difference(
    design: dict[str, Any] | None, *, alpha: float, design_effect: float = 1.0
) -> float | None:
    """Smallest difference between the smallest group and the rest detectable with 80% power
    by a two-sided test at level ``alpha``: (z_{1-alpha/2} + z_{0.8}) * sd * sqrt(1/n_g + 1/n_rest)
    * sqrt(design effect)."""
    from scipy.stats import norm

    if design is None:
        return None
    z = norm.ppf(1 - alpha / 2) + norm.ppf(POWER)
    width = np.sqrt(1 / design["n_small"] + 1 / design["n_rest"])
    return float(z * design["sd"] * width * np.sqrt(max(design_effect, 1.0)))


def design_effect(test: dict[str, Any]) -> float:
    """Cluster-robust over independent-rows variance of the scores (>= 1 where subjects repeat),
    used to widen the detectable difference for clustered data."""
    if test.get("n_clusters", 0) >= test.get("n", 0) or "statistic_independent" not in test:
        return 1.0
    a, b = test.get("statistic", 0.0), test["statistic_independent"]
    if a <= 0 or b <= 0:
        return 1.0
    return float(max(1.0, b / a))


def finding(
    *,
    metric: str,
    y: np.ndarray,
    group: np.ndarray,
    group_names: list[str],
    clusters: Any = None,
    strata: np.ndarray | None = None,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """One grouping's test of one per-row quantity, before the family's Holm step (see
    ``settle``): the omnibus score test, each group against the rest, and the group means."""
    G = len(group_names)
    test = score_test(y, group, G, strata=strata, clusters=clusters)
    test["metric"] = metric
    test["higher_is_better"] = higher_is_better
    test["groups"] = list(group_names)
    spread = np.asarray(y, dtype=np.float64)
    if strata is not None:  # at equal levels the relevant spread is within the strata
        s = _dense(np.asarray(strata))
        spread = spread - (np.bincount(s, spread) / np.bincount(s))[s]
    test["_design"] = spread_and_sizes(spread, group, G)
    return test


def settle(tests: list[dict[str, Any]], *, alpha: float) -> None:
    """Holm over the family, then verdicts, detectable differences and one plain sentence per
    test (in place). Private working arrays are removed so the tests are JSON-able."""
    holm_family(tests, alpha=alpha)
    m = max((t["family_size"] for t in tests), default=1)
    for t in tests:
        design = t.pop("_design")
        verdict(t, group_names=t["groups"], higher_is_better=t["higher_is_better"], alpha=alpha)
        t["min_detectable_difference"] = min_detectable_difference(
            design, alpha=alpha / max(m, 1), design_effect=design_effect(t)
        )
        t["text"] = sentence(t)


METRIC_WORDS = {
    "accuracy": "accuracy",
    "detection_rate": "the share of faces found",
    "hostile_rate": "the share of faces read as hostile",
}


def metric_words(metric: str) -> str:
    if metric.startswith("flip_rate_"):
        return f"how often a reading flips under {metric.removeprefix('flip_rate_')}"
    if metric == "agreement":
        return "agreement between the two models"
    if metric.startswith("hostile_probability_at_equal_"):
        level = metric.removeprefix("hostile_probability_at_equal_")
        return f"the hostile score at equal {level} scores"
    return METRIC_WORDS.get(metric, metric.replace("_", " "))


def sentence(t: dict[str, Any]) -> str:
    """The only words a report may say about a grouping's difference."""
    metric = metric_words(t["metric"])
    p = t.get("p_holm")
    p_txt = "n/a" if p is None else f"{p:.3g}"
    if t.get("rejected") and (t["worse"] or t["better"]):
        # a reading is neither good nor bad (groups may truly differ in expression): say which
        # way it goes; accuracy, faces found, stability and agreement are worse or better
        named = [("worse", t["worse"]), ("better", t["better"])]
        if t["metric"].startswith("hostile"):  # hostile readings: higher_is_better is False
            named = [("higher", t["worse"]), ("lower", t["better"])]
        parts = [f"{w} for {', '.join(g)}" for w, g in named if g]
        return f"{metric} differs between groups (Holm p = {p_txt}): {' and '.join(parts)}."
    if t.get("rejected"):
        return (
            f"{metric} differs between groups (Holm p = {p_txt}), but no single group differs "
            "from the rest after correction."
        )
    mdd = t.get("min_detectable_difference")
    tail = "" if mdd is None else f"; this data could detect a gap of {100 * mdd:.3g}% or more"
    return f"no evidence of a difference in {metric} (Holm p = {p_txt}){tail}."


def gap_permutation(
    hit: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    *,
    clusters: Any = None,
    n_permutations: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The max-min accuracy gap under "group labels carry no information": group labels are
    permuted over subjects (when each subject has one group) or over images. Without subjects a
    permutation of labels over rows is a multivariate hypergeometric draw of each group's hits,
    so B permutations cost one call whatever the number of rows."""
    hit = np.asarray(hit, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    rng = np.random.default_rng(seed)
    sizes = np.bincount(group, minlength=n_groups)
    observed = _gap(np.bincount(group, hit, n_groups), sizes)
    unit = "sample"
    c = None if clusters is None else _cluster_codes(clusters, len(hit))
    if c is not None and np.count_nonzero(np.bincount(c)) < len(hit):
        first_group = np.zeros(int(c.max()) + 1, dtype=np.int64)
        first_group[c] = group  # any one row's group per subject
        if (first_group[c] == group).all():  # every subject in one group: permute subjects
            unit = "subject_id"
            # each permutation touches every subject: at tens of thousands of subjects, fewer
            # permutations (p-value resolution 1/(B+1), at least 1/201) keep this to ~a second
            n_permutations = max(200, min(n_permutations, 10_000_000 // (c.max() + 1)))
    if unit == "sample":
        hits = rng.multivariate_hypergeometric(sizes, int(hit.sum()), size=n_permutations)
        null = _gap(hits, sizes)
    else:
        C = int(c.max()) + 1
        c_hits, c_n = np.bincount(c, hit, C), np.bincount(c, minlength=C).astype(float)
        c_group = np.zeros(C, dtype=np.int64)
        c_group[c] = group
        null = np.empty(n_permutations)
        chunk = max(1, 2_000_000 // C)
        for start in range(0, n_permutations, chunk):
            b = min(chunk, n_permutations - start)
            perm = rng.permuted(np.tile(c_group, (b, 1)), axis=1)
            idx = (perm + n_groups * np.arange(b)[:, None]).ravel()
            h = np.bincount(idx, np.tile(c_hits, b), b * n_groups).reshape(b, n_groups)
            m = np.bincount(idx, np.tile(c_n, b), b * n_groups).reshape(b, n_groups)
            null[start : start + b] = _gap(h, m)
    exceed = int((null >= observed - 1e-12).sum())
    return {
        "p_value": (1 + exceed) / (1 + n_permutations),
        "null_median": float(np.median(null)),
        "null_q95": float(np.quantile(null, 0.95)),
        "n_permutations": int(n_permutations),
        "unit": unit,
    }


def _gap(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        rate = np.where(sizes > 0, hits / np.where(sizes > 0, sizes, 1), np.nan)
    return np.nanmax(rate, -1) - np.nanmin(rate, -1)


def cluster_mean_interval(
    y: np.ndarray, group: np.ndarray, n_groups: int, *, clusters: Any, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group and column of ``y`` (n x m): the mean and a normal interval whose variance sums
    each subject's residuals first (times C/(C-1)), so a person's images count as one unit.
    One pass over the rows for any number of columns: the interval for label-free rates and
    mean probabilities at a million rows. Rates are united with Clopper-Pearson by the caller."""
    from scipy import sparse
    from scipy.stats import norm

    y = np.asarray(y, dtype=np.float64).reshape(len(group), -1)
    group = np.asarray(group, dtype=np.int64)
    rows = np.arange(len(group))
    member = sparse.csr_matrix((np.ones(len(group)), (group, rows)), shape=(n_groups, len(group)))
    n = np.asarray(member.sum(1)).ravel()
    with np.errstate(all="ignore"):
        mean = (member @ y) / n[:, None]
    r = y - np.nan_to_num(mean)[group]
    c = _cluster_codes(clusters, len(group))  # gaps in the codes are empty clusters
    C = int(c.max(initial=-1)) + 1
    cell = sparse.csr_matrix(
        (np.ones(len(group)), (c * n_groups + group, rows)), shape=(C * n_groups, len(group))
    )
    per = np.asarray(cell @ r).reshape(C, n_groups, -1)  # residual sums per subject and group
    var = (per * per).sum(0)
    used = int(np.count_nonzero(np.bincount(c, minlength=C)))
    with np.errstate(all="ignore"):
        se = np.sqrt(var * used / max(used - 1, 1)) / n[:, None]
    z = norm.ppf(1 - (1 - confidence) / 2)
    return mean, mean - z * se, mean + z * se
