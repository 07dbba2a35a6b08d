"""Google Cloud Vision faceAnnotations likelihoods (shape from the images:annotate reference)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from emoaudit.predictions import google_vision
from emoaudit.predictions.base import Problem
from emoaudit.run.audit import AuditRequest, run_audit


@pytest.mark.parametrize(
    "levels,expected",
    [
        ({"joy": 5, "sorrow": 1, "anger": 1, "surprise": 2}, "joy"),
        ({"joy": 2, "sorrow": 2, "anger": 1, "surprise": 1}, "none"),
        ({"joy": 4, "sorrow": 1, "anger": 4, "surprise": None}, "ambiguous"),
        ({"joy": None, "sorrow": None, "anger": None, "surprise": None}, "none"),
        ({"joy": 1, "sorrow": 3, "anger": None, "surprise": 1}, "sorrow"),
    ],
)
def test_prediction_is_the_top_level_none_below_possible_ambiguous_on_ties(levels, expected):
    assert google_vision.top_label(levels) == expected


def test_example_file_gives_levels_boxes_and_no_face(examples):
    records = list(google_vision.read(examples / "google-vision.jsonl"))
    assert [r.key for r in records] == [
        "happy/01.jpg",
        "sad/02.jpg",
        "neutral/03.jpg",
        "anger/04.jpg",
    ]
    happy = records[0].faces[0]
    assert happy.pred == "joy" and happy.scores == {}  # ordinal levels are not probabilities
    assert happy.extra == {
        "likelihood_happy": 5, "likelihood_sad": 1, "likelihood_anger": 1, "likelihood_surprise": 2
    }  # fmt: skip
    assert happy.box == (30, 20, 70, 75)
    assert records[1].faces[0].pred == "sorrow"
    assert records[2].faces[0].pred == "none"
    assert records[3].faces == []


def test_bad_likelihood_and_error_responses_are_problems(tmp_path):
    path = tmp_path / "v.jsonl"
    docs = [
        {"image": "a.jpg", "faceAnnotations": [{"joyLikelihood": "QUITE_LIKELY"}]},
        {"image": "b.jpg", "responses": [{"error": {"code": 3, "message": "Bad image data."}}]},
        {"image": "c.jpg", "responses": [{}, {}]},
    ]
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    items = list(google_vision.read(path))
    assert all(isinstance(i, Problem) for i in items)
    assert "joyLikelihood is 'QUITE_LIKELY'" in items[0].message
    assert items[1].message == google_vision.VISION_ERROR.format(
        where=f"{path}:2", message="Bad image data."
    )
    assert items[2].message == google_vision.MANY_RESPONSES.format(where=f"{path}:3", n=2)


def test_audit_has_four_labels_no_probabilities_and_says_so(dataset, examples, tmp_path):
    out = tmp_path / "out"
    req = AuditRequest(
        data=dataset, out=out, models=[], predictions=examples / "google-vision.jsonl",
        predictions_format="google-vision", n_resamples=20,
    )  # fmt: skip
    results = run_audit(req)
    df = pd.read_parquet(out / "predictions.parquet").set_index("sample_id")
    assert not any(c.startswith("prob_") for c in df.columns)
    assert (
        df.loc["happy/01.jpg", "pred"] == "happy"
        and df.loc["happy/01.jpg", "likelihood_happy"] == 5
    )
    assert df.loc["neutral/03.jpg", "status"] == "unmapped_label"  # Vision has no neutral
    assert df.loc["anger/04.jpg", "status"] == "no_face"
    acc = results["provenance"]["predictions_import"]
    assert acc["labels"] == ["happy", "sad", "surprise", "anger"] and acc["probabilities"] is False
    assert "calibration, log loss, Brier and top-2 accuracy cannot be computed" in acc["notes"]
    assert "calibration" not in results["results"][0]
