"""Tidy CSV tables beside results.json: one row per number, with value, ci_low, ci_high and n.

Journalists and analysts load these in a spreadsheet or pandas without parsing nested JSON.
Each table names where its numbers come from (dataset, model, condition, group ...) and the
measure as the dotted path it has in results.json, so a row can be traced back to the file the
report was drawn from. Nothing is recomputed: the numbers are the ones in results.json.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoaudit.report import view
from emoaudit.run.cache import write_text_atomic

NUMBERS = ("value", "ci_low", "ci_high", "n")
TABLES = {
    "metrics": ("dataset", "model", "condition", "measure"),
    "by_group": ("dataset", "model", "condition", "attribute", "group", "small", "measure"),
    "robustness": ("model", "condition", "family", "severity", "measure"),
    "agreement": ("kind", "models", "condition", "measure"),
    "flagging": ("model", "flag", "base_rate", "population", "measure"),
}


def intervals(obj: Any, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, interval) for every {"value", ...} object nested in `obj`."""
    if view.is_interval(obj):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from intervals(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from intervals(v, f"{prefix}[{i}]")


def metric_rows(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for e in view.entries(results):
        dataset, model, condition = view.key_of(e)
        for key in ("headline", "end_to_end", "per_class", "calibration", "continuous"):
            for path, iv in intervals(e.get(key), key):
                if ".reliability[" in path:
                    continue  # per-bin reliability points belong to the plot, not the table
                yield {"dataset": dataset, "model": model, "condition": condition,
                       "measure": path, **_numbers(iv)}  # fmt: skip


def group_rows(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for e in view.entries(results):
        dataset, model, condition = view.key_of(e)
        for g in view.groups(e):
            base = {"dataset": dataset, "model": model, "condition": condition,
                    "attribute": g["attribute"]}  # fmt: skip
            for row in g["groups"]:
                if not isinstance(row, dict):
                    continue
                meta = {**base, "group": row.get("group"), "small": bool(row.get("small"))}
                for key in ("metrics", "recall"):
                    for path, iv in intervals(row.get(key), key):
                        yield {**meta, "measure": path, **_numbers(iv)}
            for path, iv in intervals(g.get("disparity"), "disparity"):
                yield {**base, "group": "", "small": False, "measure": path, **_numbers(iv)}


def robustness_rows(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    rob = view.section_data(results, "robustness") or {}
    for model, block in (rob.get("models") or {}).items():
        for path, iv in intervals((block or {}).get("clean"), "clean"):
            yield {"model": model, "condition": "clean", "family": "", "severity": "",
                   "measure": path, **_numbers(iv)}  # fmt: skip
        for r in (block or {}).get("conditions") or []:
            meta = {"model": model, "condition": r.get("condition"), "family": r.get("family"),
                    "severity": r.get("severity")}  # fmt: skip
            for key in ("accuracy", "accuracy_diff", "flip_rate", "ece", "ece_shift"):
                if view.is_interval(r.get(key)):
                    yield {**meta, "measure": key, **_numbers(r[key])}


def agreement_rows(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    c = view.section_data(results, "consistency") or {}
    for p in c.get("agreement") or []:
        meta = {"kind": "model vs model", "models": " vs ".join(p.get("models", [])),
                "condition": p.get("condition")}  # fmt: skip
        for key in ("agreement", "kappa"):
            if view.is_interval(p.get(key)):
                yield {**meta, "measure": key, **_numbers(p[key])}
    for model, items in (c.get("invariance") or {}).items():
        for r in items or []:
            meta = {"kind": "same model, clean vs condition", "models": model,
                    "condition": r.get("condition")}  # fmt: skip
            for key in ("agreement", "prob_distance"):
                if view.is_interval(r.get(key)):
                    yield {**meta, "measure": key, **_numbers(r[key])}
    for e in view.clean_entries(results):
        for path, iv in intervals(view.pick(e, "agreement"), "agreement"):
            yield {"kind": "model vs annotators", "models": view.key_of(e)[1],
                   "condition": "clean", "measure": path, **_numbers(iv)}  # fmt: skip


def flagging_rows(results: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for f in view.flagging_list(results):
        a = f.get("assumptions") or {}
        meta = {"model": f.get("model"), "flag": ",".join(f.get("flag") or []),
                "base_rate": a.get("base_rate"), "population": a.get("population")}  # fmt: skip
        for key in ("assumptions", "rates", "outcomes", "perfect_reader", "per_label"):
            for path, iv in intervals(f.get(key), key):
                yield {**meta, "measure": path, **_numbers(iv)}
        for row in f.get("sensitivity_table") or []:
            for path, iv in intervals(row):
                yield {**meta, "base_rate": row.get("base_rate"),
                       "measure": f"sensitivity_table.{path}", **_numbers(iv)}  # fmt: skip


ROWS = {
    "metrics": metric_rows,
    "by_group": group_rows,
    "robustness": robustness_rows,
    "agreement": agreement_rows,
    "flagging": flagging_rows,
}


def write_tables(out_dir: Path, results: dict[str, Any]) -> list[Path]:
    """Write OUT/<table>.csv for every table with at least one row; return the paths."""
    written = []
    for name, columns in TABLES.items():
        rows = list(ROWS[name](results))
        if not rows:
            continue
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*columns, *NUMBERS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = Path(out_dir) / f"{name}.csv"
        write_text_atomic(path, buf.getvalue())
        written.append(path)
    return written


def _numbers(iv: dict[str, Any]) -> dict[str, Any]:
    return {k: iv.get(k) for k in NUMBERS}
