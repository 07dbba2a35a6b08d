"""Generic CSV of outputs: columns found by name, bad rows reported with their line."""

from __future__ import annotations

import pytest

from emoaudit.errors import EmoauditError
from emoaudit.predictions import table, table_csv
from emoaudit.predictions.base import (
    COLLIDING_COLUMNS,
    CORRUPT_SCORE,
    KEY_FIELDS,
    NOT_FINITE,
    REPEATED_COLUMNS,
    Problem,
    Record,
)

HEADER = "path,prob_angry,prob_happy,prob_sad"


def _rows(n: int) -> list[str]:
    return [f"img/{i:03d}.jpg,0.1,0.7,0.2" for i in range(n)]


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
    path.write_text(
        f'sample_id,pred,happy\na,happy,0.9\n,sad,0.1\nc,,\nd,sad,"{huge}"\ne,sad,0.2\n'
    )
    items = list(table_csv.read(path))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Record", "Problem", "Problem", "Problem", "Record"]
    assert items[1].message.startswith(f"{path}:3: no sample key")
    assert items[2].message == f"{path}:4: no prediction and no scores"
    assert items[3].message.startswith(f"{path}:5: unreadable CSV row (malformed csv record")
    assert "field larger than" in items[3].message
    assert isinstance(items[0], Record) and isinstance(items[3], Problem)
    assert items[4].key == "e"


def test_a_stray_quote_costs_only_its_own_row_reported_at_its_line(tmp_path):
    rows = _rows(40)
    rows[4] = '"' + rows[4]  # line 6 of the file: `"img/004.jpg,...` never closes
    path = tmp_path / "p.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    items = list(table_csv.read(path))
    problems = [i for i in items if isinstance(i, Problem)]
    assert [p.where for p in problems] == [f"{path}:6"]
    assert problems[0].message.startswith(f"{path}:6: unreadable CSV row (unbalanced quote")
    assert "\n" not in problems[0].message
    keys = [i.key for i in items if isinstance(i, Record)]
    assert keys == [f"img/{i:03d}.jpg" for i in range(40) if i != 4]
    assert items[-1].where == f"{path}:41"


def test_a_stray_quote_closed_on_the_next_row_does_not_swallow_it(tmp_path):
    """A quote opening a score cell and closed at the end of the next row made one record
    with the header's four cells: the next row was neither read nor reported."""
    rows = _rows(6)
    rows[2] = 'img/002.jpg,0.1,0.7,"0.2'
    rows[3] = 'img/003.jpg,0.1,0.7,0.2"'
    path = tmp_path / "p.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    items = list(table_csv.read(path))
    problems = [i for i in items if isinstance(i, Problem)]
    assert [p.where for p in problems] == [f"{path}:4", f"{path}:5"]  # each row its own
    assert "puts a line break in the 'prob_sad' column" in problems[0].message
    keys = [i.key for i in items if isinstance(i, Record)]
    assert keys == ["img/000.jpg", "img/001.jpg", "img/004.jpg", "img/005.jpg"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_bom_or_utf16_file_is_read_by_its_header_names(tmp_path, encoding):
    path = tmp_path / "p.csv"
    path.write_text("\n".join([HEADER, *_rows(2)]) + "\n", encoding=encoding)
    records = list(table_csv.read(path))
    assert [r.key for r in records] == ["img/000.jpg", "img/001.jpg"]
    assert records[0].faces[0].scores == {"angry": 0.1, "happy": 0.7, "sad": 0.2}


def test_rows_whose_cells_do_not_line_up_with_the_header_are_problems(tmp_path):
    path = tmp_path / "p.csv"
    rows = ["a,0.1,0.7,0.2", "b,0.1", "c,0.1,0.7,0.2,0.3", "d,0.1,0.7,0.2,,", "e,0.1,0.7,0.2"]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    items = list(table_csv.read(path))
    assert [type(i).__name__ for i in items] == ["Record", "Problem", "Problem", "Record", "Record"]
    assert items[1].message == (
        f"{path}:3: 2 cells where the header has 4 (an unquoted comma in a cell?); the row is "
        "skipped"
    )
    assert items[2].message.startswith(f"{path}:4: 5 cells where the header has 4")
    assert items[3].faces[0].scores == {"angry": 0.1, "happy": 0.7, "sad": 0.2}  # trailing commas


@pytest.mark.parametrize(
    "header,expected",
    [
        ("path,prob_happy,prob_sad,happy", COLLIDING_COLUMNS.format(
            path="{path}", columns="'prob_happy', 'happy'", label="happy")),
        ("path,Happiness,sad,happy", COLLIDING_COLUMNS.format(
            path="{path}", columns="'Happiness', 'happy'", label="happy")),
        ("path,prob_happy,prob_sad,prob_happy", REPEATED_COLUMNS.format(
            path="{path}", name="prob_happy", n=2)),
        ("path,pred,path", REPEATED_COLUMNS.format(path="{path}", name="path", n=2)),
    ],
)  # fmt: skip
def test_two_columns_for_one_score_are_refused_in_one_line(tmp_path, header, expected):
    path = tmp_path / "p.csv"
    path.write_text(f"{header}\na,0.9,0.1,0.5\n")
    with pytest.raises(EmoauditError) as err:
        list(table_csv.read(path))
    assert str(err.value) == expected.replace("{path}", str(path))


def test_nan_and_inf_scores_are_bad_outputs_and_text_is_a_malformed_record(tmp_path):
    path = tmp_path / "p.csv"
    rows = ["a,0.1,nan,0.2", "b,0.1,0.7,inf", "c,-Infinity,0.7,0.2", "d,0.1,0.7\x00,0.2",
            "e,0.1,lots,0.2"]  # fmt: skip
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    a, b, c, d, e = table_csv.read(path)
    assert (a.key, a.faces, a.bad) == ("a", [], NOT_FINITE.format(
        where=f"{path}:2", label="happy", what="NaN"))  # fmt: skip
    assert b.bad == f"{path}:3: score for 'sad' is inf"
    assert c.bad == f"{path}:4: score for 'angry' is -inf"
    assert d.bad == CORRUPT_SCORE.format(where=f"{path}:5", label="happy", value="0.7\\0")
    assert isinstance(e, Problem)
    assert e.message == f"{path}:6: score for 'happy' is not a number (lots)"
