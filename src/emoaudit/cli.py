"""Command line: parses arguments, calls the library, prints. No logic lives here.

User mistakes (EmoauditError) print one line and exit 2; anything else is a bug and keeps its
traceback so it can be reported.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from emoaudit.errors import EmoauditError

app = typer.Typer(
    help="Audit facial-expression ('emotion') recognition models. Examines models; never "
    "identifies, tracks or flags people.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Built-in model zoo.", no_args_is_help=True)
datasets_app = typer.Typer(help="Dataset formats and inspection.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(datasets_app, name="datasets")


@contextmanager
def user_errors():
    """Turn user mistakes into a one-line message and exit code 2."""
    from emoaudit.registry import RegistryError

    try:
        yield
    except (EmoauditError, RegistryError) as exc:
        typer.echo(f"emoaudit: error: {exc}", err=True)
        raise typer.Exit(2) from None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="Dataset file or folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="Model name or path to .onnx; repeatable.")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="Dataset format or 'auto'.")] = "auto",
    model_spec: Annotated[
        Path | None, typer.Option(help="TOML input/label spec for a .onnx model.")
    ] = None,
    conditions: Annotated[
        str, typer.Option(help="'clean', 'standard', or families e.g. 'resolution,jpeg'.")
    ] = "clean",
    detector: Annotated[
        str, typer.Option(help="Face detector for photos: blazeface or haar.")
    ] = "blazeface",
    protocols: Annotated[
        str | None,
        typer.Option(
            help="Also run alternative preprocessing: 'standard' or e.g. 'resize=area,color=swap'."
        ),
    ] = None,
    precropped: Annotated[
        bool, typer.Option(help="Images are face crops already (folders, manifests): no detection.")
    ] = False,
    groups: Annotated[
        list[str] | None, typer.Option(help="Attributes to cross, e.g. gender,race.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for perturbations and bootstrap.")] = 0,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    min_group_n: Annotated[int, typer.Option(help="Smallest group size in disparities.")] = 30,
    pool_splits: Annotated[
        bool, typer.Option(help="One result over all splits (default: one per split).")
    ] = False,
    fps: Annotated[float, typer.Option(help="Frames per second sampled (--format video).")] = 5.0,
    chunk_size: Annotated[int, typer.Option(help="Samples per cached shard.")] = 512,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Faces per inference call (default: 16 on cpu, 256 on cuda)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker threads (default: one per core on cpu, 1 on cuda).")
    ] = None,
    device: Annotated[
        str, typer.Option(help="'cpu' or 'cuda' (onnxruntime-gpu, else PyTorch + onnx2torch).")
    ] = "cpu",
    executor: Annotated[str, typer.Option(help="'local' or 'ray'.")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (with --executor ray).")
    ] = None,
    include_examples: Annotated[
        bool, typer.Option(help="Embed example faces in the report (blurred by default).")
    ] = False,
    examples_unblurred: Annotated[bool, typer.Option(help="Do not blur example faces.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Run models on a dataset; write predictions.parquet, results.json and report.html."""
    from emoaudit.run.audit import AuditRequest, run_audit

    req = AuditRequest(
        data=data,
        out=out,
        models=_split(model),
        fmt=fmt,
        model_spec=model_spec,
        conditions=conditions,
        protocols=protocols,
        detector=detector,
        precropped=precropped,
        seed=seed,
        groups=_split(groups) or None,
        n_resamples=resamples,
        min_group_n=min_group_n,
        pool_splits=pool_splits,
        chunk_size=chunk_size,
        batch_size=batch_size,
        workers=workers,
        executor=executor,
        ray_address=address,
        device=device,
        extra={"fps": fps} if fmt == "video" else {},
    )
    with user_errors(), _progress(quiet, data) as (on_start, on_progress):
        if device != "cpu":  # say which GPU path runs (cpu is the default: nothing to say)
            from emoaudit.models.device import choose_backend

            typer.echo(choose_backend(device).message(), err=True)
        results = run_audit(req, on_start=on_start, on_progress=on_progress)
        _write_report(
            out, results, quiet=quiet, examples=include_examples, unblurred=examples_unblurred
        )
    if not quiet:
        from emoaudit.report.console import print_summary

        print_summary(results)


def _write_report(
    out: Path, results: dict, *, quiet: bool, examples: bool = False, unblurred: bool = False
) -> None:
    from emoaudit.report.card import write_audit_card
    from emoaudit.report.html import write_report

    if examples:
        from emoaudit.report.results import example_rows

        results = {**results, "examples": example_rows(out)}
    path = write_report(out, results, include_examples=examples, examples_unblurred=unblurred)
    card = write_audit_card(out, results)
    if not quiet:
        typer.echo(f"report: {path}\naudit card: {card}")


@contextmanager
def _progress(quiet: bool, data: Path | None):
    if quiet:
        yield (lambda fmt: None), None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )
    task = progress.add_task("audit", total=None, rate="")

    def on_start(fmt: str) -> None:
        """Called once the input is known to be usable: only then does the bar appear."""
        typer.echo(f"format: {fmt}", err=True)
        progress.start()
        if data is None:
            return
        threading.Thread(target=_count, args=(progress, task, data, fmt), daemon=True).start()

    def on_progress(n: int) -> None:
        progress.advance(task, n)
        speed = progress.tasks[0].speed
        progress.update(task, rate=f"{speed:,.0f} samples/s" if speed else "")

    try:
        yield on_start, on_progress
    finally:
        progress.stop()


def _count(progress, task, data: Path, fmt: str) -> None:
    """Count samples in the background so the bar can show an ETA without delaying the run."""
    from emoaudit.data import DATASETS

    try:
        total = sum(1 for _ in DATASETS.get(fmt).iter_samples(data))
    except Exception:  # counting is cosmetic; the run reports real errors itself
        return
    progress.update(task, total=total)


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="Audit output folder.")],
    groups: Annotated[list[str] | None, typer.Option(help="Attributes to cross.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    resamples: Annotated[int, typer.Option()] = 1000,
    min_group_n: Annotated[int, typer.Option()] = 30,
    pool_splits: Annotated[bool, typer.Option(help="One result over all splits.")] = False,
    include_examples: Annotated[bool, typer.Option()] = False,
    examples_unblurred: Annotated[bool, typer.Option()] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Recompute results.json (and the report) from cached predictions; runs no model."""
    from emoaudit.errors import MISSING_PATH
    from emoaudit.report.results import build_results

    with user_errors():
        if not (out / "predictions.parquet").exists():
            raise EmoauditError(MISSING_PATH.format(path=out / "predictions.parquet"))
        results = build_results(
            out,
            groups=_split(groups) or None,
            n_resamples=resamples,
            seed=seed,
            min_group_n=min_group_n,
            pool_splits=pool_splits,
        )
        _write_report(
            out, results, quiet=quiet, examples=include_examples, unblurred=examples_unblurred
        )
    if not quiet:
        from emoaudit.report.console import print_summary

        print_summary(results)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "emoaudit-demo"
    ),
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Built-in models on public-domain photos shipped by scikit-image and matplotlib, with the
    robustness suite, model agreement and a flagging analysis: a demonstration, not evidence."""
    from emoaudit.demo import run_demo

    with user_errors(), _progress(quiet, None) as (on_start, on_progress):
        results = run_demo(
            out, n_resamples=resamples, seed=seed, on_start=on_start, on_progress=on_progress
        )
        _write_report(out, results, quiet=quiet)
    if not quiet:
        from emoaudit.report.console import print_summary

        print_summary(results)
        typer.echo(
            "This was a demonstration on three photos, not evidence about any model. "
            "Audit real data with e.g.: emoaudit audit fer2013.csv --model fer-mini-xception "
            "--out out/"
        )


@app.command()
def flagging(
    out: Annotated[Path, typer.Argument(help="Audit output folder.")],
    flag: Annotated[
        list[str], typer.Option(help="Predicted labels a deployment would flag, e.g. anger,fear.")
    ],
    base_rate: Annotated[
        float, typer.Option(help="Share of screened people who are real targets.")
    ] = 1e-4,
    population: Annotated[int, typer.Option(help="People screened.")] = 1_000_000,
    display_rate: Annotated[
        float | None,
        typer.Option(help="Share of ordinary people showing a flagged expression (default: data)."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model (default: the only one).")] = None,
    groups: Annotated[
        list[str] | None, typer.Option(help="Attributes for false-flag rates.")
    ] = None,
    resamples: Annotated[int, typer.Option()] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """What flagging people by predicted expression would do: expected flags, PPV, innocent
    people flagged per true hit. emoaudit never flags anyone; it computes the consequences."""
    from emoaudit.report.results import add_flagging_request, build_results

    request = {
        "flag": _split(flag),
        "base_rate": base_rate,
        "population": population,
        "display_rate": display_rate,
        "model": model,
        "groups": _split(groups) or None,
    }
    with user_errors():
        if not (out / "predictions.parquet").exists():
            from emoaudit.errors import MISSING_PATH

            raise EmoauditError(MISSING_PATH.format(path=out / "predictions.parquet"))
        from emoaudit.analysis.flagging import flagging_analysis
        from emoaudit.report.results import load_predictions

        # validate (one-line errors) before the request is stored
        flagging_analysis(load_predictions(out), **request, n_resamples=10, seed=seed)
        add_flagging_request(out, request)
        results = build_results(out, n_resamples=resamples, seed=seed)
        _write_report(out, results, quiet=quiet)
    if not quiet:
        from emoaudit.analysis.flagging import plain_statement

        for item in results.get("flagging", []):
            typer.echo(plain_statement(item))


@app.command("compare")
def compare_cmd(
    dirs: Annotated[list[Path], typer.Argument(help="Audit output folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    resamples: Annotated[int, typer.Option()] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Models x datasets x conditions with intervals; paired tests where samples match."""
    from emoaudit.report.compare import compare

    with user_errors():
        compare(dirs, out=out, n_resamples=resamples, seed=seed)
    if not quiet:
        typer.echo(f"comparison: {out / 'compare.html'}")


@models_app.command("list")
def models_list() -> None:
    """List built-in models, whether they are built, and why not."""
    from emoaudit.models.zoo import available

    for name, status in available().items():
        typer.echo(f"{name:22s} {status}")


@models_app.command("build")
def models_build(
    names: Annotated[
        list[str] | None, typer.Argument(help="Models to build (default all).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if present.")] = False,
) -> None:
    """Fetch the pinned source artifacts, verify sha256, convert to ONNX into the cache."""
    from emoaudit.models.zoo import build

    with user_errors():
        results = build(names or None, force=force, log=lambda m: typer.echo(m, err=True))
    failed = [n for n, r in results.items() if not getattr(r, "ok", True)]
    if failed and len(failed) == len(results):
        raise typer.Exit(1)


@datasets_app.command("inspect")
def datasets_inspect(
    data: Annotated[Path, typer.Argument(help="Dataset file or folder.")],
    fmt: Annotated[str, typer.Option("--format", "-f")] = "auto",
) -> None:
    """Counts per split, label, status and attribute."""
    from emoaudit.data.inspect import inspect_dataset, render_inspection
    from emoaudit.run.audit import resolve_format

    with user_errors():
        resolved = resolve_format(data, fmt)
        typer.echo(f"format: {resolved}", err=True)
        render_inspection(inspect_dataset(data, resolved))


@datasets_app.command("list")
def datasets_list() -> None:
    """Supported dataset formats."""
    from emoaudit.data import DATASETS

    for name in DATASETS.names():
        typer.echo(f"{name:18s} {DATASETS.get(name).DESCRIPTION}")


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="emoaudit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
