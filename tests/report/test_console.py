"""The terminal summary: one row per (dataset, model, condition), intervals, no markup."""

from __future__ import annotations

from rich.console import Console

from emoaudit.report.console import print_summary, summary_rows


def test_one_row_per_slice_with_intervals(results):
    rows = summary_rows(results)
    assert len(rows) == len(results["results"])
    assert all("(" in r[4] for r in rows if r[2] == "clean")


def test_data_strings_print_as_text(evil_results):
    console = Console(record=True, width=400)
    print_summary(evil_results, console=console)
    assert "<script>" in console.export_text()  # shown literally, not swallowed as markup
