"""Read results.json into what each report section shows, tolerating absent parts.

The layout of results.json is owned by the analysis (docs/statistics.md, results.schema.json);
this module is the one place that knows where each number lives, so the HTML report, the audit
card and the console summary agree, and a section whose data is absent says so instead of
breaking. Nothing here computes a statistic: it only selects and orders what is there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emoaudit.taxonomy import CANONICAL

HEADLINE = (
    ("accuracy", "Accuracy (faces found)"),
    ("accuracy_end_to_end", "Accuracy end to end (missed face = wrong)"),
    ("balanced_accuracy", "Balanced accuracy"),
    ("f1_macro", "Macro F1"),
    ("ece", "Expected calibration error"),
)
ALIASES = {
    "accuracy_end_to_end": ("accuracy_end_to_end", "end_to_end_accuracy", "accuracy_e2e"),
    "f1_macro": ("f1_macro", "macro_f1"),
    "ece": ("ece", "ece_uniform", "ece_equal_width"),
    "per_class": ("per_class", "per_label", "classes"),
    "confusion": ("confusion", "confusion_matrix"),
    "reliability": ("reliability", "reliability_diagram"),
    "accounting": ("accounting", "data_accounting", "counts"),
    "directional": ("directional", "directional_errors"),
    "agreement": ("agreement", "human_agreement"),
    "stability": ("stability", "video_stability", "video"),
}


def pick(obj: dict[str, Any] | None, key: str, default: Any = None) -> Any:
    """obj[key] under any of its known spellings."""
    if not isinstance(obj, dict):
        return default
    for name in ALIASES.get(key, (key,)):
        if name in obj and obj[name] is not None:
            return obj[name]
    return default


def is_interval(x: Any) -> bool:
    return isinstance(x, dict) and "value" in x


def entries(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = results.get("results") or []
    return [e for e in out if isinstance(e, dict)]


def key_of(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(entry.get("dataset", "")),
        str(entry.get("model", "")),
        str(entry.get("condition", "clean")),
    )


def dataset_label(entry: dict[str, Any]) -> str:
    """The dataset with its split, "fer2013 (PrivateTest)": results are per split."""
    split = entry.get("split")
    return str(entry.get("dataset", "")) + (f" ({split})" if split else "")


def protocol_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    """analysis/sensitivity.py's per (model, split) blocks, or [] when no protocol was run."""
    block = results.get("protocols")
    rows = block.get("results") if isinstance(block, dict) else None
    return [r for r in rows or [] if isinstance(r, dict)]


def _is_protocol(condition: str) -> bool:
    return condition.startswith("protocol:")  # run/protocols.py PREFIX; not a perturbation


def caveats(results: dict[str, Any]) -> list[str]:
    """One-line caveats this audit earns: run-level warnings (small crops sent to a detector),
    each clean slice's warnings (few subject clusters) and the rows left out because the model
    cannot output their label, with their count (analysis/summary.py)."""
    out = [str(w) for w in results.get("warnings") or []]
    for e in clean_entries(results):
        name = f"{key_of(e)[1]} on {dataset_label(e)}"
        out += [f"{name}: {w}" for w in e.get("warnings") or []]
        dropped = (e.get("data") or {}).get("label_not_emitted") or {}
        if dropped.get("n"):
            labels = ", ".join(f"{n} {lab}" for lab, n in dropped["by_label"].items())
            out.append(
                f"{name}: {dropped['n']} rows left out ({labels}): the model cannot output "
                "that label, so they count in no statistic for it, end-to-end accuracy included."
            )
    return out


def clean_entries(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in entries(results) if key_of(e)[2] == "clean"]


def metrics(entry: dict[str, Any]) -> dict[str, Any]:
    """The headline block of one result (analysis.summary writes it as "headline")."""
    for key in ("headline", "metrics"):
        m = entry.get(key)
        if isinstance(m, dict):
            return m
    return {}


def metric(entry: dict[str, Any], name: str) -> dict[str, Any] | None:
    """One headline number with its interval, wherever the analysis keeps it."""
    if name in ("accuracy_end_to_end",) and is_interval(entry.get("end_to_end")):
        return entry["end_to_end"]
    if name in ("ece", "mce"):
        cal = entry.get("calibration") or {}
        block = cal.get("equal_width") if isinstance(cal, dict) else None
        if isinstance(block, dict) and is_interval(block.get(name)):
            return block[name]
    m = metrics(entry)
    for alias in ALIASES.get(name, (name,)):
        if is_interval(m.get(alias)):
            return m[alias]
        if is_interval(entry.get(alias)):
            return entry[alias]
    return None


def headline(entry: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(k, label, iv) for k, label in HEADLINE if (iv := metric(entry, k)) is not None]


def accounting(entry: dict[str, Any]) -> dict[str, Any]:
    """n in, n evaluated and n per status (analysis.summary's "data" block)."""
    acc = entry.get("data") if isinstance(entry.get("data"), dict) else None
    acc = acc or pick(entry, "accounting", {}) or {}
    statuses = acc.get("n_by_status") or acc.get("by_status") or acc.get("status_counts") or {}
    statuses = {k: v for k, v in statuses.items() if v}
    n_eval = acc.get("n_evaluated", statuses.get("ok"))
    n_total = acc.get("n_rows", acc.get("n_total", sum(statuses.values()) if statuses else None))
    return {
        "n_total": n_total,
        "n_evaluated": n_eval,
        "n_labelled": acc.get("n_labelled"),
        "n_unlabelled": acc.get("n_unlabelled"),
        "by_status": dict(statuses),
    }


def per_class(entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """[(label, {"recall": iv, "precision": iv, "f1": iv, "support": n})] in canonical order."""
    pc = pick(entry, "per_class")
    if isinstance(pc, list):
        pc = {str(row.get("label")): row for row in pc if isinstance(row, dict)}
    if not isinstance(pc, dict):
        return []
    return sorted(pc.items(), key=lambda kv: _label_order(kv[0]))


def confusion(entry: dict[str, Any]) -> dict[str, Any] | None:
    """{"labels", "shares" (row-normalised floats), "counts"} or None."""
    c = pick(entry, "confusion")
    if not isinstance(c, dict) or not c.get("labels"):
        return None
    counts = c.get("counts")
    shares = c.get("row_normalised") or c.get("row_normalized") or c.get("normalised")
    if shares is None and counts is not None:
        shares = [_row_share(row) for row in counts]
    shares = [[_value(v) for v in row] for row in shares or []]
    return {"labels": list(c["labels"]), "shares": shares, "counts": counts}


def reliability(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Equal-width reliability bins: mean confidence, accuracy with its interval, count."""
    cal = entry.get("calibration")
    r = None
    if isinstance(cal, dict):
        block = cal.get("equal_width") or cal.get("uniform") or {}
        r = block.get("reliability") if isinstance(block, dict) else None
        r = r if r is not None else cal.get("bins")
    if r is None:
        r = pick(entry, "reliability")
    out = []
    for b in r if isinstance(r, list) else []:
        if not isinstance(b, dict):
            continue
        acc = b.get("accuracy")
        n = b.get("count", b.get("n", 0))
        if not is_interval(acc) and acc is not None:
            acc = {"value": acc, "ci_low": None, "ci_high": None, "n": n}
        conf = _value(b.get("confidence", b.get("mean_confidence")))
        out.append({"confidence": conf, "accuracy": acc, "n": n})
    return out


def groups(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"attribute", "groups": [{"group","n","small","metrics"}], "disparity": {...}}]."""
    g = entry.get("groups")
    if isinstance(g, dict):
        g = [{"attribute": k, **v} for k, v in g.items() if isinstance(v, dict)]
    out = []
    for item in g if isinstance(g, list) else []:
        rows = item.get("groups") or item.get("cells") or []
        if isinstance(rows, dict):
            rows = [{"group": k, **v} for k, v in rows.items()]
        out.append(
            {
                **item,
                "attribute": str(item.get("attribute", item.get("name", ""))),
                "groups": rows,
                "disparity": item.get("disparity") or {},
            }
        )
    return out


def group_metric(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    m = row.get("metrics") if isinstance(row.get("metrics"), dict) else row
    for alias in ALIASES.get(name, (name,)):
        if is_interval(m.get(alias)):
            return m[alias]
    return None


def robustness_summary(results: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any] | None:
    """analysis.robustness's per-model block ({"clean", "conditions"}) for this entry's model."""
    model = key_of(entry)[1]
    for source in (entry, results, results.get("statistics") or {}):
        rob = source.get("robustness") if isinstance(source, dict) else None
        if isinstance(rob, dict) and isinstance(rob.get("models"), dict):
            block = rob["models"].get(model)
            if isinstance(block, dict):
                return block
    return None


def robustness(results: dict[str, Any], entry: dict[str, Any]) -> dict[str, list]:
    """{family: [(severity, accuracy iv)]}: from the robustness summary, else from per-condition
    entries of the same (dataset, model). Label-free data plots the flip rate instead."""
    fams: dict[str, list] = {}
    block = robustness_summary(results, entry)
    if block is not None:
        rows = block.get("conditions") or []
        use_acc = any(_has_value(r.get("accuracy")) for r in rows)
        for r in rows:
            measure = r.get("accuracy") if use_acc else r.get("flip_rate")
            fams.setdefault(str(r.get("family")), []).append((str(r.get("severity")), measure))
    else:
        dataset, model, _ = key_of(entry)
        for e in entries(results):
            d, m, cond = key_of(e)
            if (d, m) != (dataset, model) or cond == "clean" or ":" not in cond:
                continue
            if _is_protocol(cond):
                continue
            fam, sev = cond.split(":", 1)
            fams.setdefault(fam, []).append((sev, metric(e, "accuracy")))
    for fam in fams:
        fams[fam].sort(key=lambda kv: _severity_order(kv[0]))
    return fams


def condition_table(results: dict[str, Any], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Per perturbed condition: accuracy, its paired difference from clean, flip rate, ECE."""
    block = robustness_summary(results, entry)
    if block is not None:
        return [
            {
                "condition": r.get("condition"),
                "accuracy": r.get("accuracy"),
                "difference": r.get("accuracy_diff"),
                "flip_rate": r.get("flip_rate"),
                "ece": r.get("ece"),
                # a drift is named only where analysis.robustness.settle's test backs it
                "drift_toward": r.get("drift_toward") if "drift_tests" in r else None,
                "n_pairs": r.get("n_pairs"),
            }
            for r in block.get("conditions") or []
        ]
    dataset, model, _ = key_of(entry)
    rows = []
    for e in entries(results):
        d, m, cond = key_of(e)
        if (d, m) != (dataset, model) or cond == "clean" or _is_protocol(cond):
            continue
        rows.append(
            {
                "condition": cond,
                "accuracy": metric(e, "accuracy"),
                "difference": metric(e, "accuracy_diff"),
                "flip_rate": metric(e, "flip_rate"),
                "ece": metric(e, "ece"),
                "drift_toward": e.get("drift_toward") if "drift_tests" in e else None,
                "n_pairs": None,
            }
        )
    return rows


def _has_value(iv: Any) -> bool:
    return is_interval(iv) and iv.get("value") is not None


def section_data(results: dict[str, Any], name: str) -> Any:
    """A top-level section (flagging, stability, agreement, robustness) if the results have it."""
    value = pick(results, name)
    if value is None:
        value = pick(results.get("statistics") or {}, name)
    return value


def flagging_list(results: dict[str, Any]) -> list[dict[str, Any]]:
    f = results.get("flagging")
    if isinstance(f, dict):
        return [f] if "outcomes" in f else [v for v in f.values() if isinstance(v, dict)]
    return [x for x in f or [] if isinstance(x, dict)]


def strings_in(rows: Iterable[Any]) -> list[str]:
    return [str(r) for r in rows]


def _label_order(label: str) -> tuple[int, str]:
    return (CANONICAL.index(label) if label in CANONICAL else len(CANONICAL), label)


def _severity_order(sev: str) -> tuple[float, str]:
    try:
        return (float(sev), sev)
    except ValueError:
        return (float("inf"), sev)


def _value(v: Any) -> float | None:
    if is_interval(v):
        return v["value"]
    return None if v is None else float(v)


def _row_share(row: list) -> list[float | None]:
    total = sum(_value(v) or 0 for v in row)
    return [(_value(v) or 0) / total if total else None for v in row]
