"""`emoaudit audit`: resolve the dataset and models, run (or resume), then analyse.

emoaudit.api.audit (the Python API, which the CLI calls) builds an AuditRequest and runs it here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emoaudit.errors import DataError, EmoauditError
from emoaudit.run.cache import write_text_atomic
from emoaudit.run.chunks import FaceSettings

EMPTY_RUN = "{path}: the dataset yielded no samples"
UNKNOWN_EXECUTOR = "unknown executor '{name}'; expected 'local' or 'ray'"
ALL_BAD = (
    "{path}: all {n} samples are unusable ({counts}), so nothing was audited; "
    "first problem: {reason}"
)
RAY_NEEDS_CPU = "--executor ray runs on CPU actors; --device cuda is for the local executor"
DUPLICATE_MODEL_NAME = (
    "two --model entries are both named '{name}'; give one a [model] name in its spec so their "
    "rows stay apart"
)
RAY_NEEDS_NAMES = (
    "--executor ray reloads models by name in its actors; model '{name}' (a Python object or "
    "an http+json API) runs with the local executor"
)
SAME_NAME = (
    "two models are named '{name}'; give each its own name "
    "(emoaudit.PythonModel(obj, name=...), or [model] name in the API spec)"
)
MARGIN_CONFLICT = (
    "models ask for different face crop margins ({margins}); audit them in separate runs"
)


@dataclass
class AuditRequest:
    data: Path
    out: Path
    models: list[Any]  # names, .onnx paths, http+json:URL, or Python model objects
    fmt: str = "auto"
    model_spec: Path | None = None
    conditions: str = "clean"
    protocols: str | None = None  # "standard" or "resize=area,color=swap" (run/protocols.py)
    detector: str = "blazeface"
    precropped: bool = False  # the images are face crops already: skip detection
    seed: int = 0
    groups: list[str] | None = None
    n_resamples: int = 1000
    confidence: float = 0.95
    min_group_n: int = 30
    pool_splits: bool = False  # one result over all splits instead of one per split
    chunk_size: int = 512
    batch_size: int | None = None  # None: 16 on CPU, 256 on a GPU (models.device)
    workers: int | None = None  # None: one per core on CPU, one with a GPU
    executor: str = "local"
    device: str = "cpu"  # "cpu" or "cuda" (models.device.choose_backend picks the runtime)
    ray_address: str | None = None
    # Saved outputs instead of inference (predictions/join.py): file, its format, a model name
    predictions: Path | None = None
    predictions_format: str | None = None  # None: from the extension (.csv, .jsonl, .parquet)
    model_name: str | None = None  # None: the predictions file's name before its first dot
    wait: bool = False  # another run holds `out`: wait for it (default: refuse with one line)
    provenance_extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"demo": True}
    # group analysis options for analysis.summary.analyze: reference, hostile, given
    group_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # format options (e.g. video fps)


def resolve_format(data: Path, fmt: str) -> str:
    from emoaudit.data import DATASETS
    from emoaudit.errors import MISSING_PATH

    if not data.exists():
        raise DataError(MISSING_PATH.format(path=data))
    if fmt != "auto":
        DATASETS.get(fmt)  # one-line error with did-you-mean for a typo
        return fmt
    from emoaudit.data.detect import detect_format

    return detect_format(data)


def parse_conditions(spec: str) -> list[str]:
    if spec.strip() in ("", "clean"):
        return ["clean"]
    from emoaudit.perturb.conditions import parse_conditions as parse

    return parse(spec)


def load_models(
    names: list[Any],
    spec: Path | None,
    *,
    threads: int | None = None,
    device: str = "cpu",
    out: Path | None = None,
) -> list[Any]:
    """Each entry: a model name or .onnx path, ``http+json:URL`` (answers kept under `out`), or
    a Python object with ``labels`` and ``predict`` (models/python_model.py)."""
    if not names:
        raise EmoauditError("no model given; pass --model NAME (see `emoaudit models list`)")
    models = [_load_one(m, spec, threads=threads, device=device, out=out) for m in names]
    seen: set[str] = set()
    for model in models:
        if model.info.name in seen:  # rows are keyed by name: one name would merge two models
            message = SAME_NAME if hasattr(model, "predict_faces") else DUPLICATE_MODEL_NAME
            raise EmoauditError(message.format(name=model.info.name))
        seen.add(model.info.name)
    return models


def identical_models(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups of models whose weights are byte-identical (same sha256), for the report to state.

    They stay separate models with their own rows; saying they are one network explains why
    their results agree exactly (a "vendor" model that is a built-in one under another name).
    """
    by_sha: dict[str, list[str]] = {}
    for rec in records:
        by_sha.setdefault(rec["sha256"], []).append(rec["name"])
    return [{"sha256": sha, "models": names} for sha, names in by_sha.items() if len(names) > 1]


def _load_one(
    model: Any, spec: Path | None, *, threads: int | None, device: str, out: Path | None
) -> Any:
    from emoaudit.models.http_json import PREFIX, http_model
    from emoaudit.models.onnx_model import load_model
    from emoaudit.models.python_model import PythonModel

    if hasattr(model, "predict_faces") and hasattr(model, "info"):
        return model  # already wrapped: PythonModel(obj, version=...) or an HttpModel
    if isinstance(model, str | Path) and str(model).startswith(PREFIX):
        return http_model(str(model), spec_path=spec, out=out)
    if isinstance(model, str | Path):
        return load_model(str(model), spec_path=spec, threads=threads, device=device)
    return PythonModel(model)


def crop_margin(models: list[Any]) -> float | None:
    """The crop margin the models' specs ask for (spec.toml [input] crop_margin), else None
    (the detector's own). Photos are cropped once per run, so models must agree."""
    asked = (getattr(m.info, "crop_margin", None) for m in models)
    margins = {m for m in asked if m is not None}
    if len(margins) > 1:
        raise EmoauditError(MARGIN_CONFLICT.format(margins=", ".join(map(str, sorted(margins)))))
    return margins.pop() if margins else None


def run_audit(
    req: AuditRequest,
    *,
    on_start: Callable[[str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the audit described by `req`; returns the results dict also written to disk.

    Every option is checked before a model is loaded (check_request), and `req.out` is held
    exclusively from then on (cache.out_lock): a second run into it refuses, or waits.
    `on_stage("analysing")` is called when inference is done and the statistics begin.
    """
    from emoaudit.run.cache import out_lock

    fmt = check_request(req)
    with out_lock(req.out, wait=req.wait):
        return _run_audit(req, fmt, on_start=on_start, on_progress=on_progress, on_stage=on_stage)


MISSING_SPEC = "--model-spec {path}: no such file; expected a TOML model spec (docs/model-spec.md)"


def check_request(req: AuditRequest) -> str:
    """Every check that needs no model, in one place; returns the dataset format.

    Numbers, executor, dataset path and format, conditions and --groups (against the attribute
    names of the first samples) come first and write nothing; the output folder is checked last
    (it is created, empty, if missing). A mistake is one line, before any inference.
    """
    from emoaudit.data import DATASETS
    from emoaudit.run.options import (
        GROUP_PEEK,
        check_groups,
        check_out_dir,
        check_run_numbers,
        sample_attributes,
    )

    check_run_numbers(
        seed=req.seed, n_resamples=req.n_resamples, min_group_n=req.min_group_n,
        confidence=req.confidence, chunk_size=req.chunk_size, batch_size=req.batch_size,
        workers=req.workers,
    )  # fmt: skip
    if req.executor not in ("local", "ray"):
        raise EmoauditError(UNKNOWN_EXECUTOR.format(name=req.executor))
    if req.executor == "ray" and req.device != "cpu":
        raise EmoauditError(RAY_NEEDS_CPU)
    if req.device != "cpu":  # no GPU path is a whole-run problem: say so before the data
        from emoaudit.models.device import choose_backend

        choose_backend(req.device)
    if req.model_spec is not None and not Path(req.model_spec).is_file():
        raise EmoauditError(MISSING_SPEC.format(path=req.model_spec))
    fmt = resolve_format(req.data, req.fmt)
    parse_conditions(req.conditions)
    if req.groups:
        samples = DATASETS.get(fmt).iter_samples(req.data, **req.extra)
        seen = sample_attributes(samples, req.groups)
        check_groups(req.groups, seen, where=f"{req.data} (first {GROUP_PEEK} samples)")
    check_out_dir(req.out)
    return fmt


def _run_audit(
    req: AuditRequest,
    fmt: str,
    *,
    on_start: Callable[[str], None] | None,
    on_progress: Callable[[int], None] | None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from emoaudit.analysis.results import RUN_INFO
    from emoaudit.data import DATASETS
    from emoaudit.data.files import OutsideRoot
    from emoaudit.run.runner import RunPlan, run_plan

    adapter = DATASETS.get(fmt)
    if req.predictions is not None:
        return _run_imported(req, fmt=fmt, adapter=adapter, on_start=on_start,
                             on_progress=on_progress)  # fmt: skip
    if on_start:
        on_start(fmt)
    from emoaudit.models.device import choose_backend, default_batch_size, default_workers
    from emoaudit.run.runner import session_threads

    backend = choose_backend(req.device)
    workers = req.workers or default_workers(req.device)
    models = load_models(
        req.models, req.model_spec, threads=session_threads(workers), device=req.device,
        out=req.out,
    )  # fmt: skip
    from emoaudit.run.protocols import face_settings, parse_protocols

    protocols = parse_protocols(req.protocols)
    conditions = parse_conditions(req.conditions) + protocols
    variants = tuple(
        (p, *face) for p in protocols if (face := face_settings(p, detector=req.detector))
    )
    if req.executor == "ray":
        for model in models:
            if hasattr(model, "predict_faces"):
                raise EmoauditError(RAY_NEEDS_NAMES.format(name=model.info.name))

    outside = OutsideRoot(req.data)  # images read from beyond the dataset folder (manifests)

    def samples():
        for sample in adapter.iter_samples(req.data, **req.extra):
            if req.precropped:
                sample.precropped = True
            outside.note(sample.path)
            yield sample

    plan = RunPlan(
        dataset=fmt,
        samples=samples,
        models=models,
        model_refs=[(name, req.model_spec) for name in req.models if isinstance(name, str | Path)],
        conditions=conditions,
        faces=FaceSettings(detector=req.detector, margin=crop_margin(models), variants=variants),
        seed=req.seed,
        chunk_size=req.chunk_size,
        batch_size=req.batch_size or default_batch_size(req.device),
        workers=workers,
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clear_derived_outputs(req.out)  # the runner may now replace predictions.parquet
    if req.executor == "ray":
        from emoaudit.run.ray_executor import run_plan_ray

        outcome = run_plan_ray(plan, req.out, on_progress=on_progress, address=req.ray_address)
    else:
        outcome = run_plan(plan, req.out, on_progress=on_progress)
    if outcome.n_samples == 0:
        raise DataError(EMPTY_RUN.format(path=req.data))
    check_some_usable(outcome.predictions, data=req.data)
    run_precropped = req.precropped or bool(adapter.PRECROPPED)
    run_info = {
        "command": " ".join(["emoaudit", *sys.argv[1:]]),
        "started_at": started,
        "dataset": {
            "path": str(req.data.resolve()),
            "format": fmt,
            "n_samples": outcome.n_samples,
            "digest": outcome.dataset_digest,
            "precropped": req.precropped or bool(adapter.PRECROPPED),
            "paths_outside_root": outside.record(),
        },
        "models": [_model_record(m) for m in models],
        "identical_models": identical_models([_model_record(m) for m in models]),
        "conditions": conditions,
        "protocols": protocols,
        "faces": plan.faces.key(req.precropped or bool(adapter.PRECROPPED)),
        "seed": req.seed,
        "executor": req.executor,
        "device": backend.as_dict(),
        "cache": {
            "shards_cached": outcome.n_shards_cached,
            "shards_computed": outcome.n_shards_computed,
        },
        "n_rows": outcome.n_rows,
        "warnings": run_warnings(outcome.predictions, detected=not run_precropped),
        **req.provenance_extra,
    }
    write_text_atomic(req.out / RUN_INFO, json.dumps(run_info, indent=2))
    if on_stage:
        on_stage("analysing")
    return _results(req)


PREDICTIONS_WITH_MODEL = "--predictions replaces inference; drop --model (or run them separately)"
PREDICTIONS_FORMAT_NEEDED = (
    "{path}: pass --predictions-format (one of: {known}); only .csv, .jsonl and .parquet are "
    "recognised by extension"
)
IMPORTED_CLEAN_ONLY = (
    "--conditions needs inference on perturbed images; imported outputs are for the clean "
    "images only"
)
BY_EXTENSION = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def _run_imported(
    req: AuditRequest,
    *,
    fmt: str,
    adapter: Any,
    on_start: Callable[[str], None] | None,
    on_progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    """The audit of a file of saved outputs: join it to the dataset, then the same analysis."""
    from emoaudit.analysis.results import RUN_INFO
    from emoaudit.predictions import PREDICTION_FORMATS
    from emoaudit.predictions.join import import_predictions

    assert req.predictions is not None
    if req.models:
        raise EmoauditError(PREDICTIONS_WITH_MODEL)
    pfmt = req.predictions_format or BY_EXTENSION.get(req.predictions.suffix.lower())
    if pfmt is None:
        known = ", ".join(PREDICTION_FORMATS.names())
        raise EmoauditError(PREDICTIONS_FORMAT_NEEDED.format(path=req.predictions, known=known))
    PREDICTION_FORMATS.get(pfmt)  # one-line error with did-you-mean for a typo
    if req.conditions.strip() not in ("", "clean"):
        raise EmoauditError(IMPORTED_CLEAN_ONLY)
    if on_start:
        on_start(fmt)
    req.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    name = req.model_name or req.predictions.name.split(".")[0]
    clear_derived_outputs(req.out)  # the join may now replace predictions.parquet
    outcome = import_predictions(
        adapter.iter_samples(req.data, **req.extra),
        file=req.predictions, fmt=pfmt, model_name=name, dataset=fmt, data_root=req.data,
        out=req.out, chunk_size=max(req.chunk_size, 4096), on_progress=on_progress,
    )  # fmt: skip
    if outcome.n_samples == 0:
        raise DataError(EMPTY_RUN.format(path=req.data))
    run_info = _imported_run_info(req, fmt=fmt, name=name, outcome=outcome, started=started)
    write_text_atomic(req.out / RUN_INFO, json.dumps(run_info, indent=2))
    return _results(req)


def _imported_run_info(
    req: AuditRequest, *, fmt: str, name: str, outcome: Any, started: str
) -> dict[str, Any]:
    """run.json of an import: the inference run's keys, the file as the model's artifact, and
    the join's accounting under `predictions_import`."""
    acc = outcome.accounting
    return {
        "command": " ".join(["emoaudit", *sys.argv[1:]]),
        "started_at": started,
        "dataset": {
            "path": str(req.data.resolve()),
            "format": fmt,
            "n_samples": outcome.n_samples,
            "digest": outcome.dataset_digest,
            "digest_of": "sample records (no image was read: outputs were imported)",
        },
        "models": [
            {
                "name": name,
                "sha256": acc["sha256"],
                "labels": acc["labels"],
                "source": f"imported {acc['format']} outputs: {acc['file']}",
            }
        ],
        "identical_models": [],
        "conditions": ["clean"],
        "predictions_import": acc,
        "n_rows": outcome.n_rows,
        **req.provenance_extra,
    }


def clear_derived_outputs(out: Path) -> None:
    """Remove what was computed from OUT/predictions.parquet, before a run may replace it.

    A rerun killed just after its new predictions.parquet landed left them beside the previous
    run's run.json, results.json and report, all looking current (640 rows under a report of
    600). Without those files a folder is consistent at every instant: each derived file is
    written after the predictions it comes from, and `emoaudit report` rebuilds the rest from
    whichever predictions.parquet is there. Removal was chosen over a 'running' mark in run.json
    because no reader (report, compare, flagging, the API, a user's own script) has to learn to
    check a mark. The cost: a rerun that fails before its predictions land leaves the previous
    ones without their report, until `emoaudit report OUT` recomputes it. Reports go first and
    run.json last, so a report never outlives the results it shows.
    """
    for path in derived_outputs(out):
        path.unlink(missing_ok=True)


def derived_outputs(out: Path) -> list[Path]:
    """Every file of OUT made from predictions.parquet, in the order they are removed."""
    from emoaudit.analysis.results import RESULTS, RUN_INFO
    from emoaudit.report.card import CARD
    from emoaudit.report.html import REPORT
    from emoaudit.report.pdf import PDF
    from emoaudit.report.tables import TABLES

    names = [REPORT, PDF, CARD, *(f"{table}.csv" for table in TABLES), RESULTS, RUN_INFO]
    return [out / name for name in names]


def _results(req: AuditRequest) -> dict[str, Any]:
    """results.json from the predictions just written, with the request's analysis options."""
    from emoaudit.analysis.results import build_results

    return build_results(
        req.out,
        groups=req.groups,
        n_resamples=req.n_resamples,
        seed=req.seed,
        confidence=req.confidence,
        min_group_n=req.min_group_n,
        pool_splits=req.pool_splits,
        **req.group_options,
    )


def check_some_usable(predictions: Path, *, data: Path) -> None:
    """DataError when every sample is bad_input or unreadable: a whole-input problem (wrong
    format, wrong folder) that must not pass as an audit with exit 0 and "n/a" everywhere."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from emoaudit.data.base import BAD_INPUT, UNREADABLE

    table = pq.read_table(predictions, columns=["model", "condition", "status", "reason"])
    if table.num_rows == 0:
        return
    first = pc.and_(  # one (model, condition): each sample once
        pc.equal(table["model"], table["model"][0]),
        pc.equal(table["condition"], table["condition"][0]),
    )
    table = table.filter(first)
    statuses = set(table["status"].to_pylist())
    if not statuses <= {BAD_INPUT, UNREADABLE}:
        return
    counts = pc.value_counts(table["status"]).to_pylist()
    raise DataError(
        ALL_BAD.format(
            path=data,
            n=table.num_rows,
            counts=", ".join(f"{c['counts']} {c['values']}" for c in counts),
            reason=table["reason"][0].as_py(),
        )
    )


SMALL_SIDE = 64  # FER-style crops are 48 px: a face detector finds little to work with
SMALL_SHARE = 0.5  # "most images" are small
MISSED_SHARE = 0.05  # "many faces" missed (BlazeFace missed 7% of FER2013 crops)
SIZE_PROBE = 200  # images whose header is read to estimate the share of small ones
SMALL_CROPS = (
    "{missed} of {n} faces were not found and {small:.0%} of the images are at most {side} px: "
    "these look like face crops already; run again with --precropped to skip detection"
)


def run_warnings(predictions: Path, *, detected: bool) -> list[str]:
    """Run-level caveats for results.json, the console and the report.

    Small crops sent to a detector: when face detection ran, many faces were missed and most
    images are tiny, the images are crops already and detection is costing faces for nothing.
    Only headers of at most SIZE_PROBE images are read (PIL reads the size without decoding).
    """
    if not detected:
        return []
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(predictions, columns=["model", "condition", "status", "path"])
    if table.num_rows == 0:
        return []
    first = pc.and_(
        pc.equal(table["model"], table["model"][0]), pc.equal(table["condition"], "clean")
    )
    rows = table.filter(first)
    statuses = rows["status"].to_pylist()
    shown = [s for s in statuses if s in ("ok", "no_face")]
    missed = statuses.count("no_face")
    if not shown or missed / len(shown) < MISSED_SHARE:
        return []
    paths = [p for p in rows["path"].to_pylist() if p][:SIZE_PROBE]
    sides = [s for s in (_image_side(p) for p in paths) if s is not None]
    if not sides:
        return []
    small = sum(s <= SMALL_SIDE for s in sides) / len(sides)
    if small <= SMALL_SHARE:
        return []
    return [SMALL_CROPS.format(missed=missed, n=len(shown), small=small, side=SMALL_SIDE)]


def _image_side(path: str) -> int | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return max(image.size)
    except Exception:  # noqa: BLE001 - an unreadable file is already counted as unreadable
        return None


def _model_record(model: Any) -> dict[str, Any]:
    return {
        "name": model.info.name,
        "sha256": model.sha256,
        "labels": list(model.info.labels),
        "input": model.info.input.as_dict(),
        "source": model.info.source,
    }
