"""results.json: the analysis of a predictions table, wrapped with full provenance.

Provenance is recorded once at the top (artifact sha256s, dataset digest, package versions,
command line) so that anyone holding the file can tell exactly what produced each number.
"""

from __future__ import annotations

import json
import platform
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from emoaudit.errors import EmoauditError
from emoaudit.run.cache import write_text_atomic

SCHEMA_VERSION = "1.0"
RESULTS = "results.json"
RUN_INFO = "run.json"
FLAGGING_REQUESTS = "flagging.json"
PACKAGES = (
    "emoaudit",
    "numpy",
    "scipy",
    "onnxruntime",
    "onnx",
    "pyarrow",
    "scikit-learn",
    "pandas",
)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(run_info: dict[str, Any]) -> dict[str, Any]:
    """Run facts (from the runner) plus the environment that computes the results now."""
    return {
        **run_info,
        "analysed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "analysis_command": " ".join(["emoaudit", *sys.argv[1:]]),
        "packages": package_versions(),
        "platform": platform.platform(),
    }


# Free-text columns the analysis never reads: skipping them keeps 1M rows small. Repeated
# strings (labels, statuses, models) cost one pointer a row: pyarrow deduplicates them.
NOT_ANALYSED = ("path", "reason")


@contextmanager
def quiet_empty_slices() -> Iterator[None]:
    """Silence numpy's "All-NaN slice" / "Mean of empty slice" warnings during the analysis.

    A statistic with no defined bootstrap draw (a group with no calm faces, say) is recorded as
    null in results.json and shown as n/a; numpy's warning on the way there tells the user
    nothing and used to leak onto the console between the progress bar and the summary.
    """
    with warnings.catch_warnings():
        for message in ("All-NaN slice encountered", "Mean of empty slice"):
            warnings.filterwarnings("ignore", message=message, category=RuntimeWarning)
        yield


def load_predictions(out_dir: Path, *, all_columns: bool = False) -> Any:
    """The predictions table as a DataFrame, lean enough for millions of rows, refused with one
    line when it breaks the predictions contract (analysis/contract.py): a hand-edited or
    foreign table must not turn into confident numbers."""
    from emoaudit.analysis.contract import read_predictions

    path = out_dir / "predictions.parquet"
    return read_predictions(path, exclude=() if all_columns else NOT_ANALYSED)


def build_results(
    out_dir: Path,
    *,
    groups: list[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_group_n: int = 30,
    pool_splits: bool = False,
    **group_options: Any,
) -> dict[str, Any]:
    """Recompute results.json from OUT/predictions.parquet alone (no model is run).

    Sections beyond the core statistics appear when the table supports them: robustness when
    perturbed conditions exist, consistency when there are label-free conditions or several
    models, video stability when rows carry clip ids, and every flagging analysis requested
    earlier with `emoaudit flagging` (their parameters live in OUT/flagging.json).
    ``group_options`` (reference, hostile, given) go to analysis.summary.analyze.
    """
    from emoaudit.analysis.summary import analyze

    df = load_predictions(out_dir)
    run_info_path = out_dir / RUN_INFO
    run_info = json.loads(run_info_path.read_text()) if run_info_path.exists() else {}
    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    with quiet_empty_slices():
        analysis = analyze(
            df, groups=groups, min_group_n=min_group_n, pool_splits=pool_splits, **boot,
            **group_options,
        )  # fmt: skip
        results = {
            "schema_version": SCHEMA_VERSION,
            "provenance": provenance(run_info),
            **analysis,
            "warnings": list(run_info.get("warnings") or []),  # run-level (run/audit.py)
        }
        results.update(_optional_sections(df, boot=boot))
        by_group = _group_consistency(df, boot=boot, groups=groups, min_group_n=min_group_n)
        if by_group:
            results["group_consistency"] = by_group
        requests = read_flagging_requests(out_dir)
        if requests:
            results["flagging"] = [
                flagging_for(df, request, boot=boot, min_group_n=min_group_n)
                for request in requests
            ]
    write_text_atomic(out_dir / RESULTS, json.dumps(results, indent=2, allow_nan=False))
    return results


def _optional_sections(df: Any, *, boot: dict[str, Any]) -> dict[str, Any]:
    from emoaudit.analysis.consistency import consistency_summary
    from emoaudit.analysis.robustness import robustness_summary
    from emoaudit.analysis.sensitivity import protocol_conditions, protocol_summary
    from emoaudit.analysis.stability import stability_summary

    out: dict[str, Any] = {}
    protocols = set(protocol_conditions(df))
    conditions = set(df["condition"].unique()) - protocols
    if protocols:
        out["protocols"] = protocol_summary(df, **boot)
        df = df[~df["condition"].isin(protocols)]  # perturbation sections: perturbations only
    if conditions - {"clean"}:
        out["robustness"] = robustness_summary(df, **boot)
    if conditions - {"clean"} or df["model"].nunique() > 1:
        out["consistency"] = consistency_summary(df, **boot)
    if "clip_id" in df.columns and df["clip_id"].notna().any():
        out["stability"] = stability_summary(df, **boot)
    return out


def _group_consistency(df: Any, *, boot: dict[str, Any], groups: Any, min_group_n: int) -> Any:
    """Per-group flip rates and model agreement (label-free) when there are perturbed
    conditions or several models."""
    from emoaudit.analysis.bootstrap import BootstrapSpec
    from emoaudit.analysis.group_consistency import group_consistency

    if set(df["condition"].unique()) == {"clean"} and df["model"].nunique() < 2:
        return None
    return group_consistency(df, groups=groups, spec=BootstrapSpec(**boot), min_group_n=min_group_n)


NO_SUCH_REQUEST = "flagging request {index} does not exist in {path}; there are {count}"


def read_flagging_requests(out_dir: Path) -> list[dict[str, Any]]:
    """Stored requests, normalised and de-duplicated (older files may hold repeats)."""
    from emoaudit.analysis.flagging import normalise_request

    path = out_dir / FLAGGING_REQUESTS
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise EmoauditError(BAD_REQUESTS.format(path=path, why=why)) from None
    if not isinstance(raw, list):
        raise EmoauditError(BAD_REQUESTS.format(path=path, why="not a list of requests"))
    out: list[dict[str, Any]] = []
    for number, r in enumerate(raw, 1):
        norm = normalise_request(_checked_request(r, path=path, number=number))
        if norm not in out:
            out.append(norm)
    return out


BAD_REQUESTS = (
    "{path}: {why}; expected the list `emoaudit flagging` writes (remove the file, or fix it, "
    "and add requests again with `emoaudit flagging`)"
)
BAD_REQUEST = "{path}: request {number}: {why}"
_REQUEST_TYPES = {
    "flag": "list", "groups": "list", "model": "text", "base_rate": "number",
    "display_rate": "number", "assume_sensitivity": "number", "population": "integer",
}  # fmt: skip


def _checked_request(request: Any, *, path: Path, number: int) -> dict[str, Any]:
    """One stored request as `emoaudit flagging` writes it, or one line naming the file and the
    request: a hand-edited file gave JSON, attribute and overflow tracebacks, blamed options
    nobody had typed, and split `"flag": "anger"` into letters."""
    import math

    def bad(why: str) -> EmoauditError:
        return EmoauditError(BAD_REQUEST.format(path=path, number=number, why=why))

    if not isinstance(request, dict):
        raise bad(f"expected an object, found {type(request).__name__}")
    for key, value in request.items():
        kind = _REQUEST_TYPES.get(key)
        if kind is None:
            raise bad(f"unknown key '{key}' (known: {', '.join(_REQUEST_TYPES)})")
        if value is None:
            continue
        if kind == "list":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif kind == "text":
            ok = isinstance(value, str)
        elif kind == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        if not ok:
            raise bad(f"'{key}' must be {'a list of names' if kind == 'list' else 'a ' + kind}")
    if not request.get("flag"):
        raise bad("no 'flag' labels")
    return request


def add_flagging_request(out_dir: Path, request: dict[str, Any]) -> bool:
    """Remember a flagging request so `emoaudit report` recomputes it; return False if the
    same request (after normalising label spellings) was already stored."""
    from emoaudit.analysis.flagging import normalise_request

    request = normalise_request(request)
    requests = read_flagging_requests(out_dir)
    if request in requests:
        _write_requests(out_dir, requests)
        return False
    _write_requests(out_dir, [*requests, request])
    return True


def remove_flagging_request(out_dir: Path, index: int) -> dict[str, Any]:
    """Forget request number `index` (1-based, as `emoaudit flagging DIR --list` shows it)."""
    requests = read_flagging_requests(out_dir)
    if not 1 <= index <= len(requests):
        raise EmoauditError(
            NO_SUCH_REQUEST.format(
                index=index, path=out_dir / FLAGGING_REQUESTS, count=len(requests)
            )
        )
    removed = requests.pop(index - 1)
    _write_requests(out_dir, requests)
    return removed


def describe_request(request: dict[str, Any]) -> str:
    """One line a user can recognise: 'flag anger, fear; base rate 0.0001; model fer'."""
    parts = [f"flag {', '.join(request['flag'])}"]
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in request.items() if k != "flag"]
    return "; ".join(parts)


def _write_requests(out_dir: Path, requests: list[dict[str, Any]]) -> None:
    write_text_atomic(out_dir / FLAGGING_REQUESTS, json.dumps(requests, indent=2))


def flagging_for(
    df: Any, request: dict[str, Any], *, boot: dict[str, Any], min_group_n: int
) -> dict[str, Any]:
    from emoaudit.analysis.flagging import flagging_analysis

    return flagging_analysis(df, **request, **boot, min_group_n=min_group_n)


def example_rows(out_dir: Path, *, limit: int = 12) -> list[dict[str, Any]]:
    """A few clean-condition rows with image files, errors first, for --include-examples."""
    df = load_predictions(out_dir, all_columns=True)
    rows = df[(df["condition"] == "clean") & (df["status"] == "ok") & df["path"].notna()]
    rows = rows.assign(_wrong=rows["label"].notna() & (rows["label"] != rows["pred"]))
    rows = rows.sort_values("_wrong", ascending=False, kind="stable").head(limit)
    return [
        {"path": r.path, "label": r.label, "pred": r.pred, "sample_id": r.sample_id}
        for r in rows.itertuples()
    ]
