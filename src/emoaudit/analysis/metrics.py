"""Every reported metric, as a plain callable plus a batched form that runs inside a bootstrap.

Each metric is a function of *summed row features*: a confusion metric of the K x K counts, log
loss of (count, summed -log p), ECE of per-bin (count, summed confidence, summed hits), CCC of
the five moments. A bootstrap resample only changes how often each row is counted, so it only
changes the sums; evaluating a metric on 1,000 resamples is then one pass over a (1000, F) array
instead of 1,000 passes over the rows. That is what makes the speed target possible.

The plain callable ``f(y_true, y_pred_or_proba, *, labels=None, sample_weight=None)`` goes through
the same features and the same batched reducer, so what the tests check against scikit-learn is
exactly the code the bootstrap runs. Metadata in ``METRICS`` says how to do that:

* ``family``: which row features the metric reads (``confusion``, ``proba``, ``bins_uniform``,
  ``bins_quantile``, ``continuous``); metrics of one family share one bootstrap pass;
* ``batched``: ``f(S, **family_kw) -> array``, S being summed features of shape (..., width);
* ``higher_is_better`` (None where neither is: support, counts) and ``needs_proba``;
* ``output``: ``scalar``, ``per_class``, ``matrix`` or ``per_bin``.

Conventions: a per-class precision (label never predicted), recall (label never true), F1
(neither) or row-normalised confusion row (label never true) is NaN when undefined, as
scikit-learn's ``zero_division=np.nan`` - a report must not show a rate of 0 measured on nothing.
Inside the averages an undefined F1 counts 0, as in scikit-learn's defaults: macro averages run
over labels present in y_true or y_pred; balanced accuracy over labels present in y_true; Cohen's
kappa is NaN when undefined; probabilities are clipped to [eps, 1 - eps].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from emoaudit.registry import Registry

METRICS: Registry = Registry("metrics")
N_BINS = 15  # Guo et al. 2017 use 15 equal-width bins; kept as the default for comparability
EPS = np.finfo(np.float64).eps


class Features(NamedTuple):
    """Row features in a fixed-width sparse form: row r adds values[r, j] to column codes[r, j].

    Fixed width makes grouping a shift of codes and resampling a weighted bincount.
    """

    codes: np.ndarray  # (n, k) int64
    values: np.ndarray  # (n, k) float64
    width: int

    def sums(self, sample_weight: np.ndarray | None = None) -> np.ndarray:
        vals = self.values if sample_weight is None else self.values * sample_weight[:, None]
        return np.bincount(self.codes.ravel(), weights=vals.ravel(), minlength=self.width)

    def split_by(self, group: np.ndarray, n_groups: int) -> Features:
        """One block of columns per group; rows with group -1 contribute nothing (but stay
        in the population that is resampled)."""
        g = np.asarray(group, dtype=np.int64)
        keep = g >= 0
        codes = self.codes + (np.where(keep, g, 0) * self.width)[:, None]
        values = np.where(keep[:, None], self.values, 0.0)
        return Features(codes, values, self.width * n_groups)

    def csr(self) -> Any:
        from scipy import sparse

        n, k = self.codes.shape
        return sparse.csr_matrix(
            (self.values.ravel(), self.codes.ravel(), np.arange(0, n * k + 1, k)),
            shape=(n, self.width),
        )


def concat_features(parts: Sequence[Features]) -> tuple[Features, list[slice]]:
    """Side-by-side blocks (model A | model B, clean | perturbed) so that one resample of the
    shared rows drives both: this is what makes a bootstrap difference *paired*."""
    offsets = np.cumsum([0] + [p.width for p in parts])
    codes = np.concatenate([p.codes + o for p, o in zip(parts, offsets, strict=False)], axis=1)
    values = np.concatenate([p.values for p in parts], axis=1)
    slices = [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return Features(codes, values, int(offsets[-1])), slices


# ----------------------------------------------------------------------------- label encoding


def encode_labels(
    y_true: Sequence[Any], y_pred: Sequence[Any] | None = None, labels: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[Any]]:
    """Integer codes in the order of ``labels`` (default: sorted union, as scikit-learn); values
    outside ``labels`` become -1."""
    yt = np.asarray(y_true)
    yp = None if y_pred is None else np.asarray(y_pred)
    if labels is None:
        pool = yt if yp is None else np.concatenate([yt, yp])
        labels = list(np.unique(pool))
    index = {lab: i for i, lab in enumerate(labels)}

    def enc(y: np.ndarray) -> np.ndarray:
        # one dictionary look-up per distinct value, not per row (million-row tables)
        import pandas as pd

        codes, uniques = pd.factorize(y, use_na_sentinel=True)
        table = np.array([index.get(v, -1) for v in list(uniques)] + [-1], dtype=np.int64)
        return table[codes]  # the sentinel -1 picks the trailing -1

    return enc(yt), (None if yp is None else enc(yp)), list(labels)


# ----------------------------------------------------------------------------- confusion family


def confusion_features(true_idx: np.ndarray, pred_idx: np.ndarray, n_labels: int) -> Features:
    """One-hot cell of the K x K confusion matrix; rows outside the label set add nothing."""
    ok = (true_idx >= 0) & (pred_idx >= 0)
    cell = np.where(ok, true_idx * n_labels + pred_idx, 0)
    return Features(cell[:, None], ok.astype(np.float64)[:, None], n_labels * n_labels)


def as_matrix(S: np.ndarray) -> np.ndarray:
    k = int(round(np.sqrt(S.shape[-1])))
    return S.reshape(*S.shape[:-1], k, k)


def _div(num: np.ndarray, den: np.ndarray, fill: float = 0.0) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _diag(C: np.ndarray) -> np.ndarray:
    return np.diagonal(C, axis1=-2, axis2=-1)


def accuracy_from_confusion(S: np.ndarray) -> np.ndarray:
    C = as_matrix(S)
    return _div(_diag(C).sum(-1), C.sum((-2, -1)), np.nan)


def support_from_confusion(S: np.ndarray) -> np.ndarray:
    return as_matrix(S).sum(-1)


def precision_from_confusion(S: np.ndarray) -> np.ndarray:
    """NaN for a label never predicted: there is nothing to be precise about."""
    C = as_matrix(S)
    return _div(_diag(C), C.sum(-2), np.nan)


def recall_from_confusion(S: np.ndarray) -> np.ndarray:
    """NaN for a label with no true sample (in the data, a group, or a resample)."""
    C = as_matrix(S)
    return _div(_diag(C), C.sum(-1), np.nan)


def _f1_or_zero(S: np.ndarray) -> np.ndarray:
    """Per-class F1 with 0 for labels neither true nor predicted: the averages mask those out,
    and a NaN would poison the masked sum."""
    C = as_matrix(S)
    return _div(2 * _diag(C), C.sum(-1) + C.sum(-2))


def f1_from_confusion(S: np.ndarray) -> np.ndarray:
    """NaN only for a label neither true nor predicted (2tp / (support + predicted))."""
    C = as_matrix(S)
    return _div(2 * _diag(C), C.sum(-1) + C.sum(-2), np.nan)


def balanced_accuracy_from_confusion(S: np.ndarray) -> np.ndarray:
    C = as_matrix(S)
    support = C.sum(-1)
    present = support > 0
    recall = _div(_diag(C), support)
    return _div((recall * present).sum(-1), present.sum(-1), np.nan)


def f1_macro_from_confusion(S: np.ndarray) -> np.ndarray:
    C = as_matrix(S)
    present = (C.sum(-1) + C.sum(-2)) > 0
    return _div((_f1_or_zero(S) * present).sum(-1), present.sum(-1), np.nan)


def f1_weighted_from_confusion(S: np.ndarray) -> np.ndarray:
    support = support_from_confusion(S)
    return _div((_f1_or_zero(S) * support).sum(-1), support.sum(-1), np.nan)


def kappa_from_confusion(S: np.ndarray) -> np.ndarray:
    C = as_matrix(S)
    n = C.sum((-2, -1))
    observed_disagree = n - _diag(C).sum(-1)
    expected_disagree = n - _div((C.sum(-1) * C.sum(-2)).sum(-1), n)
    return 1.0 - _div(observed_disagree, expected_disagree, np.nan)


def confusion_from_confusion(S: np.ndarray) -> np.ndarray:
    return as_matrix(S)


def row_normalised_from_confusion(S: np.ndarray) -> np.ndarray:
    """Rows of labels with no true sample are NaN (scikit-learn writes 0, a fake rate)."""
    C = as_matrix(S)
    return _div(C, C.sum(-1, keepdims=True), np.nan)


def confusion_counts(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    labels: Sequence[Any] | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    t, p, labs = encode_labels(y_true, y_pred, labels)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return confusion_features(t, p, len(labs)).sums(w)


def _confusion_metric(batched: Callable[[np.ndarray], np.ndarray], cast: bool = True) -> Callable:
    def metric(
        y_true: Sequence[Any],
        y_pred: Sequence[Any],
        *,
        labels: Sequence[Any] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Any:
        out = batched(confusion_counts(y_true, y_pred, labels=labels, sample_weight=sample_weight))
        return float(out) if out.ndim == 0 else out

    metric.__doc__ = batched.__doc__
    return metric


# ----------------------------------------------------------------------------- probabilities

PROBA_COLUMNS = ("n", "nll", "brier", "top2", "confidence", "correct")


def top2_hits(true_idx: np.ndarray, proba: np.ndarray) -> np.ndarray:
    # Same tie rule as scikit-learn's top_k_accuracy_score (stable sort, reversed).
    order = np.argsort(proba, axis=1, kind="mergesort")[:, ::-1][:, :2]
    return (order == true_idx[:, None]).any(axis=1)


def proba_features(true_idx: np.ndarray, proba: np.ndarray) -> Features:
    """Per row: 1, -log p(true), squared error to the one-hot truth, top-2 hit, confidence
    (max probability) and argmax hit. Rows with label -1 add nothing."""
    proba = np.asarray(proba, dtype=np.float64)
    n, k = proba.shape
    ok = true_idx >= 0
    t = np.where(ok, true_idx, 0)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), t] = 1.0
    p_true = np.clip(proba[np.arange(n), t], EPS, 1 - EPS)
    vals = np.column_stack(
        [
            np.ones(n),
            -np.log(p_true),
            ((proba - onehot) ** 2).sum(1),
            top2_hits(t, proba),
            proba.max(1),
            proba.argmax(1) == t,
        ]
    ).astype(np.float64)
    vals[~ok] = 0.0
    codes = np.broadcast_to(np.arange(len(PROBA_COLUMNS)), (n, len(PROBA_COLUMNS))).copy()
    return Features(codes, vals, len(PROBA_COLUMNS))


def _proba_mean(column: str) -> Callable[[np.ndarray], np.ndarray]:
    j = PROBA_COLUMNS.index(column)

    def batched(S: np.ndarray) -> np.ndarray:
        return _div(S[..., j], S[..., 0], np.nan)

    return batched


def confidence_gap_from_sums(S: np.ndarray) -> np.ndarray:
    """Mean confidence minus accuracy: positive means over-confident."""
    return _proba_mean("confidence")(S) - _proba_mean("correct")(S)


def bin_edges(confidence: np.ndarray, *, n_bins: int = N_BINS, strategy: str = "uniform"):
    """Equal-width edges on [0, 1], or equal-mass edges at the confidences' quantiles (fixed from
    the full sample, then held fixed in every resample)."""
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        return np.percentile(confidence, np.linspace(0, 1, n_bins + 1) * 100)  # as sklearn
    raise ValueError(f"unknown binning strategy '{strategy}'; expected uniform or quantile")


def binned_features(true_idx: np.ndarray, proba: np.ndarray, edges: np.ndarray) -> Features:
    """Per row, in its confidence bin: count, confidence, hit (scikit-learn's bin rule)."""
    proba = np.asarray(proba, dtype=np.float64)
    conf = proba.max(1)
    hit = (proba.argmax(1) == true_idx).astype(np.float64)
    b = np.searchsorted(edges[1:-1], conf)
    nb = len(edges) - 1
    ok = (true_idx >= 0).astype(np.float64)[:, None]
    codes = np.column_stack([3 * b, 3 * b + 1, 3 * b + 2])
    vals = np.column_stack([np.ones_like(conf), conf, hit]) * ok
    return Features(codes, vals, 3 * nb)


def _bins(S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    B = S.reshape(*S.shape[:-1], -1, 3)
    return B[..., 0], B[..., 1], B[..., 2]


def ece_from_bins(S: np.ndarray) -> np.ndarray:
    count, conf, hit = _bins(S)
    return _div(np.abs(conf - hit).sum(-1), count.sum(-1), np.nan)


def mce_from_bins(S: np.ndarray) -> np.ndarray:
    count, conf, hit = _bins(S)
    gap = np.where(count > 0, _div(np.abs(conf - hit), count), -np.inf).max(-1)
    return np.where(np.isfinite(gap), gap, np.nan)


def reliability_from_bins(S: np.ndarray) -> np.ndarray:
    """Per bin (last axis): [count, mean confidence, accuracy]; NaN for empty bins."""
    count, conf, hit = _bins(S)
    return np.stack([count, _div(conf, count, np.nan), _div(hit, count, np.nan)], axis=-1)


# ----------------------------------------------------------------------------- continuous

CONTINUOUS_COLUMNS = ("n", "x", "y", "xx", "yy", "xy")


def continuous_features(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[Features, float]:
    """Moments of (truth, prediction), each centred on its own full-sample mean for precision;
    the difference of the centres is returned because CCC and RMSE need it back."""
    x = np.asarray(y_true, dtype=np.float64)
    y = np.asarray(y_pred, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    cx = float(x[ok].mean()) if ok.any() else 0.0
    cy = float(y[ok].mean()) if ok.any() else 0.0
    xc, yc = np.where(ok, x - cx, 0.0), np.where(ok, y - cy, 0.0)
    vals = np.column_stack([ok.astype(float), xc, yc, xc * xc, yc * yc, xc * yc])
    codes = np.broadcast_to(np.arange(6), (len(x), 6)).copy()
    return Features(codes, vals, 6), cx - cy


def _moments(S: np.ndarray, shift: float):
    n = S[..., 0]
    mx, my = _div(S[..., 1], n, np.nan), _div(S[..., 2], n, np.nan)
    vx = _div(S[..., 3], n, np.nan) - mx**2
    vy = _div(S[..., 4], n, np.nan) - my**2
    cov = _div(S[..., 5], n, np.nan) - mx * my
    return n, mx + shift, my, vx, vy, cov  # mx - my is the true mean difference


def ccc_from_moments(S: np.ndarray, *, shift: float = 0.0) -> np.ndarray:
    """Lin's concordance correlation, with population (1/n) moments as in Lin (1989)."""
    _, mx, my, vx, vy, cov = _moments(S, shift)
    return _div(2 * cov, vx + vy + (mx - my) ** 2, np.nan)


def rmse_from_moments(S: np.ndarray, *, shift: float = 0.0) -> np.ndarray:
    n, mx, my, vx, vy, cov = _moments(S, shift)
    mse = vx + vy - 2 * cov + (mx - my) ** 2
    return np.where(n > 0, np.sqrt(np.maximum(mse, 0.0)), np.nan)


def pearson_from_moments(S: np.ndarray, *, shift: float = 0.0) -> np.ndarray:
    _, _, _, vx, vy, cov = _moments(S, shift)
    return _div(cov, np.sqrt(np.maximum(vx, 0) * np.maximum(vy, 0)), np.nan)


# ----------------------------------------------------------------------------- plain callables


def _proba_callable(family: str, batched: Callable, *, n_bins: int = N_BINS) -> Callable:
    def metric(
        y_true: Sequence[Any],
        proba: np.ndarray,
        *,
        labels: Sequence[Any] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Any:
        proba = np.asarray(proba, dtype=np.float64)
        if labels is None:
            labels = list(range(proba.shape[1]))
        t, _, _ = encode_labels(y_true, None, labels)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if family == "proba":
            feats = proba_features(t, proba)
        else:
            strategy = "uniform" if family == "bins_uniform" else "quantile"
            feats = binned_features(
                t, proba, bin_edges(proba.max(1), n_bins=n_bins, strategy=strategy)
            )
        out = batched(feats.sums(w))
        return float(out) if out.ndim == 0 else out

    metric.__doc__ = batched.__doc__
    return metric


def _continuous_callable(batched: Callable) -> Callable:
    def metric(
        y_true: Sequence[float],
        y_pred: Sequence[float],
        *,
        labels: Sequence[Any] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        feats, shift = continuous_features(np.asarray(y_true), np.asarray(y_pred))
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        return float(batched(feats.sums(w), shift=shift))

    metric.__doc__ = batched.__doc__
    return metric


def _register_all() -> None:
    confusion = [
        ("accuracy", accuracy_from_confusion, True, "scalar"),
        ("balanced_accuracy", balanced_accuracy_from_confusion, True, "scalar"),
        ("f1_macro", f1_macro_from_confusion, True, "scalar"),
        ("f1_weighted", f1_weighted_from_confusion, True, "scalar"),
        ("cohen_kappa", kappa_from_confusion, True, "scalar"),
        ("precision", precision_from_confusion, True, "per_class"),
        ("recall", recall_from_confusion, True, "per_class"),
        ("f1", f1_from_confusion, True, "per_class"),
        ("support", support_from_confusion, None, "per_class"),
        ("confusion_matrix", confusion_from_confusion, None, "matrix"),
        ("confusion_matrix_normalised", row_normalised_from_confusion, None, "matrix"),
    ]
    for name, batched, hib, output in confusion:
        METRICS.add(
            name,
            _confusion_metric(batched),
            higher_is_better=hib,
            needs_proba=False,
            family="confusion",
            batched=batched,
            output=output,
        )
    proba = [
        ("top2_accuracy", _proba_mean("top2"), True),
        ("log_loss", _proba_mean("nll"), False),
        ("brier", _proba_mean("brier"), False),
        ("mean_confidence", _proba_mean("confidence"), None),
        ("argmax_accuracy", _proba_mean("correct"), True),
        ("confidence_gap", confidence_gap_from_sums, None),
    ]
    for name, batched, hib in proba:
        METRICS.add(
            name,
            _proba_callable("proba", batched),
            higher_is_better=hib,
            needs_proba=True,
            family="proba",
            batched=batched,
            output="scalar",
        )
    binned = [
        ("ece", "bins_uniform", ece_from_bins, False, "scalar"),
        ("ece_equal_mass", "bins_quantile", ece_from_bins, False, "scalar"),
        ("mce", "bins_uniform", mce_from_bins, False, "scalar"),
        ("reliability", "bins_uniform", reliability_from_bins, None, "per_bin"),
    ]
    for name, family, batched, hib, output in binned:
        METRICS.add(
            name,
            _proba_callable(family, batched),
            higher_is_better=hib,
            needs_proba=True,
            family=family,
            batched=batched,
            output=output,
        )
    continuous = [
        ("ccc", ccc_from_moments, True),
        ("rmse", rmse_from_moments, False),
        ("pearson_r", pearson_from_moments, True),
    ]
    for name, batched, hib in continuous:
        METRICS.add(
            name,
            _continuous_callable(batched),
            higher_is_better=hib,
            needs_proba=False,
            family="continuous",
            batched=batched,
            output="scalar",
        )


_register_all()


def metric(name: str) -> Callable[..., Any]:
    """The plain callable registered under ``name`` (did-you-mean on a typo)."""
    return METRICS.get(name)
