"""Bootstrap: coverage of known truth, determinism, clustering, McNemar and Holm by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoaudit.analysis import metrics as M
from emoaudit.analysis.bootstrap import (
    BootstrapSpec,
    Resampled,
    holm,
    mcnemar_exact,
    mcnemar_p,
    paired_difference,
)


def _accuracy_interval(t, p, *, spec, clusters=None, strata="label"):
    feats = M.confusion_features(t, p, int(max(t.max(), p.max())) + 1)
    res = Resampled(feats, spec=spec, strata=t if strata else None, clusters=clusters)
    return res.estimate(M.accuracy_from_confusion)


@pytest.mark.slow
@pytest.mark.parametrize("ci_method", ["percentile", "bca"])
def test_95_percent_intervals_cover_the_true_accuracy_93_to_97_percent(ci_method):
    rng = np.random.default_rng(123)
    truth, n, sims, covered = 0.7, 1000, 500, 0
    for s in range(sims):
        t = rng.integers(0, 4, n)
        p = np.where(rng.random(n) < truth, t, (t + 1) % 4)
        est = _accuracy_interval(
            t, p, spec=BootstrapSpec(n_resamples=500, seed=s, ci_method=ci_method), strata=None
        )
        covered += est.low <= truth <= est.high
    assert 0.93 <= covered / sims <= 0.97


def test_same_seed_same_numbers_and_another_seed_differs():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 500)
    p = np.where(rng.random(500) < 0.6, t, rng.integers(0, 5, 500))
    a = _accuracy_interval(t, p, spec=BootstrapSpec(n_resamples=200, seed=3))
    b = _accuracy_interval(t, p, spec=BootstrapSpec(n_resamples=200, seed=3))
    c = _accuracy_interval(t, p, spec=BootstrapSpec(n_resamples=200, seed=4))
    np.testing.assert_array_equal(a.boot, b.boot)
    assert (a.low, a.high) == (b.low, b.high)
    assert not np.array_equal(a.boot, c.boot)


def test_stratified_resamples_keep_each_label_count():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, 300)
    p = rng.integers(0, 3, 300)
    res = Resampled(M.confusion_features(t, p, 3), spec=BootstrapSpec(n_resamples=50), strata=t)
    support = M.as_matrix(res.boot).sum(-1)
    np.testing.assert_array_equal(support, np.tile(np.bincount(t, minlength=3), (50, 1)))


def test_cluster_bootstrap_widens_intervals_when_subjects_are_correlated():
    rng = np.random.default_rng(2)
    subjects = np.repeat(np.arange(40), 25)  # 40 people, 25 images each
    skill = rng.uniform(0.2, 1.0, 40)[subjects]  # some people are read far better than others
    t = rng.integers(0, 4, len(subjects))
    p = np.where(rng.random(len(subjects)) < skill, t, (t + 1) % 4)
    spec = BootstrapSpec(n_resamples=500)
    rows = _accuracy_interval(t, p, spec=spec)
    clustered = _accuracy_interval(t, p, spec=spec, clusters=subjects.astype(str))
    assert (clustered.high - clustered.low) > 1.5 * (rows.high - rows.low)


def test_row_draws_and_merged_multinomial_draws_agree_in_distribution():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 3, 20000)
    p = np.where(rng.random(20000) < 0.5, t, rng.integers(0, 3, 20000))
    merged = _accuracy_interval(t, p, spec=BootstrapSpec(n_resamples=400), strata=None)
    x = M.proba_features(t, np.eye(3)[p] * 0.9 + 0.1 / 3)  # real-valued: rows kept as units
    rows = Resampled(x, spec=BootstrapSpec(n_resamples=400)).estimate(
        M.METRICS.meta("argmax_accuracy")["batched"]
    )
    assert rows.value == pytest.approx(merged.value)
    assert np.std(rows.boot) == pytest.approx(np.std(merged.boot), rel=0.15)


def test_bca_agrees_with_percentile_for_a_symmetric_statistic():
    rng = np.random.default_rng(6)
    t = rng.integers(0, 4, 2000)
    p = np.where(rng.random(2000) < 0.5, t, (t + 1) % 4)
    per = _accuracy_interval(t, p, spec=BootstrapSpec(n_resamples=1000))
    bca = _accuracy_interval(t, p, spec=BootstrapSpec(n_resamples=1000, ci_method="bca"))
    assert bca.low == pytest.approx(per.low, abs=0.006)
    assert bca.high == pytest.approx(per.high, abs=0.006)


def test_paired_difference_is_tighter_than_independent_intervals():
    rng = np.random.default_rng(7)
    t = rng.integers(0, 4, 1000)
    a = np.where(rng.random(1000) < 0.7, t, (t + 1) % 4)
    b = np.where(rng.random(1000) < 0.05, (t + 2) % 4, a)  # B = A with a few extra errors
    spec = BootstrapSpec(n_resamples=500)
    d = paired_difference(
        M.confusion_features(t, a, 4),
        M.confusion_features(t, b, 4),
        M.accuracy_from_confusion,
        spec=spec,
        strata=t,
    )
    assert d.value == pytest.approx((a == t).mean() - (b == t).mean())
    assert d.low > 0
    one = _accuracy_interval(t, a, spec=spec)
    assert (d.high - d.low) < 0.5 * (one.high - one.low)


def _exact_binomial_two_sided(b: int, c: int) -> float:
    n, k = b + c, min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


@pytest.mark.parametrize("b,c", [(0, 0), (0, 5), (3, 9), (10, 10), (25, 40), (1, 0)])
def test_mcnemar_exact_matches_the_binomial_by_hand(b, c):
    assert mcnemar_p(b, c) == pytest.approx(_exact_binomial_two_sided(b, c), abs=1e-12)


def test_mcnemar_counts_discordant_pairs():
    a = np.array([1, 1, 1, 0, 0, 1, 0], bool)
    b = np.array([1, 0, 0, 1, 0, 1, 0], bool)
    out = mcnemar_exact(a, b)
    assert (out["b"], out["c"]) == (2, 1)
    assert out["p_value"] == pytest.approx(_exact_binomial_two_sided(2, 1))


def test_holm_matches_hand_computation():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> cummax 0.02 .03 .06 .06
    np.testing.assert_allclose(holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm(p)[4])
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_bad_spec_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown ci_method 'bcaa'"):
        BootstrapSpec(ci_method="bcaa")


@pytest.mark.parametrize("family", ["bins", "proba"])
def test_real_valued_rows_merged_into_cells_keep_the_estimate_and_the_spread(family, monkeypatch):
    # average_real merges rows that share their integer features (label, bin, hit, top-2) into
    # cells; a resample draws cell counts exactly and each cell's real-valued sum from the
    # normal with its exact mean and covariance. Total and point estimate are exact; the
    # spread of the resamples matches row-by-row resampling up to Monte Carlo noise.
    import emoaudit.analysis.bootstrap as B

    monkeypatch.setattr(B, "AVERAGE_REAL_MIN_ROWS", 0)  # merge at test size
    rng = np.random.default_rng(3)
    n = 20_000
    t = rng.integers(0, 4, n)
    proba = rng.dirichlet(np.ones(4), n)
    if family == "bins":
        feats, reduce = M.binned_features(t, proba, M.bin_edges(proba.max(1))), M.ece_from_bins
    else:
        feats, reduce = M.proba_features(t, proba), M.METRICS.meta("log_loss")["batched"]
    spec = BootstrapSpec(n_resamples=2000)
    rows = Resampled(feats, spec=spec, strata=t)
    cells = Resampled(feats, spec=spec, strata=t, average_real=True)
    assert rows.units.shape[0] == n and cells.units.shape[0] < 4 * 15 * 2
    assert cells.mult.sum() == n and cells.spread is not None
    np.testing.assert_allclose(cells.total, rows.total, rtol=1e-12)
    a, b = rows.estimate(reduce), cells.estimate(reduce)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    assert a.boot.std() == pytest.approx(b.boot.std(), rel=0.08)
    assert a.boot.mean() == pytest.approx(b.boot.mean(), abs=a.boot.std() / 10)
    half = (a.high - a.low) / 2
    assert a.low == pytest.approx(b.low, abs=half / 10) and a.high == pytest.approx(
        b.high, abs=half / 10
    )
    if family == "proba":
        np.testing.assert_allclose(cells.boot[:, 0], n)  # counts exact: strata keep sizes


def test_reused_resample_counts_equal_fresh_draws():
    # Resampled objects of the same units reuse the last counts drawn; that must be exactly
    # what a fresh generator would draw, and a new seed must not reuse them.
    import emoaudit.analysis.bootstrap as B

    rng = np.random.default_rng(4)
    n = 900
    t, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
    subjects = rng.integers(0, 120, n)
    feats = M.confusion_features(t, p, 3)
    spec = BootstrapSpec(n_resamples=64, seed=5)
    B._COUNTS_CACHE.clear()
    fresh = Resampled(feats, spec=spec, clusters=subjects).boot
    other = M.proba_features(t, rng.dirichlet(np.ones(3), n))
    Resampled(other, spec=spec, clusters=subjects)  # served from the cache
    again = Resampled(feats, spec=spec, clusters=subjects).boot
    np.testing.assert_array_equal(fresh, again)
    B._COUNTS_CACHE.clear()
    np.testing.assert_array_equal(fresh, Resampled(feats, spec=spec, clusters=subjects).boot)
    seed6 = Resampled(feats, spec=BootstrapSpec(n_resamples=64, seed=6), clusters=subjects)
    assert not np.array_equal(fresh, seed6.boot)


@pytest.mark.slow
@pytest.mark.parametrize("n", [5, 30, 200])
@pytest.mark.parametrize("p", [0.0, 0.02, 0.5, 0.98, 1.0])
def test_rate_intervals_cover_and_never_claim_certainty(p, n):
    """A rate's reported interval (bootstrap with a frozen denominator, as the label-stratified
    bootstrap of a recall is, united with Clopper-Pearson): >= 93% coverage at nominal 95% over
    p in {0, .02, .5, .98, 1} x n in {5, 30, 200}, and never of zero width."""
    from emoaudit.analysis.bootstrap import proportion_interval

    rng = np.random.default_rng([int(p * 100), n])
    runs, covered = 400, 0
    x = rng.binomial(n, p, runs)
    # percentile bootstrap of each observed rate: resampled hits of a fixed n
    boot = rng.binomial(n, x[:, None] / n, (runs, 400)) / n
    lo, hi = np.quantile(boot, 0.025, axis=1), np.quantile(boot, 0.975, axis=1)
    lo, hi = proportion_interval(x, np.full(runs, n), lo, hi, 0.95)
    covered = ((lo <= p) & (p <= hi)).mean()
    assert covered >= 0.93
    assert (hi - lo > 0).all()


def test_zero_recall_on_28_rows_has_an_interval(tmp_path):
    """The reported symptom: per-class recall 0.0% (0.0% to 0.0%) at n=28."""
    from synth import table

    from emoaudit.analysis.summary import analyze

    df = table(["happy"] * 100 + ["fear"] * 28, ["happy"] * 100 + ["sad"] * 28)
    res = analyze(df, n_resamples=200)["results"][0]
    fear = res["per_class"]["fear"]["recall"]
    assert fear["value"] == 0.0 and fear["ci_high"] > 0.1
    happy = res["per_class"]["happy"]["recall"]
    assert happy["value"] == 1.0 and happy["ci_low"] < 0.99
    assert res["confusion"]["row_normalised"][0][0]["ci_high"] > 0  # any zero cell
