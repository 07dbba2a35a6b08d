"""audit-card.md: one page in the style of a model card, for people who will not open HTML.

It carries the same numbers as the report (read through report.view), each with its interval,
and the same caveats. Markdown has no autoescape, so every string from data is escaped for
Markdown and HTML before it is written (a label cannot become a link, a table cell or a tag).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from emoaudit.report import view
from emoaudit.report.plots import fmt_interval
from emoaudit.run.cache import write_text_atomic

CARD = "audit-card.md"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|>~-])")


def md(text: Any) -> str:
    """Plain text safe inside Markdown and its HTML: no markup, links or table breaks."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s).replace("\n", " ")


def render_card(results: dict[str, Any]) -> str:
    prov = results.get("provenance") or {}
    stats = results.get("statistics") or {}
    lines = ["# Audit card", ""]
    if prov.get("demo"):
        lines += ["> **Demonstration, not evidence**: made on a handful of photos.", ""]
    lines += [
        "emoaudit examines facial-expression models; it never identifies, tracks or flags "
        "people. Accuracy means agreement with annotators' labels, not knowledge of anyone's "
        "feelings or intent (Barrett et al. 2019).",
        "",
        "## Headline results (clean data)",
        "",
        "| model | dataset | scored / samples | accuracy | end to end | macro F1 | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in view.clean_entries(results):
        dataset, model, _ = view.key_of(e)
        acc = view.accounting(e)
        cells = [
            fmt_interval(view.metric(e, k))
            for k in ("accuracy", "accuracy_end_to_end", "f1_macro", "ece")
        ]
        lines.append(
            f"| {md(model)} | {md(view.dataset_label(e))} | "
            f"{acc['n_evaluated']} / {acc['n_total']} | " + " | ".join(cells) + " |"
        )
    lines += ["", "## Who it fails", ""]
    found = False
    for e in view.clean_entries(results):
        for g in view.groups(e):
            disp = (g["disparity"] or {}).get("accuracy") or {}
            if not isinstance(disp, dict) or not disp.get("difference"):
                continue
            found = True
            worst = min(
                (r for r in g["groups"] if _comparable(r)),
                key=lambda r: view.group_metric(r, "accuracy")["value"],
                default=None,
            )
            lines.append(
                f"- {md(view.key_of(e)[1])}, by {md(g['attribute'])}: accuracy gap "
                f"{fmt_interval(disp['difference'])}"
                + (f"; lowest: {md(worst.get('group'))}" if worst else "")
            )
    if not found:
        lines.append("- No group attributes with enough samples to compare.")
    protocols = view.protocol_results(results)
    if protocols:
        lines += ["", "## Protocol sensitivity", ""]
        for p in protocols:
            width = fmt_interval(p["range"]["width"])
            lines.append(f"- {md(p.get('statement') or p['model'])}; range {width}")
    flags = view.flagging_list(results)
    if flags:
        lines += ["", "## If it were used to flag people", ""]
        for f in flags:
            lines.append(f"- {md(f.get('statement', ''))}")
    lines += [
        "",
        "## How the numbers were made",
        "",
        f"- Intervals: {md(stats.get('ci_method', 'bootstrap'))} bootstrap, "
        f"{stats.get('n_resamples', '?')} resamples, {stats.get('confidence', 0.95):.0%}, "
        f"seed {stats.get('seed', '?')}; clustered by {md(stats.get('cluster') or 'sample')}.",
        f"- Faces: {md(_faces(prov))}.",
        f"- Command: `{md(prov.get('command') or prov.get('analysis_command') or 'n/a')}`",
        f"- results.json schema {md(results.get('schema_version', '?'))}; full provenance "
        "(artifact sha256s, dataset digest, versions) is in results.json and report.html.",
        "",
        "## Limitations",
        "",
        "- Labels are annotators' judgements; a dataset's people, poses and cameras may not be "
        "those of any deployment.",
        "- Intervals cover sampling uncertainty only.",
        *[f"- {md(c)}" for c in view.caveats(results)],
        "",
    ]
    return "\n".join(lines)


def _faces(prov: dict[str, Any]) -> str:
    """How faces were found: the detector named, or the crops given by the dataset."""
    faces = prov.get("faces") or {}
    if faces.get("precropped"):
        return "crops given by the dataset (no detector)"
    if faces.get("detector"):
        return f"detected by {faces['detector']} (margin {faces.get('margin', '?')})"
    return "not recorded"


def write_audit_card(out_dir: Path, results: dict[str, Any]) -> Path:
    path = Path(out_dir) / CARD
    write_text_atomic(path, render_card(results))
    return path


def _comparable(row: dict[str, Any]) -> bool:
    """A group that enters the disparity: big enough, attribute present, accuracy defined.

    (An accuracy of exactly 0.0 is the worst group, not a missing one.)
    """
    if row.get("small") or row.get("missing_attribute"):
        return False
    acc = view.group_metric(row, "accuracy")
    return isinstance(acc, dict) and acc.get("value") is not None
