"""report.pdf: the HTML report printed by headless Chromium, when one is installed.

Chromium is the only renderer that draws the report exactly as the browser test sees it, so no
PDF library is added. It runs with no network, no GPU and a throw-away profile; the collapsed
<details> sections are opened first, because paper cannot be clicked.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from emoaudit.errors import EmoauditError

PDF = "report.pdf"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_BROWSER = (
    "no headless Chromium found (looked for {names}); report.html was written: open it and "
    "print it to PDF from any browser"
)
PRINT_FAILED = "{browser} could not print {path} to PDF: {why}"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-pdf-header-footer",
)
TIMEOUT_S = 180


def find_browser() -> str | None:
    """The first Chromium on PATH (Debian's /usr/bin/chromium included), else None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def printable(html: str) -> str:
    """The report with every collapsed section open."""
    return html.replace('<details class="details">', '<details class="details" open>')


def write_pdf(report: Path, *, browser: str | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Print `report` (report.html) to report.pdf beside it; a one-line error if impossible."""
    browser = browser or find_browser()
    if browser is None:
        raise EmoauditError(NO_BROWSER.format(names=", ".join(BROWSERS)))
    report = Path(report)
    target = report.with_name(PDF)
    with tempfile.TemporaryDirectory(prefix="emoaudit-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(printable(report.read_text(encoding="utf-8")), encoding="utf-8")
        out = Path(tmp) / PDF
        cmd = [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--print-to-pdf={out}", page.as_uri()]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmoauditError(
                PRINT_FAILED.format(browser=browser, path=report, why=exc)
            ) from None
        if not out.is_file() or not out.read_bytes().startswith(b"%PDF"):
            why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise EmoauditError(PRINT_FAILED.format(browser=browser, path=report, why=why))
        tmp_target = target.with_name(f".tmp-{PDF}")
        shutil.copyfile(out, tmp_target)
        tmp_target.replace(target)  # atomic: a reader never sees half a PDF
    return target
