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
