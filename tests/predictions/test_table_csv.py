"""Generic CSV of outputs: columns found by name, bad rows reported with their line."""

from __future__ import annotations

import pytest

from emoaudit.errors import EmoauditError
from emoaudit.predictions import table, table_csv
from emoaudit.predictions.base import KEY_FIELDS, Problem, Record


def test_example_file_reads_pred_and_prob_columns(examples):
    records = list(table_csv.read(examples / "generic.csv"))
    assert [r.key for r in records] == [
        "happy/01.jpg",
        "sad/02.jpg",
        "neutral/03.jpg",
        "anger/04.jpg",
    ]
    face = records[1].faces[0]
    assert face.pred == "neutral"
    assert face.scores == {"neutral": 0.55, "happy": 0.05, "sad": 0.3, "anger": 0.1}
    assert records[1].where == f"{examples / 'generic.csv'}:3"


def test_label_named_columns_count_as_scores_and_others_are_ignored(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("path,Happiness,calm,face_id,notes\na.jpg,0.7,0.3,17,fine\n")
    [record] = table_csv.read(path)
    assert record.key == "a.jpg" and record.faces[0].scores == {"Happiness": 0.7, "calm": 0.3}


@pytest.mark.parametrize(
    "header,expected",
    [
        ("id,pred\n", table.NO_KEY_COLUMN.format(path="{path}", fields=", ".join(KEY_FIELDS),
                                                 found="id, pred")),
        ("sample_id,confidence\n", table.NO_OUTPUT_COLUMNS.format(
            path="{path}", found="sample_id, confidence")),
        ("", table.NO_KEY_COLUMN.format(path="{path}", fields=", ".join(KEY_FIELDS),
                                       found="no columns")),
    ],
)  # fmt: skip
def test_files_without_a_key_or_any_output_are_refused_in_one_line(tmp_path, header, expected):
    path = tmp_path / "p.csv"
    path.write_text(header)
    with pytest.raises(EmoauditError) as err:
        list(table_csv.read(path))
    assert str(err.value) == expected.replace("{path}", str(path))


def test_bad_rows_are_problems_and_the_rest_are_kept(tmp_path):
    path = tmp_path / "p.csv"
    huge = "x" * 200_000  # over the csv module's field limit
    path.write_text(f"sample_id,pred,happy\na,happy,0.9\n,sad,0.1\nc,,\nd,sad,{huge}\ne,sad,0.2\n")
    items = list(table_csv.read(path))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Record", "Problem", "Problem", "Problem", "Record"]
    assert items[1].message.startswith(f"{path}:3: no sample key")
    assert items[2].message == f"{path}:4: no prediction and no scores"
    assert items[3].message.startswith(f"{path}:5: unreadable CSV row (field larger than")
    assert isinstance(items[0], Record) and isinstance(items[3], Problem)
    assert items[4].key == "e"
