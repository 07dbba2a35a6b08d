"""Per-group flip rates and model agreement: the label-free comparisons across conditions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emoaudit.analysis.bootstrap import BootstrapSpec
from emoaudit.analysis.group_consistency import group_consistency

LABELS = np.array(["happy", "neutral", "sad", "anger"], dtype=object)


def _table(*, flip_b: float, n: int = 800, seed: int = 0) -> pd.DataFrame:
    """One model, clean and blur:2; faces of group b flip with probability flip_b, group a
    with 0.2. A second model agrees with the first equally on both groups."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) % 2 == 0, "a", "b")
    clean = rng.integers(0, 4, n)
    flips = rng.random(n) < np.where(group == "b", flip_b, 0.2)
    blurred = np.where(flips, (clean + 1) % 4, clean)
    other = np.where(rng.random(n) < 0.7, clean, (clean + 2) % 4)
    base = {"sample_id": [f"s{i}" for i in range(n)], "subject_id": None, "attr_group": group}
    frames = [
        pd.DataFrame({**base, "model": "m", "condition": "clean", "pred": LABELS[clean]}),
        pd.DataFrame({**base, "model": "m", "condition": "blur:2", "pred": LABELS[blurred]}),
        pd.DataFrame({**base, "model": "m2", "condition": "clean", "pred": LABELS[other]}),
    ]
    return pd.concat(frames, ignore_index=True)


def test_a_group_whose_readings_flip_more_is_named_and_equal_groups_are_not():
    spec = BootstrapSpec(n_resamples=100)
    out = group_consistency(_table(flip_b=0.35), spec=spec)
    test = out["flip"]["m"]["group"]["blur"]["test"]
    assert test["rejected"] and test["worse"] == ["b"]
    rates = {g["group"]: g["rate"] for g in out["flip"]["m"]["group"]["blur"]["groups"]}
    assert rates["b"]["ci_low"] < 0.35 < rates["b"]["ci_high"]
    (pair,) = out["agreement"]
    assert pair["models"] == ["m", "m2"]
    assert not pair["groupings"]["group"]["test"]["rejected"]
    same = group_consistency(_table(flip_b=0.2, seed=1), spec=spec)
    assert not same["flip"]["m"]["group"]["blur"]["test"]["worse"]
    assert "no evidence of a difference" in same["flip"]["m"]["group"]["blur"]["test"]["text"]


def test_groups_below_the_minimum_cell_are_never_shown():
    df = _table(flip_b=0.2, n=200)
    df.loc[df["sample_id"].isin([f"s{i}" for i in range(8)]), "attr_group"] = "tiny"
    out = group_consistency(df, spec=BootstrapSpec(n_resamples=50))
    shown = {g["group"] for g in out["flip"]["m"]["group"]["blur"]["groups"]}
    assert "tiny" not in shown and len(shown) == 1  # and the next smallest: else a - b = tiny
    df.loc[df["sample_id"].isin([f"s{i}" for i in range(8, 16)]), "attr_group"] = "tiny2"
    out = group_consistency(df, spec=BootstrapSpec(n_resamples=50))
    shown = {g["group"] for g in out["flip"]["m"]["group"]["blur"]["groups"]}
    assert shown == {"a", "b"}  # two hidden groups of 16 faces together: nothing to subtract
