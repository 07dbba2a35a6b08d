"""report.pdf through headless Chromium; one line when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoaudit.errors import EmoauditError
from emoaudit.report import pdf
from emoaudit.report.html import write_report


def test_details_are_opened_for_paper():
    html = '<details class="details"><summary>x</summary>y</details>'
    assert pdf.printable(html) == '<details class="details" open><summary>x</summary>y</details>'


def test_no_browser_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    with pytest.raises(EmoauditError) as info:
        pdf.write_pdf(report)
    assert str(info.value) == pdf.NO_BROWSER.format(names=", ".join(pdf.BROWSERS))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "report.pdf").exists()


def test_a_failing_browser_is_one_line(tmp_path):
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    with pytest.raises(EmoauditError, match="could not print"):
        pdf.write_pdf(report, browser="/bin/false")


@pytest.mark.skipif(pdf.find_browser() is None, reason="needs a headless Chromium")
def test_report_prints_to_pdf(results, tmp_path):
    path = pdf.write_pdf(write_report(tmp_path, results))
    assert path == tmp_path / "report.pdf"
    data = Path(path).read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert not list(tmp_path.glob(".tmp-*"))
