"""Sanity notes the report shows in one banner above everything else.

Each is a fact that changes how every number below should be read: a model whose output labels
look mis-ordered, models that are byte-identical (one network under two names), and outputs
imported from a file rather than computed here (with what the join could not match). They are
collected here, from results.json alone, so the report template needs one self-contained block.
"""

from __future__ import annotations

from typing import Any

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
    return notes
