"""compare(): matrix from results.json, paired tests on shared samples, generalisation."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from report_fixtures import RESAMPLES, make_predictions

from emoaudit.errors import EmoauditError
from emoaudit.report.compare import compare


def _audit_dir(path, df):
    from emoaudit.analysis.summary import analyze

    path.mkdir()
    df.to_parquet(path / "predictions.parquet")
    res = {"schema_version": "1.0", "provenance": {}, **analyze(df, n_resamples=RESAMPLES)}
    (path / "results.json").write_text(json.dumps(res))
    return path


@pytest.fixture(scope="module")
def two_audits(tmp_path_factory):
    df = make_predictions(n=300)
    df = df[df["condition"] == "clean"]
    root = tmp_path_factory.mktemp("audits")
    a = _audit_dir(root / "a", df[df["model"] == "model-a"].assign(dataset="fer2013"))
    b = _audit_dir(root / "b", df[df["model"] == "model-b"].assign(dataset="fer2013"))
    other = df[df["model"] == "model-a"].assign(dataset="rafdb")
    c = _audit_dir(root / "c", other)
    return [a, b, c]


def test_matrix_paired_and_generalisation(two_audits, tmp_path):
    out = compare(
        two_audits,
        out=tmp_path,
        trained_on={"model-a": "fer2013"},
        n_resamples=RESAMPLES,
    )
    assert {(r["model"], r["dataset"]) for r in out["matrix"]} == {
        ("model-a", "fer2013"),
        ("model-b", "fer2013"),
        ("model-a", "rafdb"),
    }
    (pair,) = out["paired"]
    assert pair["models"] == ["model-a", "model-b"] and pair["dataset"] == "fer2013"
    # Hand check against the predictions: the difference is the shared-sample accuracy gap.
    a = pd.read_parquet(two_audits[0] / "predictions.parquet").query("status == 'ok'")
    b = pd.read_parquet(two_audits[1] / "predictions.parquet").query("status == 'ok'")
    shared = a.merge(b, on="sample_id", suffixes=("_a", "_b"))
    assert pair["n_shared"] == len(shared)
    assert pair["accuracy"][0] == pytest.approx((shared["pred_a"] == shared["label_a"]).mean())
    assert pair["b"] == int(
        ((shared["pred_a"] == shared["label_a"]) & (shared["pred_b"] != shared["label_b"])).sum()
    )
    diff = pair["difference"]
    assert diff["value"] == pytest.approx(pair["accuracy"][0] - pair["accuracy"][1])
    assert diff["ci_low"] < diff["value"] < diff["ci_high"]
    assert pair["p_value"] < 0.05  # 0.70 vs 0.55 on 300 faces
    assert pair["p_holm"] >= pair["p_value"]
    domains = {(r["model"], r["dataset"]): r["domain"] for r in out["generalisation"]}
    assert domains[("model-a", "fer2013")] == "in"
    assert domains[("model-a", "rafdb")] == "out"
    assert domains[("model-b", "fer2013")] == "unknown"
    assert (tmp_path / "compare.json").is_file()
    html = (tmp_path / "compare.html").read_text()
    assert "<script" not in html and "Paired comparisons" in html


def test_missing_results_is_one_line(tmp_path):
    with pytest.raises(EmoauditError, match="no results.json here"):
        compare([tmp_path], out=tmp_path / "out")


def test_a_folder_given_twice_is_read_once(two_audits, tmp_path):
    once = compare(two_audits[:2], out=tmp_path / "once", n_resamples=RESAMPLES)
    twice = compare([*two_audits[:2], two_audits[0]], out=tmp_path / "twice", n_resamples=RESAMPLES)
    assert twice["paired"] == once["paired"] and twice["matrix"] == once["matrix"]


def test_repeated_sample_ids_are_refused_not_dropped(tmp_path):
    """compare used to drop repeated ids silently, and its paired test ran on 10 of 200 rows."""
    from emoaudit.report.compare import DUPLICATE_ROWS

    df = make_predictions(n=200)
    df = df[(df["condition"] == "clean") & (df["model"] == "model-a")].assign(dataset="fer2013")
    df = df.assign(sample_id=[f"s{i % 10}" for i in range(len(df))])  # ten ids, 20 rows each
    a = _audit_dir(tmp_path / "a", df)
    with pytest.raises(EmoauditError) as exc:
        compare([a], out=tmp_path / "out", n_resamples=RESAMPLES)
    assert str(exc.value) == DUPLICATE_ROWS.format(
        path=a / "predictions.parquet", sample="s0", n=20, model="model-a", condition="clean"
    )


def test_one_model_audited_in_two_folders_is_two_entries(two_audits, tmp_path):
    """The same model name on the same dataset in two folders (say, before and after a fix):
    neither folder's rows may be dropped; each becomes its own entry, named by folder."""
    df = pd.read_parquet(two_audits[0] / "predictions.parquet")
    flipped = df.assign(pred=df["label"])  # the fixed model: right on every face
    fixed = _audit_dir(tmp_path / "fixed", flipped)
    out = compare([two_audits[0], fixed], out=tmp_path / "out", n_resamples=RESAMPLES)
    (pair,) = out["paired"]
    assert pair["models"] == sorted([f"model-a ({two_audits[0]})", f"model-a ({fixed})"])
    scored = df[(df.status == "ok") & df.label.notna() & df.pred.notna()]
    assert pair["n_shared"] == len(scored)
    assert 1.0 in pair["accuracy"]


def test_compare_understands_protocols(tmp_path):
    from emoaudit.analysis.sensitivity import protocol_summary
    from emoaudit.analysis.summary import analyze

    df = make_predictions(n=200)
    df = df[df["condition"].isin(["clean", "protocol:resize=area"])]
    path = tmp_path / "a"
    path.mkdir()
    df.to_parquet(path / "predictions.parquet")
    res = {"schema_version": "1.0", "provenance": {}, **analyze(df, n_resamples=RESAMPLES),
           "protocols": protocol_summary(df, n_resamples=RESAMPLES)}  # fmt: skip
    (path / "results.json").write_text(json.dumps(res))
    out = compare([path], out=tmp_path / "out", n_resamples=RESAMPLES)
    conditions = {(r["model"], r["condition"]) for r in out["matrix"]}
    assert ("model-a", "protocol:resize=area") in conditions
    assert [r["model"] for r in out["protocols"]] == ["model-a", "model-b"]
    first = res["protocols"]["results"][0]
    assert out["protocols"][0]["width"] == first["range"]["width"]
    assert all(p["condition"] == "clean" for p in out["paired"] if "condition" in p)
    html = (tmp_path / "out" / "compare.html").read_text()
    assert "Protocol sensitivity" in html and "No audit here was run" not in html
