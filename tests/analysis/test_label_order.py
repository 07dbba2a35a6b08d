"""Label-order check: a rotated model is caught; a correctly ordered one is not (simulated)."""

from __future__ import annotations

import numpy as np
import pytest
from synth import LABELS, predictions

from emoaudit.analysis.label_order import (
    GAIN_THRESHOLD,
    TOO_FEW,
    best_permutation,
    label_order_check,
    suspect_lines,
)
from emoaudit.analysis.summary import analyze

# A model trained on alphabetical class folders, read with FER2013's csv code order: output 4
# means neutral to the model but is read as sad, 5 (sad) as surprise, 6 (surprise) as neutral.
ALPHABETICAL = ["anger", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
FER2013_CODES = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
MISREAD = dict(zip(ALPHABETICAL, FER2013_CODES, strict=True))


def _confusion(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    counts = np.zeros((k, k))
    np.add.at(counts, (t, p), 1)
    return counts


def _simulated(rng, *, n: int, accuracy: float, k: int = 7) -> tuple[np.ndarray, np.ndarray]:
    t = rng.integers(0, k, n)
    right = rng.random(n) < accuracy
    return t, np.where(right, t, (t + rng.integers(1, k, n)) % k)


def test_rotated_labels_are_reported_with_the_relabelling_that_fixes_them():
    df = predictions(600, seed=1, accuracy=0.7)
    df["pred"] = df["pred"].map(lambda p: MISREAD.get(p, p))
    out = analyze(df, n_resamples=20)
    check = out["results"][0]["label_order_check"]
    assert check["suspect"] is True
    assert check["remap"] == {"sad": "neutral", "surprise": "sad", "neutral": "surprise"}
    assert check["gain"] > 0.2 and check["heldout_gain"] > 0.2
    assert check["best_permuted_accuracy"] == pytest.approx(check["gain"] + check["accuracy"])
    headline = out["results"][0]["headline"]["accuracy"]["value"]
    assert check["accuracy"] == pytest.approx(headline)
    [line] = suspect_lines(out)
    assert "model 'm1' on synthetic" in line and "sad as neutral" in line


def test_correct_order_is_not_reported():
    out = analyze(predictions(600, seed=1, accuracy=0.7), n_resamples=20)
    check = out["results"][0]["label_order_check"]
    assert check["suspect"] is False and check["remap"] == {} and check["gain"] == 0
    assert check["heldout_gain"] is None  # only computed when the full-sample gain is large
    assert suspect_lines(out) == []


@pytest.mark.parametrize("n,accuracy", [(50, 0.3), (100, 0.3), (300, 0.2)])
def test_false_alarm_rate_on_correctly_ordered_models_is_below_one_percent(n, accuracy):
    """The wording 'check the order of its labels' is backed by this error rate: 400 simulated
    correctly ordered 7-class models with errors spread over the other classes."""
    rng = np.random.default_rng(13)
    alarms = 0
    for _ in range(400):
        t, p = _simulated(rng, n=n, accuracy=accuracy)
        alarms += label_order_check(_confusion(t, p, 7), LABELS)["suspect"]
    assert alarms / 400 < 0.01


def test_any_rotation_of_a_skilled_model_is_caught_at_the_minimum_size():
    rng = np.random.default_rng(7)
    caught = 0
    for _ in range(200):
        t, p = _simulated(rng, n=50, accuracy=0.6)
        shift = rng.integers(1, 7)
        caught += label_order_check(_confusion(t, (p + shift) % 7, 7), LABELS)["suspect"]
    assert caught == 200


def test_small_samples_are_not_checked():
    counts = np.diag([15.0, 15.0, 15.0])[:, ::-1]  # all wrong, but only 45 samples
    check = label_order_check(counts, ["happy", "sad", "anger"])
    assert check == {
        "n": 45, "threshold": GAIN_THRESHOLD, "min_n": 50, "checked": False, "suspect": False,
        "note": TOO_FEW.format(min_n=50),
    }  # fmt: skip


def test_best_permutation_reads_each_column_as_its_best_row():
    counts = np.array([[0, 9, 1], [8, 0, 0], [0, 1, 7]])
    reads_as, best = best_permutation(counts)
    assert reads_as.tolist() == [1, 0, 2]
    assert best == pytest.approx(24 / 26)


def test_non_canonical_outputs_are_never_relabelled():
    """Vision's `none` for sad faces is a wrong answer, not a mis-ordered label."""
    labels = ["happy", "sad", "none"]
    counts = np.array([[40, 0, 5], [0, 5, 40], [0, 0, 0]])
    check = label_order_check(counts, labels)
    assert check["suspect"] is False and check["remap"] == {}
    free, _ = best_permutation(counts)
    assert free.tolist() == [0, 2, 1]  # without the constraint, `none` would be read as sad
