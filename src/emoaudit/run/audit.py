"""`emoaudit audit`: resolve the dataset and models, run (or resume), then analyse.

This is the library entry point the CLI calls; it is also what a notebook user would call.
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


@dataclass
class AuditRequest:
    data: Path
    out: Path
    models: list[str]
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
    provenance_extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"demo": True}
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
    names: list[str], spec: Path | None, *, threads: int | None = None, device: str = "cpu"
) -> list[Any]:
    from emoaudit.models.onnx_model import load_model

    if not names:
        raise EmoauditError("no model given; pass --model NAME (see `emoaudit models list`)")
    return [load_model(name, spec_path=spec, threads=threads, device=device) for name in names]


def run_audit(
    req: AuditRequest,
    *,
    on_start: Callable[[str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the audit described by `req`; returns the results dict also written to disk."""
    from emoaudit.data import DATASETS
    from emoaudit.report.results import RUN_INFO, build_results
    from emoaudit.run.runner import RunPlan, run_plan

    fmt = resolve_format(req.data, req.fmt)
    adapter = DATASETS.get(fmt)
    if on_start:
        on_start(fmt)
    from emoaudit.models.device import choose_backend, default_batch_size, default_workers
    from emoaudit.run.runner import session_threads

    if req.executor == "ray" and req.device != "cpu":
        raise EmoauditError(RAY_NEEDS_CPU)
    backend = choose_backend(req.device)
    workers = req.workers or default_workers(req.device)
    models = load_models(
        req.models, req.model_spec, threads=session_threads(workers), device=req.device
    )
    from emoaudit.run.protocols import face_settings, parse_protocols

    protocols = parse_protocols(req.protocols)
    conditions = parse_conditions(req.conditions) + protocols
    variants = tuple(
        (p, *face) for p in protocols if (face := face_settings(p, detector=req.detector))
    )

    def samples():
        for sample in adapter.iter_samples(req.data, **req.extra):
            if req.precropped:
                sample.precropped = True
            yield sample

    plan = RunPlan(
        dataset=fmt,
        samples=samples,
        models=models,
        model_refs=[(name, req.model_spec) for name in req.models],
        conditions=conditions,
        faces=FaceSettings(detector=req.detector, variants=variants),
        seed=req.seed,
        chunk_size=req.chunk_size,
        batch_size=req.batch_size or default_batch_size(req.device),
        workers=workers,
    )
    req.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    if req.executor == "ray":
        from emoaudit.run.ray_executor import run_plan_ray

        outcome = run_plan_ray(plan, req.out, on_progress=on_progress, address=req.ray_address)
    elif req.executor == "local":
        outcome = run_plan(plan, req.out, on_progress=on_progress)
    else:
        raise EmoauditError(UNKNOWN_EXECUTOR.format(name=req.executor))
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
        },
        "models": [_model_record(m) for m in models],
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
    return build_results(
        req.out,
        groups=req.groups,
        n_resamples=req.n_resamples,
        seed=req.seed,
        confidence=req.confidence,
        min_group_n=req.min_group_n,
        pool_splits=req.pool_splits,
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
