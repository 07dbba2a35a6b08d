"""Seeded coverage of the ECE interval and of the flagging intervals (sensitivity, false-flag
rate, PPV): the project rule is that every printed interval is shown by simulation to cover
at its nominal level.

Both simulations run the report's own code on every simulated dataset, vectorised over datasets:
the resample counts come from the report's bootstrap itself (``bootstrap.Resampled`` for ECE,
``flagging._Tally`` for flagging), drawn once per design (same seed, same row layout: the
very counts the report draws for every dataset of that size), and the statistics, the
percentile interval, Clopper-Pearson and Bayes' rule are the report's functions. A first check
runs the report's entry points (``analyze`` / ``view.metric`` for the headline ECE,
``calibration``, ``flagging_analysis`` and its statement) on simulated datasets and requires the
vectorised intervals to equal theirs, so the coverage below is the coverage of what is printed.

Measured here (nominal 95%, 200 resamples, seed 0 as the report):

* ECE, equal-width 15 bins, true binned ECE 0.08 (accuracy 8 points below confidence in every
  bin; 400,000-row truth 0.0799). The percentile interval alone: 71.2% of 500 datasets at
  n = 300 and 91.8% of 2,000 at n = 1,000 (mean bias of the estimate +0.015 and +0.003), all
  misses but 0.15% intervals lying above the truth. The reported interval (lower end
  max(0, min(low, 2 x ECE - high)), bootstrap.ece_interval): 96.0% and 96.1%. Held to 95% less
  3 Monte Carlo SE (0.935) at n = 1,000.
* Flagging at the report's defaults (display rate from the data: 30% flagged labels;
  sensitivity 60%; other expressions read as flagged 5%; base rate 1e-4), 1,000 datasets each:
  sensitivity 96.4% / 96.1%, false-flag rate 94.0% / 94.6%, PPV 94.3% / 93.9% at n = 200 /
  1,000 (the exact part of the intervals changes none of them). Held to 95% less 3 SE (0.929).
* Flagging with a stated display rate of 1% and 1% of other expressions read as flagged
  (base rate 1e-4): sensitivity 96.1% / 96.5%. With a handful of misread rows (about 1.4 in 140
  at n = 200) the bootstrap cannot move the count (0 of 140 is 0 in every resample): the
  percentile interval alone covers the false-flag rate 77.0% / 92.6% and PPV 77.0% / 92.8% at
  n = 200 / 1,000. United with their values at the Clopper-Pearson bounds of q (s and d at
  their estimates), as flagging_analysis reports them: 99.5% / 98.1% and 99.5% / 97.8%. Held to
  95% less 3 SE.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import sparse
from synth import LABELS, table

from emoaudit.analysis import metrics as M
from emoaudit.analysis.bootstrap import (
    BootstrapSpec,
    Resampled,
    ece_if_calibrated,
    ece_interval,
    exact_binomial_interval,
    percentile_interval,
    proportion_interval,
)
from emoaudit.analysis.flagging import (
    _pct_iv,
    _Tally,
    deployment_outcomes,
    flagging_analysis,
)
from emoaudit.analysis.summary import analyze, calibration
from emoaudit.report import view

pytestmark = pytest.mark.slow

CONFIDENCE = 0.95
N_RESAMPLES = 200  # the report's default is 1,000; 200 keeps the test at a few seconds
RUNS = 1000
ECE_RUNS = {300: 500, 1000: 2000}  # the n = 1,000 claim is the one held to a level


def _floor(runs: int, level: float = CONFIDENCE) -> float:
    """Nominal coverage less 3 Monte Carlo standard errors of `runs` simulated datasets."""
    return level - 3 * math.sqrt(level * (1 - level) / runs)


# ------------------------------------------------------------------------------------- ECE

K = len(LABELS)  # the 7 canonical labels, in canonical order: class k is LABELS[k]
ECE_GAP = 0.08
EDGES = M.bin_edges(np.empty(0), strategy="uniform")  # the headline's equal-width 15 bins


def _ece_rows(
    rng: np.random.Generator, n: int, gap: float = ECE_GAP
) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet(0.6) scores over 7 labels; the argmax is the true label with probability
    (confidence - gap), otherwise another label at random. In every confidence bin accuracy is
    `gap` below mean confidence, so the population binned ECE is `gap` (confidence >= 1/7);
    gap 0 is a perfectly calibrated model."""
    proba = rng.dirichlet(np.full(K, 0.6), n)
    pred = proba.argmax(1)
    right = rng.random(n) < proba.max(1) - gap
    return np.where(right, pred, (pred + rng.integers(1, K, n)) % K), proba


def _ece_given_labels(
    rng: np.random.Generator, labels: np.ndarray, gap: float = ECE_GAP
) -> np.ndarray:
    """Scores of rows drawn given their true labels. The model is symmetric in the labels, so
    swapping a drawn row's label column with the wanted label's column is a draw given the
    wanted label (and the binned ECE does not depend on the label mix). Fixed label counts let
    every dataset of one size share the label-stratified resample counts."""
    drawn, proba = _ece_rows(rng, len(labels), gap)
    i = np.arange(len(labels))
    a, b = proba[i, drawn].copy(), proba[i, labels].copy()
    proba[i, drawn], proba[i, labels] = b, a
    return proba


def _fixed_labels(n: int) -> np.ndarray:
    return np.sort(np.arange(n) % K)


def _resample_counts(labels: np.ndarray, spec: BootstrapSpec) -> np.ndarray:
    """(n_resamples, n): how often row j is drawn in each resample of the report's
    label-stratified bootstrap, read off ``Resampled`` run on one indicator column per row."""
    n = len(labels)
    rows = M.Features(np.arange(n)[:, None], np.ones((n, 1)), n)
    return Resampled(rows, spec=spec, strata=labels).boot


def _ece_intervals(
    labels: np.ndarray, probas: np.ndarray, counts: np.ndarray
) -> dict[str, np.ndarray]:
    """The headline ECE (equal-width bins) of each dataset ``probas[r]`` with its interval
    (percentile, lower end extended by ``ece_interval``) and ``ece_bootstrap_bias``, as
    summary.calibration computes them; ``pct_low``: the percentile interval's own lower end."""
    runs, n, _ = probas.shape
    feats = M.binned_features(np.tile(labels, runs), probas.reshape(runs * n, K), EDGES)
    X = feats.split_by(np.repeat(np.arange(runs), n), runs).csr()  # dataset r: its own columns
    rows, cols = np.tile(np.arange(n), runs), np.arange(runs * n)
    fold = sparse.csr_matrix((np.ones(runs * n), (rows, cols)))
    X = (fold @ X).tocsr()  # row j holds row j of every dataset, each in its own columns
    width = feats.width
    total = np.asarray(X.sum(0)).reshape(runs, width)
    boot = np.asarray((X.T @ counts.T).T).reshape(len(counts), runs, width)
    value = M.ece_from_bins(total)
    boot = M.ece_from_bins(boot)
    pct_low, high = percentile_interval(boot, CONFIDENCE)
    bound = np.array([ece_if_calibrated(t, CONFIDENCE, seed=0) for t in total])
    low, high = ece_interval(value, pct_low, high, bound)
    bias = np.nanmean(boot, 0) - value
    return {"value": value, "low": low, "high": high, "pct_low": pct_low, "bias": bias}


@functools.cache
def _ece_truth() -> float:
    """Population binned ECE of the model: equal-width bins over 400,000 rows."""
    rng = np.random.default_rng(20261130)
    sums = sum(M.binned_features(*_ece_rows(rng, 200_000), EDGES).sums() for _ in range(2))
    return float(M.ece_from_bins(sums[None])[0])


@functools.cache
def _ece_coverage(n: int, gap: float = ECE_GAP, runs: int | None = None) -> dict[str, float]:
    runs = runs or ECE_RUNS[n]
    spec = BootstrapSpec(n_resamples=N_RESAMPLES, confidence=CONFIDENCE, seed=0)
    labels = _fixed_labels(n)
    counts = _resample_counts(labels, spec)
    rng = np.random.default_rng([20261130, n, round(gap * 1000)])
    truth = _ece_truth() if gap == ECE_GAP else gap
    keys = ("coverage", "above", "pct", "pct_above", "basic", "excludes_0")
    tally = dict.fromkeys(keys, 0)
    bias = 0.0
    for start in range(0, runs, 250):
        size = min(250, runs - start)
        probas = _ece_given_labels(rng, np.tile(labels, size), gap).reshape(size, n, K)
        iv = _ece_intervals(labels, probas, counts)
        below_high = truth <= iv["high"]
        tally["coverage"] += int(((iv["low"] <= truth) & below_high).sum())
        tally["above"] += int((iv["low"] > truth).sum())
        tally["pct"] += int(((iv["pct_low"] <= truth) & below_high).sum())
        tally["pct_above"] += int((iv["pct_low"] > truth).sum())
        basic_low = np.maximum(0, np.minimum(iv["pct_low"], 2 * iv["value"] - iv["high"]))
        tally["basic"] += int(((basic_low <= truth) & below_high).sum())  # without the null
        tally["excludes_0"] += int((iv["low"] > 0).sum())
        bias += float((iv["value"] - truth).sum())
    return {**{k: v / runs for k, v in tally.items()}, "bias": bias / runs}


def test_vectorised_ece_interval_is_the_reports_headline_ece():
    """The simulation's intervals are the report's: analyze()'s result read as the report
    reads its headline ECE (view.metric), and summary.calibration's equal-width block."""
    spec = BootstrapSpec(n_resamples=N_RESAMPLES, confidence=CONFIDENCE, seed=0)
    rng = np.random.default_rng(7)
    for n in (300, 1000):
        labels = _fixed_labels(n)
        probas = np.stack([_ece_given_labels(rng, labels) for _ in range(2)])
        iv = _ece_intervals(labels, probas, _resample_counts(labels, spec))
        for r in range(1, 2):  # a dataset other than the first: columns are kept apart
            cal = calibration(labels, probas[r], LABELS, spec=spec, strata=labels, clusters=None)
            block = cal["equal_width"]
            got = (block["ece"]["value"], block["ece"]["ci_low"], block["ece"]["ci_high"])
            want = (iv["value"][r], iv["low"][r], iv["high"][r])
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
            assert block["ece_bootstrap_bias"] == pytest.approx(iv["bias"][r], abs=1e-12)
    labels = _fixed_labels(300)
    proba = _ece_given_labels(rng, labels)
    pred = [LABELS[k] for k in proba.argmax(1)]
    scores = {f"prob_{x}": proba[:, k] for k, x in enumerate(LABELS)}
    df = table([LABELS[k] for k in labels], pred, **scores)
    entry = analyze(df, n_resamples=N_RESAMPLES, confidence=CONFIDENCE, seed=0)["results"][0]
    assert entry["calibration"]["labels"] == LABELS and set(pred) == set(LABELS)  # same strata
    headline = view.metric(entry, "ece")
    iv = _ece_intervals(labels, proba[None], _resample_counts(labels, spec))
    assert (headline["value"], headline["ci_low"], headline["ci_high"]) == pytest.approx(
        (iv["value"][0], iv["low"][0], iv["high"][0]), rel=1e-12, abs=1e-15
    )


def test_ece_interval_coverage_as_measured():
    """Regression guard on the measured coverage, and on why the lower end is extended. The
    truth is the population binned ECE, from 400,000 rows of the same model and bins."""
    truth = _ece_truth()
    assert truth == pytest.approx(ECE_GAP, abs=0.002)  # 0.08 by construction
    big, small = _ece_coverage(1000), _ece_coverage(300)
    # the percentile interval alone: 91.8% at 1,000 rows and 71.2% at 300, nearly every miss
    # an interval above the truth (upward bias of binned ECE, carried again by the resamples)
    assert 0.88 <= big["pct"] < _floor(ECE_RUNS[1000]), big
    assert 0.65 <= small["pct"] < 0.8, small
    for res in (big, small):
        assert res["pct_above"] >= 0.9 * (1 - res["pct"]), res
        assert res["bias"] > 0, res
    assert small["bias"] > big["bias"]
    # the reported interval (lower end max(0, min(low, 2 x ECE - high))) at 300 rows, where it
    # is not held to the nominal level: measured 96.0% of 500
    assert small["coverage"] >= 0.9, small
    assert small["coverage"] > small["pct"] and big["coverage"] > big["pct"]


def test_ece_interval_covers_at_the_nominal_level_at_1000_rows():
    """The reported interval covers a true ECE of 0.08 at 95% less 3 Monte Carlo SE (0.935)
    in 2,000 datasets of 1,000 rows (measured 96.1%; the percentile interval alone: 91.8%)."""
    res = _ece_coverage(1000)
    assert res["coverage"] >= _floor(ECE_RUNS[1000]), res


# ------------------------------------------------------------------------------- flagging

FLAG, OTHER, MISSED = "anger", "neutral", "sad"
# (share of flagged labels in the data, sensitivity s, rate q at which other expressions are
# read as flagged, stated display rate or None for the data's share, base rate)
DEFAULTS = (0.3, 0.6, 0.05, None, 1e-4)
STATED_RARE = (0.3, 0.6, 0.01, 0.01, 1e-4)


def _flag_counts(n: int, seed: int = 0) -> np.ndarray:
    """(n_resamples, n): how often row j is drawn in each resample of flagging's bootstrap
    (rows are their own clusters without subjects), read off ``_Tally`` itself."""
    tally = _Tally()
    eye = np.eye(n, dtype=bool)
    for j in range(n):
        tally.add(str(j), eye[j])
    _, draws = tally.bootstrap(np.arange(n), n_resamples=N_RESAMPLES, seed=seed)
    return np.column_stack([draws[str(j)] for j in range(n)])


def _flag_data(rng, n, runs, design):
    share, s, q = design[:3]
    is_flag_label = rng.random((n, runs)) < share
    flagged = np.where(is_flag_label, rng.random((n, runs)) < s, rng.random((n, runs)) < q)
    return is_flag_label, flagged


def _flag_truth(design) -> dict[str, float]:
    share, s, q, display, base = design
    d = share if display is None else display
    ffr = d * s + (1 - d) * q
    ppv = deployment_outcomes(sensitivity=s, false_flag_rate=ffr, base_rate=base, population=1e6)
    return {"sensitivity": s, "false_flag_rate": ffr, "ppv": float(ppv["ppv"])}


def _flag_intervals(is_flag_label, flagged, counts, design, exact=True) -> dict[str, tuple]:
    """flagging_analysis's sensitivity (united with Clopper-Pearson), false-flag rate and PPV
    (united with their values at the Clopper-Pearson bounds of q, s and d at their estimates)
    for every dataset (column) at once; ``exact=False``: percentile only, as before."""
    display, base = design[3], design[4]
    cells = {
        "a": is_flag_label & flagged,
        "nF": is_flag_label,
        "b": ~is_flag_label & flagged,
        "nN": ~is_flag_label,
    }
    point = {k: v.sum(0).astype(float) for k, v in cells.items()}
    draws = {k: counts @ v.astype(float) for k, v in cells.items()}

    def outputs(t, q=None):
        with np.errstate(divide="ignore", invalid="ignore"):
            sens = t["a"] / t["nF"]
            fpr = t["b"] / t["nN"] if q is None else q
            d = t["nF"] / (t["nF"] + t["nN"]) if display is None else display
            ffr = d * sens + (1 - d) * fpr
        ppv = deployment_outcomes(
            sensitivity=sens, false_flag_rate=ffr, base_rate=base, population=1e6
        )["ppv"]
        return {"sensitivity": sens, "false_flag_rate": ffr, "ppv": ppv}

    v0, vb = outputs(point), outputs(draws)
    # s and d at their estimates, q at its Clopper-Pearson bounds (b of nN)
    ends = [outputs(point, q) for q in exact_binomial_interval(point["b"], point["nN"], CONFIDENCE)]
    out = {}
    for k in v0:
        boot = np.where(np.isfinite(vb[k]), vb[k], np.nan)  # _Interval.of drops non-finite
        low, high = percentile_interval(boot, CONFIDENCE)
        if k == "sensitivity":
            low, high = proportion_interval(point["a"], point["nF"], low, high, CONFIDENCE)
        elif exact:
            at = np.stack([e[k] for e in ends])
            at = np.where(np.isfinite(at), at, np.nan)
            with np.errstate(all="ignore"):
                low, high = np.fmin(low, np.nanmin(at, 0)), np.fmax(high, np.nanmax(at, 0))
        out[k] = (v0[k], low, high)
    return out


def _flag_table(is_flag_label, flagged):
    label = np.where(is_flag_label, FLAG, OTHER)
    pred = np.where(flagged, FLAG, np.where(is_flag_label, MISSED, OTHER))
    return table(list(label), list(pred))


@functools.cache
def _flag_coverage(design, n: int, runs: int = RUNS, exact: bool = True) -> dict[str, float]:
    rng = np.random.default_rng([20261130, n, int(1e4 * design[2])])
    iv = _flag_intervals(*_flag_data(rng, n, runs, design), _flag_counts(n), design, exact)
    truth = _flag_truth(design)
    return {
        k: float(((low <= truth[k]) & (truth[k] <= high)).mean())
        for k, (_, low, high) in iv.items()
    }


@pytest.mark.parametrize("design", [DEFAULTS, STATED_RARE], ids=["defaults", "stated_rare"])
def test_vectorised_flagging_intervals_are_flagging_analysis(design):
    """The simulation's intervals are flagging_analysis's, and the statement prints its PPV."""
    rng = np.random.default_rng(3)
    for n in (200, 1000):
        is_flag_label, flagged = _flag_data(rng, n, 2, design)
        iv = _flag_intervals(is_flag_label, flagged, _flag_counts(n), design)
        for r in range(1, 2):  # a dataset other than the first: columns are kept apart
            res = flagging_analysis(
                _flag_table(is_flag_label[:, r], flagged[:, r]),
                flag=[FLAG],
                base_rate=design[4],
                display_rate=design[3],
                n_resamples=N_RESAMPLES,
                seed=0,
                confidence=CONFIDENCE,
            )
            got = {
                "sensitivity": res["rates"]["sensitivity"],
                "false_flag_rate": res["rates"]["false_flag_rate"],
                "ppv": res["outcomes"]["ppv"],
            }
            for k, (value, low, high) in iv.items():
                g = got[k]
                want = (value[r], low[r], high[r])
                assert (g["value"], g["ci_low"], g["ci_high"]) == pytest.approx(
                    want, rel=1e-12, abs=1e-15
                ), k
            assert res["method"]["bootstrap"] == "percentile"
            assert f"only {_pct_iv(got['ppv'])} of flagged people" in res["statement"]


@pytest.mark.parametrize("n", [200, 1000])
def test_flagging_intervals_cover_at_the_report_defaults(n):
    """Display rate from the data: sensitivity, false-flag rate and PPV each cover their
    generative truth at nominal 95% less 3 Monte Carlo SE (0.929 at 1,000 datasets)."""
    cov = _flag_coverage(DEFAULTS, n)
    assert min(cov.values()) >= _floor(RUNS), cov


@pytest.mark.parametrize("n", [200, 1000])
def test_flagging_sensitivity_covers_with_a_stated_display_rate(n):
    cov = _flag_coverage(STATED_RARE, n)
    assert cov["sensitivity"] >= _floor(RUNS), cov


def test_flagging_ppv_and_false_flag_rate_cover_with_rare_false_positives():
    """A stated display rate of 1% and 1% of other expressions read as flagged: the false-flag
    rate is about q, a handful of misread rows (about 1.4 in 140 at 200 rows) that a bootstrap
    cannot move (0 of 140 is 0 in every resample). Percentile alone: 77% at 200 rows, 92.6-92.8%
    at 1,000; united with the values at q's Clopper-Pearson bounds the intervals cover."""
    for n in (200, 1000):
        cov = _flag_coverage(STATED_RARE, n)
        assert min(cov["false_flag_rate"], cov["ppv"]) >= _floor(RUNS), (n, cov)
    # regression guard on the failure the union fixes (percentile only, measured 77.0%)
    pct = _flag_coverage(STATED_RARE, 200, exact=False)
    assert max(pct["false_flag_rate"], pct["ppv"]) < 0.85, pct


# ------------------------------------------------------------------- few subjects (clusters)


def _subject_rows(rng: np.random.Generator, n_subjects: int, photos: int):
    """2 balanced labels; each subject's chance of a correct answer is expit(0.4 + N(0, 1)), so
    a person's photos share their accuracy. The estimand is the population's mean accuracy."""
    from scipy.special import expit

    subject = np.repeat(np.arange(n_subjects), photos)
    p_right = expit(0.4 + rng.normal(size=n_subjects))[subject]
    true = rng.integers(0, 2, len(subject))
    pred = np.where(rng.random(len(subject)) < p_right, true, 1 - true)
    return subject, true, pred


def _population_accuracy() -> float:
    from scipy.special import expit
    from scipy.stats import norm

    z = np.linspace(-8, 8, 20001)
    return float((expit(0.4 + z) * norm.pdf(z)).sum() / norm.pdf(z).sum())


@pytest.mark.parametrize("n_subjects, photos", [(10, 20), (20, 10)])
def test_headline_accuracy_covers_with_few_subjects(n_subjects, photos):
    """The subject bootstrap read at the nominal 95% covered the population accuracy in 90.9%
    (10 subjects x 20 photos) and 93.2% (20 x 10) of 2,000 datasets: resampling G units
    estimates the variance with divisor G and reads normal quantiles where t(G-1) belongs.
    Read at Hesterberg's expanded level (bootstrap.expanded_confidence): 94.7% and 95.3%. In
    this test (1,000 datasets, 200 resamples): 89.4% and 92.2% before, 93.9% and 94.7% now. The
    interval tested is the printed one (summary.headline: the bootstrap united with
    Clopper-Pearson). It must cover at 95% less 3 Monte Carlo SE and not above 98.5% (an
    interval wider than it needs to be hides real differences)."""
    from emoaudit.analysis.summary import headline

    rng = np.random.default_rng(23)
    truth, runs, covered = _population_accuracy(), 1000, 0
    for _ in range(runs):
        subject, true, pred = _subject_rows(rng, n_subjects, photos)
        spec = BootstrapSpec(n_resamples=N_RESAMPLES, seed=int(rng.integers(1 << 31)))
        res = Resampled(
            M.confusion_features(true, pred, 2), spec=spec, strata=true, clusters=subject
        )
        acc = headline(res, true, pred, ["anger", "happy"])[0]["accuracy"]
        covered += acc["ci_low"] <= truth <= acc["ci_high"]
    assert _floor(runs) <= covered / runs <= 0.985, covered / runs


def test_clustered_normal_interval_covers_with_few_subjects():
    """group_tests.cluster_mean_interval (label-free rates, group consistency) with the normal
    quantile covered 91.6% at 10 subjects x 20 photos and 92.9% at 20 x 10 (2,000 datasets);
    with t(G-1): 94.7% and 94.2%. In this test (1,000 datasets each): 90.4% and 93.9% before,
    94.3% and 95.2% now."""
    from emoaudit.analysis.group_tests import cluster_mean_interval

    rng = np.random.default_rng(29)
    truth, runs = _population_accuracy(), 1000
    for n_subjects, photos in ((10, 20), (20, 10)):
        covered = 0
        for _ in range(runs):
            subject, true, pred = _subject_rows(rng, n_subjects, photos)
            y = (true == pred).astype(float)
            _, lo, hi = cluster_mean_interval(
                y, np.zeros(len(y), int), 1, clusters=subject, confidence=CONFIDENCE
            )
            covered += lo[0, 0] <= truth <= hi[0, 0]
        assert _floor(runs) <= covered / runs <= 0.985, (n_subjects, covered / runs)


@pytest.mark.parametrize("n, power", [(300, 0.35), (1000, 0.9)])
def test_ece_interval_reaches_zero_for_a_calibrated_model(n, power):
    """A perfectly calibrated model (true ECE 0): binned ECE is positive on every sample, and
    the interval with the basic lower end covered 0 in only 56.2% (300 rows) and 59.1% (1,000
    rows) of 1,000 datasets, as if the model were miscalibrated (the percentile interval alone:
    never). With the lower end at 0 wherever the ECE is within what a calibrated model shows on
    the same bins (bootstrap.ece_if_calibrated): 96.1% and 98.0%. Power, 500 datasets of a
    model 8 points overconfident: the interval excludes 0 in 43.6% at 300 rows and 98.4% at
    1,000 (3 points overconfident: 5.2% and 17.4%; one-off, 63.4% at 3,000 rows)."""
    null = _ece_coverage(n, 0.0, 1000)
    assert null["coverage"] >= _floor(1000), null
    assert null["basic"] < 0.7, null  # what the interval did without the calibrated bound
    real = _ece_coverage(n, ECE_GAP, 500)
    assert real["excludes_0"] >= power, real


def test_ece_interval_reaches_zero_when_people_are_read_unevenly():
    """A model calibrated over everyone whose accuracy moves by +-0.3 from person to person
    (50 subjects x 20 photos): the binomial null treats the photos as independent, and the
    printed interval covered 0 in 89.5% of these 400 datasets (92.0% at +-0.2; 91.5-92.5% at
    20 subjects x 50 photos). With the subjects' own residual covariance as a second null (the
    larger bound kept): 96.25% (97.0%; 95.5-95.75%). Power, one-off: a model 8 points
    overconfident, +-0.2 between people, excludes 0 in 55.5% of 200 datasets at 50 x 20 and
    94% at 200 subjects x 5 (99% without the person effect)."""
    rng = np.random.default_rng(38)
    spec = BootstrapSpec(n_resamples=N_RESAMPLES, confidence=CONFIDENCE, seed=0)
    runs, covered = 400, 0
    subject = np.repeat(np.arange(50), 20)
    for _ in range(runs):
        proba = rng.dirichlet(np.full(K, 0.6), len(subject))
        pred = proba.argmax(1)
        shift = rng.choice([-0.3, 0.3], 50)[subject]
        right = rng.random(len(subject)) < np.clip(proba.max(1) + shift, 0, 1)
        true = np.where(right, pred, (pred + rng.integers(1, K, len(subject))) % K)
        cal = calibration(true, proba, LABELS, spec=spec, strata=true, clusters=subject)
        covered += cal["equal_width"]["ece"]["ci_low"] == 0.0
    assert covered / runs >= _floor(runs), covered / runs
