"""analysis/sensitivity.py: per-protocol accuracy, paired difference from the default, range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoaudit.analysis.sensitivity import protocol_summary

LABELS = ["neutral", "happy", "sad"]


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Default right 60% of the time; resize=area loses 10 points on the same faces (paired);
    detector=haar misses 25% of faces and is right on 70% of those it finds."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, n)
    right = rng.random(n) < 0.6
    worse = right & (rng.random(n) < 1 / 6)  # 60% -> 50%
    haar_found = rng.random(n) >= 0.25
    haar_right = rng.random(n) < 0.7
    frames = []
    for condition, ok_right, found in (
        ("clean", right, np.ones(n, bool)),
        ("protocol:resize=area", right & ~worse, np.ones(n, bool)),
        ("protocol:detector=haar", haar_right, haar_found),
    ):
        pred = np.where(ok_right, t, (t + 1) % 3)
        frames.append(pd.DataFrame({
            "sample_id": [f"s{i}" for i in range(n)], "subject_id": None, "dataset": "d",
            "split": "test", "model": "m", "condition": condition,
            "status": np.where(found, "ok", "no_face"),
            "label": [LABELS[i] for i in t],
            "pred": [LABELS[p] if f else None for p, f in zip(pred, found, strict=True)],
            **{f"prob_{lab}": np.where(found, 1 / 3, np.nan) for lab in LABELS},
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_accuracy_difference_and_range_by_hand():
    df = _table()
    out = protocol_summary(df, n_resamples=300, seed=0)
    (block,) = out["results"]
    rows = {r["protocol"]: r for r in block["protocols"]}
    assert list(rows) == ["clean", "protocol:resize=area", "protocol:detector=haar"]

    def acc(condition):
        part = df[(df["condition"] == condition) & (df["status"] == "ok")]
        return float((part["pred"] == part["label"]).mean()), len(part)

    for condition, row in rows.items():
        value, n = acc(condition)
        assert row["accuracy"]["value"] == pytest.approx(value) and row["n_scored"] == n
    haar = df[df["condition"] == "protocol:detector=haar"]
    e2e = ((haar["status"] == "ok") & (haar["pred"] == haar["label"])).mean()
    assert rows["protocol:detector=haar"]["accuracy_end_to_end"]["value"] == pytest.approx(e2e)
    diff = rows["protocol:resize=area"]["difference"]
    assert diff["value"] == pytest.approx(acc("protocol:resize=area")[0] - acc("clean")[0])
    # paired: the same faces lose accuracy, so the interval is narrow and excludes zero
    assert diff["ci_high"] < 0 and diff["ci_high"] - diff["ci_low"] < 0.07
    # a protocol that loses faces is compared on the faces both scored, with that n
    haar_ok = set(haar.loc[haar["status"] == "ok", "sample_id"])
    clean = df[(df["condition"] == "clean") & df["sample_id"].isin(haar_ok)]
    both = haar[haar["sample_id"].isin(haar_ok)]
    paired = (both["pred"] == both["label"]).mean() - (clean["pred"] == clean["label"]).mean()
    haar_diff = rows["protocol:detector=haar"]["difference"]
    assert haar_diff["value"] == pytest.approx(paired) and haar_diff["n"] == len(haar_ok)
    from sklearn.metrics import f1_score

    def f1(condition):
        part = df[(df["condition"] == condition) & (df["status"] == "ok")]
        return f1_score(part["label"], part["pred"], average="macro")

    for condition, row in rows.items():
        assert row["f1_macro"]["value"] == pytest.approx(f1(condition))
    # the F1 difference is paired too: on the faces both scored, with their count
    for condition in ("protocol:resize=area", "protocol:detector=haar"):
        part = df[df["condition"] == condition]
        ok = set(part.loc[part["status"] == "ok", "sample_id"])
        on = df[df["sample_id"].isin(ok) & (df["status"] == "ok")]
        mine, default = on[on["condition"] == condition], on[on["condition"] == "clean"]
        paired_f1 = f1_score(mine["label"], mine["pred"], average="macro") - f1_score(
            default["label"], default["pred"], average="macro"
        )
        row = rows[condition]["f1_macro_difference"]
        assert row["value"] == pytest.approx(paired_f1) and row["n"] == len(ok)
    assert rows["protocol:detector=haar"]["f1_macro_difference"]["value"] != pytest.approx(
        f1("protocol:detector=haar") - f1("clean")
    )  # the unpaired difference, on other faces, is not what is reported
    assert rows["protocol:resize=area"]["f1_macro_difference"]["ci_high"] < 0  # paired, narrow
    rng = block["range"]
    values = [acc(c)[0] for c in rows]
    assert rng["lowest"]["value"] == pytest.approx(min(values))
    assert rng["highest"]["value"] == pytest.approx(max(values))
    assert rng["width"]["value"] == pytest.approx(max(values) - min(values))
    assert rng["width"]["ci_low"] <= rng["width"]["value"] <= rng["width"]["ci_high"]
    assert rng["lowest_protocol"] == "protocol:resize=area"
    assert rng["highest_protocol"] == "protocol:detector=haar"
    assert block["statement"] == (
        f"m on test: accuracy is {min(values):.0%} to {max(values):.0%} depending on defensible "
        f"preprocessing (default {values[0]:.0%}; lowest under protocol:resize=area, highest "
        "under protocol:detector=haar)"
    )


def test_no_protocol_rows_no_section_entries():
    df = _table()
    out = protocol_summary(df[df["condition"] == "clean"], n_resamples=20)
    assert out["results"] == []
