"""The few lines a terminal shows after an audit: headline numbers with intervals, per slice."""

from __future__ import annotations

from typing import Any

from emoaudit.report import executive, view
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
    """The executive summary, then a table of headline numbers (not for the demo); strings
    from data are printed as text, never as console markup."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console()
    demo = bool((results.get("provenance") or {}).get("demo"))
    if demo:
        console.print(Text("Demonstration, not evidence.", style="bold yellow"))
    for line in executive.as_lines(executive.executive_summary(results)):
        console.print(Text(line))
    if not demo:  # three photos' accuracies (33-100% intervals) are not a headline
        console.print(_headline_table(summary_rows(results)))
    from emoaudit.report.sanity import sanity_notes

    for line in sanity_notes(results):  # label order, identical models, imported outputs
        console.print(Text(line, style="bold red"))
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


def _headline_table(rows: list[list[str]]) -> Any:
    """Clean data only (the title says so); names never cut ("fer-mini…" names nothing),
    numbers wrap instead."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="emoaudit: headline results on clean data (95% intervals)")
    names = ("dataset", "model", "scored", "accuracy", "end to end", "macro F1")
    shown = [[r[0], r[1], *r[3:]] for r in rows]
    for i, col in enumerate(names):
        is_name = col in ("dataset", "model")
        table.add_column(
            col,
            justify="left" if is_name else "right",
            overflow="fold",
            no_wrap=is_name,
            min_width=max((len(r[i]) for r in shown), default=0) if is_name else None,
        )
    for row in shown:
        table.add_row(*(Text(cell) for cell in row))
    return table
