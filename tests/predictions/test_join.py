"""The join of saved outputs with a dataset: every sample a row, every problem counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from emoaudit.cli import app
from emoaudit.data.base import Sample
from emoaudit.errors import EmoauditError
from emoaudit.predictions.base import Face
from emoaudit.predictions.join import (
    DUPLICATE,
    NO_OUTPUT,
    NO_OUTPUT_REASON,
    UNMATCHED,
    choose_face,
    sample_keys,
)
from emoaudit.run.audit import PREDICTIONS_WITH_MODEL, AuditRequest, run_audit

LABELS7 = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _fer_rows(n: int, *, seed: int = 0) -> list[tuple[int, str]]:
    """FER2013 rows with small constant images: the join never decodes them."""
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(0, 7)), " ".join(["128"] * 2304)) for _ in range(n)]


def _fer_csv(path: Path, n: int, *, seed: int = 0) -> tuple[Path, list[str]]:
    rows = _fer_rows(n, seed=seed)
    with open(path, "w") as fh:
        fh.write("emotion,pixels,Usage\n")
        for code, pixels in rows:
            fh.write(f"{code},{pixels},PrivateTest\n")
    return path, [LABELS7[code] for code, _ in rows]


def _audit(data: Path, out: Path, predictions: Path, **kw):
    req = AuditRequest(data=data, out=out, models=[], predictions=predictions, n_resamples=20, **kw)
    return run_audit(req)


def test_every_sample_gets_a_row_and_every_problem_is_counted_with_its_line(tmp_path):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 12)
    preds = tmp_path / "vendor.csv"
    lines = ["sample_id,pred,happy,sad,neutral"]
    lines += [f"row{i},{labels[i]},0.2,0.3,0.5" for i in range(10)]  # row10, row11: no output
    lines += ["row3,happy,0.9,0.05,0.05", "row99,sad,0.1,0.8,0.1", "row4,sad,lots,0.8,0.1"]
    preds.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    results = _audit(data, out, preds)
    df = pd.read_parquet(out / "predictions.parquet")
    assert df.sample_id.tolist() == [f"row{i}" for i in range(12)]
    assert df.model.unique().tolist() == ["vendor"]
    assert df.status.tolist() == ["ok"] * 10 + [NO_OUTPUT] * 2
    assert df.reason.iloc[10] == NO_OUTPUT_REASON.format(sample="row10", file=preds)
    assert df.pred.iloc[:10].tolist() == labels[:10]  # the first row3 is kept, not the duplicate
    assert df.output_at.iloc[3] == f"{preds}:5"
    acc = results["provenance"]["predictions_import"]
    assert {k: acc[k] for k in acc if k.startswith("n_")} == {
        "n_records": 12, "n_matched": 10, "n_samples_without_output": 2,
        "n_outputs_without_sample": 1, "n_duplicates": 1, "n_malformed": 1, "n_bad_outputs": 0,
        "n_not_probabilities": 0,
    }  # fmt: skip
    assert DUPLICATE.format(where=f"{preds}:12", key="row3", first=f"{preds}:5") in acc["problems"]
    assert UNMATCHED.format(where=f"{preds}:13", key="row99") in acc["problems"]
    assert any(p.startswith(f"{preds}:14: score for 'happy'") for p in acc["problems"])
    [result] = results["results"]
    assert result["data"]["n_by_status"]["no_output"] == 2
    assert result["data"]["n_evaluated"] == 10  # the system's labels: every `pred` it wrote
    assert result["model"] == "vendor"


def test_labels_the_system_cannot_emit_are_unmapped_not_scored(tmp_path):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 30)
    preds = tmp_path / "p.csv"
    preds.write_text("sample_id,happy,sad\n" + "".join(f"row{i},0.6,0.4\n" for i in range(30)))
    results = _audit(data, tmp_path / "out", preds, model_name="two-labels")
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    other = ~df.label.isin(["happy", "sad"])
    assert (df.status[other] == "unmapped_label").all() and (df.status[~other] == "ok").all()
    assert df.reason[other].str.contains("is not in the label set of model 'two-labels'").all()
    assert (df.pred == "happy").all()  # the argmax of the scores
    assert results["results"][0]["calibration"]["labels"] == ["happy", "sad"]


def test_partial_scores_are_not_read_as_probabilities(tmp_path):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 6)
    preds = tmp_path / "p.csv"
    rows = "".join(f"row{i},{labels[i]},0.7\n" for i in range(6))
    preds.write_text("sample_id,pred,happy\n" + rows)
    results = _audit(data, tmp_path / "out", preds)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert "score_happy" in df and not any(c.startswith("prob_") for c in df)
    assert results["provenance"]["predictions_import"]["probabilities"] is False
    assert "calibration" not in results["results"][0]


def test_non_canonical_outputs_stay_their_own_value_and_count_as_wrong(tmp_path):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 60)
    preds = tmp_path / "p.jsonl"
    with open(preds, "w") as fh:
        for i in range(60):
            top = "CALM" if i < 4 else labels[i]
            fh.write(json.dumps({"sample_id": f"row{i}", "pred": top}) + "\n")
    results = _audit(data, tmp_path / "out", preds)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert df.pred.tolist()[:4] == ["calm"] * 4
    assert (df.status == "ok").all()  # the other rows name all seven labels
    acc = results["provenance"]["predictions_import"]
    assert acc["non_canonical_predictions"] == {"calm": 4}
    [result] = results["results"]
    scored = df[df.status == "ok"]
    assert result["headline"]["accuracy"]["value"] == pytest.approx(
        (scored.pred == scored.label).mean()
    )
    assert "calm" in result["confusion"]["labels"]


def test_rotated_labels_in_imported_outputs_are_flagged(tmp_path):
    """A system trained on alphabetical folders, read with FER2013 codes (issue 13, item 5)."""
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 120, seed=3)
    alphabetical = sorted(LABELS7)  # anger disgust fear happy neutral sad surprise
    misread = dict(zip(alphabetical, LABELS7, strict=True))
    rng = np.random.default_rng(0)
    preds = tmp_path / "rotated.csv"
    with open(preds, "w") as fh:
        fh.write("sample_id,pred\n")
        for i, lab in enumerate(labels):
            said = lab if rng.random() < 0.8 else LABELS7[int(rng.integers(0, 7))]
            fh.write(f"row{i},{misread[said]}\n")
    results = _audit(data, tmp_path / "out", preds)
    check = results["results"][0]["label_order_check"]
    assert check["suspect"] is True
    assert check["remap"] == {"sad": "neutral", "surprise": "sad", "neutral": "surprise"}


def test_face_choice_box_match_then_largest():
    small = Face(scores={"HAPPY": 0.9}, box=(0.1, 0.1, 0.2, 0.2), box_units="ratio")
    big = Face(scores={"SAD": 0.9}, box=(0.4, 0.4, 0.9, 0.9), box_units="ratio")
    pixels = np.zeros((200, 100), np.uint8)  # 100 wide, 200 high
    at_small = Sample("s", "d", pixels=pixels, face_box=(10, 20, 20, 40))
    assert choose_face([small, big], at_small) == (small, "box_match")
    assert choose_face([small, big], Sample("s", "d", pixels=pixels)) == (big, "largest")
    nowhere = Sample("s", "d", pixels=pixels, face_box=(0, 190, 5, 199))
    assert choose_face([small, big], nowhere) == (big, "largest")
    assert choose_face([small], nowhere) == (small, "only")


def test_a_sample_is_found_by_id_path_relative_path_or_stem(tmp_path):
    sample = Sample("happy/01.jpg", "folders", path=str(tmp_path / "happy" / "01.jpg"))
    keys = sample_keys(sample, tmp_path)
    assert keys[0] == "happy/01.jpg" and str(tmp_path / "happy" / "01.jpg") in keys
    assert "happy/01" in keys


def test_vendor_folder_joins_image_folders_and_states_the_face_rule(dataset, examples, tmp_path):
    results = _audit(
        dataset, tmp_path / "out", examples / "rekognition", predictions_format="rekognition",
        model_name="rekognition",
    )  # fmt: skip
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet").set_index("sample_id")
    assert df.loc["happy/01.jpg", "pred"] == "happy"
    assert df.loc["sad/02.jpg", "pred"] == "calm"  # the larger of two faces: CALM 71.5
    assert df.loc["sad/02.jpg", "face_rule"] == "largest"
    assert df.loc["anger/04.jpg", "status"] == NO_OUTPUT
    assert df.loc["neutral/03.jpg", "status"] == "no_output"  # no response file for it
    acc = results["provenance"]["predictions_import"]
    assert acc["face_rule"] == {"largest": 1, "only": 1}
    assert acc["labels"] == ["happy", "sad", "surprise", "fear", "disgust", "anger"]


def test_predictions_and_model_together_are_refused(tmp_path):
    data, _ = _fer_csv(tmp_path / "fer2013.csv", 2)
    req = AuditRequest(
        data=data, out=tmp_path / "o", models=["fer-mini-xception"], predictions=data
    )
    with pytest.raises(EmoauditError) as err:
        run_audit(req)
    assert str(err.value) == PREDICTIONS_WITH_MODEL


def test_cli_audits_saved_outputs_and_reports_the_join(tmp_path):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 10)
    preds = tmp_path / "out.jsonl"
    preds.write_text(
        "".join(json.dumps({"sample_id": f"row{i}", "pred": labels[i]}) + "\n" for i in range(9))
        + "{not json\n"
    )
    out = tmp_path / "out"
    args = ["audit", str(data), "--predictions", str(preds), "--predictions-format", "jsonl",
            "--model-name", "vendor-x", "--out", str(out), "--resamples", "20"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Outputs of 'vendor-x' were imported from out.jsonl" in result.output
    html = (out / "report.html").read_text()
    assert "1 samples had no output" in html and f"{preds}:10: not valid JSON" in html
    args[args.index("jsonl")] = "rekognitoin"
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "did you mean 'rekognition'" in bad.output


def test_outputs_keyed_by_another_machines_path_or_an_s3_uri_are_found(dataset, tmp_path):
    preds = tmp_path / "p.jsonl"
    rows = [
        {"path": "s3://bucket/audit/photos/happy/01.jpg", "pred": "happy"},
        {"path": "/home/someone/photos/sad/02.jpg", "pred": "sad"},
        {"path": "C:\\data\\neutral\\03.jpg", "pred": "neutral"},
        {"path": "/a/anger/04.jpg", "pred": "anger"},
        {"path": "/b/anger/04.jpg", "pred": "happy"},  # two outputs end the same way: ambiguous
    ]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = _audit(dataset, tmp_path / "out", preds)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet").set_index("sample_id")
    assert df.pred.dropna().to_dict() == {
        "happy/01.jpg": "happy", "neutral/03.jpg": "neutral", "sad/02.jpg": "sad",
    }  # fmt: skip
    assert df.loc["anger/04.jpg", "status"] == NO_OUTPUT
    assert results["provenance"]["predictions_import"]["n_outputs_without_sample"] == 2


def test_ratio_boxes_are_matched_with_the_image_size_read_from_its_header(tmp_path):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((100, 400, 3), np.uint8)).save(path)  # 400 wide, 100 high
    left = Face(scores={"HAPPY": 0.9}, box=(0.0, 0.0, 0.25, 1.0), box_units="ratio")
    right = Face(scores={"SAD": 0.9}, box=(0.5, 0.0, 1.0, 1.0), box_units="ratio")
    at_left = Sample("s", "affectnet", path=str(path), face_box=(0, 0, 100, 100))
    assert choose_face([left, right], at_left) == (left, "box_match")
    unreadable = Sample("s", "affectnet", path=str(tmp_path / "gone.png"), face_box=(0, 0, 9, 9))
    assert choose_face([left, right], unreadable) == (right, "largest")


@pytest.mark.parametrize("case", ["no_format", "conditions", "missing"])
def test_unusable_requests_are_refused_in_one_line(tmp_path, case):
    from emoaudit.errors import MISSING_PATH
    from emoaudit.predictions import PREDICTION_FORMATS
    from emoaudit.run.audit import IMPORTED_CLEAN_ONLY, PREDICTIONS_FORMAT_NEEDED

    data, _ = _fer_csv(tmp_path / "fer2013.csv", 2)
    preds = tmp_path / "outputs.json"
    preds.write_text("{}")
    kw: dict = {}
    expected = PREDICTIONS_FORMAT_NEEDED.format(
        path=preds, known=", ".join(PREDICTION_FORMATS.names())
    )
    if case == "conditions":
        kw, expected = (
            {"predictions_format": "rekognition", "conditions": "jpeg"},
            IMPORTED_CLEAN_ONLY,
        )
    if case == "missing":
        preds = tmp_path / "gone.csv"
        expected = MISSING_PATH.format(path=preds)
    with pytest.raises(EmoauditError) as err:
        _audit(data, tmp_path / "out", preds, **kw)
    assert str(err.value) == expected


def _scored_csv(path: Path, rows: list[list[float]]) -> Path:
    lines = ["sample_id," + ",".join(f"prob_{x}" for x in LABELS7)]
    lines += [f"row{i}," + ",".join(map(str, r)) for i, r in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("kind", ["logits", "sum_0.01", "sum_5"])
def test_scores_that_are_not_probabilities_are_kept_as_scores_and_never_calibrated(tmp_path, kind):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 30)
    rng = np.random.default_rng(1)
    onehot = np.eye(7)[[LABELS7.index(x) for x in labels]] * 0.6 + 0.4 / 7  # sums to 1
    scores = {"logits": np.log(onehot), "sum_0.01": onehot / 100, "sum_5": onehot * 5}[kind]
    scores[:5] = rng.dirichlet(np.ones(7), 5)  # some rows are fine: one bad row is enough
    preds = _scored_csv(tmp_path / "p.csv", scores.tolist())
    results = _audit(data, tmp_path / "out", preds)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert not any(c.startswith("prob_") for c in df) and "score_happy" in df
    assert df.pred[5:].tolist() == labels[5:]  # top-1 from the argmax still works
    acc = results["provenance"]["predictions_import"]
    assert acc["probabilities"] is False and acc["n_not_probabilities"] == 25
    assert acc["probabilities_reason"].startswith("Scores are not probabilities: 25 of 30 scored")
    assert f"(first: {preds}:7: " in acc["probabilities_reason"]
    assert acc["notes"] == acc["probabilities_reason"]  # what the report's banner shows
    [result] = results["results"]
    assert "calibration" not in result and result["headline"]["accuracy"]["n"] == 30


def test_rounded_probabilities_and_deepface_percentages_are_probabilities(
    tmp_path, dataset, examples
):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 30)
    rng = np.random.default_rng(2)
    rounded = np.round(rng.dirichlet(np.ones(7), 30), 2)  # sums drift up to +-0.035
    assert np.abs(rounded.sum(1) - 1).max() > 0.005
    results = _audit(data, tmp_path / "out", _scored_csv(tmp_path / "p.csv", rounded.tolist()))
    assert results["provenance"]["predictions_import"]["probabilities"] is True
    assert "calibration" in results["results"][0]
    deepface = _audit(
        dataset, tmp_path / "o2", examples / "deepface.jsonl", predictions_format="deepface"
    )
    acc = deepface["provenance"]["predictions_import"]
    assert acc["probabilities"] is True and acc["probabilities_reason"] is None


def test_a_nan_score_makes_its_sample_bad_output_with_the_line(tmp_path):
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 8)
    rows = np.full((8, 7), 1 / 7)
    rows[2, 3] = np.nan
    rows[5, 0] = np.inf
    preds = _scored_csv(tmp_path / "p.csv", rows.tolist())
    results = _audit(data, tmp_path / "out", preds)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert (
        df.status.tolist() == ["ok"] * 2 + ["bad_output"] + ["ok"] * 2 + ["bad_output"] + ["ok"] * 2
    )
    assert df.reason[2] == f"{preds}:4: score for 'happy' is NaN"
    assert df.reason[5] == f"{preds}:7: score for 'anger' is inf"
    assert df.pred[[2, 5]].isna().all()
    acc = results["provenance"]["predictions_import"]
    assert acc["n_bad_outputs"] == 2 and acc["n_malformed"] == 0 and acc["probabilities"] is True
    assert results["results"][0]["data"]["n_by_status"]["bad_output"] == 2


def test_a_file_with_no_usable_output_stops_the_run_in_one_line(tmp_path):
    from emoaudit.predictions.join import NO_OUTPUTS_IN_FILE

    data, _ = _fer_csv(tmp_path / "fer2013.csv", 4)
    preds = tmp_path / "p.csv"
    preds.write_text("sample_id,pred,prob_happy\n")
    with pytest.raises(EmoauditError) as err:
        _audit(data, tmp_path / "out", preds)
    assert str(err.value) == NO_OUTPUTS_IN_FILE.format(file=preds, malformed=0, first="")
    preds.write_text("sample_id,pred\nrow0,happy,extra\n")
    args = ["audit", str(data), "--predictions", str(preds), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"{preds}: no outputs in it (1 malformed records); first problem: {preds}:2: " in (
        result.output
    )
    preds.write_text("sample_id,pred,prob_happy\nrow0,,nan\nrow99,happy,\n")  # NaN, or no match
    with pytest.raises(EmoauditError) as err:
        _audit(data, tmp_path / "out", preds)
    assert str(err.value).startswith(f"{preds}: none of its 2 outputs can be scored for a sample")


def test_a_dataset_file_name_that_is_not_utf8_does_not_stop_the_import(tmp_path):
    """As in the runner: such a name reached pyarrow as lone surrogates and ended the run."""
    import os

    import cv2

    face = np.full((48, 48), 90, dtype=np.uint8)
    for name in (b"happy/a.jpg", b"happy/caf\xe9.jpg"):
        path = os.path.join(os.fsencode(tmp_path / "data"), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imencode(".jpg", face)[1].tofile(path)
    preds = tmp_path / "vendor.csv"
    preds.write_text("path,pred\nhappy/a.jpg,happy\n")
    out = tmp_path / "out"
    _audit(tmp_path / "data", out, preds, fmt="folders")
    df = pd.read_parquet(out / "predictions.parquet").set_index("sample_id")
    assert df.loc["happy/a.jpg", "status"] == "ok"
    assert df.loc["happy/caf\\xe9.jpg", "status"] == NO_OUTPUT
    assert "happy/caf\\xe9.jpg: no output" in df.loc["happy/caf\\xe9.jpg", "reason"]


def test_a_vendor_label_beside_its_scores_is_kept_and_passes_the_contract(tmp_path):
    """The prediction is the system's stated `pred`, else its top score: a vendor whose label
    is not the top of its own probabilities is audited as it answered (the contract's argmax
    check is for tables emoaudit's runner writes), and an answer with no canonical name stays
    its own lower-cased value."""
    data, labels = _fer_csv(tmp_path / "fer2013.csv", 12)
    rng = np.random.default_rng(4)
    proba = np.round(rng.dirichlet(np.ones(7), 12), 3)
    said = [LABELS7[(int(p.argmax()) + 1) % 7] if i % 3 == 0 else labels[i]
            for i, p in enumerate(proba)]  # fmt: skip
    said[1] = "Excited"
    lines = ["sample_id,pred," + ",".join(f"prob_{x}" for x in LABELS7)]
    lines += [f"row{i},{said[i]}," + ",".join(map(str, p)) for i, p in enumerate(proba)]
    preds = tmp_path / "vendor.csv"
    preds.write_text("\n".join(lines) + "\n")
    results = _audit(data, tmp_path / "out", preds)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert df.pred.tolist() == [s.lower() for s in said]
    acc = results["provenance"]["predictions_import"]
    assert acc["probabilities"] is True and acc["non_canonical_predictions"] == {"excited": 1}
    assert "calibration" in results["results"][0]


def test_scores_are_checked_in_batches_each_record_counted_once(tmp_path, monkeypatch):
    from emoaudit.predictions import deepface, join

    fine = {"angry": 10, "disgust": 10, "fear": 10, "happy": 40, "sad": 10, "surprise": 10,
            "neutral": 10}  # fmt: skip
    logits = {k: v * 3 for k, v in fine.items()}  # sums to 300%
    faces = [[fine], [fine, logits], [logits, logits], [fine], [fine, fine], [logits], [fine]]
    path = tmp_path / "deepface.jsonl"
    with open(path, "w") as fh:
        for i, group in enumerate(faces):
            results = [{"emotion": e, "dominant_emotion": "happy"} for e in group]
            fh.write(json.dumps({"img_path": f"{i}.jpg", "results": results}) + "\n")
    seen = []
    for batch in (1, 2, 3, 4096):
        monkeypatch.setattr(join, "CHECK_BATCH", batch)
        index = join.read_index(deepface, path)
        seen.append((index.n_scored, index.n_not_probabilities, index.first_not_probability))
    assert seen == [(7, 3, f"{path}:2: score for 'happy' is 1.2, outside [0, 1]")] * 4


@pytest.mark.parametrize(("calm", "calibrated"), [(20.0, False), (2.0, True)])
def test_rekognition_scores_are_probabilities_only_if_the_canonical_ones_sum_to_1(
    dataset, tmp_path, calm, calibrated
):
    """The nine Rekognition emotions sum to 100, but only the six with a canonical name become
    prob_ columns: with CALM at 20% they sum to 0.78, which the predictions contract refuses, so
    the audit stopped after the import. Such scores are now kept as score_ columns."""
    types = ["HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "UNKNOWN",
             "FEAR"]  # fmt: skip
    path = tmp_path / "rekognition.jsonl"
    with open(path, "w") as fh:
        for name in ("happy/01.jpg", "sad/02.jpg", "neutral/03.jpg", "anger/04.jpg"):
            conf = dict.fromkeys(types, 1.0) | {"CALM": calm, "HAPPY": 93.0 - calm}
            emotions = [{"Type": t, "Confidence": c} for t, c in conf.items()]
            fh.write(json.dumps({"image": name, "FaceDetails": [{"Emotions": emotions}]}) + "\n")
    results = _audit(dataset, tmp_path / "out", path, predictions_format="rekognition")
    acc = results["provenance"]["predictions_import"]
    assert acc["probabilities"] is calibrated
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert ("prob_happy" in df) is calibrated and ("score_happy" in df) is not calibrated
    if not calibrated:
        assert acc["n_not_probabilities"] == 4
        assert acc["probabilities_reason"].startswith(
            f"Scores are not probabilities: 4 of 4 scored records are not (first: {path}:1 (the "
            "labels with a canonical name, without confused, calm, unknown): scores sum to 0.78, "
        )
