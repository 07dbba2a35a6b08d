"""Sanity notes the report shows in one banner above everything else.

Each is a fact that changes how every number below should be read: a model whose output labels
look mis-ordered, models that are byte-identical (one network under two names), and outputs
imported from a file rather than computed here (with what the join could not match). They are
collected here, from results.json alone, so the report template needs one self-contained block.
"""

from __future__ import annotations

from typing import Any

IMPORTED = (
    "Outputs of '{model}' were imported from {file} ({format}), not computed here: {n_matched} "
    "samples matched; {n_samples_without_output} samples had no output (status no_output); "
    "{n_outputs_without_sample} outputs matched no sample; {n_duplicates} duplicates and "
    "{n_malformed} malformed records were skipped."
)
FIRST_PROBLEMS = "First problems: {problems}"
NON_CANONICAL = "Predictions with no canonical label, kept as such and counted wrong: {counts}."
IDENTICAL = (
    "Models {names} have byte-identical weights (sha256 {sha}…): they are one network under "
    "several names, kept as separate rows; identical results are expected."
)


def sanity_notes(results: dict[str, Any]) -> list[str]:
    from emoaudit.analysis.label_order import suspect_lines

    prov = results.get("provenance") or {}
    notes = [f"Label order? {line}." for line in suspect_lines(results)]
    for group in prov.get("identical_models") or []:
        names = ", ".join(group["models"])
        notes.append(IDENTICAL.format(names=names, sha=str(group["sha256"])[:12]))
    imported = prov.get("predictions_import")
    if imported:
        notes.extend(import_notes(imported))
    return notes


def import_notes(imported: dict[str, Any]) -> list[str]:
    """The join's accounting in words, the format's note on which metrics apply, and the first
    few problems with their file and line."""
    from pathlib import Path

    notes = [IMPORTED.format(**{**imported, "file": Path(imported["file"]).name})]
    notes.append(str(imported.get("notes", "")))
    if imported.get("non_canonical_predictions"):
        counts = ", ".join(f"{k} {v}" for k, v in imported["non_canonical_predictions"].items())
        notes.append(NON_CANONICAL.format(counts=counts))
    rules = imported.get("face_rule") or {}
    if set(rules) - {"only"}:
        said = {"box_match": "matched to the dataset's face box", "largest": "the largest face"}
        parts = [f"{n} {said[r]}" for r, n in rules.items() if r in said]
        notes.append("Images with several faces: " + "; ".join(parts) + ".")
    if imported.get("problems"):
        notes.append(FIRST_PROBLEMS.format(problems="; ".join(imported["problems"][:5])))
    return [n for n in notes if n]
