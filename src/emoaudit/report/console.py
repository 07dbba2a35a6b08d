"""The few lines a terminal shows after an audit: headline numbers with intervals, per slice."""

from __future__ import annotations

from typing import Any

from emoaudit.report import view
from emoaudit.report.plots import fmt_interval


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    """Clean-condition rows only: perturbed conditions belong to the report's robustness plots."""
    rows = []
    for e in view.entries(results):
        dataset, model, condition = view.key_of(e)
        if condition != "clean":
            continue
        acc = view.accounting(e)
        rows.append(
            [
                view.dataset_label(e),
                model,
                condition,
                f"{acc['n_evaluated']}/{acc['n_total']}",
                fmt_interval(view.metric(e, "accuracy")),
                fmt_interval(view.metric(e, "accuracy_end_to_end")),
                fmt_interval(view.metric(e, "f1_macro")),
            ]
        )
    return rows


def print_summary(results: dict[str, Any], *, console: Any = None) -> None:
    """A rich table; strings from data are printed as text, never as console markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    table = Table(title="emoaudit: headline results (95% intervals)", show_lines=False)
    for col in ("dataset", "model", "condition", "scored", "accuracy", "end to end", "macro F1"):
        table.add_column(col, justify="right" if col not in ("dataset", "model") else "left")
    for row in summary_rows(results):
        table.add_row(*(Text(cell) for cell in row))
    if (results.get("provenance") or {}).get("demo"):
        console.print(Text("Demonstration, not evidence.", style="bold yellow"))
    console.print(table)
    for p in view.protocol_results(results):
        if p.get("statement"):
            console.print(Text(p["statement"]))
    for caveat in view.caveats(results):
        console.print(Text(f"warning: {caveat}", style="yellow"))
    perturbed = {view.key_of(e)[2] for e in view.entries(results)} - {"clean"}
    perturbed = {c for c in perturbed if not c.startswith("protocol:")}
    if perturbed:
        console.print(
            f"{len(perturbed)} perturbed conditions: see the robustness section of report.html"
        )
