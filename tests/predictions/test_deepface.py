"""DeepFace analyze() output (shape from the DeepFace README: a list of per-face dicts)."""

from __future__ import annotations

import json

import pytest

from emoaudit.predictions import deepface
from emoaudit.predictions.base import Problem


def test_example_file_results_list_or_one_face_inline(examples):
    records = list(deepface.read(examples / "deepface.jsonl"))
    assert [r.key for r in records] == ["happy/01.jpg", "sad/02.jpg", "neutral/03.jpg"]
    face = records[0].faces[0]
    assert face.pred == "happy" and face.scores["happy"] == pytest.approx(0.975)
    assert face.box == (30, 20, 70, 75)
    assert sum(records[1].faces[0].scores.values()) == pytest.approx(1.0)
    assert records[2].faces[0].pred == "neutral"


def test_folder_with_the_list_analyze_returned_and_several_faces(tmp_path):
    folder = tmp_path / "df"
    folder.mkdir()
    two = [
        {"emotion": {"happy": 90.0, "sad": 10.0}, "dominant_emotion": "happy",
         "region": {"x": 0, "y": 0, "w": 10, "h": 10}},
        {"emotion": {"happy": 5.0, "sad": 95.0}, "dominant_emotion": "sad",
         "region": {"x": 20, "y": 20, "w": 50, "h": 50}},
    ]  # fmt: skip
    (folder / "a.png.json").write_text(json.dumps(two))
    (folder / "b.png.json").write_text(json.dumps([]))
    (folder / "c.png.json").write_text(json.dumps([{"dominant_emotion": "sad"}]))
    items = list(deepface.read(folder))
    assert items[0].key == "a.png" and [f.pred for f in items[0].faces] == ["happy", "sad"]
    assert items[1].faces == []
    assert isinstance(items[2], Problem)
    assert items[2].message == deepface.NO_EMOTION.format(
        where=f"{folder / 'c.png.json'}:1", index=0
    )


def test_a_nan_percentage_is_a_bad_output_not_a_malformed_record(tmp_path):
    path = tmp_path / "df.jsonl"
    path.write_text(
        '{"img_path": "a.jpg", "emotion": {"happy": NaN, "sad": 10.0}}\n'
        '{"img_path": "b.jpg", "emotion": {"happy": "lots", "sad": 10.0}}\n'
    )
    a, b = deepface.read(path)
    assert (a.key, a.faces, a.bad) == ("a.jpg", [], f"{path}:1: score for 'happy' is NaN")
    assert isinstance(b, Problem) and b.message.startswith(f"{path}:2: score for 'happy' is not")
