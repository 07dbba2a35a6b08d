"""py-feat Fex CSV (columns from py-feat's Fex documentation): one row per face."""

from __future__ import annotations

import pytest

from emoaudit.errors import EmoauditError
from emoaudit.predictions import pyfeat
from emoaudit.predictions.base import Problem
from emoaudit.predictions.join import read_index

HEADER = (
    "FaceRectX,FaceRectY,FaceRectWidth,FaceRectHeight,FaceScore,"
    "anger,disgust,fear,happiness,sadness,surprise,neutral,input,frame"
)


def test_example_file_groups_faces_of_one_image_and_keeps_no_face(examples):
    records = list(pyfeat.read(examples / "pyfeat.csv"))
    assert [r.key for r in records] == ["happy/01.jpg", "sad/02.jpg", "neutral/03.jpg"]
    assert records[0].faces[0].scores["happiness"] == pytest.approx(0.95)
    assert records[0].faces[0].box == (30.0, 20.0, 70.0, 75.0)
    assert len(records[1].faces) == 2
    assert records[2].faces == []


def test_same_image_again_later_is_a_duplicate_and_bad_rows_have_lines(tmp_path):
    path = tmp_path / "fex.csv"
    row = "1,1,10,10,0.9,0.1,0.1,0.1,0.4,0.1,0.1,0.1,{name},0"
    path.write_text(
        "\n".join([HEADER, row.format(name="a.jpg"), row.format(name="b.jpg"),
                   row.format(name="a.jpg"), row.format(name="c.jpg").replace("0.4", "x")])
        + "\n"
    )  # fmt: skip
    index = read_index(pyfeat, path)
    assert sorted(index.records) == ["a.jpg", "b.jpg"]
    assert index.counts["duplicate"] == 1 and index.counts["malformed"] == 1
    assert index.problems[0].startswith(f"{path}:5: score for 'happiness'")
    assert index.problems[1].startswith(f"{path}:4: another output for 'a.jpg'")


def test_a_csv_without_fex_columns_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("input,happy\na.jpg,0.3\n")
    with pytest.raises(EmoauditError) as err:
        list(pyfeat.read(path))
    assert str(err.value).startswith(f"{path}: not a py-feat Fex CSV; missing column(s) anger")


def test_a_bom_and_a_stray_quote_cost_nothing_but_the_quoted_row(tmp_path):
    path = tmp_path / "fex.csv"
    row = "1,1,10,10,0.9,0.1,0.1,0.1,0.4,0.1,0.1,0.2,{name},0"
    rows = [row.format(name=f"{i}.jpg") for i in range(20)]
    rows[2] = '"' + rows[2]  # line 4 never closes its quote
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8-sig")
    items = list(pyfeat.read(path))
    assert [i.where for i in items if isinstance(i, Problem)] == [f"{path}:4"]
    assert [i.key for i in items if not isinstance(i, Problem)] == [
        f"{i}.jpg" for i in range(20) if i != 2
    ]
