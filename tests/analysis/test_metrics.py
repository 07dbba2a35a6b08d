"""Every registered metric against scikit-learn / scipy, and invariants over all of them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr
from sklearn.calibration import calibration_curve

from emoaudit.analysis import metrics as M

TOL = 1e-9


@st.composite
def classification(draw, min_classes: int = 3):
    """Labels 0..K-1 with possibly empty classes; probabilities per row sum to one."""
    k = draw(st.integers(min_classes, 8))
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    present = rng.choice(k, size=draw(st.integers(1, k)), replace=False)
    y_true = rng.choice(present, n)
    y_pred = rng.choice(present if draw(st.booleans()) else np.arange(k), n)
    proba = rng.dirichlet(np.ones(k) * draw(st.sampled_from([0.2, 1.0, 5.0])), n)
    return y_true, y_pred, proba, k


def _sk(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


@settings(max_examples=150, deadline=None)
@given(classification())
def test_label_metrics_match_sklearn(data):
    y, p, _, _ = data
    pairs = {
        "accuracy": skm.accuracy_score(y, p),
        "balanced_accuracy": _sk(skm.balanced_accuracy_score, y, p),
        "f1_macro": _sk(skm.f1_score, y, p, average="macro", zero_division=0),
        "f1_weighted": _sk(skm.f1_score, y, p, average="weighted", zero_division=0),
    }
    for name, expected in pairs.items():
        assert M.metric(name)(y, p) == pytest.approx(expected, abs=TOL), name
    kappa = _sk(skm.cohen_kappa_score, y, p)
    ours = M.metric("cohen_kappa")(y, p)
    assert (np.isnan(kappa) and np.isnan(ours)) or ours == pytest.approx(kappa, abs=TOL)
    labels = np.unique(np.concatenate([y, p]))
    # Undefined per-class rates are NaN (never a fake 0): scikit-learn's zero_division=nan.
    prec, rec, f1, sup = _sk(
        skm.precision_recall_fscore_support, y, p, labels=labels, zero_division=np.nan
    )
    np.testing.assert_allclose(M.metric("precision")(y, p), prec, atol=TOL)
    np.testing.assert_allclose(M.metric("recall")(y, p), rec, atol=TOL)
    np.testing.assert_allclose(M.metric("f1")(y, p), f1, atol=TOL)
    np.testing.assert_allclose(M.metric("support")(y, p), sup, atol=TOL)
    np.testing.assert_allclose(M.metric("confusion_matrix")(y, p), skm.confusion_matrix(y, p))
    normalised = _sk(skm.confusion_matrix, y, p, normalize="true")
    normalised[sup == 0] = np.nan  # scikit-learn writes 0 for a label with no true sample
    np.testing.assert_allclose(M.metric("confusion_matrix_normalised")(y, p), normalised, atol=TOL)


@settings(max_examples=150, deadline=None)
@given(classification())
def test_probability_metrics_match_sklearn(data):
    y, _, proba, k = data
    labels = list(range(k))
    assert M.metric("log_loss")(y, proba) == pytest.approx(
        _sk(skm.log_loss, y, proba, labels=labels), abs=TOL
    )
    assert M.metric("brier")(y, proba) == pytest.approx(
        _sk(skm.brier_score_loss, y, proba, labels=labels, scale_by_half=False), abs=TOL
    )
    assert M.metric("top2_accuracy")(y, proba) == pytest.approx(
        _sk(skm.top_k_accuracy_score, y, proba, k=2, labels=labels), abs=TOL
    )
    hit = (proba.argmax(1) == y).astype(float)
    conf = proba.max(1)
    assert M.metric("argmax_accuracy")(y, proba) == pytest.approx(hit.mean(), abs=TOL)
    assert M.metric("confidence_gap")(y, proba) == pytest.approx(conf.mean() - hit.mean(), abs=TOL)


@settings(max_examples=100, deadline=None)
@given(classification(), st.sampled_from(["uniform", "quantile"]))
def test_ece_matches_sklearn_calibration_curve(data, strategy):
    y, _, proba, _ = data
    hit = (proba.argmax(1) == y).astype(float)
    conf = proba.max(1)
    acc, mean_conf = calibration_curve(hit, conf, n_bins=M.N_BINS, strategy=strategy)
    edges = M.bin_edges(conf, strategy=strategy)
    counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=M.N_BINS)
    counts = counts[counts > 0]
    name = "ece" if strategy == "uniform" else "ece_equal_mass"
    expected = (counts * np.abs(acc - mean_conf)).sum() / counts.sum()
    assert M.metric(name)(y, proba) == pytest.approx(expected, abs=TOL)
    if strategy == "uniform":
        assert M.metric("mce")(y, proba) == pytest.approx(np.abs(acc - mean_conf).max(), abs=TOL)
        rel = M.metric("reliability")(y, proba)
        filled = rel[:, 0] > 0
        np.testing.assert_allclose(rel[filled, 2], acc, atol=TOL)
        np.testing.assert_allclose(rel[filled, 1], mean_conf, atol=TOL)


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 80), st.integers(0, 2**31), st.floats(0.0, 3.0))
def test_continuous_metrics_match_reference(n, seed, noise):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    y = np.clip(0.8 * x + 0.1 + noise * rng.normal(size=n), -1, 1)
    if np.ptp(x) < 1e-3 or np.ptp(y) < 1e-3:
        return
    assert M.metric("rmse")(x, y) == pytest.approx(skm.root_mean_squared_error(x, y), abs=TOL)
    assert M.metric("pearson_r")(x, y) == pytest.approx(pearsonr(x, y).statistic, abs=1e-9)
    ccc = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert M.metric("ccc")(x, y) == pytest.approx(ccc, abs=TOL)


def _call(name, y, p, proba, **kw):
    meta = M.METRICS.meta(name)
    if meta["family"] == "continuous":
        return M.metric(name)(y / 7.0, p / 7.0 + 0.05 * (y % 2), **kw)
    return M.metric(name)(y, proba if meta["needs_proba"] else p, **kw)


@pytest.mark.parametrize("name", M.METRICS.names())
def test_invariants_of_every_registered_metric(name):
    """Row order, unit weights, and integer weights == repeated rows; plus the metadata contract
    and the batched form agreeing with the callable."""
    rng = np.random.default_rng(7)
    k, n = 5, 120
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.5, y, rng.integers(0, k, n))
    proba = rng.dirichlet(np.ones(k), n)
    meta = M.METRICS.meta(name)
    assert set(meta) >= {"higher_is_better", "needs_proba", "family", "batched", "output"}
    base = np.asarray(_call(name, y, p, proba), dtype=float)
    perm = rng.permutation(n)
    np.testing.assert_allclose(_call(name, y[perm], p[perm], proba[perm]), base, atol=TOL)
    np.testing.assert_allclose(_call(name, y, p, proba, sample_weight=np.ones(n)), base, atol=TOL)
    if meta["family"] != "bins_quantile":  # repeated rows move quantile edges; weights do not
        w = rng.integers(1, 4, n)
        rep = np.repeat(np.arange(n), w)
        np.testing.assert_allclose(
            _call(name, y, p, proba, sample_weight=w.astype(float)),
            _call(name, y[rep], p[rep], proba[rep]),
            atol=TOL,
        )
    if meta["output"] == "scalar":
        assert base.ndim == 0
    if meta["higher_is_better"] is not None and meta["family"] == "confusion":
        best = np.asarray(_call(name, y, y, proba), dtype=float)
        assert np.all(best >= base - TOL)


def test_unknown_metric_name_suggests_the_closest():
    with pytest.raises(KeyError, match="did you mean 'accuracy'"):
        M.metric("acuracy")


def test_single_class_and_empty_inputs_are_defined_or_nan():
    assert M.metric("accuracy")([1, 1, 1], [1, 1, 1]) == 1.0
    assert np.isnan(M.metric("cohen_kappa")([1, 1, 1], [1, 1, 1]))
    assert M.metric("f1_macro")([0, 0], [1, 1]) == 0.0
    assert np.isnan(M.metric("accuracy")([], []))


def test_undefined_per_class_rates_are_nan_not_zero():
    # label 2 is predicted but never true; label 0 is true but never predicted
    y, p = [0, 1, 1, 0], [1, 1, 2, 1]
    assert np.isnan(M.metric("recall")(y, p)[2])
    assert np.isnan(M.metric("precision")(y, p)[0])
    assert M.metric("recall")(y, p)[0] == 0.0  # defined, and truly 0
    assert np.isnan(M.metric("confusion_matrix_normalised")(y, p)[2]).all()
    f1 = M.metric("f1")(y, p, labels=[0, 1, 2, 3])
    assert np.isnan(f1[3]) and f1[0] == 0.0
    assert M.metric("f1_macro")(y, p) == pytest.approx(0.4 / 3, abs=TOL)  # F1 of label 1: 2/5
