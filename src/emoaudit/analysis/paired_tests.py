"""Is a paired difference real? One test for every "A against B on the same faces" verdict.

Protocols against the default, a perturbation against clean faces, model A against model B in
`emoaudit compare`: each face is scored twice, and the question is whether one side is right
more often. McNemar's exact test answers it for independent faces, but several photos of one
person are not independent: when a person's photos all go one way, McNemar counts them as
many faces and names a difference that is not there (13-33% at p < .05 with subjects of ten
photos, in simulation). The sign-flip test below is McNemar's test with the person as the unit:
under no difference, swapping the two sides within a person changes nothing, so each person's
summed difference is as likely to carry either sign. With one face a person it *is* McNemar's
exact test. The null distribution is exact (a convolution over the persons' sums), so the small
Holm levels that many conditions need are resolved, not estimated by Monte Carlo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PAIRED_TEST = "sign-flip test of the paired difference, by subject (McNemar's exact test without)"


def cluster_sums(d: np.ndarray, clusters: Any = None) -> np.ndarray:
    """The paired difference summed within each subject (each row its own without subjects)."""
    d = np.asarray(d, dtype=np.float64)
    if clusters is None:
        return d
    from emoaudit.analysis.group_tests import _cluster_codes

    codes = _cluster_codes(clusters, len(d))
    return np.bincount(codes, d, minlength=int(codes.max(initial=-1)) + 1)


def sign_flip_p(d: np.ndarray, clusters: Any = None) -> float:
    """Two-sided p that the paired differences `d` (one per row) are symmetric about 0.

    Exact for integer differences (right minus wrong: -1, 0, 1), by convolving each subject's
    sum with its random sign; for other values, the normal approximation of the same
    randomisation distribution (its exact variance is the sum of squared subject sums).
    """
    sums = cluster_sums(d, clusters)
    sums = sums[sums != 0]
    if len(sums) == 0:
        return 1.0
    rounded = np.round(sums)
    if not np.allclose(sums, rounded):
        from scipy.stats import norm

        z = abs(float(sums.sum())) / float(np.sqrt((sums**2).sum()))
        return float(min(1.0, 2.0 * norm.sf(z)))
    magnitude = np.abs(rounded).astype(np.int64)
    observed = abs(int(rounded.sum()))
    values, counts = np.unique(magnitude, return_counts=True)
    if len(values) == 1:  # one magnitude (every face its own unit): McNemar's exact binomial
        from scipy.stats import binom

        k = int(counts[0])
        hits = (observed // int(values[0]) + k) // 2  # the larger side's count
        return float(min(1.0, 2.0 * binom.sf(hits - 1, k, 0.5)))
    return _exact_p(values, counts, observed)


def _exact_p(values: np.ndarray, counts: np.ndarray, observed: int) -> float:
    """P(|sum of v_c * sign_c| >= observed) over independent fair signs: subjects sharing a
    magnitude v contribute v * (2B - k), B binomial(k, 1/2), and the parts are convolved."""
    from scipy.signal import fftconvolve
    from scipy.stats import binom

    pmf = np.ones(1)
    for v, k in zip(values.tolist(), counts.tolist(), strict=True):
        part = np.zeros(2 * v * k + 1)
        part[:: 2 * v] = binom.pmf(np.arange(k + 1), k, 0.5)
        pmf = np.clip(fftconvolve(pmf, part), 0.0, None)
    total = (len(pmf) - 1) // 2  # pmf[i] is P(sum = i - total)
    tail = np.abs(np.arange(len(pmf)) - total) >= observed
    return float(min(1.0, pmf[tail].sum() / pmf.sum()))


def paired_test(right_a: np.ndarray, right_b: np.ndarray, clusters: Any = None) -> dict[str, Any]:
    """Is A right more or less often than B on the same faces? b: faces only A got right, c:
    only B; the p-value counts each subject once (McNemar's exact p without subjects)."""
    a = np.asarray(right_a, dtype=bool)
    b = np.asarray(right_b, dtype=bool)
    d = a.astype(np.int64) - b.astype(np.int64)
    n_units = np.count_nonzero(cluster_sums(np.ones(len(d)), clusters))  # subjects, or faces
    return {
        "test": PAIRED_TEST,
        "b": int((a & ~b).sum()),
        "c": int((~a & b).sum()),
        "n_units": int(n_units),
        "p_value": sign_flip_p(d, clusters),
    }
