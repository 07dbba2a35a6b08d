"""analysis/sensitivity.py: per-protocol accuracy, paired difference from the default, range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoaudit.analysis.bootstrap import BootstrapSpec, holm, mcnemar_p
from emoaudit.analysis.sensitivity import (
    UNTESTED,
    protocol_block,
    protocol_summary,
    protocol_tests,
    statement,
)

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
    # each protocol is tested against the default on the faces both scored (no subjects here:
    # McNemar's exact test), Holm over the two protocols; both move accuracy, so both are named
    p = {}
    for condition in ("protocol:resize=area", "protocol:detector=haar"):
        part = df[df["condition"] == condition].set_index("sample_id")
        clean = df[df["condition"] == "clean"].set_index("sample_id").loc[part.index]
        on = (part["status"] == "ok").to_numpy()
        mine = (part["pred"] == part["label"]).to_numpy()[on]
        default = (clean["pred"] == clean["label"]).to_numpy()[on]
        b, c = int((mine & ~default).sum()), int((~mine & default).sum())
        row = rows[condition]
        assert (row["n_only_protocol_right"], row["n_only_default_right"]) == (b, c)
        assert row["p_value"] == pytest.approx(mcnemar_p(b, c)) and row["n_units"] == on.sum()
        p[condition] = row["p_value"]
    adjusted = holm(list(p.values()))
    for (condition, _), p_holm in zip(p.items(), adjusted, strict=True):
        assert rows[condition]["p_holm"] == pytest.approx(p_holm)
        assert rows[condition]["rejected"] is True
    assert rows["clean"]["p_value"] is None and rows["clean"]["rejected"] is None
    assert out["method"]["alpha"] == pytest.approx(0.05) and "sign-flip" in out["method"]["test"]
    area, haar = rows["protocol:resize=area"], rows["protocol:detector=haar"]
    assert block["statement"] == (
        f"m on test: accuracy depends on defensible preprocessing (default {values[0]:.0%}; "
        f"{-100 * area['difference']['value']:.0f} points lower under protocol:resize=area "
        f"(Holm p = {area['p_holm']:.3g}); {100 * haar['difference']['value']:.0f} points higher "
        f"under protocol:detector=haar (Holm p = {haar['p_holm']:.3g}); {min(values):.0%} to "
        f"{max(values):.0%} over the default and 2 protocols)"
    )


def test_no_protocol_rows_no_section_entries():
    df = _table()
    out = protocol_summary(df[df["condition"] == "clean"], n_resamples=20)
    assert out["results"] == []


def test_no_words_without_a_real_protocol_effect_and_none_without_a_test():
    """A protocol that changes some answers but not accuracy: the range is still shown, and the
    words say no protocol changed accuracy detectably. A block written before the tests existed
    (no ``rejected``) gets no sentence at all."""
    df = _table()
    clean = df[df["condition"] == "clean"]
    rng = np.random.default_rng(3)
    redrawn = clean.assign(condition="protocol:resize=area")
    swap = rng.random(len(clean)) < 0.1  # a tenth redrawn from the same 60%-right model
    t = clean["label"].map(LABELS.index).to_numpy()
    fresh = np.where(rng.random(len(clean)) < 0.6, t, (t + 1) % 3)
    redrawn["pred"] = np.where(swap, [LABELS[i] for i in fresh], redrawn["pred"])
    (block,) = protocol_summary(pd.concat([clean, redrawn]), n_resamples=50)["results"]
    assert block["protocols"][1]["rejected"] is False
    low, high = block["range"]["lowest"]["value"], block["range"]["highest"]["value"]
    assert block["statement"] == (
        f"m on test: no preprocessing protocol changed accuracy detectably (default "
        f"{block['protocols'][0]['accuracy']['value']:.0%}; {low:.0%} to {high:.0%} over the "
        "default and 1 protocol)"
    )
    for row in block["protocols"]:
        for key in ("p_value", "p_holm", "rejected"):
            row.pop(key)
    assert statement(block) is None


def test_subjects_are_the_unit_of_the_protocol_test():
    """With subject ids the test counts each person once (analysis/paired_tests.py)."""
    from emoaudit.analysis.paired_tests import paired_test

    df = _table(n=300)
    df["subject_id"] = df["sample_id"].str[1:].astype(int).floordiv(6).astype(str)
    (block,) = protocol_summary(df, n_resamples=20)["results"]
    row = block["protocols"][1]
    one = df.set_index(["condition", "sample_id"])
    ids = df.loc[df["condition"] == "clean", "sample_id"]
    mine = one.loc["protocol:resize=area"].loc[ids, "pred"] == one.loc["clean"].loc[ids, "label"]
    default = one.loc["clean"].loc[ids, "pred"] == one.loc["clean"].loc[ids, "label"]
    subjects = one.loc["clean"].loc[ids, "subject_id"].to_numpy(dtype=object)
    expected = paired_test(mine.to_numpy(), default.to_numpy(), subjects)
    assert row["n_units"] == 50 and row["p_value"] == pytest.approx(expected["p_value"])


# --- simulation: how often the words name a protocol effect that is not there, and power ---

ALPHA = 0.05
SEVEN = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"]
PROTOCOLS = ["clean", "protocol:resize=area", "protocol:resize=nearest",
             "protocol:resize=pil_bilinear", "protocol:resize=bilinear", "protocol:color=swap",
             "protocol:gray=mean"]  # fmt: skip
DEPENDS = "accuracy depends on defensible preprocessing"


def _bound(runs: int, alpha: float = ALPHA) -> float:
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)


def _answers(rng, t, p_right):
    right = rng.random(len(t)) < p_right
    return np.where(right, t, (t + rng.integers(1, 7, len(t))) % 7)


def _no_effect(rng, n=300):
    """7 labels, the default right 60% of the time; each of 6 protocols redraws a tenth of the
    answers from the same model: answers change, accuracy does not."""
    t = rng.integers(0, 7, n)
    clean = _answers(rng, t, 0.6)
    preds = [clean] + [
        np.where(rng.random(n) < 0.1, _answers(rng, t, 0.6), clean) for _ in PROTOCOLS[1:]
    ]
    return t, np.array(preds), None


def _one_protocol_hurts(rng, n=600):
    """As _no_effect, but resize=area turns 8% of the faces it got right wrong (-4.8 points)."""
    t, pred, _ = _no_effect(rng, n)
    hurt = (pred[1] == t) & (rng.random(n) < 0.08)
    pred[1] = np.where(hurt, (t + 1) % 7, pred[1])
    return t, pred, None


def _subjects_lean(rng, n_subjects=60, per=5, share=0.5, interaction=2.0):
    """Subjects of 5 photos. Each photo has one answer every condition shares, and in each
    condition (the default included) half the photos are redrawn at a rate with a subject x
    condition effect (sd 2 on the logit scale): a person's photos move together under one
    protocol, yet no protocol is better or worse than the default."""
    subject = np.repeat(np.arange(n_subjects), per)
    t = rng.integers(0, 7, len(subject))
    u = rng.normal(0, 1, n_subjects)[subject]
    shared = _answers(rng, t, 1 / (1 + np.exp(-(0.4 + u))))
    preds = []
    for _ in PROTOCOLS:
        lean = rng.normal(0, interaction, n_subjects)[subject]
        own = _answers(rng, t, 1 / (1 + np.exp(-(0.4 + u + lean))))
        preds.append(np.where(rng.random(len(t)) < share, own, shared))
    return t, np.array(preds), subject


def _words(t, pred, clusters):
    """statement() on the point estimates and the tests of protocol_block (its bootstrap
    intervals are not words, and cost 20x the tests): the same rows, the same decision."""
    hit = (pred == t).astype(float)
    tests = protocol_tests(list(hit), list(np.ones(hit.shape)), clusters, alpha=ALPHA)
    acc, diff = hit.mean(axis=1), (hit - hit[0]).sum(axis=1) / len(t)
    rows = [
        {"protocol": name, "accuracy": {"value": acc[k]}, "difference": {"value": diff[k]},
         **(UNTESTED if k == 0 else tests[k - 1])}
        for k, name in enumerate(PROTOCOLS)
    ]  # fmt: skip
    rng = {"lowest": {"value": acc.min()}, "highest": {"value": acc.max()}}
    return statement({"model": "m", "split": None, "protocols": rows, "range": rng})


def _full_words(t, pred, clusters):
    hit = (pred == t).astype(float)
    spec = BootstrapSpec(n_resamples=1)
    block = protocol_block(PROTOCOLS, labels=SEVEN, true=t, scored=np.ones(hit.shape), hit=hit,
                           pred=pred, clusters=clusters, spec=spec)  # fmt: skip
    return statement({"model": "m", "split": None, **block})


def test_the_fast_path_says_what_the_audit_says():
    rng = np.random.default_rng(11)
    for make in (_no_effect, _one_protocol_hurts, _subjects_lean):
        for _ in range(3):
            data = make(rng)
            assert _words(*data) == _full_words(*data)


@pytest.mark.slow
def test_protocol_statement_false_finding_rate_and_power():
    """Null: 6 protocols redraw 10% of the answers of a 60%-right model on 300 faces; the range
    of seven accuracies spans a few points in every run, and the old statement said "accuracy is
    L% to H% depending on defensible preprocessing" in every run. Now the words must say accuracy
    depends on preprocessing in at most 5% (+ 3 Monte Carlo SE) of runs. Power: one protocol
    turns 8% of its right answers wrong on 600 faces; the words must name it in 80% of runs,
    and never name another."""
    rng = np.random.default_rng(2026)
    runs = 400
    said = sum(DEPENDS in _words(*_no_effect(rng)) for _ in range(runs))
    assert said / runs <= _bound(runs)
    named = wrong = 0
    for _ in range(100):
        words = _words(*_one_protocol_hurts(rng))
        named += DEPENDS in words and "lower under protocol:resize=area (" in words
        wrong += any(f"under {p} (" in words for p in PROTOCOLS[2:])
    assert named >= 80 and wrong <= 100 * _bound(100)


@pytest.mark.slow
def test_protocol_statement_with_subjects_stays_at_the_level():
    """Subjects of 5 photos that lean one way under a protocol, with no protocol effect:
    counting photos (McNemar) names a protocol too often; counting subjects stays at 5%."""
    rng = np.random.default_rng(7)
    runs = 300
    said = naive = 0
    for _ in range(runs):
        t, pred, subject = _subjects_lean(rng)
        said += DEPENDS in _words(t, pred, subject)
        naive += DEPENDS in _words(t, pred, None)
    assert said / runs <= _bound(runs)
    assert naive / runs > _bound(runs)  # the design has the defect the subject test removes
