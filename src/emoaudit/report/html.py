"""report.html: one self-contained file a journalist, regulator or buyer can open offline.

Inline CSS and SVG only (no script, no CDN). Jinja2 autoescape is on for every template, so a
label, attribute value or file name can never become markup; the plots escape their own strings
and hand back Markup. Face images appear only when asked for, blurred unless asked otherwise.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from markupsafe import Markup

from emoaudit.report import executive, heat, plots, view
from emoaudit.run.cache import write_text_atomic

REPORT = "report.html"
TEMPLATES = Path(__file__).with_name("templates")
SECTIONS = (
    ("summary", "Summary"),
    ("accounting", "Data accounting"),
    ("confusion", "Confusion matrices"),
    ("per-class", "Per-class recall"),
    ("reliability", "Reliability (calibration)"),
    ("groups", "Groups and disparities"),
    ("directional", "Directional errors"),
    ("read-how", "Who is read how"),
    ("robustness", "Robustness"),
    ("protocols", "Protocol sensitivity"),
    ("stability", "Video stability"),
    ("agreement", "Agreement"),
    ("flagging", "Flagging analysis"),
    ("provenance", "Provenance"),
    ("limitations", "Limitations"),
)
EXAMPLE_PX = 96
BLUR_RADIUS = 6


def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its suffix
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iv"] = plots.fmt_interval
    env.filters["ivn"] = lambda iv: plots.fmt_interval(iv, percent=False)
    env.filters["pct"] = plots.fmt_value
    env.filters["cell"] = cell
    env.filters["count"] = fmt_count
    env.filters["rate"] = fmt_rate
    env.filters["shade"] = heat.shade_style
    return env


def fmt_count(iv: Any) -> str:
    """People and flags as whole numbers with thousands separators, never 4.51e+04."""
    if view.is_interval(iv):
        v, lo, hi = iv.get("value"), iv.get("ci_low"), iv.get("ci_high")
        if v is None:
            return "n/a"
        if lo is None or hi is None:
            return _count(v)
        return f"{_count(v)} ({_count(lo)} to {_count(hi)})"
    return "n/a" if iv is None else _count(iv)


def _count(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or x == 0 else f"{x:.1f}"


def fmt_rate(x: Any) -> str:
    """A base rate such as 0.0001 as '0.01%' (1 in 10,000), as the prose says it."""
    if not isinstance(x, int | float):
        return cell(x)
    pct = 100 * x
    text = f"{pct:.2g}%" if pct < 1 else f"{pct:.1f}%"
    return f"{text} (1 in {1 / x:,.0f})" if 0 < x < 1 else text


def sections(results: dict[str, Any]) -> list[tuple[str, str]]:
    """SECTIONS with titles that fit the data: "Human agreement" only where votes exist."""
    votes = any(view.pick(e, "agreement") for e in view.clean_entries(results))
    name = "Human agreement" if votes else "Agreement between models"
    return [(sid, name if sid == "agreement" else title) for sid, title in SECTIONS]


def cell(x: Any) -> str:
    """Any table cell: an interval as 'value (low to high)', a float to 3 digits, else text."""
    if view.is_interval(x):
        v = x.get("value")
        pct = isinstance(v, float) and 0 <= v <= 1
        return plots.fmt_interval(x, percent=pct)
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, list | tuple):
        sep = " " if any(str(v).rstrip().endswith(".") for v in x) else ", "
        return sep.join(cell(v) for v in x)
    if isinstance(x, dict):
        return "; ".join(f"{k}: {cell(v)}" for k, v in x.items())
    return "" if x is None else str(x)


def write_report(
    out_dir: Path,
    results: dict[str, Any],
    *,
    include_examples: bool = False,
    examples_unblurred: bool = False,
    title: str | None = None,
) -> Path:
    """Render results into OUT/report.html atomically and return its path."""
    html = render_report(
        results,
        include_examples=include_examples,
        examples_unblurred=examples_unblurred,
        title=title,
    )
    path = Path(out_dir) / REPORT
    write_text_atomic(path, html)
    return path


def render_report(
    results: dict[str, Any],
    *,
    include_examples: bool = False,
    examples_unblurred: bool = False,
    title: str | None = None,
) -> str:
    prov = results.get("provenance") or {}
    blocks = [model_block(results, e) for e in view.clean_entries(results)]
    context = {
        "title": title or _default_title(results),
        "demo": bool(prov.get("demo")),
        "sections": sections(results),
        "executive": executive.executive_summary(results),
        "blocks": blocks,
        "statistics": results.get("statistics") or {},
        "schema_version": results.get("schema_version"),
        "flagging": [flagging_block(f) for f in view.flagging_list(results)],
        "stability": stability_block(view.section_data(results, "stability")),
        "agreement": agreement_tables(results),
        "invariance": invariance_tables(results),
        "group_consistency": group_consistency_lines(results),
        "protocols": view.protocol_results(results),
        "provenance": _flatten(prov),
        "limitations": limitations(results, blocks),
        "examples": examples_block(results, include=include_examples, unblurred=examples_unblurred),
        "include_examples": include_examples,
        "examples_unblurred": examples_unblurred,
        "sanity": _sanity(results),
    }
    return environment().get_template("report.html.j2").render(**context)


def _sanity(results: dict[str, Any]) -> list[str]:
    from emoaudit.report.sanity import sanity_notes

    return sanity_notes(results)


def _default_title(results: dict[str, Any]) -> str:
    models = sorted({view.key_of(e)[1] for e in view.entries(results)})
    datasets = sorted({view.key_of(e)[0] for e in view.entries(results)})
    if not models:
        return "emoaudit report"
    return f"emoaudit report: {', '.join(models)} on {', '.join(datasets)}"


def model_block(results: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Everything shown for one (dataset, model) on clean data, plots already drawn."""
    dataset, model, _ = view.key_of(entry)
    name = f"{model} on {view.dataset_label(entry)}"
    conf = view.confusion(entry)
    classes = view.per_class(entry)
    recall = [(lab, row.get("recall")) for lab, row in classes if isinstance(row, dict)]
    rel = view.reliability(entry)
    fams = view.robustness(results, entry)
    return {
        "name": name,
        "dataset": dataset,
        "model": model,
        "headline": view.headline(entry),
        "accounting": view.accounting(entry),
        "confusion_svg": plots.confusion_heatmap(
            conf["labels"], conf["shares"], counts=conf["counts"], title=f"{name}: confusion"
        )
        if conf
        else None,
        "per_class": classes,
        "recall_svg": plots.interval_bars(recall, title=f"{name}: recall per true label")
        if recall
        else None,
        "reliability_svg": plots.reliability_diagram(rel, title=f"{name}: reliability")
        if rel
        else None,
        "groups": [group_block(name, g, entry) for g in view.groups(entry)],
        "read_how": read_how_blocks(entry),
        "n_read": (entry.get("label_free") or {}).get("n_scored"),
        "baselines": entry.get("baselines"),
        "directional": [directional_block(name, g) for g in view.groups(entry)],
        "robustness_svg": plots.robustness_curves(
            fams, clean=_clean_reference(results, entry), title=f"{name}: accuracy by severity"
        )
        if fams
        else None,
        "conditions": view.condition_table(results, entry),
        "heat": heat.heat_table(
            results, entry, by_flips=bool((results.get("provenance") or {}).get("demo"))
        ),
        "agreement": _tables(view.pick(entry, "agreement")),
    }


def _clean_reference(results: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any] | None:
    block = view.robustness_summary(results, entry)
    if block and view.is_interval((block.get("clean") or {}).get("accuracy")):
        return block["clean"]["accuracy"]
    return view.metric(entry, "accuracy")


def group_block(name: str, g: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    rows = [
        {
            "label": str(row.get("group", row.get("value", ""))),
            "interval": view.group_metric(row, "accuracy"),
            "small": bool(row.get("small")),
            "n": row.get("n"),
            "ece": view.group_metric(row, "ece"),
            "versus": row.get("accuracy_minus_rest", row.get("accuracy_minus_reference")),
            "end_to_end": view.group_metric(row, "end_to_end_accuracy"),
            "detection": view.group_metric(row, "detection_rate"),
        }
        for row in g["groups"]
        if isinstance(row, dict)
    ]
    disp = g["disparity"].get("accuracy", g["disparity"]) if g["disparity"] else {}
    disp = disp if isinstance(disp, dict) else {}
    caption = "; ".join(
        f"{k.replace('_', ' ')}: {cell(v)}" for k, v in disp.items() if view.is_interval(v)
    )
    finding = g.get("finding") if isinstance(g.get("finding"), dict) else {}
    suppressed = g.get("suppressed") or {}
    return {
        "attribute": g["attribute"],
        "finding": finding.get("text"),
        "versus": _versus(g),
        "suppressed": suppressed if suppressed.get("n_groups") else None,
        "rows": rows,
        "disparity": disp if isinstance(disp, dict) else {},
        "svg": plots.forest_plot(
            rows,
            title=f"{name}: accuracy by {g['attribute']}",
            reference=view.metric(entry, "accuracy"),
            disparity=f"Disparity in accuracy: {caption}" if caption else None,
        ),
    }


def read_how_blocks(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Label-free results per grouping: tests in words, then per group the faces found, the
    share read as hostile, hostile readings at equal smiles, and the most common reading."""
    lf = entry.get("label_free") or {}
    given = lf.get("given")
    out = []
    for attr, g in (lf.get("groupings") or {}).items():
        rows = []
        for r in g.get("groups", []):
            shares = r.get("predicted_share") or {}
            top = max(shares.items(), key=lambda kv: kv[1].get("value") or -1, default=None)
            rows.append(
                {
                    "group": r["group"],
                    "n_presented": r.get("n_presented"),
                    "detection": r.get("detection_rate"),
                    "hostile": r.get("hostile_rate"),
                    "at_equal": r.get(f"hostile_probability_at_equal_{given}") if given else None,
                    "top": f"{top[0]} {plots.fmt_interval(top[1])}" if top else "n/a",
                    "small": r.get("small"),
                }
            )
        out.append(
            {
                "attribute": attr,
                "tests": [t["text"] for t in g.get("tests", {}).values()],
                "rows": rows,
                "given": given,
                "hostile_labels": ", ".join(lf.get("hostile_labels") or []),
                "caveat": lf.get("caveat"),
            }
        )
    return out


def group_consistency_lines(results: dict[str, Any]) -> list[str]:
    """Per-group flip rates and model agreement, in the words their tests license."""
    gc = results.get("group_consistency") or {}
    lines = []
    for model, by in (gc.get("flip") or {}).items():
        for attr, fams in by.items():
            for block in fams.values():
                if "test" in block:
                    lines.append(f"{model}, by {attr}: {block['test']['text']}")
    for pair in gc.get("agreement") or []:
        for attr, block in pair.get("groupings", {}).items():
            if "test" in block:
                lines.append(f"{' vs '.join(pair['models'])}, by {attr}: {block['test']['text']}")
    return lines


RATIO_CAPTION = "Highest / lowest: {} (descriptive, 1 or more by construction; not a test)"


def flagging_block(f: dict[str, Any]) -> dict[str, Any]:
    table = f.get("sensitivity_table") or []
    ppv_bars = [(f"base rate {fmt_rate(row['base_rate'])}", row.get("ppv")) for row in table]
    groups = []
    for attr, g in (f.get("groups") or {}).items():
        rows = [
            {
                "label": str(r["group"]),
                "interval": r.get("false_flag_rate"),
                "small": r.get("small"),
                "n": r.get("n"),
            }
            for r in g.get("groups", [])
        ]
        ratio = g.get("ratio_max_min")
        groups.append(
            {
                "attribute": attr,
                "rows": rows,
                "ratio": ratio,
                # the words come from the tests (analysis/flagging.group_difference_tests); the
                # ratio is 1 or more in every resample, so it is shown as a number, never a verdict
                "finding": g.get("finding"),
                "svg": plots.forest_plot(
                    rows,
                    title=f"False-flag rate of ordinary people by {attr}",
                    reference=(f.get("rates") or {}).get("false_flag_rate"),
                    disparity=RATIO_CAPTION.format(plots.fmt_interval(ratio, percent=False))
                    if ratio
                    else None,
                ),
            }
        )
    return {
        "f": f,
        "ppv_svg": plots.interval_bars(
            ppv_bars, title="Share of flags that are right, by base rate"
        )
        if ppv_bars
        else None,
        "groups": groups,
    }


DISPARITY_CAPTION = "Descriptive, not a test: "


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def directional_block(name: str, g: dict[str, Any]) -> dict[str, Any] | None:
    """Calm faces read as hostile, by group (Rhue 2018's pattern), and the significant tests."""
    d = g.get("directional_errors") or {}
    if not d:
        return None
    calm = d.get("calm_read_as_hostile") or {}
    svg = None
    if calm.get("by_group"):
        small = set(calm.get("excluded_from_disparity", g.get("excluded_from_disparity")) or [])
        rows = [
            {"label": grp, "interval": iv, "small": grp in small}
            for grp, iv in calm["by_group"].items()
        ]
        disp = calm.get("disparity") or {}
        svg = plots.forest_plot(
            rows,
            title=f"{name}: {'/'.join(calm['true_labels'])} faces called "
            f"{'/'.join(calm['pred_labels'])}, by {g['attribute']}",
            # a max-min gap is never below 0 (nor a min/max ratio above 1): numbers, not verdicts
            disparity=DISPARITY_CAPTION + "; ".join(f"{k} {cell(v)}" for k, v in disp.items())
            if disp
            else None,
        )
        words = (calm.get("test") or {}).get("text")
        if words:  # the only words on it: its test's (analysis/groups.calm_hostile_test)
            svg = Markup("{}<figcaption>{}</figcaption>").format(svg, _capital(words))
    tests = sorted(d.get("tests") or [], key=lambda t: t.get("p_holm", 1.0))
    shown = [
        {
            "true label": t["true"],
            "called": t["pred"],
            "group": t["group"],
            "rate in group": _pct(t["rate_group"]),
            "rate in the rest": _pct(t["rate_rest"]),
            "difference (points)": heat.points(t["difference"])
            if view.is_interval(t["difference"])
            else _points(t["difference"]),
            "p (Holm)": executive.fmt_p(t.get("p_holm")),
        }
        for t in tests[:DIRECTIONAL_ROWS]
    ]
    return {
        "attribute": g["attribute"],
        "svg": svg,
        "table": _table("", shown) if shown else None,
        "note": f"{d.get('test', '')}; {d.get('correction', '')}".strip("; "),
        "caption": directional_caption(len(shown), len(tests)),
    }


DIRECTIONAL_ROWS = 12


def directional_caption(shown: int, total: int) -> str:
    """Says what the table holds: every test, or the first N by p-value (not 'largest')."""
    if shown == total:
        return f"All {total} tests, smallest p-value first"
    return f"The {shown} tests with the smallest p-values, of {total}"


def _pct(x: Any) -> str:
    if view.is_interval(x):
        return plots.fmt_interval(x)
    return plots.fmt_value(x) if isinstance(x, int | float) else cell(x)


def _points(x: Any) -> str:
    return f"{100 * x:+.1f}" if isinstance(x, int | float) else cell(x)


# measure -> (what it is, unit): a duration is seconds and an entropy bits, never a percentage
STABILITY_UNITS = {
    "changes_per_s": ("label changes per second", "/s"),
    "mean_run_s": ("mean time one label is held", "s"),
    "mean_run_frames": ("mean frames one label is held", "frames"),
    "entropy_bits": ("entropy of the labels given", "bits"),
}


def fmt_unit(iv: Any, unit: str) -> str:
    """'0.75 s (0.70 to 0.80 s)': a measured quantity in its own unit, 3 significant digits."""
    if not view.is_interval(iv) or iv.get("value") is None:
        return "n/a"
    sep = "" if unit.startswith("/") else " "
    v = f"{iv['value']:.3g}{sep}{unit}"
    if iv.get("ci_low") is None or iv.get("ci_high") is None:
        return v
    return f"{v} ({iv['ci_low']:.3g} to {iv['ci_high']:.3g}{sep}{unit})"


def stability_block(data: Any) -> dict[str, Any] | None:
    """Per-clip label changes per second from analysis.stability ({"models": {m: clips...}})."""
    if not isinstance(data, dict) or not data.get("models"):
        return None
    items, summary = [], []
    for model, block in data["models"].items():
        for c in block.get("clips") or []:
            v = c.get("changes_per_s")
            items.append((f"{model}: {c.get('clip', '')}", v))
        for measure, iv in (block.get("summary") or {}).items():
            name, unit = STABILITY_UNITS.get(measure, (measure, ""))
            summary.append({"model": model, "measure": name, "mean over clips": fmt_unit(iv, unit)})
    return {
        "svg": plots.stability_summary(items) if items else None,
        "tables": [_table("", summary)] if summary else [],
    }


def _consistency(results: dict[str, Any]) -> dict[str, Any]:
    c = view.section_data(results, "consistency")
    return c if isinstance(c, dict) else {}


def agreement_tables(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Model-vs-model agreement on the same faces (label-free), from analysis.consistency."""
    pairs = _consistency(results).get("agreement") or []
    rows = [
        {
            "models": " vs ".join(p.get("models", [])),
            "condition": p.get("condition"),
            "same top-1 label": p.get("agreement"),
            "Cohen's kappa": p.get("kappa"),
            "n": p.get("n"),
        }
        for p in pairs
        if isinstance(p, dict)
    ]
    return [_table("Agreement between models on the same faces", rows)] if rows else []


def invariance_tables(results: dict[str, Any]) -> list[dict[str, Any]]:
    inv = _consistency(results).get("invariance") or {}
    rows = [
        {
            "model": model,
            "condition": r.get("condition"),
            "same answer as clean": r.get("agreement"),
            "probability distance": r.get("prob_distance"),
            "n": r.get("n_pairs"),
        }
        for model, items in inv.items()
        for r in items or []
        if isinstance(r, dict)
    ]
    return [_table("Label-free invariance", rows)] if rows else []


def _tables(data: Any) -> list[dict[str, Any]]:
    """Generic tables for sections whose exact layout the report need not know."""
    if not data:
        return []
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return [_table("", data)]
    if isinstance(data, dict):
        scalars = {
            k: v for k, v in data.items() if not isinstance(v, list | dict) or view.is_interval(v)
        }
        out = (
            [_table("", [{"measure": k, "value": v} for k, v in scalars.items()])]
            if scalars
            else []
        )
        for k, v in data.items():
            if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
                out.append(_table(str(k), v))
            elif isinstance(v, dict) and not view.is_interval(v):
                out += [{**t, "title": f"{k} {t['title']}".strip()} for t in _tables(v)]
        return out
    return []


def _table(title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    return {"title": title, "columns": columns, "rows": [[r.get(c) for c in columns] for r in rows]}


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _flatten(v, f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}")
        return out
    return [(prefix.rstrip("."), cell(d))]


def limitations(results: dict[str, Any], blocks: list[dict[str, Any]]) -> list[str]:
    """Standing caveats plus the ones this particular audit earns."""
    notes = [
        "Expression labels are annotators' judgements of posed or spontaneous faces, not the "
        "feelings of the people pictured; accuracy here means agreement with those labels.",
        "A facial expression does not reliably reveal an emotional state, let alone intent "
        "(Barrett et al. 2019). No number here supports inferring either about a person.",
        "Intervals cover sampling uncertainty in this dataset only; a different population, "
        "camera or setting can give different results.",
    ]
    if (results.get("provenance") or {}).get("demo"):
        notes.insert(0, "This is a demonstration on a handful of photos: it is not evidence.")
    notes += view.caveats(results)
    for b in blocks:
        n = b["accounting"].get("n_evaluated")
        if isinstance(n, int) and n < 100:
            notes.append(f"{b['name']}: only {n} faces evaluated; intervals are wide.")
        small = sorted({g["attribute"] for g in b["groups"] for r in g["rows"] if r["small"]})
        if small:
            notes.append(
                f"{b['name']}: some groups by {', '.join(small)} are below the size threshold; "
                "they are shown but left out of disparities."
            )
    return notes


def examples_block(
    results: dict[str, Any], *, include: bool, unblurred: bool
) -> list[dict[str, Any]]:
    """Example faces as small inline PNGs, only when asked for, blurred unless asked otherwise."""
    if not include:
        return []
    out = []
    for ex in results.get("examples") or []:
        path = ex.get("path") if isinstance(ex, dict) else None
        uri = _thumbnail(Path(path), blur=not unblurred) if path else None
        if uri:
            out.append({**ex, "uri": uri})
    return out


def _thumbnail(path: Path, *, blur: bool) -> Markup | None:
    from PIL import Image, ImageFilter

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((EXAMPLE_PX, EXAMPLE_PX))
            if blur:
                im = im.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except (OSError, ValueError):
        return None
    return Markup("data:image/png;base64,") + base64.b64encode(buf.getvalue()).decode("ascii")


def _versus(g: dict[str, Any]) -> str:
    """Whom each group is compared with; a --reference group that is not shown is named, not
    dropped in silence (it was: the comparison fell back to the rest without a word)."""
    if g.get("reference"):
        return "the reference group " + g["reference"]
    missing = g.get("reference_not_shown")
    if missing:
        return (
            f"the rest (the reference group '{missing}' is not among the groups shown: absent, "
            "or hidden to protect the people in it)"
        )
    return "the rest"
