"""Bootstrap intervals, paired differences, McNemar's exact test and Holm's correction.

A resample never touches rows: it draws how many times each *unit* is counted, and the metric is
evaluated on the resampled sums of row features (see metrics.py). Units are

* subjects, when subject ids exist (cluster bootstrap: several images of one person are not
  independent; rows without a subject are their own cluster);
* otherwise rows, stratified by true label (each label keeps its count, as in the data), with
  identical rows merged so that, for a confusion matrix, a resample is a multinomial draw over at
  most K x K cells per stratum instead of n row draws. Merging is exact: drawing n rows uniformly
  with replacement gives multinomial counts over classes of identical rows.

Everything draws from one ``numpy.random.default_rng(seed)`` in a fixed order: same data, same
seed, same numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from emoaudit.analysis.metrics import Features, concat_features

MULTINOMIAL_MAX_UNITS = 4096  # beyond this many units per stratum, index draws are cheaper
CHUNK_CELLS = 4_000_000  # resample-count entries held in memory at once
INDEX_CHUNK = 500_000  # index draws per chunk: keeps bincount's target array in cache
# average_real merges real-valued rows only from this many rows on: below it, resampling rows
# one by one is cheap and exact
AVERAGE_REAL_MIN_ROWS = 50_000
COUNTS_CACHE_BYTES = 256 * 2**20  # one slice's resample counts, reused across its statistics
CI_METHODS = ("percentile", "bca")
UNKNOWN_CI_METHOD = "unknown ci_method '{method}'; expected one of: percentile, bca"


@dataclass(frozen=True)
class BootstrapSpec:
    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    ci_method: str = "percentile"

    def __post_init__(self) -> None:
        if self.ci_method not in CI_METHODS:
            raise ValueError(UNKNOWN_CI_METHOD.format(method=self.ci_method))
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1, got {self.n_resamples}")

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Estimate:
    """A statistic on the full data, its bootstrap replicates and its interval (same shape)."""

    value: np.ndarray
    boot: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _codes(values: Any) -> np.ndarray | None:
    """Integer codes for a label/subject column; None/NaN entries get unique negative codes."""
    if values is None:
        return None
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu" and values.min(initial=0) >= 0:
        return values.astype(np.int64, copy=False)  # codes already (summary._subjects)
    import pandas as pd

    codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    missing = codes < 0
    codes = codes.astype(np.int64)
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


class Resampled:
    """The bootstrap of one population of rows: total sums, resampled sums, and (lazily, for
    BCa) leave-one-unit-out sums. Estimate any number of statistics from the same resamples."""

    def __init__(
        self,
        features: Features,
        *,
        spec: BootstrapSpec,
        strata: Any = None,
        clusters: Any = None,
        average_real: bool = False,
    ) -> None:
        """``average_real`` (from AVERAGE_REAL_MIN_ROWS rows on): rows that differ only in
        their real-valued feature columns are merged into one cell, as identical rows are. The
        cell count is drawn exactly (multinomial over cells); the sum of the real values of the
        k rows drawn from a cell is drawn from the normal with their exact mean and covariance
        (k x the cell's). The total and the point estimate are exact. Cells hold thousands of
        rows at that size, so the normal shape of a cell's sum is the central limit theorem at
        work; the cost no longer grows with the rows."""
        self.features = features
        self.spec = spec
        X = features.csr()
        self.total = np.asarray(X.sum(axis=0)).ravel()
        n = X.shape[0]
        cluster_codes = _codes(clusters)
        if cluster_codes is not None and len(np.unique(cluster_codes)) < n:
            from scipy import sparse

            n_units = int(cluster_codes.max()) + 1
            member = sparse.csr_matrix(
                (np.ones(n), (cluster_codes, np.arange(n))), shape=(n_units, n)
            )
            self.units = (member @ X).tocsr()
            self.mult = np.ones(n_units, dtype=np.int64)
            self.unit_strata = np.zeros(n_units, dtype=np.int64)
            self.unit = "subject_id"
            self.stratified = False
            self.spread = None
        else:
            strata_codes = _codes(strata)
            if strata_codes is None:
                strata_codes = np.zeros(n, dtype=np.int64)
            self.units, self.mult, self.unit_strata, self.spread = _merge_identical_rows(
                X, features, strata_codes, average_real=average_real
            )
            self.unit = "sample"
            self.stratified = strata is not None
        self.boot = self._resample_sums(np.random.default_rng(spec.seed))

    def _resample_sums(self, rng: np.random.Generator) -> np.ndarray:
        B, U = self.spec.n_resamples, self.units.shape[0]
        units_t = self.units.T.tocsr()
        out = np.empty((B, self.units.shape[1]))
        bounds = np.flatnonzero(np.diff(self.unit_strata)) + 1
        strata = [slice(int(a), int(b)) for a, b in zip([0, *bounds], [*bounds, U], strict=True)]
        chunk = max(1, min(B, CHUNK_CELLS // max(U, 1)))
        if any(m.stop - m.start > MULTINOMIAL_MAX_UNITS for m in strata):
            chunk = max(1, min(chunk, INDEX_CHUNK // int(self.mult.sum())))
        # Without spread noise the counts are the rng's only draws, so every Resampled of the
        # same units (one slice's headline, calibration, each grouping...) draws the very same
        # counts: keep the last set and reuse it (bit-identical, and most of the cost of a
        # cluster bootstrap over many subjects).
        key = None
        if self.spread is None:
            key = (self.spec.seed, B, chunk, self.mult.tobytes(), self.unit_strata.tobytes())
        cached = _COUNTS_CACHE.get("entry")  # one read: (key, chunks), replaced whole
        reuse = key is not None and cached is not None and cached[0] == key
        keep: list[np.ndarray] | None = [] if key is not None and not reuse else None
        for i, start in enumerate(range(0, B, chunk)):
            b = min(chunk, B - start)
            if reuse:
                counts = cached[1][i].astype(np.float64)
            else:
                counts = np.empty((b, U))
                for members in strata:
                    counts[:, members] = _draw_counts(self.mult[members], b, rng)
                if keep is not None:
                    keep.append(counts.astype(_count_dtype(counts)))
            out[start : start + b] = (units_t @ counts.T).T
            if self.spread is not None:
                out[start : start + b] += _spread_noise(self.spread, counts, out.shape[1], rng)
        if keep is not None and B * U * 4 <= COUNTS_CACHE_BYTES:
            _COUNTS_CACHE["entry"] = (key, keep)
        return out

    def subject_sums(self, columns: Any = slice(None)) -> Any:
        """The features summed per subject (these columns), or None when rows are the unit."""
        return self.units[:, columns] if self.unit == "subject_id" else None

    @property
    def interval_confidence(self) -> float:
        """The level the percentiles are read at: the nominal one, expanded for subjects."""
        if self.unit != "subject_id":
            return self.spec.confidence
        return expanded_confidence(self.spec.confidence, self.units.shape[0])

    def estimate(self, reduce: Callable[[np.ndarray], np.ndarray]) -> Estimate:
        value = np.asarray(reduce(self.total[None, :]))[0]
        boot = np.asarray(reduce(self.boot))
        confidence = self.interval_confidence
        if self.spec.ci_method == "bca":
            low, high = bca_interval(
                boot,
                value,
                jackknife_values(self.total, self.units, reduce),
                self.mult,
                confidence,
            )
        else:
            low, high = percentile_interval(boot, confidence)
        return Estimate(value, boot, low, high)


@functools.lru_cache(maxsize=256)
def expanded_confidence(confidence: float, n_units: int) -> float:
    """Hesterberg's expanded percentile level for a bootstrap over `n_units` subjects.

    Resampling G subjects estimates the variance with divisor G, not G - 1, and reads normal
    quantiles where a t with G - 1 degrees of freedom belongs; with 10-40 subjects the 95%
    interval covered 91-93.5% in simulation (docs/statistics.md). Reading the percentiles at
    the level whose normal quantile is sqrt(G / (G - 1)) * t_{G-1} corrects both (Hesterberg,
    "What teachers should know about the bootstrap", 2015) and fades to the nominal level as
    subjects grow (500 subjects: 95.1%).
    """
    if n_units < 2:
        return confidence
    from scipy import stats

    t = stats.t.ppf((1 + confidence) / 2, n_units - 1)
    z = math.sqrt(n_units / (n_units - 1)) * t
    return float(2 * stats.norm.cdf(z) - 1)


class Spread(NamedTuple):
    """Within-cell spread of real-valued columns of merged units: ``columns[u, j]`` is the
    feature column of real slot j in unit u, ``root[u]`` a square root of the rows' covariance
    of those slots (population, 1/n), so a cell drawn k times adds sqrt(k) * root @ z."""

    columns: np.ndarray  # (U, r) int64
    root: np.ndarray  # (U, r, r)


def _row_keys(columns: list[np.ndarray]) -> np.ndarray | None:
    """One int64 per row that is equal exactly when all the integer columns are; None when
    the ranges do not fit in 62 bits."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1
    for col in columns:
        col = np.asarray(col, dtype=np.int64)
        lo = int(col.min(initial=0))
        width = int(col.max(initial=0)) - lo + 1
        span *= width
        if span >= 2**62:
            return None
        key = key * width + (col - lo)
    return key


def _merge_identical_rows(
    X: Any, features: Features, strata: np.ndarray, *, average_real: bool = False
) -> tuple[Any, np.ndarray, np.ndarray, Spread | None]:
    """Merge rows with identical features and stratum into one unit with a multiplicity
    (with ``average_real``, identical up to real-valued columns: the unit carries their mean and
    their within-cell spread)."""
    n = X.shape[0]
    by_stratum = np.argsort(strata, kind="stable")  # contiguous strata: cheap slice writes
    as_rows = X[by_stratum], np.ones(n, dtype=np.int64), strata[by_stratum], None
    values = features.values
    integral = (values == np.round(values)).all(axis=0)
    if not integral.all() and not (average_real and n >= AVERAGE_REAL_MIN_ROWS):
        return as_rows  # real-valued features (confidences, losses) are almost all distinct
    cols = [strata, *features.codes.T, *values[:, integral].T]
    key = _row_keys(cols) if n else None
    if key is None:
        key = np.column_stack(cols).astype(np.float64)
    _, first, inverse, counts = np.unique(
        key,
        axis=0 if key.ndim == 2 else None,
        return_index=True,
        return_inverse=True,
        return_counts=True,
    )
    if len(first) * 4 > n:  # little to gain
        return as_rows
    inverse = inverse.ravel()
    order = np.argsort(strata[first], kind="stable")
    if integral.all():
        return X[first[order]], counts[order].astype(np.int64), strata[first[order]], None
    from scipy import sparse

    U = len(first)
    rank = np.empty(U, dtype=np.int64)
    rank[order] = np.arange(U)
    unit = rank[inverse]
    member = sparse.csr_matrix((1.0 / counts[inverse], (unit, np.arange(n))), shape=(U, n))
    units = (member @ X).tocsr()  # each unit: the mean row of its cell
    real = np.flatnonzero(~integral)
    c = counts[order].astype(np.float64)
    mean = np.stack([np.bincount(unit, values[:, j], U) / c for j in real], -1)
    cov = np.empty((U, len(real), len(real)))
    for a, ja in enumerate(real):
        for b, jb in enumerate(real[a:], start=a):
            m2 = np.bincount(unit, values[:, ja] * values[:, jb], U) / c
            cov[:, a, b] = cov[:, b, a] = m2 - mean[:, a] * mean[:, b]
    w, V = np.linalg.eigh(cov)
    root = V * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
    columns = features.codes[first[order]][:, real]
    return units, c.astype(np.int64), strata[first[order]], Spread(columns, root)


_COUNTS_CACHE: dict[str, Any] = {}


def _count_dtype(counts: np.ndarray) -> type:
    return np.uint16 if counts.max(initial=0) < 2**16 else np.uint32


def _draw_counts(mult: np.ndarray, b: int, rng: np.random.Generator) -> np.ndarray:
    """b resamples of sum(mult) draws from units weighted by multiplicity: (b, len(mult))."""
    total = int(mult.sum())
    if len(mult) <= MULTINOMIAL_MAX_UNITS:
        return rng.multinomial(total, mult / total, size=b).astype(np.float64)
    slot_unit = np.repeat(np.arange(len(mult)), mult)
    idx = slot_unit[rng.integers(0, total, size=(b, total))]
    idx += (np.arange(b) * len(mult))[:, None]
    return np.bincount(idx.ravel(), minlength=b * len(mult)).reshape(b, len(mult)).astype(float)


def _spread_noise(
    spread: Spread, counts: np.ndarray, width: int, rng: np.random.Generator
) -> np.ndarray:
    """For each resample, each merged cell drawn k times: the deviation of the sum of its k
    real values from k x their mean, drawn from the normal with the exact covariance
    (k x the cells' covariance). Exact in mean and covariance; normal in shape."""
    b, (U, r) = counts.shape[0], spread.columns.shape
    z = rng.standard_normal((b, U, r))
    dev = np.einsum("urs,bus->bur", spread.root, z) * np.sqrt(counts)[..., None]
    from scipy import sparse

    place = sparse.csr_matrix(
        (np.ones(U * r), (spread.columns.ravel(), np.arange(U * r))), shape=(width, U * r)
    )
    return (place @ dev.reshape(b, U * r).T).T


def jackknife_values(
    total: np.ndarray, units: Any, reduce: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """The statistic with each unit left out, in chunks to bound memory."""
    U = units.shape[0]
    chunk = max(1, CHUNK_CELLS // max(units.shape[1], 1))
    parts = []
    for start in range(0, U, chunk):
        block = units[start : start + chunk].toarray()
        parts.append(np.asarray(reduce(total[None, :] - block)))
    return np.concatenate(parts, axis=0)


def percentile_interval(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """np.nanquantile's linear interpolation along axis 0, computed with one sort.

    nanquantile loops over columns in Python when any NaN is present, which dominated the
    analysis time of audits with many conditions; this gives the same numbers in one pass.
    """
    alpha = (1 - confidence) / 2
    boot = np.asarray(boot, dtype=float)
    if boot.shape[0] == 0:
        nan = np.full(boot.shape[1:], np.nan)
        return nan, nan.copy()
    s = np.sort(boot, axis=0)  # NaN sort last, +-inf keep their order among values
    nv = (~np.isnan(s)).sum(0)
    last = np.maximum(nv - 1, 0)

    def at(q: float) -> np.ndarray:
        pos = q * last
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        frac = pos - lo
        a = np.take_along_axis(s, lo[None, ...], axis=0)[0]
        b = np.take_along_axis(s, hi[None, ...], axis=0)[0]
        with np.errstate(all="ignore"):
            out = np.where(frac > 0, a + (b - a) * frac, a)
        return np.where(nv > 0, out, np.nan)

    return at(alpha), at(1 - alpha)


def bca_interval(
    boot: np.ndarray,
    value: np.ndarray,
    jack: np.ndarray,
    jack_weights: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Efron's bias-corrected and accelerated interval. The acceleration comes from the
    jackknife over units, each weighted by how many identical rows it stands for."""
    from scipy.stats import norm

    with np.errstate(all="ignore"):
        valid = np.isfinite(boot)
        n_valid = valid.sum(0)
        below = ((boot < value) & valid).sum(0) + 0.5 * ((boot == value) & valid).sum(0)
        prop = np.clip(below / np.maximum(n_valid, 1), 1 / (n_valid + 1), n_valid / (n_valid + 1))
        z0 = norm.ppf(prop)
        w = jack_weights.reshape(-1, *([1] * (jack.ndim - 1))).astype(float)
        jv = np.where(np.isfinite(jack), jack, np.nan)
        wsum = np.nansum(w * np.isfinite(jv), axis=0)
        tbar = np.nansum(w * jv, axis=0) / wsum
        d = tbar - jv
        num = np.nansum(w * d**3, axis=0)
        den = 6 * np.nansum(w * d**2, axis=0) ** 1.5
        accel = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
        alpha = (1 - confidence) / 2
        qs = []
        for z in (norm.ppf(alpha), norm.ppf(1 - alpha)):
            qs.append(norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z))))
    return _quantile_per_element(boot, qs[0]), _quantile_per_element(boot, qs[1])


def _quantile_per_element(boot: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantile q[i] of column i (linear interpolation, NaNs ignored), vectorised."""
    s = np.sort(boot, axis=0)  # NaN sort last
    nv = np.isfinite(s).sum(0)
    q = np.nan_to_num(np.asarray(q, dtype=float), nan=0.5)
    pos = q * np.maximum(nv - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(nv - 1, 0))
    frac = pos - lo
    take = lambda i: np.take_along_axis(s, i[None, ...], axis=0)[0]  # noqa: E731
    out = take(lo) * (1 - frac) + take(hi) * frac
    return np.where(nv > 0, out, np.nan)


class _quiet:
    """Silence numpy's all-NaN-slice warning: an undefined statistic has an undefined CI."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def paired_difference(
    first: Features,
    second: Features,
    reduce: Callable[[np.ndarray], np.ndarray],
    *,
    spec: BootstrapSpec,
    strata: Any = None,
    clusters: Any = None,
) -> Estimate:
    """Bootstrap of reduce(first) - reduce(second) over the same resampled rows (rows aligned:
    same samples under model A and B, or clean and perturbed)."""
    both, (sa, sb) = concat_features([first, second])
    res = Resampled(both, spec=spec, strata=strata, clusters=clusters)
    return res.estimate(lambda S: reduce(S[..., sa]) - reduce(S[..., sb]))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test on paired right/wrong: two-sided binomial test of the discordant
    pairs (b = only A right, c = only B right) against p = 1/2."""
    a = np.asarray(correct_a, dtype=bool)
    b_ = np.asarray(correct_b, dtype=bool)
    b = int((a & ~b_).sum())
    c = int((~a & b_).sum())
    return {"test": "mcnemar_exact", "b": b, "c": c, "p_value": mcnemar_p(b, c)}


def mcnemar_p(b: int, c: int) -> float:
    n = b + c
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, 2.0 * binom.cdf(min(b, c), n, 0.5)))


def holm(p_values: Any) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given; NaN stays NaN and is not counted
    in the family size)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def interval(value: Any, low: Any, high: Any, n: Any) -> dict[str, Any]:
    """The one shape every uncertain number takes in results.json (NaN -> null). An undefined
    value has no interval either: a CI around nothing would read as a measurement."""

    def num(x: Any) -> float | None:
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else x

    v = num(value)
    if v is None:
        return {"value": None, "ci_low": None, "ci_high": None, "n": int(n)}
    return {"value": v, "ci_low": num(low), "ci_high": num(high), "n": int(n)}


def exact_binomial_interval(x: Any, n: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson interval of x successes in n trials (NaN where n == 0): never of zero
    width for n > 0 and never below nominal coverage, including near 0% and 100%, where a
    bootstrap of a fixed count cannot move (every resample of 0 hits in 28 is 0 hits) and
    Wilson's interval undercovers on a handful of rows."""
    from scipy.stats import beta

    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    a = (1 - confidence) / 2
    with np.errstate(all="ignore"):
        lo = np.where(x > 0, beta.ppf(a, x, n - x + 1), 0.0)
        hi = np.where(x < n, beta.ppf(1 - a, x + 1, n - x), 1.0)
    bad = ~(n > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def proportion_interval(
    x: Any, n: Any, low: Any, high: Any, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """A rate's interval: the union of its bootstrap interval (which carries subject clustering
    and stratification) and the exact (Clopper-Pearson) interval of x in n (which carries the
    uncertainty a bootstrap with a frozen denominator cannot see at 0%, 100% or on few rows).
    Conservative by construction; coverage is checked in tests/analysis/test_bootstrap.py."""
    wlo, whi = exact_binomial_interval(x, n, confidence)
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    with np.errstate(all="ignore"):
        lo = np.where(np.isnan(low), wlo, np.fmin(low, wlo))
        hi = np.where(np.isnan(high), whi, np.fmax(high, whi))
    return lo, hi


ECE_INTERVAL = (
    "ECE: the bootstrap interval's upper end; lower end max(0, min(low, 2 x ECE - high)) "
    "(extended down to the basic interval's lower end, clipped at 0)"
)


def ece_interval(
    value: Any, low: Any, high: Any, calibrated_bound: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Binned ECE's interval: the bootstrap interval (percentile or BCa) with its lower end
    extended down to the basic interval's, ``max(0, min(low, 2 * value - high))``, and to 0
    where the ECE is no larger than a perfectly calibrated model's could be on the same bins
    (``calibrated_bound``, from ece_if_calibrated); the upper end is kept. Binned ECE is biased
    upward and its resamples carry the bias once more, so the bootstrap interval sits above the
    truth (91.8% coverage of a true ECE of 0.08 at 1,000 rows, 71% at 300, and 59% of a true 0);
    these lower ends bring it to nominal there (docs/statistics.md,
    tests/analysis/test_interval_coverage.py). NaN stays NaN."""
    value = np.asarray(value, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    with np.errstate(all="ignore"):
        lo = np.maximum(0.0, np.minimum(low, 2 * value - high))
        if calibrated_bound is not None:
            lo = np.where(value <= np.asarray(calibrated_bound, dtype=np.float64), 0.0, lo)
    return lo, high


ECE_NULL_DRAWS = 2000


def ece_if_calibrated(
    bins_total: np.ndarray,
    confidence: float,
    *,
    seed: int,
    draws: int = ECE_NULL_DRAWS,
    subjects: Any = None,
) -> np.ndarray:
    """The binned ECE that a perfectly calibrated model exceeds with probability
    (1 - confidence) / 2 on these rows: in each bin, hits drawn Binomial(count, mean
    confidence) ("consistency resampling", Broecker and Smith 2007), ECE recomputed.

    An ECE at or below it cannot be told from perfect calibration, so its interval must reach
    0: the bootstrap interval alone excluded a true ECE of 0 in 41% of datasets, because binned
    ECE is positive on any finite sample. The binomial has at least the variance of the rows'
    own Bernoulli sums, so this bound errs high (toward "cannot tell"). ``bins_total``:
    (..., 3 x bins) summed binned features (count, confidence, hit per bin); one bound per
    leading index, NaN without rows.

    ``subjects``: the same features summed per subject, (subjects, all of bins_total's columns
    in order), as ``Resampled.units`` holds them. A person's photos share how well they are
    read, which the binomial ignores (a calibrated model whose accuracy moved by +-0.2 from
    person to person was covered 86% of the time at 50 subjects x 20 photos). With subjects the
    bound is also taken from the normal whose covariance across bins is that of the subjects'
    summed residuals (hit - confidence, centred in each bin: the null), and the larger of the
    two is kept.
    """
    total = np.asarray(bins_total, dtype=np.float64)
    lead = total.shape[:-1]
    width = total.shape[-1]
    flat = total.reshape(-1, width // 3, 3)
    out = np.full(len(flat), np.nan)
    rng = np.random.default_rng(seed)
    q = (1 + confidence) / 2
    for i, cells in enumerate(flat):
        count, conf = np.rint(cells[:, 0]).astype(np.int64), cells[:, 1]
        if count.sum() <= 0:
            continue
        with np.errstate(all="ignore"):
            p = np.clip(np.where(count > 0, conf / np.maximum(count, 1), 0.0), 0.0, 1.0)
        hits = rng.binomial(count, p, size=(draws, len(count)))
        out[i] = np.quantile(np.abs(conf - hits).sum(-1) / count.sum(), q)
        if subjects is not None:
            per = _dense_columns(subjects, i * width, (i + 1) * width).reshape(-1, width // 3, 3)
            out[i] = max(out[i], _clustered_null(per, cells, draws, q, rng))
    return out.reshape(lead)


def _dense_columns(units: Any, start: int, stop: int) -> np.ndarray:
    part = units[:, start:stop]
    return np.asarray(part.toarray() if hasattr(part, "toarray") else part, dtype=np.float64)


def _clustered_null(
    per: np.ndarray, cells: np.ndarray, draws: int, q: float, rng: np.random.Generator
) -> float:
    """ECE quantile q under calibration, bins' residual sums drawn from the normal with the
    subjects' covariance (residuals centred in each bin, so the null holds)."""
    count, conf, hit = cells[:, 0], cells[:, 1], cells[:, 2]
    with np.errstate(all="ignore"):
        gap = np.where(count > 0, (hit - conf) / np.maximum(count, 1), 0.0)
    resid = per[:, :, 2] - per[:, :, 1] - per[:, :, 0] * gap  # (subjects, bins)
    cov = resid.T @ resid
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = rng.standard_normal((draws, len(vals))) @ root.T
    return float(np.quantile(np.abs(z).sum(-1) / count.sum(), q))
