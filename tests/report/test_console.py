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


def test_model_names_are_not_cut_at_80_columns(results):
    long = {**results, "results": [dict(e) for e in results["results"]]}
    for e in long["results"]:
        e["model"] = "fer-mini-xception-" + e["model"]
    console = Console(record=True, width=80)
    print_summary(long, console=console)
    text = console.export_text()
    assert "fer-mini-xception-model-a" in text
    assert "…" not in text


def test_executive_summary_comes_first(results):
    console = Console(record=True, width=100)
    print_summary(results, console=console)
    text = console.export_text()
    assert text.index("guessing among 7 labels") < text.index("headline results")
    assert "    1. resolution 5 (face 16 px wide)" in text
    assert "Conditions that hurt most" in text


def test_demo_prints_no_accuracy_table(results):
    demo = {**results, "provenance": {**results["provenance"], "demo": True}}
    console = Console(record=True, width=80)
    print_summary(demo, console=console)
    text = console.export_text()
    assert "headline results" not in text and "gave the same answer on" in text
