"""Robustness measures on hand-made prediction tables, checked against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoaudit.analysis.robustness import paired_rows, robustness_summary

LABELS = ("neutral", "happy", "sad")


def rows(condition, labels, preds, *, model="m", conf=0.8, statuses=None, subjects=None):
    out = []
    for i, (lab, pred) in enumerate(zip(labels, preds, strict=True)):
        probs = {f"prob_{x}": (conf if x == pred else (1 - conf) / 2) for x in LABELS}
        out.append(
            {
                "sample_id": f"s{i}",
                "subject_id": None if subjects is None else subjects[i],
                "model": model,
                "condition": condition,
                "status": "ok" if statuses is None else statuses[i],
                "label": lab,
                "pred": pred if statuses is None or statuses[i] == "ok" else None,
                **(probs if pred is not None else {f"prob_{x}": np.nan for x in LABELS}),
            }
        )
    return out


def numbers(obj):
    """Every {value, ci_low, ci_high, n} dict inside obj."""
    if isinstance(obj, dict):
        if set(obj) == {"value", "ci_low", "ci_high", "n"}:
            yield obj
        else:
            for v in obj.values():
                yield from numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from numbers(v)


@pytest.fixture
def table():
    # 10 faces; clean gets 8 right; under jpeg:3 three correct answers turn to "sad"
    labels = ["neutral"] * 4 + ["happy"] * 4 + ["sad"] * 2
    clean = [
        "neutral",
        "neutral",
        "neutral",
        "happy",
        "happy",
        "happy",
        "happy",
        "neutral",
        "sad",
        "sad",
    ]  # noqa: E501
    pert = ["sad", "neutral", "neutral", "happy", "sad", "sad", "happy", "neutral", "sad", "sad"]
    return pd.DataFrame(rows("clean", labels, clean) + rows("jpeg:3", labels, pert, conf=0.6))


def test_measures_match_hand_computation(table):
    out = robustness_summary(table, n_resamples=200, seed=1)
    clean = out["models"]["m"]["clean"]
    assert clean["accuracy"]["value"] == pytest.approx(0.8)
    # clean ECE: every confidence 0.8 in one bin, accuracy 0.8 -> 0
    assert clean["ece"]["value"] == pytest.approx(0.0, abs=1e-12)
    (row,) = out["models"]["m"]["conditions"]
    assert (row["family"], row["severity"], row["n_pairs"], row["n_unpaired"]) == ("jpeg", 3, 10, 0)
    assert row["accuracy"]["value"] == pytest.approx(0.5)
    assert row["accuracy_diff"]["value"] == pytest.approx(-0.3)
    assert row["flip_rate"]["value"] == pytest.approx(0.3)
    assert row["ece"]["value"] == pytest.approx(0.1)  # confidence 0.6, accuracy 0.5
    assert row["ece_shift"]["value"] == pytest.approx(0.1)
    shift = {k: v["value"] for k, v in row["pred_share_shift"].items()}
    assert shift == pytest.approx({"neutral": -0.1, "happy": -0.2, "sad": 0.3})


def test_every_number_has_an_interval_around_it(table):
    out = robustness_summary(table, n_resamples=200, seed=1)
    found = list(numbers(out))
    assert len(found) == 2 + 5 + 3  # clean; per condition; drift per label
    for num in found:
        assert num["ci_low"] <= num["value"] + 1e-12 <= num["ci_high"] + 2e-12


def test_same_seed_same_numbers_and_seed_matters(table):
    a = robustness_summary(table, n_resamples=200, seed=3)
    b = robustness_summary(table, n_resamples=200, seed=3)
    c = robustness_summary(table, n_resamples=200, seed=4)
    assert a == b
    assert a["method"]["seed"] == 3 and a["method"]["n_resamples"] == 200
    assert a != c


def test_drift_toward_needs_a_test(table):
    big = pd.concat(
        [table.assign(sample_id=table["sample_id"] + f"-{k}") for k in range(30)], ignore_index=True
    )
    (row,) = robustness_summary(big, n_resamples=300, seed=0)["models"]["m"]["conditions"]
    assert row["drift_toward"] == "sad"
    (small,) = robustness_summary(table.iloc[[0, 1, 10, 11]], n_resamples=300, seed=0)["models"][
        "m"
    ]["conditions"]
    assert small["drift_toward"] is None  # one flip in two faces is not evidence of a drift


def test_the_tests_behind_the_words_are_paired_by_subject_and_holm_corrected(table):
    """p_value is the paired test of clean against perturbed correctness (subjects as units);
    p_holm corrects over the model's conditions; drift has its own family over labels and
    conditions (test_robustness_verdicts.py has the error rates)."""
    from emoaudit.analysis.bootstrap import holm
    from emoaudit.analysis.paired_tests import PAIRED_TEST, paired_test

    subjects = [f"p{i % 4}" for i in range(10)] * 2
    second = table[table["condition"] == "jpeg:3"].assign(condition="blur:1")
    both = pd.concat([table, second], ignore_index=True).assign(subject_id=subjects + subjects[:10])
    out = robustness_summary(both, n_resamples=20)
    assert out["method"]["paired_test"] == PAIRED_TEST and out["method"]["alpha"] == 0.05
    assert "Holm" in out["method"]["multiplicity"]
    rows = out["models"]["m"]["conditions"]
    pairs = paired_rows(both, model="m", condition="jpeg:3")
    expected = paired_test(
        pairs.pred_pert == pairs.true, pairs.pred_clean == pairs.true, pairs.subject_id
    )["p_value"]
    assert rows[0]["p_value"] == pytest.approx(expected)
    unclustered = paired_test(pairs.pred_pert == pairs.true, pairs.pred_clean == pairs.true)
    assert expected == pytest.approx(0.5) and unclustered["p_value"] == pytest.approx(0.25)
    adjusted = holm([r["p_value"] for r in rows])
    assert [r["p_holm"] for r in rows] == pytest.approx(list(adjusted))
    assert [r["rejected"] for r in rows] == [bool(p < 0.05) for p in adjusted]
    tests = [t for r in rows for t in r["drift_tests"].values()]
    assert len(tests) == 2 * len(LABELS)
    adjusted = holm([t["p_value"] for t in tests])
    assert [t["p_holm"] for t in tests] == pytest.approx(list(adjusted))
    assert rows[0]["drift_tests"]["sad"]["net_faces"] == 3


def test_unlabelled_conditions_have_no_accuracy_test(table):
    (row,) = robustness_summary(table.assign(label=None), n_resamples=20)["models"]["m"][
        "conditions"
    ]
    assert row["p_value"] is None and row["p_holm"] is None and row["rejected"] is False
    assert set(row["drift_tests"]) == set(LABELS)


def test_unpaired_faces_are_counted_not_dropped(table):
    lost = table.copy()
    idx = lost.index[(lost["condition"] == "jpeg:3") & (lost["sample_id"] == "s0")]
    lost.loc[idx, ["status", "pred"]] = ["no_face", None]
    (row,) = robustness_summary(lost, n_resamples=50)["models"]["m"]["conditions"]
    assert row["n_pairs"] == 9 and row["n_unpaired"] == 1
    assert row["unpaired_statuses"] == {"no_face": 1}  # one reason per lost face


def test_a_face_lost_in_both_conditions_is_counted_once(table):
    """An unreadable file is unreadable clean and perturbed: it was counted twice."""
    lost = table.copy()
    idx = lost.index[lost["sample_id"] == "s1"]
    lost.loc[idx, ["status", "pred"]] = ["unreadable", None]
    (row,) = robustness_summary(lost, n_resamples=50)["models"]["m"]["conditions"]
    assert row["n_unpaired"] == 1 and row["unpaired_statuses"] == {"unreadable": 1}


def test_no_labels_still_gives_flip_rate(table):
    unlabelled = table.assign(label=None)
    (row,) = robustness_summary(unlabelled, n_resamples=50)["models"]["m"]["conditions"]
    assert row["flip_rate"]["value"] == pytest.approx(0.3)
    assert row["accuracy"] == {"value": None, "ci_low": None, "ci_high": None, "n": 0}


def test_subjects_are_the_resampling_unit_when_known(table):
    with_subjects = table.assign(subject_id=[f"p{i % 5}" for i in range(len(table))])
    (row,) = robustness_summary(with_subjects, n_resamples=50)["models"]["m"]["conditions"]
    assert row["resampling_unit"] == "subject_id"
    (row,) = robustness_summary(table, n_resamples=50)["models"]["m"]["conditions"]
    assert row["resampling_unit"] == "sample"


def test_models_are_kept_apart_and_use_their_own_label_set(table):
    other = table.assign(model="m2").drop(columns=["prob_sad"])
    other["prob_sad"] = np.nan  # m2 cannot emit sad
    other["pred"] = other["pred"].replace("sad", "neutral")
    both = pd.concat([table, other], ignore_index=True)
    assert paired_rows(both, model="m2", condition="jpeg:3").labels == ["neutral", "happy"]
    out = robustness_summary(both, n_resamples=50)
    assert set(out["models"]) == {"m", "m2"}
    assert set(out["models"]["m2"]["conditions"][0]["pred_share_shift"]) == {"neutral", "happy"}


# --- a real measurement with the built-in models (needs the zoo: tests/conftest.py) -----------

MEASURED_MODELS = ("fer-mini-xception", "human-emotion", "faceapi-expression")


def astronaut_crops(n: int = 60) -> list[np.ndarray]:
    """The astronaut's face as a detector would box it on n frames: margin 10-35%, centre
    jittered by up to 8% of the face (seeded), so a flip rate is a share of many crops."""
    from skimage.data import astronaut

    image = astronaut()
    x, y, w, h = 177, 66, 95, 95  # Haar box of the face (see tests/perturb/conftest.py)
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(n):
        margin = rng.uniform(0.10, 0.35)
        dx, dy = rng.uniform(-0.08, 0.08, 2)
        side = int(w * (1 + 2 * margin))
        cx, cy = int(x + w / 2 + dx * w - side / 2), int(y + h / 2 + dy * h - side / 2)
        crops.append(image[cy : cy + side, cx : cx + side])
    return crops


def predictions_under_resolution(model, crops) -> pd.DataFrame:
    from emoaudit.models.preprocess import prepare_batch
    from emoaudit.perturb.conditions import apply_condition, parse_conditions
    from emoaudit.taxonomy import canonical

    labels = [canonical(lab) for lab in model.info.labels]
    out = []
    for condition in parse_conditions("resolution"):
        faces = [
            apply_condition(c, condition, sample_id=f"a{i}", seed=0) for i, c in enumerate(crops)
        ]  # noqa: E501
        probs = model.predict_proba(prepare_batch(faces, model.info.input))
        for i, p in enumerate(probs):
            out.append(
                {"sample_id": f"a{i}", "subject_id": None, "model": model.info.name,
                 "condition": condition, "status": "ok", "label": "happy",
                 "pred": labels[int(p.argmax())],
                 **{f"prob_{lab}": float(v) for lab, v in zip(labels, p, strict=True)}}
            )  # fmt: skip
    return pd.DataFrame(out)


@pytest.mark.zoo
def test_flip_rate_under_resolution_grows_with_severity_on_the_astronaut(built):
    """Measured (60 crops, seed 0): fer-mini-xception 0, 0, 0, 0.333, 0.983;
    human-emotion 0, 0, 0, 0, 0.383; faceapi-expression 0, 0, 0, 0.017, 0.683
    for face widths 64, 48, 32, 24, 16 px (docs/robustness.md)."""
    from emoaudit.models.onnx_model import load_model

    crops = astronaut_crops()
    rates = {}
    for name in MEASURED_MODELS:
        built(name)
        df = predictions_under_resolution(load_model(name), crops)
        rows = robustness_summary(df, n_resamples=100)["models"][name]["conditions"]
        rates[name] = [r["flip_rate"]["value"] for r in rows]
    monotone = [
        name
        for name, r in rates.items()
        if all(a <= b for a, b in zip(r, r[1:], strict=False)) and r[-1] > r[0]
    ]
    assert monotone, rates
