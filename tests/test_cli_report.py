"""`emoaudit report DIR`: tables beside results.json, and --pdf with or without Chromium."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoaudit.cli import app
from emoaudit.report import pdf

sys.path.insert(0, str(Path(__file__).parent / "report"))
from report_fixtures import make_predictions  # noqa: E402

runner = CliRunner()


@pytest.fixture
def audit_dir(tmp_path):
    make_predictions(n=100).to_parquet(tmp_path / "predictions.parquet")
    return tmp_path


def test_report_writes_tidy_tables(audit_dir):
    result = runner.invoke(app, ["report", str(audit_dir), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    for name in ("metrics", "by_group", "robustness", "agreement"):
        assert (audit_dir / f"{name}.csv").is_file(), name
    assert "tables: metrics.csv" in result.output


def test_pdf_without_chromium_is_one_line(audit_dir, monkeypatch):
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    result = runner.invoke(app, ["report", str(audit_dir), "--resamples", "20", "--pdf", "-q"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"emoaudit: error: {pdf.NO_BROWSER.format(names=', '.join(pdf.BROWSERS))}"
    ]
    assert (audit_dir / "report.html").is_file()


def _edited(audit_dir, edit):
    import pandas as pd

    path = audit_dir / "predictions.parquet"
    edit(pd.read_parquet(path)).to_parquet(path)
    return runner.invoke(app, ["report", str(audit_dir), "--resamples", "20", "-q"])


@pytest.mark.parametrize("column", ["status", "label", "pred", "model", "condition", "sample_id"])
def test_a_missing_core_column_is_one_line(audit_dir, column):
    """It was a KeyError traceback."""
    result = _edited(audit_dir, lambda df: df.drop(columns=column))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        f"emoaudit: error: {audit_dir / 'predictions.parquet'}: missing column(s) {column}; "
        "a predictions table needs sample_id, dataset, model, condition, status, label, pred"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda df: df.iloc[:0], "no rows"),
        (lambda df: df.assign(status=1), "column 'status' holds integer values"),
        (lambda df: __import__("pandas").concat([df, df.iloc[:10]]), "appears 2 times"),
        (
            lambda df: df.assign(**{c: df[c] * 5 for c in df if c.startswith("prob_")}),
            "not a probability distribution",
        ),
    ],
)
def test_out_of_contract_tables_are_refused(audit_dir, edit, expected):
    """Each used to exit 0 with numbers: 'agreed on 20.0% of 55 faces' from 10 repeated rows,
    ECE 1.90 from probabilities times five, an empty table with no word of why."""
    result = _edited(audit_dir, edit)
    assert result.exit_code == 2
    assert expected in result.output and len(result.output.strip().splitlines()) == 1
    assert not (audit_dir / "results.json").exists()
