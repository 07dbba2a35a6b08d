"""audit-card.md: one page in the style of a model card, for people who will not open HTML.

It carries the same numbers as the report (read through report.view), each with its interval,
and the same caveats. Markdown has no autoescape, so every string from data is escaped for
Markdown and HTML before it is written (a label cannot become a link, a table cell or a tag).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from emoaudit.report import executive, view
from emoaudit.report.plots import fmt_interval
from emoaudit.run.cache import write_text_atomic

CARD = "audit-card.md"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|>~-])")


def md(text: Any) -> str:
    """Plain text safe inside Markdown and its HTML: no markup, links or table breaks."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s).replace("\n", " ")


def code(text: Any) -> str:
    """A code span that can be copied as it is: its content is literal in Markdown (no escapes
    are processed there, so escaping would corrupt the command); only backticks and line
    breaks, which could end the span, are replaced."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def render_card(results: dict[str, Any]) -> str:
    prov = results.get("provenance") or {}
    stats = results.get("statistics") or {}
    summary = executive.executive_summary(results)
    lines = ["# Audit card", ""]
    if prov.get("demo"):
        lines += ["> **Demonstration, not evidence**: made on a handful of photos.", ""]
    lines += [
        "emoaudit examines facial-expression models; it never identifies, tracks or flags "
        "people. Accuracy means agreement with annotators' labels, not knowledge of anyone's "
        "feelings or intent (Barrett et al. 2019).",
        "",
        "## Summary",
        "",
        *[_md_item(line) for line in executive.as_lines(summary)],
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
    lines += who_it_fails(results) or ["- No group attributes with enough samples to compare."]
    read = who_is_read_how(results)
    if read:
        lines += ["", "## Who is read how (no expression labels needed)", "", *read]
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
        f"- Command: {code(prov.get('command') or prov.get('analysis_command') or 'n/a')}",
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


def who_it_fails(results: dict[str, Any]) -> list[str]:
    """One line per model and grouping, in the words its test licenses: a group is named only
    where the grouping's test and the group's own test against the rest reject (Holm)."""
    lines = []
    for e in view.clean_entries(results):
        for g in view.groups(e):
            f = g.get("finding")
            if not isinstance(f, dict):
                continue
            disp = ((g["disparity"] or {}).get("accuracy") or {}).get("difference")
            gap = f"; largest gap {fmt_interval(disp)}" if view.is_interval(disp) else ""
            lines.append(
                f"- {md(view.key_of(e)[1])}, by {md(g['attribute'])}: {md(f['text'])}{gap}"
            )
    return lines


def who_is_read_how(results: dict[str, Any]) -> list[str]:
    """Label-free findings, each with the caveat that groups may truly differ in expression."""
    lines = []
    for e in view.clean_entries(results):
        lf = e.get("label_free") or {}
        for attr, g in (lf.get("groupings") or {}).items():
            for t in g.get("tests", {}).values():
                lines.append(f"- {md(view.key_of(e)[1])}, by {md(attr)}: {md(t['text'])}")
    if lines:
        caveat = next(
            e["label_free"]["caveat"] for e in view.clean_entries(results) if e.get("label_free")
        )
        lines.append(f"- {md(caveat)}")
    return lines


def _md_item(line: str) -> str:
    """A summary line as a Markdown list item, nested as the console indents it; a numbered
    line ("1. ...") stays an ordered item."""
    text = line.lstrip()
    depth = (len(line) - len(text)) // 2
    head, _, rest = text.partition(". ")
    if head.isdigit() and rest:
        return f"{'  ' * depth}{head}. {md(rest)}"
    return f"{'  ' * depth}- {md(text)}"
