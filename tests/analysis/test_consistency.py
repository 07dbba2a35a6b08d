"""Label-free consistency on hand-made tables, against hand computation and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from emoaudit.analysis.consistency import consistency_summary, model_agreement

LABELS = ("neutral", "happy", "sad")


def rows(model, condition, preds, probs=None):
    out = []
    for i, pred in enumerate(preds):
        p = probs[i] if probs is not None else [0.8 if x == pred else 0.1 for x in LABELS]
        out.append(
            {"sample_id": f"s{i}", "subject_id": None, "model": model, "condition": condition,
             "status": "ok", "label": None, "pred": pred,
             **{f"prob_{x}": v for x, v in zip(LABELS, p, strict=True)}}
        )  # fmt: skip
    return out


def test_invariance_is_agreement_with_clean_and_probability_distance():
    clean = ["neutral", "happy", "sad", "happy"]
    flipped = ["neutral", "happy", "happy", "happy"]
    p_clean = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.0, 1.0, 0.0]]
    p_flip = [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.5, 0.3], [0.0, 1.0, 0.0]]
    df = pd.DataFrame(
        rows("m", "clean", clean, p_clean)
        + rows("m", "flip:1", flipped, p_flip)
        + rows("m", "jpeg:1", clean, p_clean)  # not label-free: left to robustness
    )
    out = consistency_summary(df, n_resamples=100)
    (row,) = out["invariance"]["m"]
    assert row["condition"] == "flip:1" and row["n_pairs"] == 4
    assert row["agreement"]["value"] == pytest.approx(0.75)
    # total variation per face: 0, 0.2, 0.2, 0 -> mean 0.1
    assert row["prob_distance"]["value"] == pytest.approx(0.1)
    assert {"flip", "shift", "scale"} <= set(out["method"]["label_free_families"])


def test_model_agreement_and_kappa_match_scikit_learn():
    rng = np.random.default_rng(0)
    a = rng.choice(LABELS, size=200).tolist()
    b = [x if rng.random() < 0.6 else str(rng.choice(LABELS)) for x in a]
    df = pd.DataFrame(rows("A", "clean", a) + rows("B", "clean", b))
    (pair,) = model_agreement(df, n_resamples=200, seed=0)
    assert pair["models"] == ["A", "B"] and pair["n"] == 200
    assert pair["agreement"]["value"] == pytest.approx(np.mean(np.array(a) == np.array(b)))
    assert pair["kappa"]["value"] == pytest.approx(cohen_kappa_score(a, b))
    assert pair["kappa"]["ci_low"] < pair["kappa"]["value"] < pair["kappa"]["ci_high"]


def test_agreement_only_counts_faces_both_models_answered():
    df = pd.DataFrame(
        rows("A", "clean", ["happy", "sad", "sad"]) + rows("B", "clean", ["happy", "sad", None])
    )  # noqa: E501
    (pair,) = model_agreement(df, n_resamples=50)
    assert pair["n"] == 2 and pair["agreement"]["value"] == 1.0


def test_three_models_give_three_pairs_per_condition():
    preds = ["happy", "sad", "neutral", "happy"]
    df = pd.DataFrame([r for m in "ABC" for c in ("clean", "flip:1") for r in rows(m, c, preds)])
    pairs = model_agreement(df, conditions=["clean", "flip:1"], n_resamples=20)
    assert [(p["models"], p["condition"]) for p in pairs] == [
        (["A", "B"], "clean"), (["A", "C"], "clean"), (["B", "C"], "clean"),
        (["A", "B"], "flip:1"), (["A", "C"], "flip:1"), (["B", "C"], "flip:1"),
    ]  # fmt: skip
