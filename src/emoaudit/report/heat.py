"""Robustness as one compact view: family x severity, each cell a number with its interval.

A 66-row table per model is unreadable; a heat table shows at a glance which camera conditions
break a model and how badly, with the interval written in the cell (no hover: the report has no
script, and print has no hover). Severities are described in words and pixels, because
`resolution:5` means nothing to a reader until it says "face 16 px wide". A severity that cannot
change the pixels on this data (the crop is already smaller than the target resolution) gives
exactly the clean answers and confidences: it is marked, not shown as a result.

Shading is a verdict ("this condition hurts"), so it follows the test, not the point estimate: a
cell is red only where the drop is backed (:func:`backed_drop`); a difference that could be
chance stays white whatever its size.
"""

from __future__ import annotations

import importlib
from typing import Any

from emoaudit.report import view
from emoaudit.report.plots import fmt_interval

NOOP = "no effect possible on this data"
NOOP_RESOLUTION = "no effect possible on this data: the faces are already this small or smaller"
# family -> how one severity value reads, in words (and pixels where the family has them)
_WORDS = {
    "resolution": lambda v: f"face {v} px wide",
    "gaussian_noise": lambda v: f"noise of {v * 255:.0f}/255 grey levels",
    "defocus_blur": lambda v: (
        f"out of focus: blur {v:.1%} of face width, {v * 100:.0f} px on a 100-px face"
    ),
    "motion_blur": lambda v: (
        f"motion streak {v:.0%} of face width, {v * 100:.0f} px on a 100-px face"
    ),
    "jpeg": lambda v: f"JPEG quality {v}",
    "brightness": lambda v: f"{v:.0%} brighter",
    "contrast": lambda v: f"contrast cut to {v:.0%}",
    "gamma_dark": lambda v: f"darker shadows (gamma {v:.2g})",
    "gamma_bright": lambda v: f"lifted shadows (gamma {v:.2g})",
    "rotation": lambda v: f"head tilted {v}°",
    "flip": lambda v: "mirror image",
    "lower_face_mask": lambda v: f"mask over the face below {v:.0%} of its height",
    "sunglasses": lambda v: f"sunglasses {v:.0%} opaque",
    "random_patch": lambda v: f"patch hiding {v:.0%} of the face",
    "scale": lambda v: f"zoomed by {v:g}x",
    "shift": lambda v: f"shifted {v:.0%} of face width",
}


def severity_value(family: str, severity: Any) -> Any:
    """The family's parameter at a severity (perturb/<family>.py VALUES), or None if unknown."""
    try:
        values = importlib.import_module(f"emoaudit.perturb.{family}").VALUES
        return values[int(severity) - 1]
    except (ImportError, AttributeError, IndexError, TypeError, ValueError):
        return None


def severity_words(family: Any, severity: Any) -> str:
    value = severity_value(str(family), severity)
    words = _WORDS.get(str(family))
    if value is None or words is None:
        return f"severity {severity}"
    return words(value)


def describe(family: Any, severity: Any) -> str:
    """'resolution 5 (face 16 px wide)': the condition name a reader can look up, in words."""
    return f"{str(family).replace('_', ' ')} {severity} ({severity_words(family, severity)})"


def points(iv: dict[str, Any] | None) -> str:
    """An accuracy difference in percentage points, signed: '-12.3 points (-20.1 to -4.0)'."""
    if not iv or iv.get("value") is None:
        return "n/a"
    v = f"{100 * iv['value']:+.1f} points"
    if iv.get("ci_low") is None or iv.get("ci_high") is None:
        return v
    return f"{v} ({100 * iv['ci_low']:+.1f} to {100 * iv['ci_high']:+.1f})"


SMALL_N = 20


def share_of_faces(iv: dict[str, Any]) -> str:
    """'2 of 3 faces' where a percentage and its interval would only dress up a tiny count."""
    n, v = iv.get("n"), iv.get("value")
    if isinstance(n, int) and 0 < n < SMALL_N and v is not None:
        return f"{round(v * n)} of {n} faces"
    return fmt_interval(iv)


def is_noop(row: dict[str, Any]) -> bool:
    """Exactly the clean answers and exactly the clean calibration: the pixels did not change.

    A robust model keeps its answers, but its confidences still move by some amount; an
    unchanged calibration error to 1e-12 with no flip at all only happens for unchanged input.
    """
    flip = row.get("flip_rate") or {}
    if flip.get("value") != 0 or (flip.get("ci_high") or 0) != 0:
        return False
    shift = (row.get("ece_shift") or {}).get("value")
    diff = (row.get("accuracy_diff") or {}).get("value")
    return shift is not None and abs(shift) < 1e-12 and (diff is None or abs(diff) < 1e-12)


def backed_drop(row: dict[str, Any]) -> bool:
    """Is this condition's accuracy drop backed by a test? The paired test after Holm over the
    model's conditions (analysis.robustness.settle) where the row carries it; in results
    written before that test existed, an interval wholly below 0."""
    iv = row.get("accuracy_diff") or {}
    if iv.get("value") is None or iv["value"] >= 0:
        return False
    if "rejected" in row:
        return row["rejected"] is True
    return iv.get("ci_high") is not None and iv["ci_high"] < 0


SHADE_ACCURACY = (
    "red only where the drop is backed by the paired test of clean against perturbed answers "
    "(Holm over this model's conditions), darker is worse; a white cell's difference could be "
    "chance"
)
SHADE_FLIPS = (
    "red where answers changed on some faces (interval above 0), darker for more changes; a "
    "share of changed answers, not of errors"
)


def heat_table(
    results: dict[str, Any], entry: dict[str, Any], *, by_flips: bool = False
) -> dict[str, Any] | None:
    """{"measure", "severities", "rows": [{"family", "cells": [cell | None]}]} for one model.

    A cell: {"text", "words", "shade" (0 = no harm .. 1 = worst), "noop"}. The measure is the
    accuracy difference from clean when labels exist, else the flip rate; "shading" says when a
    cell is shaded (only where the difference is backed, :func:`backed_drop`).
    """
    block = view.robustness_summary(results, entry)
    rows = (block or {}).get("conditions") or []
    if not rows:
        return None
    use_acc = not by_flips and any(
        (r.get("accuracy_diff") or {}).get("value") is not None for r in rows
    )
    severities = sorted({int(r.get("severity", 0)) for r in rows})
    fams: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        fams.setdefault(str(r.get("family")), {})[int(r.get("severity", 0))] = _cell(r, use_acc)
    return {
        "measure": "accuracy difference from clean, in percentage points, with its interval"
        if use_acc
        else "how often the answer changed from the clean photo (flip rate; a count where "
        f"there are fewer than {SMALL_N} faces)",
        "shading": SHADE_ACCURACY if use_acc else SHADE_FLIPS,
        "severities": severities,
        "rows": [
            {"family": fam.replace("_", " "), "cells": [cells.get(s) for s in severities]}
            for fam, cells in sorted(fams.items())
        ],
    }


def _cell(r: dict[str, Any], use_acc: bool) -> dict[str, Any]:
    family, severity = r.get("family"), r.get("severity")
    words = severity_words(family, severity)
    if is_noop(r):
        note = NOOP_RESOLUTION if family == "resolution" else NOOP
        return {"text": note, "words": words, "shade": 0.0, "noop": True}
    iv = r.get("accuracy_diff") if use_acc else r.get("flip_rate")
    v = (iv or {}).get("value")
    if v is None:
        return {"text": "n/a", "words": words, "shade": 0.0, "noop": False}
    text = points(iv) if use_acc else share_of_faces(iv)
    if use_acc:
        shade = min(1.0, -v / 0.3) if backed_drop(r) else 0.0
    else:
        shade = min(1.0, max(0.0, v / 0.6)) if (iv.get("ci_low") or 0.0) > 0 else 0.0
    return {"text": text, "words": words, "shade": round(shade, 3), "noop": False}


def shade_style(shade: float) -> str:
    """Background from white (no harm) to red (worst); text stays dark enough to read."""
    g = int(255 - 150 * shade)
    return f"background: rgb(255, {g}, {g})"
