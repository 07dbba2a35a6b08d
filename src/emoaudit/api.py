"""The Python API, emoaudit's front door: ``emoaudit.audit(data, models=[...], ...)``.

Everything ``emoaudit audit`` does is one call here (the CLI is a thin layer over this function),
and the answer comes back as tidy pandas DataFrames - one row per number, each with its interval
and n - so a notebook user filters and plots without learning the results.json layout. Models
are names, ``.onnx`` paths, ``http+json:URL`` endpoints, or any Python object with ``labels`` and
``predict(faces) -> probabilities`` (see models/python_model.py for what caching needs).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

INTERVAL_KEYS = ("value", "ci_low", "ci_high", "n")


@dataclass
class Audit:
    """The outcome of one audit: OUT's files, results.json as a dict, and tidy views of it."""

    out: Path
    results: dict[str, Any]
    _report: Path | None = field(default=None, repr=False)

    @cached_property
    def predictions(self) -> Any:
        """predictions.parquet: one row per (sample, model, condition), every status included."""
        import pandas as pd

        return pd.read_parquet(self.out / "predictions.parquet")

    @cached_property
    def metrics(self) -> Any:
        """Overall metrics: model, dataset, condition, metric, value, ci_low, ci_high, n."""
        rows = []
        for entry in self.results.get("results", []):
            keys = {k: entry.get(k) for k in ("model", "dataset", "condition")}
            sections = {"": entry.get("headline") or {}, "calibration.": entry.get("calibration")}
            if _is_interval(entry.get("end_to_end")):
                rows.append({**keys, "metric": "end_to_end_accuracy",
                             **_interval(entry["end_to_end"])})  # fmt: skip
            for prefix, section in sections.items():
                for name, value in (section or {}).items():
                    if _is_interval(value):
                        rows.append({**keys, "metric": prefix + name, **_interval(value)})
        return _frame(rows, ["model", "dataset", "condition", "metric", *INTERVAL_KEYS])

    @cached_property
    def by_group(self) -> Any:
        """Per-group metrics: model, condition, grouping, group, group_n, small, metric, ..."""
        rows = []
        for entry in self.results.get("results", []):
            keys = {k: entry.get(k) for k in ("model", "dataset", "condition")}
            for grouping, block in (entry.get("groups") or {}).items():
                for group in (block or {}).get("groups", []):
                    base = {**keys, "grouping": grouping, "group": group.get("group"),
                            "group_n": group.get("n"), "small": group.get("small")}  # fmt: skip
                    for name, value in (group.get("metrics") or {}).items():
                        if _is_interval(value):
                            rows.append({**base, "metric": name, **_interval(value)})
                    for label, value in (group.get("recall") or {}).items():
                        if _is_interval(value):
                            rows.append({**base, "metric": f"recall.{label}", **_interval(value)})
        columns = ["model", "dataset", "condition", "grouping", "group", "group_n", "small",
                   "metric", *INTERVAL_KEYS]  # fmt: skip
        return _frame(rows, columns)

    @cached_property
    def robustness(self) -> Any:
        """Per perturbed condition: model, condition, family, severity, metric, value, ... n."""
        rows = []
        models = (self.results.get("robustness") or {}).get("models") or {}
        for model, block in models.items():
            for cond in block.get("conditions", []):
                keys = {"model": model, "condition": cond.get("condition"),
                        "family": cond.get("family"), "severity": cond.get("severity")}  # fmt: skip
                for name, value in cond.items():
                    if _is_interval(value):
                        rows.append({**keys, "metric": name, **_interval(value)})
        columns = ["model", "condition", "family", "severity", "metric", *INTERVAL_KEYS]
        return _frame(rows, columns)

    def report(self, *, examples: bool = False, unblurred: bool = False) -> Path:
        """Write OUT/report.html and the Markdown audit card; returns the report's path."""
        from emoaudit.report.card import write_audit_card
        from emoaudit.report.html import write_report

        results = self.results
        if examples:
            from emoaudit.analysis.results import example_rows

            results = {**results, "examples": example_rows(self.out)}
        self._report = write_report(
            self.out, results, include_examples=examples, examples_unblurred=unblurred
        )
        write_audit_card(self.out, results)
        return self._report

    def _repr_html_(self) -> str:  # a notebook shows the headline table
        return self.metrics.to_html(index=False, float_format=lambda v: f"{v:.3f}")


def audit(
    data: str | Path,
    models: Any = None,
    *,
    out: str | Path | None = None,
    on_start: Callable[[str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    **options: Any,
) -> Audit:
    """Audit `models` on `data`; write OUT/predictions.parquet, run.json and results.json.

    `models`: one or a list of model names, ``.onnx`` paths (with `model_spec`), ``http+json:URL``
    (with `model_spec`, an API spec), Python objects (``labels`` + ``predict``), or
    ``emoaudit.PythonModel(obj, name=..., version=...)`` to let reruns reuse cached predictions.
    `out` defaults to a new temporary folder (its path is ``Audit.out``). Rerunning with the
    same `out` resumes: cached shards and stored API answers are reused. Call ``.report()`` on the
    result to write report.html; ``emoaudit audit`` does both.

    `options` are those of `build_request` (every ``emoaudit audit`` option): groups,
    conditions, format, model_spec, detector, precropped, seed, n_resamples, confidence,
    min_group_n, chunk_size, batch_size, workers, executor, device, ray_address, fps;
    reference ({"gender": "female"}), hostile (labels read as hostile) and given (the label or
    numeric column to compare hostile readings at) shape the group tests; predictions,
    predictions_format and model_name audit a file of saved outputs instead of running
    `models` (docs/predictions-import.md); protocols, pool_splits, wait, provenance_extra.
    An unknown option is a TypeError, as for any keyword.
    """
    from emoaudit.run.audit import run_audit

    if out is None:
        out = tempfile.mkdtemp(prefix="emoaudit-")
    req = build_request(data=data, models=models, out=out, **options)
    results = run_audit(req, on_start=on_start, on_progress=on_progress, on_stage=on_stage)
    return Audit(out=Path(out), results=results)


def _as_list(models: Any) -> list[Any]:
    """One model or a list/tuple of them (a model object may itself be iterable)."""
    return list(models) if isinstance(models, list | tuple) else [models]


def _names(groups: str | Iterable[str] | None) -> list[str] | None:
    """'gender,race' or ['gender', 'race'] (entries may hold commas, as on the command line)."""
    if groups is None:
        return None
    raw = [groups] if isinstance(groups, str) else list(groups)
    names = [v.strip() for entry in raw for v in str(entry).split(",") if v.strip()]
    return names or None


def _is_interval(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and "ci_low" in value


def _interval(value: dict[str, Any]) -> dict[str, Any]:
    return {k: value.get(k) for k in INTERVAL_KEYS}


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def build_request(
    *,
    data: str | Path,
    models: Any,
    out: str | Path,
    groups: str | Iterable[str] | None = None,
    conditions: str = "clean",
    format: str = "auto",  # noqa: A002 (the CLI's --format)
    model_spec: str | Path | None = None,
    detector: str = "blazeface",
    precropped: bool = False,
    seed: int = 0,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    min_group_n: int = 30,
    chunk_size: int = 512,
    batch_size: int | None = None,
    workers: int | None = None,
    executor: str = "local",
    device: str = "cpu",
    ray_address: str | None = None,
    fps: float | None = None,
    reference: dict[str, str] | None = None,
    hostile: Iterable[str] | None = None,
    given: str | None = None,
    predictions: str | Path | None = None,
    predictions_format: str | None = None,
    model_name: str | None = None,
    wait: bool = False,
    provenance_extra: dict[str, Any] | None = None,
    protocols: str | None = None,
    pool_splits: bool = False,
) -> Any:
    """The AuditRequest `audit` runs: the CLI builds the same one to check every option before
    it takes the output folder's lock."""
    from emoaudit.run.audit import AuditRequest

    group_options: dict[str, Any] = {"reference": dict(reference or {})}
    if hostile is not None:  # as --hostile checks it: "anger" was split into five letters
        group_options["hostile"] = _hostile_labels(hostile)
    if given is not None:
        group_options["given"] = given
    req = AuditRequest(
        data=Path(data),
        out=Path(out),
        models=_as_list(models) if models is not None else [],
        fmt=format,
        model_spec=Path(model_spec) if model_spec is not None else None,
        conditions=conditions,
        detector=detector,
        precropped=precropped,
        seed=seed,
        groups=_names(groups),
        n_resamples=n_resamples,
        confidence=confidence,
        min_group_n=min_group_n,
        chunk_size=chunk_size,
        batch_size=batch_size,
        workers=workers,
        executor=executor,
        device=device,
        ray_address=ray_address,
        provenance_extra=dict(provenance_extra or {}),
        extra={"fps": fps} if fps is not None else {},
        group_options=group_options,
        predictions=Path(predictions) if predictions is not None else None,
        predictions_format=predictions_format,
        model_name=model_name,
        wait=wait,
        protocols=protocols,
        pool_splits=pool_splits,
    )
    return req


def _hostile_labels(hostile: Iterable[str] | str) -> tuple[str, ...]:
    """Canonical hostile labels, each checked as the CLI's --hostile is; a single string is one
    label or a comma-separated list, never its characters."""
    from emoaudit.cli import BAD_HOSTILE
    from emoaudit.errors import EmoauditError
    from emoaudit.taxonomy import CANONICAL, canonical

    names = hostile.split(",") if isinstance(hostile, str) else list(hostile)
    labels = []
    for name in names:
        label = canonical(name) if isinstance(name, str) else None
        if label is None:
            raise EmoauditError(BAD_HOSTILE.format(value=name, known=", ".join(CANONICAL)))
        labels.append(label)
    return tuple(labels)
