"""Generic JSON Lines of outputs: streamed a bounded line at a time."""

from __future__ import annotations

import json

from emoaudit.predictions import base, table_jsonl
from emoaudit.predictions.base import Problem


def test_example_file_with_a_scores_object(examples):
    records = list(table_jsonl.read(examples / "generic.jsonl"))
    assert [r.key for r in records] == [
        "happy/01.jpg",
        "sad/02.jpg",
        "neutral/03.jpg",
        "anger/04.jpg",
    ]
    assert records[0].faces[0].pred == "happy" and records[0].faces[0].scores["happy"] == 0.9


def test_an_overlong_line_is_reported_without_being_held(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "MAX_LINE", 1000)
    path = tmp_path / "p.jsonl"
    long = json.dumps({"sample_id": "b", "pred": "happy", "pad": "x" * 5000})
    path.write_text(
        "\n".join([json.dumps({"sample_id": "a", "pred": "sad"}), long, "[1, 2]", "{oops",
                   json.dumps({"sample_id": "c", "prob_happy": 0.9, "prob_sad": 0.1})])
        + "\n"
    )  # fmt: skip
    items = list(table_jsonl.read(path))
    assert [getattr(i, "key", None) for i in items] == ["a", None, None, None, "c"]
    assert items[1].message == base.LINE_TOO_LONG.format(where=f"{path}:2", limit=1000)
    assert items[2].message == base.NOT_AN_OBJECT.format(where=f"{path}:3", found="list")
    assert isinstance(items[3], Problem) and items[3].message.startswith(
        f"{path}:4: not valid JSON"
    )
    assert items[4].faces[0].scores == {"happy": 0.9, "sad": 0.1}


def test_a_field_given_twice_or_two_fields_for_one_label_cost_only_that_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"sample_id": "a", "prob_happy": 0.1, "prob_sad": 0.9, "prob_happy": 0.9}\n'
        '{"sample_id": "b", "prob_happy": 0.1, "happy": 0.9, "prob_sad": 0.9}\n'
        '{"sample_id": "c", "happy": 0.1, "scores": {"happy": 0.9}}\n'
        '{"sample_id": "d", "prob_happy": 0.2, "prob_sad": 0.8}\n'
    )
    a, b, c, d = table_jsonl.read(path)
    assert a.message == (
        f"{path}:1: not valid JSON (field 'prob_happy' appears twice in one object)"
    )
    assert b.message == base.COLLIDING_COLUMNS.format(
        path=f"{path}:2", columns="'prob_happy', 'happy'", label="happy"
    )
    assert c.message == base.REPEATED_COLUMNS.format(path=f"{path}:3", name="happy", n=2)
    assert d.faces[0].scores == {"happy": 0.2, "sad": 0.8}


def test_nan_and_infinity_are_bad_outputs_not_missing_ones(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"path": "a", "prob_happy": NaN, "prob_sad": 0.9}\n'
        '{"path": "b", "scores": {"happy": 0.1, "sad": -Infinity}}\n'
        '{"path": "c", "prob_happy": "high", "prob_sad": 0.9}\n'
    )
    a, b, c = table_jsonl.read(path)
    assert (a.key, a.faces, a.bad) == ("a", [], f"{path}:1: score for 'happy' is NaN")
    assert b.bad == f"{path}:2: score for 'sad' is -inf"
    assert (
        isinstance(c, Problem)
        and c.message == f"{path}:3: score for 'happy' is not a number (high)"
    )
