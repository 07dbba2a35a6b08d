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
RAY_NEEDS_CPU = "--executor ray runs on CPU actors; --device cuda is for the local executor"
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
    detector: str = "blazeface"
    precropped: bool = False  # the images are face crops already: skip detection
    seed: int = 0
    groups: list[str] | None = None
    n_resamples: int = 1000
    confidence: float = 0.95
    min_group_n: int = 30
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
        if hasattr(model, "predict_faces") and model.info.name in seen:
            raise EmoauditError(SAME_NAME.format(name=model.info.name))
        seen.add(model.info.name)
    return models


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
) -> dict[str, Any]:
    """Run the audit described by `req`; returns the results dict also written to disk."""
    from emoaudit.analysis.results import RUN_INFO, build_results
    from emoaudit.data import DATASETS
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
        req.models, req.model_spec, threads=session_threads(workers), device=req.device,
        out=req.out,
    )  # fmt: skip
    conditions = parse_conditions(req.conditions)
    if req.executor == "ray":
        for model in models:
            if hasattr(model, "predict_faces"):
                raise EmoauditError(RAY_NEEDS_NAMES.format(name=model.info.name))

    def samples():
        for sample in adapter.iter_samples(req.data, **req.extra):
            if req.precropped:
                sample.precropped = True
            yield sample

    plan = RunPlan(
        dataset=fmt,
        samples=samples,
        models=models,
        model_refs=[(name, req.model_spec) for name in req.models if isinstance(name, str | Path)],
        conditions=conditions,
        faces=FaceSettings(detector=req.detector, margin=crop_margin(models)),
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
        "faces": plan.faces.key(req.precropped or bool(adapter.PRECROPPED)),
        "seed": req.seed,
        "executor": req.executor,
        "device": backend.as_dict(),
        "cache": {
            "shards_cached": outcome.n_shards_cached,
            "shards_computed": outcome.n_shards_computed,
        },
        "n_rows": outcome.n_rows,
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
    )


def _model_record(model: Any) -> dict[str, Any]:
    return {
        "name": model.info.name,
        "sha256": model.sha256,
        "labels": list(model.info.labels),
        "input": model.info.input.as_dict(),
        "source": model.info.source,
    }
