"""`emoaudit datasets inspect`: what a dataset holds, counted in one streaming pass.

Seeing the split, label, status and attribute counts before an audit is how a wrong format,
a shifted label code or a folder of unreadable files gets caught before it becomes a result.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from emoaudit.data import DATASETS
from emoaudit.data.detect import detect_format, iter_dataset
from emoaudit.errors import one_line

MAX_ATTRIBUTE_VALUES = 30  # beyond this an attribute is an id, not a group: values are lumped
MAX_EXAMPLE_REASONS = 5
OTHER = "(other values)"
NONE = "(none)"


def inspect_dataset(root: Path, fmt: str | None = None) -> dict[str, Any]:
    """Counts per split, raw and canonical label, status and attribute value, as a plain dict."""
    root = Path(root)
    name = fmt or detect_format(root)
    splits: Counter[str] = Counter()
    raw_labels: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    attributes: dict[str, Counter[str]] = {}
    subjects: set[str] = set()
    reasons: dict[str, list[str]] = {}
    total = 0
    for sample in iter_dataset(root, name):
        total += 1
        splits[sample.split or NONE] += 1
        raw_labels[sample.raw_label or NONE] += 1
        labels[sample.label or NONE] += 1
        statuses[sample.status] += 1
        if sample.subject_id is not None:
            subjects.add(sample.subject_id)
        for key, value in sample.attributes.items():
            counter = attributes.setdefault(key, Counter())
            if value in counter or len(counter) < MAX_ATTRIBUTE_VALUES:
                counter[value] += 1
            else:
                counter[OTHER] += 1
        if sample.reason:
            examples = reasons.setdefault(sample.status, [])
            if len(examples) < MAX_EXAMPLE_REASONS:
                examples.append(one_line(sample.reason))
    return {
        "root": str(root),
        "format": name,
        "description": DATASETS.get(name).DESCRIPTION,
        "n_samples": total,
        "n_subjects": len(subjects),
        "splits": dict(splits.most_common()),
        "raw_labels": dict(sorted(raw_labels.items())),
        "labels": dict(labels.most_common()),
        "statuses": dict(statuses.most_common()),
        "attributes": {k: dict(v.most_common()) for k, v in sorted(attributes.items())},
        "example_reasons": reasons,
    }


def _counts_table(title: str, column: str, counts: dict[str, int], total: int):  # noqa: ANN202
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column(column)
    table.add_column("n", justify="right")
    table.add_column("%", justify="right")
    for key, n in counts.items():
        table.add_row(str(key), str(n), f"{100 * n / total:.1f}" if total else "-")
    return table


def inspection_tables(info: dict[str, Any]) -> list[Any]:
    """rich renderables for an inspect_dataset() dict (kept separate so tests read the dict)."""
    from rich.table import Table

    total = info["n_samples"]
    head = Table.grid(padding=(0, 2))
    head.add_row("dataset", info["root"])
    head.add_row("format", f"{info['format']}: {info['description']}")
    head.add_row("samples", str(total))
    head.add_row("subjects", str(info["n_subjects"]) if info["n_subjects"] else "not recorded")
    out: list[Any] = [head]
    out.append(_counts_table("Status", "status", info["statuses"], total))
    out.append(_counts_table("Splits", "split", info["splits"], total))
    out.append(_counts_table("Labels (canonical)", "label", info["labels"], total))
    out.append(_counts_table("Labels (as stored)", "raw label", info["raw_labels"], total))
    for name, counts in info["attributes"].items():
        out.append(_counts_table(f"Attribute {name}", name, counts, total))
    for status, examples in info["example_reasons"].items():
        table = Table(title=f"Examples: {status}", title_justify="left", show_header=False)
        table.add_column("reason", overflow="fold")
        for reason in examples:
            table.add_row(reason)
        out.append(table)
    return out


def render_inspection(info: dict[str, Any], console: Any = None) -> None:
    """Print the inspection as rich tables (to `console`, default a new rich Console)."""
    from rich.console import Console

    console = console or Console()
    for renderable in inspection_tables(info):
        console.print(renderable)
