"""analysis/agreement.py: the >= 9-of-10 subset and the original (pre-FER+) label's statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoaudit.analysis.agreement import human_agreement, original_label_agreement
from emoaudit.analysis.bootstrap import BootstrapSpec
from emoaudit.analysis.summary import analyze

SPEC = BootstrapSpec(n_resamples=200, confidence=0.95, seed=0)
CATS = ["neutral", "happy", "sad", "unknown", "nf"]


def _votes(rows: list[tuple[int, ...]]) -> np.ndarray:
    return np.array(rows, dtype=float)


def test_at_least_9_of_10_subset_overlaps_unanimous_and_majority():
    V = _votes([(10, 0, 0, 0, 0), (0, 9, 1, 0, 0), (0, 8, 2, 0, 0), (4, 3, 3, 0, 0)])
    label = np.array(["neutral", "happy", "happy", "neutral"], dtype=object)
    pred = np.array(["neutral", "sad", "happy", "neutral"], dtype=object)
    out = human_agreement(
        votes=V, categories=CATS, label=label, pred=pred, proba=None, proba_labels=[], spec=SPEC
    )
    by = out["accuracy_by_agreement"]
    assert by["at_least_9_of_10"]["n"] == 2  # 10/10 and 9/10; 8/10 is not in it
    assert by["at_least_9_of_10"]["value"] == pytest.approx(0.5)
    assert by["unanimous"]["n"] == 1 and by["majority"]["n"] == 2 and by["split"]["n"] == 1


def test_original_label_against_plurality_and_model_by_hand():
    # plurality: neutral, happy, sad, happy, (unknown: no expression), (tie neutral/happy)
    V = _votes([
        (6, 2, 2, 0, 0), (0, 9, 1, 0, 0), (1, 1, 8, 0, 0), (2, 7, 1, 0, 0),
        (1, 1, 1, 7, 0), (5, 5, 0, 0, 0),
    ])  # fmt: skip
    original = np.array(["neutral", "sad", "sad", "anger", "happy", "neutral"], dtype=object)
    pred = np.array(["neutral", "happy", "sad", None, "happy", "sad"], dtype=object)
    out = original_label_agreement(
        votes=V, categories=CATS, original=original, pred=pred, spec=SPEC, column="attr_x"
    )
    assert out["n_rows"] == 6 and out["n_no_expression_plurality"] == 2
    agree = out["agrees_with_plurality"]
    assert agree["n"] == 4 and agree["value"] == pytest.approx(2 / 4)  # rows 0 and 2
    assert agree["ci_low"] <= agree["value"] <= agree["ci_high"]
    acc = out["accuracy_vs_original"]  # predicted rows 0,1,2,4,5: hits at 0, 2, 4
    assert acc["n"] == 5 and acc["value"] == pytest.approx(3 / 5)


def _ferplus_table(n: int, *, seed: int) -> pd.DataFrame:
    """FER+-like predictions: label = vote plurality (as --format ferplus gives), the original
    label agrees with it 65% of the time, the model matches the plurality 80% of the time."""
    rng = np.random.default_rng(seed)
    labels = ["neutral", "happy", "sad"]
    t = rng.integers(0, 3, n)
    V = np.zeros((n, 5), dtype=int)
    V[np.arange(n), t] = 7
    V[np.arange(n), (t + 1) % 3] = 3
    orig = np.where(rng.random(n) < 0.65, t, (t + rng.integers(1, 3, n)) % 3)
    pred = np.where(rng.random(n) < 0.8, t, (t + 1) % 3)
    df = pd.DataFrame({
        "sample_id": [f"row{i}" for i in range(n)], "subject_id": None, "dataset": "ferplus",
        "split": "PrivateTest", "model": "m", "model_sha256": "0" * 64, "condition": "clean",
        "status": "ok", "reason": "", "label": [labels[i] for i in t],
        "pred": [labels[i] for i in pred], "attr_fer2013_label": [labels[i] for i in orig],
    })  # fmt: skip
    for j, c in enumerate(CATS):
        df[f"votes_{c}"] = V[:, j]
    return df


def test_ferplus_results_report_the_original_labels_agreement_not_1_to_1():
    n = 2000
    df = _ferplus_table(n, seed=4)
    ag = analyze(df, n_resamples=100)["results"][0]["agreement"]
    # label IS the plurality with --format ferplus: this one is 1.0 by construction ...
    assert ag["label_agrees_with_plurality"]["value"] == 1.0
    # ... so the original FER2013 label is what carries the finding
    orig = ag["original_label"]
    assert orig["column"] == "attr_fer2013_label"
    truth = float((df["attr_fer2013_label"] == df["label"]).mean())
    assert orig["agrees_with_plurality"]["value"] == pytest.approx(truth)
    assert 0.6 < truth < 0.7
    lo, hi = orig["agrees_with_plurality"]["ci_low"], orig["agrees_with_plurality"]["ci_high"]
    assert lo < 0.65 < hi and hi - lo < 0.06
    acc = float((df["pred"] == df["attr_fer2013_label"]).mean())
    assert orig["accuracy_vs_original"]["value"] == pytest.approx(acc)
    assert orig["accuracy_vs_original"]["value"] < ag["accuracy_vs_plurality"]["value"]
