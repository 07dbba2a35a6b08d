"""The Python API, emoaudit's front door: ``emoaudit.audit(data, models=[...], ...)``.

Everything ``emoaudit audit`` does is one call here (the CLI is a thin layer over this function),
and the answer comes back as tidy pandas DataFrames - one row per number, each with its interval
and n - so a notebook user filters and plots without learning the results.json layout. Models
are names, ``.onnx`` paths, ``http+json:URL`` endpoints, or any Python object with ``labels`` and
``predict(faces) -> probabilities`` (see models/python_model.py for what caching needs).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

INTERVAL_KEYS = ("value", "ci_low", "ci_high", "n")
# A wrongly typed argument is one line before anything runs, never a TypeError from deep inside.
BAD_ARGUMENT = "{name}: expected {expected}, got {value}"
FPS_NOT_VIDEO = "fps: frames per second are for format 'video'; {data} is read as '{fmt}'"


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
        _check("examples", examples, "True or False", isinstance(examples, bool))
        _check("unblurred", unblurred, "True or False", isinstance(unblurred, bool))
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
    min_group_n, chunk_size, batch_size, workers, executor, device, ray_address, fps (video
    only); reference ({"gender": "female"}), hostile (labels read as hostile) and given (the
    label or numeric column to compare hostile readings at) shape the group tests; predictions,
    predictions_format and model_name audit a file of saved outputs instead of running
    `models` (docs/predictions-import.md); protocols, pool_splits, wait, provenance_extra.
    groups, hostile and conditions take one string ("gender,race") or a list of strings.
    A wrongly typed value (conditions=None, groups=5, out="") is an EmoauditError of one line
    before anything runs; an unknown option is a TypeError, as for any keyword.
    """
    from emoaudit.run.audit import run_audit

    for name, callback in (("on_start", on_start), ("on_progress", on_progress),
                           ("on_stage", on_stage)):  # fmt: skip
        _check(name, callback, "a function or None", callback is None or callable(callback))
    if out is None:
        out = tempfile.mkdtemp(prefix="emoaudit-")
    req = build_request(data=data, models=models, out=out, **options)
    check_given(req)  # before any inference: run_audit checks the rest
    results = run_audit(req, on_start=on_start, on_progress=on_progress, on_stage=on_stage)
    return Audit(out=req.out, results=results)


def _as_list(models: Any) -> list[Any]:
    """One model or a list/tuple of them (a model object may itself be iterable)."""
    return list(models) if isinstance(models, list | tuple) else [models]


def _names(groups: str | Iterable[str] | None) -> list[str] | None:
    """'gender,race' or ['gender', 'race'] (entries may hold commas, as on the command line)."""
    if groups is None:
        return None
    raw = _strings("groups", groups, "attribute names, e.g. 'gender,race' or ['gender', 'race']")
    names = [v.strip() for entry in raw for v in entry.split(",") if v.strip()]
    return names or None


def _strings(name: str, value: Any, expected: str) -> list[str]:
    """A str (one entry: never split into its characters) or a list/tuple/set of str."""
    if isinstance(value, str):
        return [value]
    ok = isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(v, str) for v in value
    )
    _check(name, value, expected, ok)
    return list(value)


def _check(name: str, value: Any, expected: str, ok: bool) -> None:
    from emoaudit.errors import EmoauditError, clipped, one_line

    if not ok:
        shown = one_line(clipped(repr(value)))
        raise EmoauditError(BAD_ARGUMENT.format(name=name, expected=expected, value=shown))


def _optional_path(name: str, value: Any, what: str) -> Path | None:
    from emoaudit.run.options import path_argument

    return None if value is None else path_argument(value, name=name, what=what)


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
    from emoaudit.run.options import check_run_numbers, path_argument

    data = path_argument(data, name="data", what="a dataset file or folder")
    out = path_argument(out, name="out", what="an output folder")
    _check_words(format=format, detector=detector, executor=executor, device=device)
    _check_words(optional=True, ray_address=ray_address, predictions_format=predictions_format,
                 model_name=model_name)  # fmt: skip
    for name, flag in (("precropped", precropped), ("wait", wait), ("pool_splits", pool_splits)):
        _check(name, flag, "True or False", isinstance(flag, bool))
    check_run_numbers(
        seed=seed, n_resamples=n_resamples, min_group_n=min_group_n, confidence=confidence,
        chunk_size=chunk_size, batch_size=batch_size, workers=workers,
    )  # fmt: skip
    spec_hint = "e.g. 'clean', 'standard' or 'resolution,jpeg' (or a list of them)"
    conditions = ",".join(_strings("conditions", conditions, f"a string, {spec_hint}"))
    if protocols is not None:
        protocols = ",".join(_strings("protocols", protocols, "a string, e.g. 'standard'"))
    _check("provenance_extra", provenance_extra, "a dict or None",
           provenance_extra is None or isinstance(provenance_extra, Mapping))  # fmt: skip
    group_options: dict[str, Any] = {"reference": _reference(reference)}
    if hostile is not None:  # as --hostile checks it: "anger" was split into five letters
        group_options["hostile"] = _hostile_labels(hostile)
    if given is not None:
        group_options["given"] = _given(given)
    groups = _names(groups)
    extra = {"fps": _fps(fps, data=data, fmt=format)} if fps is not None else {}
    req = AuditRequest(
        data=data,
        out=out,
        models=_as_list(models) if models is not None else [],
        fmt=format,
        model_spec=_optional_path("model_spec", model_spec, "a TOML model spec file"),
        conditions=conditions,
        detector=detector,
        precropped=precropped,
        seed=seed,
        groups=groups,
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
        extra=extra,
        group_options=group_options,
        predictions=_optional_path("predictions", predictions, "a file of saved outputs"),
        predictions_format=predictions_format,
        model_name=model_name,
        wait=wait,
        protocols=protocols,
        pool_splits=pool_splits,
    )
    return req


def _check_words(*, optional: bool = False, **values: Any) -> None:
    """Options that are one word of text (a format, a device, a name)."""
    for name, value in values.items():
        expected = "a string or None" if optional else "a string"
        _check(name, value, expected, isinstance(value, str) or (optional and value is None))


def _reference(reference: Any) -> dict[str, str]:
    """{"gender": "female"}: a reference group per attribute (the CLI's --reference A=G)."""
    expected = "a dict of attribute -> group, e.g. {'gender': 'female'}"
    ok = reference is None or (
        isinstance(reference, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in reference.items())
    )
    _check("reference", reference, expected, ok)
    return dict(reference or {})


def _given(given: Any) -> str:
    """The label (any spelling, as --at-equal) or attribute column to compare hostile readings
    at; whether the column exists is checked against the data (check_given)."""
    from emoaudit.errors import EmoauditError
    from emoaudit.run.options import AT_EQUAL_EMPTY
    from emoaudit.taxonomy import canonical

    _check("given", given, "a label or attribute column name (a string)", isinstance(given, str))
    name = canonical(given) or given.strip()
    if not name:
        raise EmoauditError(AT_EQUAL_EMPTY)
    return name


def _fps(fps: Any, *, data: Path, fmt: str) -> float:
    """Frames per second: a positive number, and only for a video dataset (it was passed to
    every other format's reader, which has no such option: a TypeError)."""
    from emoaudit.errors import EmoauditError
    from emoaudit.run.audit import resolve_format

    ok = isinstance(fps, int | float) and not isinstance(fps, bool) and math.isfinite(fps)
    _check("fps", fps, "a number of frames per second > 0", ok and fps > 0)
    resolved = fmt if fmt == "video" else resolve_format(data, fmt)
    if resolved != "video":
        raise EmoauditError(FPS_NOT_VIDEO.format(data=data, fmt=resolved))
    return float(fps)


def check_given(req: Any) -> None:
    """A `given` (--at-equal) that is no label must be an attribute column of the dataset with
    numbers in it, checked on its first samples: a name that matched nothing made the run skip
    the comparison without a word. A label needs no data, so the default costs nothing."""
    from emoaudit.run.options import (
        GROUP_PEEK,
        at_equal_needs_column,
        check_at_equal,
        sample_columns,
    )

    given = req.group_options.get("given")
    if given is None or not at_equal_needs_column(given):
        return
    from emoaudit.data import DATASETS
    from emoaudit.run.audit import resolve_format

    fmt = resolve_format(req.data, req.fmt)
    samples = DATASETS.get(fmt).iter_samples(req.data, **req.extra)
    where = f"{req.data} (first {GROUP_PEEK} samples)"
    check_at_equal(given, sample_columns(samples, given), where=where)


def _hostile_labels(hostile: Iterable[str] | str) -> tuple[str, ...]:
    """Canonical hostile labels, each checked as the CLI's --hostile is; a single string is one
    label or a comma-separated list, never its characters."""
    from emoaudit.cli import BAD_HOSTILE
    from emoaudit.errors import EmoauditError
    from emoaudit.taxonomy import CANONICAL, canonical

    expected = "expression labels, e.g. 'anger,disgust' or ['anger', 'disgust']"
    raw = _strings("hostile", hostile, expected)
    labels = []
    for name in (n for entry in raw for n in entry.split(",")):
        label = canonical(name)
        if label is None:
            raise EmoauditError(BAD_HOSTILE.format(value=name, known=", ".join(CANONICAL)))
        labels.append(label)
    return tuple(labels)
