"""The executive summary: what a reader who stops after one screen must take away.

Per model: the headline accuracy with its interval beside the chance level (1/k for k labels
scored), group verdicts only where the group test backs them (issue 12's per-grouping
"finding"), the conditions that hurt most, the flagging bottom line, and what this data cannot
tell. The HTML report, the audit card and the console print the same sentences, so they never
disagree. Nothing here computes a statistic; it only chooses and words what results.json holds.
"""

from __future__ import annotations

from typing import Any

from emoaudit.report import heat, view
from emoaudit.report.plots import fmt_interval, fmt_value

N_WORST = 5
FEW_SAMPLES = 100
FEW_SUBJECTS = 30
NO_GROUP_DIFFERENCE = (
    "no evidence of a difference by {grouping} (p = {p}); this data could detect a gap of "
    "{mdd} or more"
)
NO_GROUP_DIFFERENCE_NO_MDD = "no evidence of a difference by {grouping} (p = {p})"
GROUP_DIFFERENCE = "by {grouping}: {text}"
NOT_TESTED = "by {grouping}: not tested ({why})"
DISPLAY_RATE_NOTE = (
    "The share of ordinary people assumed to show {flags} ({rate}) was taken from {source}; "
    "it drives every flagging number. Set it for the setting you have in mind with "
    "`emoaudit flagging DIR --display-rate R`."
)


LABEL_FREE_CAVEAT = (
    "Who is read how says how groups' faces are read, not that the model fails them: the people "
    "pictured may truly differ in expression."
)


def fmt_p(p: float | None) -> str:
    """A p-value the way a reader quotes it: two significant digits, tiny ones as '< 0.001'."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def chance_level(entry: dict[str, Any]) -> tuple[float | None, int | None]:
    """(chance accuracy, k): the baseline block when present, else 1/k over labels scored."""
    base = entry.get("baselines") if isinstance(entry.get("baselines"), dict) else {}
    k = len([lab for lab, row in view.per_class(entry) if _support(row)]) or None
    if base.get("chance") is not None:
        return float(base["chance"]), k
    return (1.0 / k if k else None), k


def headline_sentence(entry: dict[str, Any]) -> str:
    dataset, model, _ = view.key_of(entry)
    acc = view.metric(entry, "accuracy")
    n = view.accounting(entry).get("n_evaluated")
    if not acc or acc.get("value") is None:
        lf = entry.get("label_free") or {}
        if lf.get("n_scored"):
            return (
                f"{model} on {dataset}: these faces carry no expression label, so there is no "
                f"accuracy; it found and read {lf['n_scored']:,} of {lf['n_presented']:,} faces "
                "(who is read how, below)."
            )
        return f"{model} on {dataset}: no labelled faces were scored, so there is no accuracy."
    chance, k = chance_level(entry)
    text = f"{model} on {dataset}: agreed with the dataset's labels on {fmt_interval(acc)} of {n}"
    text += " faces"
    if chance is not None:
        text += f"; guessing among {k} labels would score {fmt_value(chance)}"
    base = entry.get("baselines") if isinstance(entry.get("baselines"), dict) else {}
    if base.get("majority") is not None:
        text += (
            f", always answering '{base.get('majority_label', '?')}' {fmt_value(base['majority'])}"
        )
    if base.get("distinguishable_from_chance") is False:
        text += " (on this data, not shown to beat answers that ignore the face)"
    return text + "."


def group_sentences(entry: dict[str, Any]) -> list[str]:
    """One sentence per grouping that carries a test finding; nothing for the others."""
    out = []
    for g in view.groups(entry):
        finding = g.get("finding")
        if not isinstance(finding, dict):
            continue
        grouping = g["attribute"]
        if finding.get("rejected"):
            text = finding.get("text") or (
                f"worse for {', '.join(finding.get('worse') or [])} "
                f"(p = {fmt_p(finding.get('p_holm'))})"
            )
            out.append(GROUP_DIFFERENCE.format(grouping=grouping, text=text))
            continue
        if finding.get("untestable"):
            out.append(NOT_TESTED.format(grouping=grouping, why=finding["untestable"]))
            continue
        p = fmt_p(finding.get("p_holm", finding.get("p_value")))
        mdd = finding.get("min_detectable_difference")
        if mdd is None:
            out.append(NO_GROUP_DIFFERENCE_NO_MDD.format(grouping=grouping, p=p))
        else:
            out.append(
                NO_GROUP_DIFFERENCE.format(grouping=grouping, p=p, mdd=f"{100 * mdd:.0f} points")
            )
    return out


def worst_conditions(
    results: dict[str, Any], entry: dict[str, Any], *, by_flips: bool = False
) -> list[str]:
    """The N_WORST conditions that hurt most: largest accuracy drop, else (no labels, or
    `by_flips`) largest flip rate. A drop is stated plainly only where the paired test backs it
    after Holm over the model's conditions (:func:`_noise`); flip rates are counts of changed
    answers, ranked, and claim nothing more (their heading says so: :func:`worst_heading`)."""
    block = view.robustness_summary(results, entry) or {}
    rows = [r for r in block.get("conditions") or [] if not heat.is_noop(r)]
    if not by_flips and any(_val(r.get("accuracy_diff")) is not None for r in rows):
        rows = [r for r in rows if _val(r.get("accuracy_diff")) is not None]
        rows.sort(key=lambda r: _val(r["accuracy_diff"]))
        return [
            f"{heat.describe(r.get('family'), r.get('severity'))}: accuracy "
            f"{heat.points(r['accuracy_diff'])}{_noise(r)}"
            for r in rows[:N_WORST]
            if _val(r["accuracy_diff"]) < 0
        ]
    rows = [r for r in rows if _val(r.get("flip_rate")) is not None]
    rows.sort(key=lambda r: -_val(r["flip_rate"]))
    return [
        f"{heat.describe(r.get('family'), r.get('severity'))}: answer changed on "
        f"{heat.share_of_faces(r['flip_rate'])}"
        for r in rows[:N_WORST]
        if _val(r["flip_rate"]) > 0
    ]


def flagging_sentences(results: dict[str, Any], model: str) -> list[str]:
    out = []
    for f in view.flagging_list(results):
        if f.get("model") != model:
            continue
        o, a = f.get("outcomes") or {}, f.get("assumptions") or {}
        flags = " or ".join(f.get("flag") or [])
        ppv, per_hit = o.get("ppv"), _val(o.get("innocent_per_true_hit"))
        text = (
            f"flagging faces read as {flags} among {a.get('population', 0):,} people would "
            f"raise about {_count(o.get('expected_flags'))} flags"
        )
        if ppv and ppv.get("value") is not None:
            text += f", right only {share_interval(ppv)} of the time"
        if per_hit is not None:
            text += f": about {_count(o.get('innocent_per_true_hit'))} innocent people per true hit"
        else:
            text += ": no true hit is expected, so every flag would fall on an innocent person"
        out.append(text + ".")
    return out


def display_rate_notes(results: dict[str, Any], model: str) -> list[str]:
    """Where the display rate came from the data's label mix, say so: it drives every number."""
    out = []
    for f in view.flagging_list(results):
        a = f.get("assumptions") or {}
        if f.get("model") == model and str(a.get("display_rate_source", "")).startswith("dataset"):
            flags = " or ".join(f.get("flag") or [])
            out.append(
                DISPLAY_RATE_NOTE.format(
                    flags=flags,
                    rate=fmt_value(_val(a.get("display_rate"))),
                    source="the dataset's label mix, not from any real setting",
                )
            )
    return out


def read_sentences(entry: dict[str, Any]) -> list[str]:
    """Label-free tests in the words they license ("who is read how"): every one when the data
    has no labels, else only those that found a difference (the groups section has the rest)."""
    lf = entry.get("label_free") or {}
    labelled = bool(view.groups(entry))
    out = []
    for grouping, g in (lf.get("groupings") or {}).items():
        for key, t in (g.get("tests") or {}).items():
            if labelled and (key == "detection_rate" or not t.get("rejected")):
                continue
            out.append(f"by {grouping}: {t['text']}")
    return out


def _unscored(model: str, acc: dict[str, Any]) -> list[str]:
    """Samples accuracy leaves out, told apart: no label at all (the data's), or a label given
    but not usable or not scored (unreadable file, bad row, no face: the accounting says which).
    Results written before n_unlabelled existed count every unusable label as missing."""
    n_total, n_lab, n_eval = acc["n_total"], acc["n_labelled"], acc["n_evaluated"]
    if not isinstance(n_total, int) or not isinstance(n_lab, int):
        return []
    n_none = acc.get("n_unlabelled")
    n_none = n_total - n_lab if not isinstance(n_none, int) else n_none
    out = []
    if n_none:
        out.append(
            f"{model}: {n_none} of {n_total} samples have no label, so accuracy covers only "
            "the labelled ones."
        )
    n_left = n_total - n_none - (n_eval if isinstance(n_eval, int) else 0)
    if isinstance(acc.get("n_unlabelled"), int) and n_left > 0 and n_eval is not None:
        out.append(
            f"{model}: {n_left} of {n_total} samples have a label but were not scored "
            "(unreadable, malformed, no face or a label the model lacks: see the accounting "
            f"table), so accuracy covers the {n_eval} that were."
        )
    return out


def cannot_tell(results: dict[str, Any]) -> list[str]:
    """What this data cannot say, in the reader's terms."""
    out = []
    few: dict[int, list[str]] = {}
    clean = view.clean_entries(results)
    if (results.get("provenance") or {}).get("demo"):
        out.append("This is a demonstration on three photos: no number here is evidence.")
    for e in clean:
        acc = view.accounting(e)
        n_lab, n_eval = acc["n_labelled"], acc["n_evaluated"]
        model = view.key_of(e)[1]
        out.extend(_unscored(model, acc))
        n_read = (e.get("label_free") or {}).get("n_scored")
        n_eval = n_eval if n_lab else (n_read if isinstance(n_read, int) else n_eval)
        if isinstance(n_eval, int) and n_eval < FEW_SAMPLES:
            few.setdefault(n_eval, []).append(model)
    for n_eval, models in few.items():
        who = "each model" if len(models) == len(clean) > 1 else ", ".join(models)
        out.append(f"Only {n_eval} faces were scored ({who}); intervals are wide.")
    subjects = _subjects(clean)
    if subjects is None:
        out.append(
            "No subject ids: several photos of one person count as independent, so intervals "
            "may be too narrow."
        )
    elif subjects < FEW_SUBJECTS:
        out.append(f"Only {subjects} people are pictured; results may not carry to others.")
    read = any((e.get("label_free") or {}).get("groupings") for e in clean)
    if clean and not any(view.groups(e) for e in clean) and not read:
        out.append("No demographic attributes: this data cannot say for whom the models fail.")
    if read:
        out.append(LABEL_FREE_CAVEAT)
    return list(dict.fromkeys(out))


def agreement_sentences(results: dict[str, Any]) -> list[str]:
    """How often models give the same answer on the same clean faces (no labels needed)."""
    c = view.section_data(results, "consistency")
    pairs = (c or {}).get("agreement") if isinstance(c, dict) else None
    out = []
    for p in pairs or []:
        iv = p.get("agreement") if isinstance(p, dict) else None
        if p.get("condition", "clean") != "clean" or not iv or iv.get("value") is None:
            continue
        out.append(
            f"{' and '.join(p.get('models', []))} gave the same answer on {heat.share_of_faces(iv)}"
        )
    return out


def flip_sentence(results: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """'changed its answer on at least one face under 40 of 66 camera conditions': a count of
    conditions, no new statistic, readable when the faces are too few for any rate."""
    block = view.robustness_summary(results, entry) or {}
    rows = [r for r in block.get("conditions") or [] if not heat.is_noop(r)]
    rows = [r for r in rows if _val(r.get("flip_rate")) is not None]
    if not rows:
        return None
    changed = sum(1 for r in rows if _val(r["flip_rate"]) > 0)
    return (
        f"{view.key_of(entry)[1]} changed its answer on at least one face under {changed} of "
        f"{len(rows)} camera conditions"
    )


def executive_summary(results: dict[str, Any]) -> dict[str, Any]:
    """{"models": [{"name", "headline", "groups", "worst", "flagging"}], "cannot_tell": [...]}

    For the demo (three photos), accuracy is no headline: its intervals span 33-100%. What the
    photos can show is whether the models agree on the same faces and whether their answers
    survive camera conditions, so those lead ("demo" holds them) and worst conditions are
    ranked by flip rate.
    """
    demo = bool((results.get("provenance") or {}).get("demo"))
    models = []
    for e in view.clean_entries(results):
        dataset, model, _ = view.key_of(e)
        flips = flip_sentence(results, e) if demo else None
        models.append(
            {
                "name": f"{model} on {dataset}",
                "headline": (flips + ".") if flips else headline_sentence(e),
                "groups": group_sentences(e),
                "read": read_sentences(e),
                "worst": worst_conditions(results, e, by_flips=demo),
                "worst_heading": worst_heading(results, e, by_flips=demo),
                "flagging": flagging_sentences(results, model),
                "display_rate": list(dict.fromkeys(display_rate_notes(results, model))),
            }
        )
    lead = [f"{s}." for s in agreement_sentences(results)] if demo else []
    return {"demo": lead, "models": models, "cannot_tell": cannot_tell(results)}


def as_lines(summary: dict[str, Any]) -> list[str]:
    """Plain-text lines (console and card share them): one block per model, then caveats."""
    lines = list(summary.get("demo") or [])
    for m in summary["models"]:
        lines.append(m["headline"])
        lines += [f"  Groups: {s}" for s in m["groups"]]
        lines += [f"  Who is read how, {s}" for s in m.get("read", [])]
        if m["worst"]:
            lines.append(f"  {m.get('worst_heading', WORST_BY_ACCURACY)}:")
            lines += [f"    {i}. {w}" for i, w in enumerate(m["worst"], 1)]
        lines += [f"  If used to flag people: {s}" for s in m["flagging"]]
        lines += [f"  {s}" for s in m["display_rate"]]
    if summary["cannot_tell"]:
        lines.append("What this data cannot tell: " + " ".join(summary["cannot_tell"]))
    return lines


def share_interval(iv: dict[str, Any]) -> str:
    """A share that may be tiny: '0.011% (0.0093% to 0.013%)', never '0.0% (0.0% to 0.0%)'."""
    if iv.get("value") is None:
        return "n/a"
    if iv.get("ci_low") is None or iv.get("ci_high") is None:
        return _share(iv["value"])
    return f"{_share(iv['value'])} ({_share(iv['ci_low'])} to {_share(iv['ci_high'])})"


def _share(x: float) -> str:
    pct = 100 * x
    return f"{pct:.1f}%" if pct == 0 or pct >= 1 else f"{pct:.2g}%"


def _noise(row: dict[str, Any]) -> str:
    """A drop the test does not back could be chance: say so. Backed means rejected by the
    paired test of clean against perturbed answers after Holm over the model's conditions
    (analysis.robustness.settle); results without that test back no drop."""
    backed = row.get("rejected") is True and heat.backed_drop(row)
    return "" if backed else " (could be chance)"


WORST_BY_ACCURACY = "Conditions that hurt most"
WORST_BY_FLIPS = "Conditions that changed the most answers"


def worst_heading(results: dict[str, Any], entry: dict[str, Any], *, by_flips: bool) -> str:
    """A ranking of flip rates counts changed answers, not errors: it says 'changed', not
    'hurt'."""
    block = view.robustness_summary(results, entry) or {}
    rows = block.get("conditions") or []
    by_accuracy = not by_flips and any(_val(r.get("accuracy_diff")) is not None for r in rows)
    return WORST_BY_ACCURACY if by_accuracy else WORST_BY_FLIPS


def _subjects(entries: list[dict[str, Any]]) -> int | None:
    for e in entries:
        res = e.get("resampling") or {}
        if res.get("unit") == "subject_id" and isinstance(res.get("n_units"), int):
            return res["n_units"]
        if res.get("subject_ids") and isinstance(res.get("n_units"), int):
            return res["n_units"]  # one photo per subject id: every photo is its own person
    return None


def _support(row: Any) -> bool:
    if not isinstance(row, dict):
        return False
    s = row.get("support", (row.get("recall") or {}).get("n"))
    return bool(s)


def _val(iv: Any) -> float | None:
    return iv.get("value") if isinstance(iv, dict) else None


def _count(iv: Any) -> str:
    v = _val(iv)
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1f}"
