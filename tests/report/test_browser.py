"""The report in a real browser: it renders, every section and plot has a size, nothing runs.

Uses Debian's chromium and chromedriver (installed by .ci/run); no driver is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import EVIL, make_predictions, make_results

from emoaudit.report.html import SECTIONS, write_report

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromedriver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_report_renders_every_section_and_plot(browser, results, tmp_path):
    path = write_report(tmp_path / "out", results)
    browser.get(path.as_uri())
    assert browser.title.startswith("emoaudit report")
    assert _errors(browser) == []
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll('section.section')).map(s => "
        "[s.id, s.getBoundingClientRect().width, s.getBoundingClientRect().height])"
    )
    assert [s[0] for s in sizes] == [sid for sid, _ in SECTIONS]
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert all(w > 0 and h > 0 for _, w, h in sizes), sizes
    plots = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg.plot')).map(p => "
        "[p.closest('section').id, p.getBoundingClientRect().width, "
        "p.getBoundingClientRect().height, p.querySelectorAll('rect,circle,polyline').length])"
    )
    drawn = {section for section, w, h, marks in plots if w > 0 and h > 0 and marks > 0}
    assert len(drawn) == len({p[0] for p in plots}), plots
    # Every section with data draws at least one plot (accounting, provenance and limitations
    # are tables and text by design; agreement is a table of model pairs).
    expected = {
        "confusion",
        "per-class",
        "reliability",
        "groups",
        "directional",
        "robustness",
        "stability",
        "flagging",
    }
    assert expected <= drawn, expected - drawn
    absent = browser.execute_script(
        "return Array.from(document.querySelectorAll('.absent')).map(e => e.textContent)"
    )
    assert absent == []  # every section has data in this audit
    shot = tmp_path / "report.png"
    browser.set_window_size(1200, browser.execute_script("return document.body.scrollHeight"))
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_empty_results_still_render_with_sections_saying_so(browser, tmp_path):
    path = write_report(tmp_path / "out", {"schema_version": "1.0", "provenance": {}})
    browser.get(path.as_uri())
    assert _errors(browser) == []
    ids = browser.execute_script(
        "return Array.from(document.querySelectorAll('section.section .absent'))"
        ".map(e => e.closest('section').id)"
    )
    assert "summary" in ids and "flagging" in ids and "robustness" in ids


def _assert_inert(browser) -> None:
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title != "pwned"
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('[onerror]').length") == 0
    assert EVIL in browser.execute_script("return document.body.textContent")


def test_script_in_labels_attributes_and_names_does_not_run(browser, evil_results, tmp_path):
    out = tmp_path / "out"
    path = write_report(out, evil_results, title=f"audit of {EVIL}")
    browser.get(path.as_uri())
    _assert_inert(browser)
    # The Content-Security-Policy would block an inline script anyway; remove it and check that
    # escaping alone keeps the page inert, so this test fails if escaping ever breaks.
    html = path.read_text(encoding="utf-8")
    bare = out / "no-csp.html"
    bare.write_text(html.replace("Content-Security-Policy", "x-removed"), encoding="utf-8")
    browser.get(bare.as_uri())
    _assert_inert(browser)


def test_unescaped_markup_would_run_here(browser, tmp_path):
    """The harness can see a script run: without this, the inertness tests could never fail."""
    page = tmp_path / "live.html"
    page.write_text(f"<html><head><title>x</title></head><body>{EVIL}</body></html>")
    browser.get(page.as_uri())
    assert browser.execute_script("return window.__pwned") == 1


def test_demo_banner_is_at_the_top(browser, tmp_path):
    res = make_results(make_predictions(n=120), demo=True)
    path = write_report(tmp_path / "out", res)
    browser.get(path.as_uri())
    top = browser.execute_script(
        "const b = document.getElementById('demo-banner');"
        "return [b.getBoundingClientRect().top, "
        "document.getElementById('summary').getBoundingClientRect().top, b.textContent]"
    )
    assert top[0] < top[1]
    assert "Demonstration, not evidence" in top[2]


CLIPPED_TEXT = """
return Array.from(document.querySelectorAll('svg.plot')).flatMap(svg => {
  const box = svg.getBoundingClientRect();
  return Array.from(svg.querySelectorAll('text')).map(t => {
    const r = t.getBoundingClientRect();
    return [t.textContent, r.left - box.left, box.right - r.right, r.top - box.top,
            box.bottom - r.bottom];
  }).filter(([, l, rt, tp, bt]) => Math.min(l, rt, tp, bt) < -0.5);
});
"""


def test_no_text_is_clipped_by_its_plot(browser, tmp_path):
    """Every label's bounding box lies inside its SVG (bar labels, values, titles, captions)."""
    res = make_results(make_predictions(n=120))
    for e in res["results"]:
        e["model"] = f"{e['model']}-with-a-long-descriptive-name"
    path = write_report(tmp_path / "out", res)
    browser.get(path.as_uri())
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert browser.execute_script("return document.querySelectorAll('svg.plot text').length") > 50
    assert browser.execute_script(CLIPPED_TEXT) == []


def test_compare_plot_labels_are_not_clipped(browser, tmp_path):
    import json

    from emoaudit.analysis.summary import analyze
    from emoaudit.report.compare import compare

    dirs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        out.mkdir()
        df = make_predictions(seed=i, n=80).assign(dataset="a-long-manifest-name.csv")
        df.to_parquet(out / "predictions.parquet")
        res = {"schema_version": "1.0", "provenance": {}, **analyze(df, n_resamples=20)}
        (out / "results.json").write_text(json.dumps(res))
        dirs.append(out)
    compare(dirs, out=tmp_path / "cmp", n_resamples=20, seed=0)
    browser.get((tmp_path / "cmp" / "compare.html").as_uri())
    assert browser.execute_script("return document.querySelectorAll('svg.plot text').length") > 5
    assert browser.execute_script(CLIPPED_TEXT) == []
