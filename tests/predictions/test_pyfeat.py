"""py-feat Fex CSV (columns from py-feat's Fex documentation): one row per face."""

from __future__ import annotations

import pandas as pd
import pytest

from emoaudit.errors import EmoauditError
from emoaudit.predictions import pyfeat
from emoaudit.predictions.base import Problem
from emoaudit.predictions.join import read_index
from emoaudit.run.audit import AuditRequest, run_audit

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


@pytest.mark.parametrize(
    ("cell", "what"),
    [
        ("nan", "NaN"),
        ("", "empty (NaN: pandas writes NaN as an empty cell)"),  # how Fex.to_csv writes NaN
        ("inf", "inf"),
    ],
)
def test_a_nan_or_inf_score_makes_the_image_bad_output_not_a_malformed_record(tmp_path, cell, what):
    """As in every other format (docs/predictions-import.md): py-feat answered for the face,
    but the answer cannot be scored, so the sample is bad_output with the row's line."""
    path = tmp_path / "fex.csv"
    row = "1,1,10,10,0.9,0.1,0.1,0.1,0.4,0.1,0.1,0.1,{name},0"
    bad = row.format(name="a.jpg").replace(",0.4,", f",{cell},")
    empty = "1,1,10,10,0.9,,,,,,,,c.jpg,0"  # every emotion empty: no face, as before
    lines = [HEADER, row.format(name="a.jpg"), bad, row.format(name="b.jpg"), empty]
    path.write_text("\n".join(lines) + "\n")
    index = read_index(pyfeat, path)
    assert index.counts["malformed"] == 0 and index.counts["bad_output"] == 1
    a = index.records["a.jpg"]
    assert a.bad == f"{path}:3: score for 'happiness' is {what}" and a.faces == []
    assert index.records["b.jpg"].bad is None and len(index.records["b.jpg"].faces) == 1
    assert index.records["c.jpg"].faces == [] and index.records["c.jpg"].bad is None
    assert index.n_scored == 1  # b.jpg only: a bad image is never read as probabilities


def test_a_nan_image_in_an_audit_is_bad_output(dataset, tmp_path):
    path = tmp_path / "fex.csv"
    row = "30,20,40,55,0.99,0.01,0.0,0.01,0.95,0.01,0.01,0.01,{name},0"
    lines = [HEADER, row.format(name="happy/01.jpg"), row.format(name="sad/02.jpg")]
    lines[2] = lines[2].replace("0.95", "nan")
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    req = AuditRequest(
        data=dataset, out=out, models=[], predictions=path, predictions_format="pyfeat",
        n_resamples=20,
    )  # fmt: skip
    results = run_audit(req)
    df = pd.read_parquet(out / "predictions.parquet").set_index("sample_id")
    assert df.loc["sad/02.jpg", "status"] == "bad_output"
    assert df.loc["sad/02.jpg", "reason"] == f"{path}:3: score for 'happiness' is NaN"
    acc = results["provenance"]["predictions_import"]
    assert acc["n_bad_outputs"] == 1 and acc["n_malformed"] == 0
