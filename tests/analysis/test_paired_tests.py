"""analysis/paired_tests.py: the paired test behind "A differs from B on the same faces"."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emoaudit.analysis.bootstrap import mcnemar_p
from emoaudit.analysis.paired_tests import paired_test, sign_flip_p

ALPHA = 0.05


def _bound(runs: int, alpha: float = ALPHA) -> float:
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)


def test_without_subjects_it_is_mcnemars_exact_test():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        a, b = rng.random(n) < rng.random(), rng.random(n) < rng.random()
        out = paired_test(a, b)
        assert out["p_value"] == pytest.approx(mcnemar_p(out["b"], out["c"]), abs=1e-12)
        assert out["n_units"] == n


def test_the_null_distribution_over_subjects_is_exact():
    """Against brute force over every sign of every subject's summed difference."""
    rng = np.random.default_rng(1)
    for _ in range(60):
        sums = rng.integers(-4, 5, int(rng.integers(1, 12)))
        d = np.repeat(np.sign(sums), np.abs(sums))
        if not len(d):
            continue
        clusters = np.repeat(np.arange(len(sums)), np.abs(sums))
        signs = np.array(list(itertools.product([-1, 1], repeat=len(sums))))
        brute = np.mean(np.abs(signs @ sums) >= abs(sums.sum()))
        assert sign_flip_p(d, clusters) == pytest.approx(brute, abs=1e-9)


def _subjects(rng, *, n_subjects: int, per: int, gap: float, interaction: float):
    """Right/wrong of models A and B on each subject's photos: a subject effect (sd 1) both
    share, a subject x model interaction (sd `interaction`, the reason photos of one person go
    the same way), and A better by `gap` on the logit scale."""
    subject = np.repeat(np.arange(n_subjects), per)
    u = rng.normal(0, 1, n_subjects)[subject]
    delta = rng.normal(0, interaction, n_subjects)[subject]
    base = 0.4 + u
    p_a = 1 / (1 + np.exp(-(base + delta / 2 + gap / 2)))
    p_b = 1 / (1 + np.exp(-(base - delta / 2 - gap / 2)))
    return rng.random(len(subject)) < p_a, rng.random(len(subject)) < p_b, subject


@pytest.mark.slow
def test_false_finding_rate_with_subjects_and_power():
    """Null: 40 subjects of 10 photos, no difference between A and B, but each subject leans
    one way (interaction sd 1). McNemar, counting photos, says p < .05 in 13% of runs; the
    test by subject must stay at 5%. Power: A right 70% against B 62% of 600 independent faces,
    and the same gap over 150 subjects of 4 photos."""
    rng = np.random.default_rng(2026)
    runs = 400
    wrong = naive = 0
    for _ in range(runs):
        a, b, subject = _subjects(rng, n_subjects=40, per=10, gap=0.0, interaction=1.0)
        out = paired_test(a, b, subject)
        wrong += out["p_value"] < ALPHA
        naive += mcnemar_p(out["b"], out["c"]) < ALPHA
    assert wrong / runs <= _bound(runs)
    assert naive / runs > 0.10  # the defect this test replaces McNemar's for (13%)
    found = 0
    for _ in range(100):
        a = rng.random(600) < 0.70
        b = rng.random(600) < 0.62
        found += paired_test(a, b)["p_value"] < ALPHA
    assert found >= 80
    found = 0
    for _ in range(100):
        a, b, subject = _subjects(rng, n_subjects=150, per=4, gap=0.45, interaction=0.3)
        found += paired_test(a, b, subject)["p_value"] < ALPHA
    assert found >= 80


@pytest.mark.slow
def test_false_finding_rate_without_subjects_is_nominal():
    rng = np.random.default_rng(7)
    runs = 2000
    p = np.array([paired_test(rng.random(400) < 0.6, rng.random(400) < 0.6)["p_value"]
                  for _ in range(runs)])  # fmt: skip
    assert (p < ALPHA).mean() <= _bound(runs)
