"""The terminal summary: one row per (dataset, model, condition), intervals, no markup."""

from __future__ import annotations

from rich.console import Console

from emoaudit.report.console import print_summary, summary_rows


def test_one_row_per_clean_slice_with_intervals(results):
    rows = summary_rows(results)
    clean = [e for e in results["results"] if e["condition"] == "clean"]
    assert len(rows) == len(clean) < len(results["results"])
    assert all(r[2] == "clean" and "(" in r[4] for r in rows)


def test_perturbed_conditions_are_pointed_to_not_listed(results):
    console = Console(record=True, width=200)
    print_summary(results, console=console)
    assert "perturbed conditions: see the robustness section" in console.export_text()


def test_data_strings_print_as_text(evil_results):
    console = Console(record=True, width=400)
    print_summary(evil_results, console=console)
    assert "<script>" in console.export_text()  # shown literally, not swallowed as markup
