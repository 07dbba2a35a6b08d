"""Time 1,000 bootstrap resamples of 100,000 predictions x 30 groups (target: < 5 s, 2 cores).

Measures what an audit of one grouping does: per-group accuracy, balanced accuracy, macro-F1
and kappa with intervals, their disparities, directional errors, and per-group ECE.
Run: python benchmarks/bootstrap.py
"""

from __future__ import annotations

import time

import numpy as np

from emoaudit.analysis import metrics as M
from emoaudit.analysis.bootstrap import BootstrapSpec
from emoaudit.analysis.groups import disaggregate


def main(n: int = 100_000, n_groups: int = 30, k: int = 8, with_ece: bool = True) -> float:
    rng = np.random.default_rng(0)
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, k, n))
    g = rng.integers(0, n_groups, n)
    proba = rng.dirichlet(np.ones(k), n)
    labels = [str(x) for x in range(k)]
    start = time.perf_counter()
    disaggregate(
        true_idx=t,
        pred_idx=p,
        labels=labels,
        group=g,
        group_names=[f"g{i}" for i in range(n_groups)],
        spec=BootstrapSpec(n_resamples=1000),
        proba=proba if with_ece else None,
        proba_true_idx=t,
        edges=M.bin_edges(proba.max(1)) if with_ece else None,
    )
    return time.perf_counter() - start


if __name__ == "__main__":
    a = main(with_ece=False)
    print(f"1000 resamples, 100000 predictions x 30 groups, confusion metrics: {a:.2f} s")
    b = main(with_ece=True)
    print(f"same plus per-group ECE (confidences merged into bin cells): {b:.2f} s")
