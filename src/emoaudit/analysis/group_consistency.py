"""Who is read how, without labels, across conditions and models: per group, how often a face's
reading flips under a camera condition, and how often two models agree on the same face.

A model whose readings of one group's faces flip more under blur or low resolution is less
stable for that group whatever the true expressions are; two models that agree less on one
group's faces cannot both be right about it. Each rate per group comes with an interval and each
grouping with the score test of analysis/group_tests.py (rows of one face across severities, or
of one subject, are one cluster). All these tests form one Holm family per audit.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from emoaudit.analysis.bootstrap import BootstrapSpec, interval, proportion_interval
from emoaudit.analysis.group_tests import cluster_mean_interval, finding, settle
from emoaudit.analysis.groups import ATTR_PREFIX, group_codes, groupings, hidden_groups

CLEAN = "clean"


def group_consistency(
    df: pd.DataFrame,
    *,
    groups: list[str] | None = None,
    spec: BootstrapSpec | None = None,
    min_group_n: int = 30,
) -> dict[str, Any] | None:
    spec = spec or BootstrapSpec()
    grouping = groupings(df, groups)
    if not grouping:
        return None
    attrs = [c for c in df.columns if c.startswith(ATTR_PREFIX)]
    cols = ["sample_id", "subject_id", "model", "pred", *attrs]
    scored = df[df["pred"].notna()]
    clean = scored.loc[scored["condition"] == CLEAN, [c for c in cols if c in df.columns]]
    clean = clean.drop_duplicates(["sample_id", "model"])
    out: dict[str, Any] = {"flip": {}, "agreement": []}
    family: list[dict[str, Any]] = []
    pert = scored.loc[scored["condition"] != CLEAN, ["sample_id", "model", "condition", "pred"]]
    if not pert.empty:
        pairs = clean.merge(pert, on=["sample_id", "model"], suffixes=("_clean", ""))
        pairs["family"] = pairs["condition"].str.split(":").str[0]
        for (model, fam), part in pairs.groupby(["model", "family"], sort=True):
            flip = (part["pred"] != part["pred_clean"]).to_numpy(dtype=float)
            for name, attr in grouping.items():
                block = _by_group(
                    part, attr, y=flip, metric=f"flip_rate_{fam}", spec=spec, n_min=min_group_n
                )
                if block:
                    out["flip"].setdefault(str(model), {}).setdefault(name, {})[fam] = block
                    family += [block["test"]] if "test" in block else []
    models = list(dict.fromkeys(clean["model"]))
    for a, b in combinations(models, 2):
        left = clean[clean["model"] == a]
        right = clean.loc[clean["model"] == b, ["sample_id", "pred"]]
        both = left.merge(right, on="sample_id", suffixes=("", "_other"))
        agree = (both["pred"] == both["pred_other"]).to_numpy(dtype=float)
        entry: dict[str, Any] = {"models": [str(a), str(b)], "groupings": {}}
        for name, attr in grouping.items():
            block = _by_group(both, attr, y=agree, metric="agreement", spec=spec, n_min=min_group_n)
            if block:
                entry["groupings"][name] = block
                family += [block["test"]] if "test" in block else []
        out["agreement"].append(entry)
    settle(family, alpha=1 - spec.confidence)
    if not out["flip"] and not any(e["groupings"] for e in out["agreement"]):
        return None
    out["method"] = {
        "flip": "share of faces whose top label differs from the same face clean, pooled over "
        "a family's severities; clusters: subject, else the face",
        "agreement": "share of faces on which two models give the same top label (clean)",
        "test": "score test per grouping; Holm over every test of this section",
    }
    return out


def _by_group(
    rows: pd.DataFrame, attrs: list[str], *, y: np.ndarray, metric: str, spec, n_min: int
) -> dict[str, Any] | None:
    codes, names = group_codes(rows, attrs)
    # privacy: cells are counted in faces, not rows (a face appears once per severity)
    first = ~rows["sample_id"].duplicated().to_numpy()
    face_n = np.bincount(codes[first], minlength=len(names))
    shown = ~hidden_groups(face_n, names)  # under MIN_CELL faces, or derivable from the rest
    if not shown.any():
        return None
    remap = np.where(shown, np.cumsum(shown) - 1, -1)
    codes, names, face_n = (
        remap[codes],
        [n for n, k in zip(names, shown, strict=True) if k],
        face_n[shown],
    )
    subject = rows["subject_id"] if "subject_id" in rows else pd.Series([None] * len(rows))
    cluster = np.where(subject.notna(), subject.astype(str), "s:" + rows["sample_id"].astype(str))
    G = len(names)
    sel = codes >= 0
    n = np.bincount(codes[sel], minlength=G).astype(float)
    x = np.bincount(codes[sel], y[sel], minlength=G)
    _, lo, hi = cluster_mean_interval(
        y[sel], codes[sel], G, clusters=cluster[sel], confidence=spec.confidence
    )
    lo, hi = proportion_interval(
        x, n, np.clip(lo[:, 0], 0, 1), np.clip(hi[:, 0], 0, 1), spec.confidence
    )
    with np.errstate(all="ignore"):
        rate = x / n
    groups_out = [
        {
            "group": name,
            "n": int(n[g]),
            "n_faces": int(face_n[g]),
            "small": bool(n[g] < n_min),
            "rate": interval(rate[g], lo[g], hi[g], n[g]),
        }
        for g, name in enumerate(names)
    ]
    block: dict[str, Any] = {"groups": groups_out}
    eligible = n >= n_min
    if eligible.sum() >= 2:
        recode = np.cumsum(eligible) - 1
        e_rows = sel & eligible[np.maximum(codes, 0)]
        block["test"] = finding(
            metric=metric,
            y=y[e_rows],
            group=recode[codes[e_rows]],
            group_names=[nm for nm, e in zip(names, eligible, strict=True) if e],
            clusters=cluster[e_rows],
            higher_is_better=metric == "agreement",
        )
    return block
