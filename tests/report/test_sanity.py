"""The sanity banner: mis-ordered labels and identical models, in the report and the console."""

from __future__ import annotations

import copy

from rich.console import Console

from emoaudit.report.console import print_summary
from emoaudit.report.html import render_report
from emoaudit.report.sanity import IDENTICAL, sanity_notes

SUSPECT_CHECK = {
    "n": 200, "threshold": 0.1, "min_n": 50, "checked": True, "suspect": True, "accuracy": 0.2,
    "best_permuted_accuracy": 0.65, "gain": 0.45, "heldout_gain": 0.44,
    "remap": {"sad": "neutral", "neutral": "sad"},
}  # fmt: skip


def _with_suspect(results: dict) -> tuple[dict, str]:
    out = copy.deepcopy(results)
    clean = next(r for r in out["results"] if r["condition"] == "clean")
    clean["label_order_check"] = SUSPECT_CHECK
    out["provenance"]["identical_models"] = [{"sha256": "ab" * 32, "models": ["fer", "vendor"]}]
    return out, clean["model"]


def test_no_banner_when_nothing_is_wrong(results):
    assert sanity_notes(results) == []
    assert 'id="sanity-banner"' not in render_report(results)


def test_banner_names_the_relabelling_and_the_identical_models(results):
    suspect, model = _with_suspect(results)
    html = render_report(suspect)
    assert 'id="sanity-banner"' in html
    assert f"model &#39;{model}&#39;" in html and "sad as neutral, neutral as sad" in html
    assert "from 20.0% to 65.0%" in html
    assert IDENTICAL.format(names="fer, vendor", sha="ab" * 6) in html


def test_console_prints_the_label_order_line(results):
    suspect, model = _with_suspect(results)
    console = Console(record=True, width=400)
    print_summary(suspect, console=console)
    text = console.export_text()
    assert f"Label order? model '{model}'" in text
    assert "check the order of its output labels" in text
