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

from functools import lru_cache
from typing import Any

import numpy as np

POWER = 0.8
SCORE_TEST = (
    "score test, subjects' rows exchangeably correlated (Pearson chi-square without subjects)"
)


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
    n_sg = np.bincount(s * n_groups + group, minlength=S * n_groups).reshape(S, n_groups)
    share = n_sg / np.maximum(count, 1)[:, None]
    r = y - ybar[s]
    # D_i = e(g_i) - share[s_i] (each row's group indicator minus its stratum's group shares)
    # is never built: at a million rows the n x G arrays cost more than the test. U = D' r, and
    # the residuals of a stratum sum to 0, so its shares' term is ~0 (kept, for exactness).
    U = np.bincount(group, r, minlength=n_groups) - share.T @ np.bincount(s, r, minlength=S)
    # independent rows: the pooled within-stratum variance under no difference, which makes
    # this Pearson's chi-square (Cochran-Mantel-Haenszel's, with strata) exactly. With w2 the
    # stratum's residual variance, V = sum_i w2 D_i D_i' = sum_s w2 (diag(n_s.) - n_s pi pi').
    w2 = np.bincount(s, r * r, minlength=S) / np.maximum(count, 1)
    V_rows = np.diag(w2 @ n_sg) - (share * (w2 * count)[:, None]).T @ share
    out: dict[str, Any] = {"test": SCORE_TEST, "n": n, "n_strata": S}
    if clusters is None:
        C, V = n, V_rows
    else:
        c = _cluster_codes(clusters, n)  # codes with gaps are fine: empty clusters add nothing
        width = int(c.max(initial=-1)) + 1
        C = int(np.count_nonzero(np.bincount(c, minlength=width)))
        # Each subject's rows share one correlation rho: the variance of the scores under the
        # null is then (1 - rho) times the independent rows' plus rho times that of subjects'
        # summed group indicators. It rests on the design (who is in which group), not on each
        # row's residual: the residual-based sandwich it replaces collapsed when a small group
        # happened to hold none of a rare event, and named groups in 28-42% of null runs.
        rho = _within_subject_correlation(y, s, group, c, width)
        summed = _subject_scores(c, width, s, group, n_groups, share, np.sqrt(w2))
        V = (1.0 - rho) * V_rows + rho * (summed.T @ summed)
        out["within_subject_correlation"] = rho
    out["n_clusters"] = C
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
    if C == n and S == 1 and _few_expected(y, group, n_groups):
        exact = _exact_counts(y, group, n_groups, pinv=np.linalg.pinv(V, hermitian=True))
        out.update(_resolved(exact, out, floor=1 / (1 + N_DRAWS)))
    elif C < n:
        subject_group = _subject_groups(group, c)
        if subject_group is not None:
            per_group = np.bincount(subject_group[np.bincount(c, minlength=width) > 0],
                                    minlength=n_groups)  # fmt: skip
            out["fewest_subjects"] = int(per_group[per_group > 0].min()) if per_group.any() else 0
            if S == 1 and C <= MAX_PERMUTED_SUBJECTS:
                permuted = _subject_permutation(y, c, subject_group, n_groups)
                out.update(_resolved(permuted, out, floor=1 / (1 + N_PERMUTATIONS)))
    return out


def _subject_scores(
    c: np.ndarray,
    width: int,
    s: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    share: np.ndarray,
    w: np.ndarray,
) -> np.ndarray:
    """Per subject and group: w[s_i] (1[g_i = g] - share[s_i, g]) summed over its rows."""
    if len(share) == 1:  # one stratum: w (n_cg - n_c share), from one count per subject and group
        n_cg = np.bincount(c * n_groups + group, minlength=width * n_groups)
        n_cg = n_cg.reshape(width, n_groups).astype(np.float64)
        return w[0] * (n_cg - n_cg.sum(1, keepdims=True) * share[0])
    ws = w[s]
    return np.stack(
        [
            np.bincount(c, ws * (group == j), width) - np.bincount(c, ws * share[s, j], width)
            for j in range(n_groups)
        ],
        -1,
    )


def _resolved(exact: dict[str, Any], asymptotic: dict[str, Any], *, floor: float) -> dict:
    """Exact p-values, except where one sits at its resolution floor (no draw as extreme):
    there the chi-square's smaller p is kept. A floor of 1/2,001 could not pass a Holm level
    of 0.05/126 (the directional table's family), so a 67% against 5% confusion rate went
    unreported; under no difference the floor is reached in 1/2,001 of runs, which is all
    this can add to the error rate."""

    def pick(p: float, q: float) -> float:
        return float(min(p, q)) if p <= floor * (1 + 1e-9) else float(p)

    out = dict(exact)
    out["p_value"] = pick(exact["p_value"], asymptotic["p_value"])
    out["p_vs_rest"] = [
        pick(p, q) for p, q in zip(exact["p_vs_rest"], asymptotic["p_vs_rest"], strict=True)
    ]
    return out


MAX_PERMUTED_SUBJECTS = 2000
N_PERMUTATIONS = 2000


def _subject_groups(group: np.ndarray, c: np.ndarray) -> np.ndarray | None:
    """Each subject's group, or None when some subject's rows are in several groups."""
    first = np.zeros(int(c.max(initial=-1)) + 1, dtype=np.int64)
    first[c] = group
    return first if (first[c] == group).all() else None


def _subject_permutation(
    y: np.ndarray, c: np.ndarray, subject_group: np.ndarray, n_groups: int
) -> dict[str, Any]:
    """p-values from dealing the subjects' groups out again at random: exact whatever the
    number of subjects. With few subjects (10-20) the chi-square reference named a group in
    9-18% of runs with no difference, since their correlation is estimated from few of them."""
    rows_of = np.bincount(c, minlength=len(subject_group)).astype(np.float64)
    keep = rows_of > 0
    hits, sizes = np.bincount(c, y, len(subject_group))[keep], rows_of[keep]
    h, m = permuted_group_sums(
        subject_group[keep], [hits, sizes], n_groups, N_PERMUTATIONS, np.random.default_rng(0)
    )
    h0 = np.bincount(subject_group[keep], hits, n_groups)[None]
    m0 = np.bincount(subject_group[keep], sizes, n_groups)[None]
    total, n = float(hits.sum()), float(sizes.sum())

    def spread(h: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            rate = np.where(m > 0, h / np.where(m > 0, m, 1), total / n)
            rest = np.where(n - m > 0, (total - h) / np.where(n - m > 0, n - m, 1), total / n)
        return (m * (rate - total / n) ** 2).sum(-1), np.abs(rate - rest)

    (omni0,), (each0,) = (x for x in spread(h0, m0))
    omni, each = spread(h, m)
    tol = 1e-12

    def p_of(null: np.ndarray, observed: Any) -> Any:
        return (1 + (null >= observed - tol).sum(0)) / (1 + len(null))

    return {
        "p_value": float(p_of(omni, omni0)),
        "p_vs_rest": [float(p) for p in p_of(each, each0)],
        "p_method": f"permutation of the subjects' groups ({N_PERMUTATIONS} draws; the "
        "chi-square p where none is as extreme)",
    }


# Below this many subjects in the smallest group the power formula, made for many units,
# promised too much: a printed gap was found in 20-67% of runs (12-40 subjects), not 80%.
MIN_SUBJECTS_FOR_POWER = 20


def permuted_group_sums(
    unit_group: np.ndarray, values: list[np.ndarray], n_groups: int, B: int, rng: Any
) -> tuple[np.ndarray, ...]:
    """Per permutation and group, the sums of each of `values` (one per unit) after dealing
    the units' groups out again: (B, n_groups) arrays, built in blocks of ~2M cells."""
    U = len(unit_group)
    out = [np.empty((B, n_groups)) for _ in values]
    block = max(1, 2_000_000 // max(U, 1))
    for start in range(0, B, block):
        b = min(block, B - start)
        perm = rng.permuted(np.tile(unit_group, (b, 1)), axis=1)
        idx = (perm + n_groups * np.arange(b)[:, None]).ravel()
        for v, o in zip(values, out, strict=True):
            o[start : start + b] = np.bincount(idx, np.tile(v, b), b * n_groups).reshape(
                b, n_groups
            )
    return tuple(out)


MIN_EXPECTED = 5  # Cochran's rule: below it the chi-square reference is not to be trusted
N_DRAWS = 10_000  # the omnibus null's draws: p resolved to 1/10,001, below any Holm level used


def _few_expected(y: np.ndarray, group: np.ndarray, n_groups: int) -> bool:
    """A yes/no quantity where some group expects fewer than MIN_EXPECTED yeses or noes (2%
    missed faces in a group of 40 expects 0.8): the chi-square p then named groups in 8% of
    runs with no difference at 5%."""
    if not np.isin(y, (0.0, 1.0)).all():
        return False
    sizes = np.bincount(group, minlength=n_groups)
    sizes = sizes[sizes > 0]
    rate = float(y.mean())
    return bool(min(rate, 1 - rate) * sizes.min() < MIN_EXPECTED)


def _exact_counts(y: np.ndarray, group: np.ndarray, n_groups: int, pinv: np.ndarray) -> dict:
    """The p-values of the same statistics under their exact null for independent rows: the
    yeses dealt to the groups at random (a multivariate hypergeometric draw), each group against
    the rest exactly (Fisher's test of that 2 x 2 table, two-sided by distance from its mean)."""
    from scipy.stats import hypergeom

    sizes = np.bincount(group, minlength=n_groups)
    total, n = int(round(y.sum())), len(y)
    expected = sizes * (total / n)
    hits = np.bincount(group, y, minlength=n_groups)
    U = hits - expected
    draws = np.random.default_rng(0).multivariate_hypergeometric(sizes, total, size=N_DRAWS)
    D = draws - expected
    stat = float(U @ pinv @ U)
    null = np.einsum("bi,ij,bj->b", D, pinv, D)
    p_omnibus = (1 + int((null >= stat * (1 - 1e-9)).sum())) / (1 + N_DRAWS)
    p_rest = []
    for g in range(n_groups):
        dist = hypergeom(n, total, int(sizes[g]))
        k = np.arange(int(sizes[g]) + 1)
        far = np.abs(k - expected[g]) >= abs(U[g]) * (1 - 1e-9)
        p_rest.append(float(min(1.0, dist.pmf(k)[far].sum())) if sizes[g] else 1.0)
    return {
        "p_value": float(p_omnibus),
        "p_vs_rest": p_rest,
        "p_method": f"exact null of the counts ({N_DRAWS} draws, the chi-square p where none is "
        f"as extreme; some group expects fewer than {MIN_EXPECTED})",
    }


def _within_subject_correlation(
    y: np.ndarray, strata: np.ndarray, group: np.ndarray, c: np.ndarray, width: int
) -> float:
    """Moment estimate of the correlation of two rows of one subject, from residuals about
    each stratum-and-group mean (a real group difference is not mistaken for correlation);
    0 with one row a subject, and never below 0 (that would make the test bolder than with
    independent rows)."""
    cell = _dense(strata * (int(group.max(initial=0)) + 1) + group)
    size = np.bincount(cell).astype(np.float64)
    e = y - (np.bincount(cell, y) / size)[cell]
    sizes = np.bincount(c, minlength=width).astype(np.float64)
    pairs = float((sizes * (sizes - 1)).sum())
    var = float((e * e).mean()) if len(e) else 0.0
    if pairs <= 0 or var <= 0:
        return 0.0
    sums = np.bincount(c, e, width)
    within = float((sums * sums).sum() - (e * e).sum())
    return float(min(1.0, max(0.0, within / (pairs * var))))


def _dense(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered 0..k-1 in sorted order (np.unique's inverse); small non-negative
    integers, the usual case, by counting instead of sorting a million rows."""
    codes = np.asarray(codes)
    small = codes.dtype.kind in "iu" and codes.size and 0 <= codes.min()
    if small and codes.max() < 4 * codes.size:
        present = np.bincount(codes.astype(np.int64, copy=False)) > 0
        return (np.cumsum(present) - 1)[codes]
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
    return {
        "sd": sd, "n_small": small, "n_rest": float(present.sum() - small),
        "n_groups": len(present),
    }  # fmt: skip


def min_detectable_difference(
    design: dict[str, Any] | None,
    *,
    alpha: float,
    design_effect: float = 1.0,
    group_alpha: float | None = None,
) -> float | None:
    """Smallest difference between the smallest group and the rest that the verdict's two
    steps name with 80% power: the omnibus test (G - 1 degrees of freedom) at the family's
    most stringent Holm level ``alpha``, and the group against the rest at ``group_alpha``
    (Holm's first step within the grouping). A two-group z formula printed gaps that 4 groups
    found with 61% power and 9 with 50%. The noncentrality is that of the group-against-rest
    score, sd * sqrt(1/n_g + 1/n_rest) * sqrt(design effect) per unit of difference."""
    if design is None:
        return None
    G = int(design.get("n_groups", 2))
    level = alpha if group_alpha is None else group_alpha
    shift = _power_noncentrality(alpha=alpha, df=G - 1, group_alpha=level / (1 if G == 2 else G))
    width = np.sqrt(1 / design["n_small"] + 1 / design["n_rest"])
    return float(np.sqrt(shift) * design["sd"] * width * np.sqrt(max(design_effect, 1.0)))


@lru_cache(maxsize=256)  # the same few (levels, groups) recur in every finding of a report
def _power_noncentrality(*, alpha: float, df: int, group_alpha: float) -> float:
    """lambda at which P(omnibus rejects and the group's |z| rejects) = POWER, with the
    omnibus statistic the group's z squared plus an independent chi-square on df - 1 (the
    directions with no difference)."""
    from scipy.optimize import brentq
    from scipy.stats import chi2, norm

    c_omnibus = float(chi2.isf(alpha, max(df, 1)))
    c_group = float(norm.isf(group_alpha / 2) ** 2)
    grid = np.linspace(-9.0, 9.0, 1801)

    def power(lam: float) -> float:
        z = grid + np.sqrt(lam)
        rest = (z * z >= c_omnibus).astype(float) if df <= 1 else chi2.sf(c_omnibus - z * z, df - 1)
        weight = norm.pdf(grid) * (z * z >= c_group) * rest
        return float(weight.sum() * (grid[1] - grid[0]))

    return float(brentq(lambda lam: power(lam) - POWER, 1e-6, 400.0, xtol=1e-6))


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
    if np.count_nonzero(np.bincount(np.asarray(group, dtype=np.int64), minlength=G)) < 2:
        # one group: nothing to compare, so no p-value (Holm leaves it out) and no "no
        # evidence of a difference (p = 1)", which read as a finding about the groups
        test.update(p_value=None, untestable=UNTESTABLE)
    return test


UNTESTABLE = "fewer than two groups with rows to compare"


def settle(tests: list[dict[str, Any]], *, alpha: float) -> None:
    """Holm over the family, then verdicts, detectable differences and one plain sentence per
    test (in place). Private working arrays are removed so the tests are JSON-able."""
    holm_family(tests, alpha=alpha)
    m = max((t["family_size"] for t in tests), default=1)
    for t in tests:
        design = t.pop("_design")
        verdict(t, group_names=t["groups"], higher_is_better=t["higher_is_better"], alpha=alpha)
        t["min_detectable_difference"] = (
            None
            if _few_subjects(t)
            else min_detectable_difference(
                design, alpha=alpha / max(m, 1), design_effect=design_effect(t), group_alpha=alpha
            )
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


def _few_subjects(t: dict[str, Any]) -> bool:
    return t.get("fewest_subjects", MIN_SUBJECTS_FOR_POWER) < MIN_SUBJECTS_FOR_POWER


def sentence(t: dict[str, Any]) -> str:
    """The only words a report may say about a grouping's difference."""
    metric = metric_words(t["metric"])
    # a reading is neither good nor bad (groups may truly differ in expression): say which way
    # it goes; accuracy, faces found, stability and agreement are worse or better
    ways = ("higher", "lower") if t["metric"].startswith("hostile") else ("worse", "better")
    return verdict_words(
        t, metric, ways=ways, no_evidence=f"no evidence of a difference in {metric}"
    )


def verdict_words(
    t: dict[str, Any],
    what: str,
    *,
    ways: tuple[str, str] = ("higher", "lower"),
    p_name: str = "Holm p",
    no_evidence: str | None = None,
) -> str:
    """Words for one settled test (``settle``): the groups its verdict names, a difference no
    single group carries, or no evidence with the gap the data could have seen. ``ways`` words
    the groups named worse and better (hostile readings and flags: higher and lower)."""
    if t.get("untestable"):
        return f"{what}: not tested ({t['untestable']})."
    p = t.get("p_holm")
    p_txt = "n/a" if p is None else f"{p:.3g}"
    if t.get("rejected") and (t.get("worse") or t.get("better")):
        named = [(ways[0], t.get("worse") or []), (ways[1], t.get("better") or [])]
        parts = " and ".join(f"{w} for {', '.join(g)}" for w, g in named if g)
        return f"{what} differs between groups ({p_name} = {p_txt}): {parts}."
    if t.get("rejected"):
        return (
            f"{what} differs between groups ({p_name} = {p_txt}), but no single group differs "
            "from the rest after correction."
        )
    mdd = t.get("min_detectable_difference")
    tail = (
        "" if mdd is None else f"; this data could detect a gap of {100 * mdd:.2g} points or more"
    )
    if _few_subjects(t):
        tail = (
            f"; with {t['fewest_subjects']} subjects in the smallest group this data cannot say "
            "how large a gap could go unseen"
        )
    lead = no_evidence or f"no evidence that {what} differs between groups"
    return f"{lead} ({p_name} = {p_txt}){tail}."


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
        h, m = permuted_group_sums(c_group, [c_hits, c_n], n_groups, n_permutations, rng)
        null = _gap(h, m)
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
    """Per group and column of ``y`` (n x m): the mean and a t interval (C - 1 degrees of freedom)
    whose variance sums each subject's residuals first (times C/(C-1)), so a person's images
    count as one unit.
    One pass over the rows for any number of columns: the interval for label-free rates and
    mean probabilities at a million rows. Rates are united with Clopper-Pearson by the caller."""
    from scipy import sparse
    from scipy.stats import t as t_dist

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
    # t with C - 1 degrees of freedom, not the normal: with 10-20 subjects the normal quantile
    # alone leaves the interval too narrow (the usual small-sample rule for clustered variances)
    z = t_dist.ppf(1 - (1 - confidence) / 2, max(used - 1, 1))
    return mean, mean - z * se, mean + z * se
