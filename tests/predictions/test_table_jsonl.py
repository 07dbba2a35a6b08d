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
