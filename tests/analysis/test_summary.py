"""analyze() end to end on generated predictions tables: layout, accounting, agreement."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import synth  # noqa: E402

from emoaudit.analysis.agreement import leave_one_out  # noqa: E402
from emoaudit.analysis.summary import analyze  # noqa: E402

SCHEMA = Path(__file__).parents[2] / "src/emoaudit/report/results.schema.json"


def _walk_intervals(node, found):
    if isinstance(node, dict):
        if set(node) == {"value", "ci_low", "ci_high", "n"}:
            found.append(node)
        for v in node.values():
            _walk_intervals(v, found)
    elif isinstance(node, list):
        for v in node:
            _walk_intervals(v, found)
    return found


def test_analyze_is_json_deterministic_and_every_interval_brackets_its_value():
    df = synth.predictions(600, votes=True)
    a = analyze(df, groups=["gender", "race"], n_resamples=100, seed=1)
    b = analyze(df, groups=["gender", "race"], n_resamples=100, seed=1)
    text = json.dumps(a, allow_nan=False)
    assert text == json.dumps(b, allow_nan=False)
    assert a["statistics"]["seed"] == 1 and a["statistics"]["correction"] == "holm"
    res = a["results"][0]
    assert set(res["groups"]) == {"gender", "race", "gender&race"}
    assert res["data"]["n_by_status"]["no_face"] + res["data"]["n_evaluated"] == 600
    assert res["end_to_end"]["value"] < res["headline"]["accuracy"]["value"]
    intervals = _walk_intervals(a, [])
    assert len(intervals) > 500
    for iv in intervals:
        if iv["value"] is not None and iv["ci_low"] is not None:
            assert iv["ci_low"] - 1e-9 <= iv["ci_high"]


def test_results_validate_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    df = synth.predictions(300, subjects=40)
    out = analyze(df, n_resamples=50)
    doc = {"schema_version": "1.0", "provenance": {}, **out}
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert out["results"][0]["resampling"]["unit"] == "subject_id"


def test_one_result_per_dataset_model_condition():
    df = synth.predictions(200)
    df2 = synth.predictions(200, model="m2", condition="jpeg:3", seed=2)
    import pandas as pd

    out = analyze(pd.concat([df, df2]), n_resamples=20)
    keys = [(r["model"], r["condition"]) for r in out["results"]]
    assert keys == [("m1", "clean"), ("m2", "jpeg:3")]


def test_leave_one_out_human_reference_by_hand():
    # 10 votes: 6 happy, 4 sad. An annotator voting happy sees rest 5-4 -> agrees; one voting
    # sad sees rest 6-3 -> disagrees. Expected: 6/10. Model saying happy: 1.0.
    V = np.array([[6, 4]])
    human, model = leave_one_out(V, np.array([0]))
    assert human[0] == pytest.approx(0.6) and model[0] == pytest.approx(1.0)
    # 5-5 split: a happy voter sees rest 4-5 (sad wins) -> 0; symmetric -> 0 overall.
    human, model = leave_one_out(np.array([[5, 5]]), np.array([0]))
    assert human[0] == 0.0 and model[0] == pytest.approx(0.5)


def test_agreement_block_on_votes():
    out = analyze(synth.predictions(500, votes=True), n_resamples=50)
    ag = out["results"][0]["agreement"]
    assert ag["n_with_votes"] == out["results"][0]["data"]["n_evaluated"]
    levels = {"unanimous", "majority", "split", "at_least_9_of_10"}
    assert set(ag["accuracy_by_agreement"]) == levels
    assert 0 < ag["human_single_vs_rest"]["value"] < 1


def _null_cells_predictions():
    """'contempt' is predicted but never true; 'fear' is true but never predicted; group 'b'
    has no 'sad' face."""
    df = synth.predictions(400, seed=3)
    df = df[df["status"] == "ok"].copy()
    df.loc[df.index[:5], "pred"] = "contempt"
    df.loc[df["pred"] == "fear", "pred"] = "neutral"
    df.loc[(df["attr_race"] == "b") & (df["label"] == "sad"), "label"] = "happy"
    return df


def _is_null(iv, n=0):
    return iv == {"value": None, "ci_low": None, "ci_high": None, "n": n}


def test_undefined_rates_are_null_with_n_zero_never_a_fake_zero():
    res = analyze(_null_cells_predictions(), n_resamples=30)["results"][0]
    pc = res["per_class"]
    assert _is_null(pc["contempt"]["recall"]) and pc["contempt"]["support"] == 0
    assert _is_null(pc["fear"]["precision"])
    assert pc["fear"]["recall"]["value"] == 0.0 and pc["fear"]["recall"]["n"] > 0  # truly 0
    labels = res["confusion"]["labels"]
    row = res["confusion"]["row_normalised"][labels.index("contempt")]
    assert all(_is_null(cell) for cell in row)
    race = res["groups"]["race"]
    b = next(g for g in race["groups"] if g["group"] == "b")
    assert _is_null(b["recall"]["sad"])
    assert all(
        _is_null(v) for v in race["directional_errors"]["by_true_label"]["sad"]["b"].values()
    )
    a = next(g for g in race["groups"] if g["group"] == "a")
    assert a["recall"]["sad"]["value"] is not None and a["recall"]["sad"]["n"] > 0
    # and nowhere a null value with an interval, or a defined value on n = 0 rows
    for iv in _walk_intervals(res, []):
        if iv["value"] is None:
            assert iv["ci_low"] is None and iv["ci_high"] is None
        elif iv["n"] == 0:
            raise AssertionError(f"value {iv['value']} on n = 0")


def test_report_shows_undefined_cells_as_not_available(tmp_path):
    from emoaudit.report.html import write_report

    out = analyze(_null_cells_predictions(), n_resamples=20)
    doc = {"schema_version": "1.0", "provenance": {}, **out}
    html = write_report(tmp_path, doc).read_text()
    assert "n/a" in html and "None" not in html


def test_analysis_benchmark_table_follows_the_contract_and_builds_results(tmp_path):
    import importlib.util

    from emoaudit.analysis.results import build_results

    path = Path(__file__).parents[2] / "benchmarks/analysis.py"
    spec = importlib.util.spec_from_file_location("benchmark_analysis", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    df = bench.predictions(3000, subjects=True)
    for col in ("sample_id", "subject_id", "model_sha256", "condition", "status", "reason"):
        assert col in df
    assert (df.groupby("subject_id")["attr_race"].nunique() == 1).all()
    df.to_parquet(tmp_path / "predictions.parquet", index=False)
    out = build_results(tmp_path, n_resamples=20)
    res = out["results"][0]
    assert res["resampling"]["unit"] == "subject_id" and set(res["groups"]) == {
        "gender",
        "race",
        "age",
    }
    assert res["data"]["n_evaluated"] == (df["status"] == "ok").sum()


def test_results_are_per_split_and_pooled_only_when_asked():
    import pandas as pd

    df = synth.predictions(400, seed=5)
    df["split"] = np.where(np.arange(400) % 2 == 0, "PublicTest", "PrivateTest")
    out = analyze(df, n_resamples=20)
    assert [(r["split"], r["data"]["n_rows"]) for r in out["results"]] == [
        ("PrivateTest", 200), ("PublicTest", 200)
    ]  # fmt: skip
    assert out["statistics"]["splits"] == {"pooled": False, "names": ["PrivateTest", "PublicTest"]}
    public = df[df["split"] == "PublicTest"]
    acc = (public["pred"] == public["label"])[public["status"] == "ok"].mean()
    assert out["results"][1]["headline"]["accuracy"]["value"] == pytest.approx(acc)
    pooled = analyze(df, n_resamples=20, pool_splits=True)
    assert [(r["split"], r["data"]["n_rows"]) for r in pooled["results"]] == [(None, 400)]
    assert pooled["statistics"]["splits"]["pooled"] is True
    no_split = analyze(pd.DataFrame(df.drop(columns="split")), n_resamples=20)
    assert [r["split"] for r in no_split["results"]] == [None]


def test_labels_the_model_cannot_output_are_counted_and_left_out_of_end_to_end():
    df = synth.predictions(300, seed=6)  # prob_contempt is all null: a 7-class model
    contempt = df.index[:20]
    df.loc[contempt, "label"] = "contempt"
    df.loc[contempt[:12], "status"] = "unmapped_label"  # what run/predict.py writes
    df.loc[contempt[12:], ["status", "pred"]] = ["no_face", None]  # missed contempt faces
    res = analyze(df, n_resamples=20)["results"][0]
    dropped = res["data"]["label_not_emitted"]
    assert dropped["n"] == 20 and dropped["by_label"] == {"contempt": 20}
    assert "cannot output" in dropped["rule"]
    e2e = df[df["label"] != "contempt"]
    e2e = e2e[e2e["status"].isin(["ok", "no_face", "unreadable"])]
    hit = ((e2e["status"] == "ok") & (e2e["pred"] == e2e["label"])).mean()
    assert res["end_to_end"]["n"] == len(e2e)
    assert res["end_to_end"]["value"] == pytest.approx(hit)


def test_few_subject_clusters_earn_a_warning_and_twenty_do_not():
    few = analyze(synth.predictions(300, subjects=10), n_resamples=20)["results"][0]
    assert few["resampling"]["n_units"] == 10
    assert few["warnings"] == [
        "intervals resample only 10 subjects (fewer than 20): they are widened for so few "
        "clusters, and remain rough"
    ]
    assert few["resampling"]["percentile_level"] == pytest.approx(0.98290, abs=1e-5)
    enough = analyze(synth.predictions(300, subjects=20), n_resamples=20)["results"][0]
    assert enough["warnings"] == []
    no_subjects = analyze(synth.predictions(300), n_resamples=20)["results"][0]
    assert no_subjects["warnings"] == []


def test_accounting_counts_rows_without_any_label_apart_from_unusable_ones():
    import pandas as pd

    from emoaudit.analysis.summary import accounting

    part = pd.DataFrame(
        {
            "status": ["ok", "ok", "unreadable", "bad_input", "ok"],
            "raw_label": [None, " ", "3", "happy", "happy"],
            "label": [None, None, None, None, "happy"],
            "pred": ["sad", "happy", None, None, "happy"],
        }
    )
    acc = accounting(part)
    assert acc["n_unlabelled"] == 2  # the unreadable and bad rows had labels
    assert acc["n_labelled"] == 1 and acc["n_evaluated"] == 1


def test_rows_without_probabilities_are_named_not_dropped_in_silence():
    """Calibration used 25 of 45 rows with no word of the other 20."""
    from emoaudit.analysis.summary import SOME_WITHOUT_PROBABILITIES

    df = synth.predictions(200, seed=7)
    prob = [c for c in df if c.startswith("prob_")]
    ok = df.index[df["status"] == "ok"][:30]
    df.loc[ok, prob] = np.nan
    (res,) = analyze(df, n_resamples=20)["results"]
    n = res["data"]["n_evaluated"]
    assert res["calibration"]["log_loss"]["n"] == n - 30
    assert SOME_WITHOUT_PROBABILITIES.format(n=n - 30, total=n, missing=30) in res["warnings"]


def test_chance_counts_the_labels_the_faces_carry_not_the_models_answers():
    """Two-class data, a model answering five labels: chance was 1/5 and moved with the
    model's answers from condition to condition; guessing between the two scores 1/2."""
    from emoaudit.analysis.summary import baselines

    labels = ["anger", "fear", "happy", "sad", "surprise"]  # true labels and predictions
    true_idx = np.array([2, 3, 2, 3, 2, 2])
    base = baselines(true_idx, labels, {"ci_low": 0.55}, kappa={"ci_low": 0.05})
    assert base["k"] == 2 and base["chance"] == 0.5
    assert base["majority"] == pytest.approx(4 / 6) and base["majority_label"] == "happy"
    assert base["distinguishable_from_chance"] is True and base["above_majority"] is False


def test_the_chance_verdict_needs_kappa_above_zero_too():
    """An accuracy interval above 1/k is not enough: answers that ignore the face score above
    1/k on imbalanced labels. Kappa's interval must clear 0 as well; without one, nothing
    backs the verdict and the model is not called better than chance."""
    from emoaudit.analysis.summary import baselines

    labels, true_idx = ["happy", "sad"], np.array([0, 0, 0, 1])
    told = [
        baselines(true_idx, labels, {"ci_low": 0.6}, kappa=kappa)["distinguishable_from_chance"]
        for kappa in ({"ci_low": 0.0}, {"ci_low": 1e-12}, {"ci_low": None}, None)
    ]
    assert told == [False, False, False, False]
    assert (
        baselines(true_idx, labels, {"ci_low": 0.4}, kappa={"ci_low": 0.2})[
            "distinguishable_from_chance"
        ]
        is False
    )  # clear kappa, accuracy not above 1/2
    assert baselines(true_idx, labels, {"ci_low": None})["distinguishable_from_chance"] is None


def test_always_the_common_label_is_never_told_apart_from_chance_end_to_end():
    """analyze() on 70/30 labels and a model that always answers the common label: its 70% is
    far above 1/2, and the old rule called it better than chance every time."""
    import pandas as pd

    from emoaudit.report.executive import headline_sentence

    rng = np.random.default_rng(3)
    t = np.where(rng.random(300) < 0.7, "happy", "sad")
    df = pd.DataFrame({
        "sample_id": [f"s{i}" for i in range(300)], "subject_id": None, "dataset": "d",
        "split": "test", "model": "m", "model_sha256": "x", "condition": "clean",
        "status": "ok", "reason": "", "label": t, "pred": "happy",
    })  # fmt: skip
    (res,) = analyze(df, n_resamples=200)["results"]
    base = res["baselines"]
    assert base["above_chance"] is True and base["kappa_above_zero"] is False
    assert base["distinguishable_from_chance"] is False
    assert "not shown to beat answers that ignore the face" in headline_sentence(res)


LABELS7 = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FER2013_MIX = [0.14, 0.015, 0.14, 0.25, 0.17, 0.11, 0.175]  # roughly FER2013's test labels


def _chance_verdicts(rng, *, share, answers, n, runs, skill=0.0, other=0.0):
    """How often the chance verdict calls a model better than answers that ignore the face.

    n faces with labels drawn from `share` (over LABELS7); the model answers the true label
    with probability `skill`, otherwise draws from `answers` without looking at the face (with
    probability `other` one of 3 labels the data lacks). The verdict is made by
    summary.headline on the slice's resampled confusion counts, as analyze_slice calls it
    (analyze() itself costs ~0.1 s a run in pandas bookkeeping; the end-to-end wiring is
    tested above)."""
    from emoaudit.analysis import metrics as M
    from emoaudit.analysis.bootstrap import BootstrapSpec, Resampled
    from emoaudit.analysis.summary import headline

    k = len(share)
    told = 0
    for _ in range(runs):
        t = rng.choice(k, n, p=share)
        guess = rng.choice(len(answers), n, p=answers)
        guess = np.where(rng.random(n) < other, k + rng.integers(0, 3, n), guess)
        p = np.where(rng.random(n) < skill, t, guess)
        present, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
        t, p = codes[:n], codes[n:]  # labels present in the slice, as analyze encodes them
        spec = BootstrapSpec(n_resamples=400, seed=int(rng.integers(1 << 31)))
        res = Resampled(M.confusion_features(t, p, len(present)), spec=spec, strata=t)
        _, base = headline(res, t, p, [LABELS7[i] for i in present])
        told += bool(base["distinguishable_from_chance"])
    return told / runs


@pytest.mark.slow
def test_chance_verdict_false_finding_rate_and_power():
    """The headline's "(on this data, not shown to beat answers that ignore the face)" is left
    off only when the accuracy interval clears 1/k and kappa's interval clears 0. Every model
    whose answers ignore the face is a null: uniform guessing on balanced 2 and 7 labels,
    always the common label and 70/30 guessing on 70/30 labels, always 'happy' on a FER2013-like
    mix. The first rule alone (accuracy above 1/k) called the last three better than chance
    100%, 55% and 100% of the time. False findings stay at the one-sided 2.5% plus 3 Monte
    Carlo standard errors; a model with kappa 0.2 on 70/30 labels (accuracy 66%, below the 70%
    of always answering the common label) and one 15 points above chance on 2 labels are found
    in at least 80% and 90% of runs. A guesser that now and then answers labels the data lacks
    scores under 1/2; with k counting its answers (chance 1/5) it was called better than
    chance."""
    rng = np.random.default_rng(17)

    def bound(runs):
        return 0.025 + 3 * np.sqrt(0.025 * 0.975 / runs)

    nulls = {  # share, answers, n, runs
        "uniform on 2 balanced labels": ([0.5, 0.5], [0.5, 0.5], 200, 200),
        "uniform on 7 balanced labels": ([1 / 7] * 7, [1 / 7] * 7, 200, 120),
        "always the common label, 70/30": ([0.7, 0.3], [1.0, 0.0], 200, 40),
        "70/30 answers at random, 70/30": ([0.7, 0.3], [0.7, 0.3], 200, 200),
        "always happy, FER2013 mix": (FER2013_MIX, [0, 0, 0, 1, 0, 0, 0], 500, 40),
    }
    for name, (share, answers, n, runs) in nulls.items():
        rate = _chance_verdicts(rng, share=share, answers=answers, n=n, runs=runs)
        assert rate <= bound(runs), (name, rate)
    # kappa 0.2: the true label with probability 0.2, else a 70/30 guess (answers stay 70/30)
    kappa = _chance_verdicts(rng, share=[0.7, 0.3], answers=[0.7, 0.3], n=300, runs=60, skill=0.2)
    assert kappa >= 0.8
    power = _chance_verdicts(rng, share=[0.5, 0.5], answers=[0.5, 0.5], n=200, runs=40, skill=0.3)
    assert power >= 0.9  # accuracy 0.65 against chance 0.5 on 200 faces
    wide = _chance_verdicts(rng, share=[0.5, 0.5], answers=[0.5, 0.5], n=200, runs=40, other=0.1)
    assert wide == 0.0  # accuracy 0.45: with chance at 1/5 this was 'better than chance'
