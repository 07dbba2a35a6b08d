"""Command line: parses arguments, calls the library, prints. No logic lives here.

User mistakes (EmoauditError) print one line and exit 2, and so do mistakes the parser finds
(`--resamples abc`, an unknown option): click's boxed usage message is replaced by one line.
Anything else is a bug and keeps its traceback so it can be reported.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from emoaudit.errors import EmoauditError, clipped, one_line
from emoaudit.run.options import check_run_numbers  # stdlib only: keeps start-up fast

try:  # recent typer carries its own copy of click; older releases raise click's own errors
    from typer._click.exceptions import BadParameter, MissingParameter, UsageError
except ImportError:  # pragma: no cover - older typer
    from click.exceptions import BadParameter, MissingParameter, UsageError

FLAG = ""  # metavar of on/off options: typer shows '<bool>', as if `--quiet true` were valid
BAD_VALUE = "{name}: expected {expected}, got {value}"
USAGE = "{message} (see '{command} --help')"
_ARGV = "emoaudit.argv"  # the command line, kept in the click context for BAD_VALUE


class OneLineUsageErrors(TyperGroup):
    """The root command: a parameter mistake (`--resamples abc`, `--seed nan`, an unknown
    option or command) is one line and exit 2, like every other user mistake, instead of
    click's six-line boxed usage message. --help and a bare command still print the help."""

    def make_context(self, info_name, args, parent=None, **extra):
        argv = list(args)
        with _usage_errors(argv):
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.meta[_ARGV] = argv
        return ctx

    def invoke(self, ctx):
        with _usage_errors(ctx.meta.get(_ARGV, [])):
            return super().invoke(ctx)


@contextmanager
def _usage_errors(argv: list[str]):
    try:
        yield
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `emoaudit models`: the help, as before
            raise
        typer.echo(f"emoaudit: error: {usage_line(exc, argv)}", err=True)
        raise typer.Exit(2) from None


def usage_line(exc: Exception, argv: list[str]) -> str:
    """One line for a parser error: the option, what it takes and the value typed when it is a
    number that did not parse, else click's own message with where to read more."""
    param = getattr(exc, "param", None)
    message = " ".join(str(getattr(exc, "message", "") or "").split())
    if isinstance(exc, EmptyPath) and param:
        return f"{_param_name(param)}: {message}"
    if isinstance(exc, BadParameter) and not isinstance(exc, MissingParameter) and param:
        name = _param_name(param)
        value = _typed_value([o for o in getattr(param, "opts", []) if o[:1] == "-"], argv)
        words = message.lower()
        expected = "an integer" if "integer" in words else None
        if expected is None and ("float" in words or "number" in words):
            expected = "a number"
        if expected and value is not None:
            return BAD_VALUE.format(name=name, expected=expected, value=_quoted(value))
        return one_line(f"{name}: {message.removeprefix('Value error, ')}")
    text = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    return one_line(USAGE.format(message=text, command=ctx.command_path) if ctx else text)


def _param_name(param: Any) -> str:
    """--long-option, or an argument's name as the help shows it (DATA)."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    return max(opts, key=len) if opts else str(getattr(param, "name", "")).upper()


def _typed_value(opts: list[str], argv: list[str]) -> str | None:
    """What followed the option on the command line (its last use: the one click keeps)."""
    value = None
    for i, token in enumerate(argv):
        if token in opts and i + 1 < len(argv):
            value = argv[i + 1]
        for opt in opts:
            if opt.startswith("--") and token.startswith(opt + "="):
                value = token[len(opt) + 1 :]
    return value


def _quoted(value: str) -> str:
    return one_line(repr(clipped(value)))


app = typer.Typer(
    cls=OneLineUsageErrors,
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
    """Turn user mistakes, and a full disk or read-only folder, into one line and exit code 2."""
    from emoaudit.registry import RegistryError

    try:
        yield
    except (EmoauditError, RegistryError) as exc:
        typer.echo(f"emoaudit: error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        from emoaudit.run.options import os_error_line

        line = os_error_line(exc)
        if line is None:
            raise
        typer.echo(f"emoaudit: error: {line}", err=True)
        raise typer.Exit(2) from None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


# group-test options shared by `audit` and `report` (analysis.summary.analyze arguments)
ReferenceOption = Annotated[
    list[str] | None,
    typer.Option(help="Compare groups with a reference group, e.g. gender=female."),
]
HostileOption = Annotated[str, typer.Option(help="Labels read as hostile in label-free results.")]
AtEqualOption = Annotated[
    str, typer.Option(help="Compare hostile readings at equal levels of this label or column.")
]
BAD_REFERENCE = "--reference '{value}': expected ATTRIBUTE=GROUP, e.g. gender=female"
BAD_HOSTILE = "--hostile '{value}': not an expression label (expected names such as {known})"


def group_options(reference: list[str] | None, hostile: str, at_equal: str) -> dict:
    """--reference/--hostile/--at-equal as analysis.summary.analyze arguments, checked before
    anything runs."""
    from emoaudit.taxonomy import CANONICAL, canonical

    ref = {}
    for item in _split(reference):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise EmoauditError(BAD_REFERENCE.format(value=item))
        ref[name.strip()] = value.strip()
    labels = []
    for name in _split([hostile]):
        label = canonical(name)
        if label is None:
            raise EmoauditError(BAD_HOSTILE.format(value=name, known=", ".join(CANONICAL)))
        labels.append(label)
    given = canonical(at_equal) or at_equal.strip()
    if not given:
        from emoaudit.run.options import AT_EQUAL_EMPTY

        raise EmoauditError(AT_EQUAL_EMPTY)
    return {"reference": ref, "hostile": tuple(labels), "given": given}


EMPTY_PATH = "got an empty path; expected a file or folder name ('.' for the current folder)"


class EmptyPath(BadParameter):
    """A path argument given as "": printed as it is, never read as a number that did not parse."""


def path(value: str | Path) -> Path:  # the parser of every path argument; named for the help
    """Path("") is the current folder, so `--out ""` (an unset shell variable) wrote the audit
    there without a word: an empty path is refused at parse time, with the option's name."""
    if isinstance(value, str) and not value.strip():
        raise EmptyPath(EMPTY_PATH)
    return Path(value)


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="Dataset file or folder.", parser=path)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", parser=path)],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Model name, path to .onnx, or 'http+json:URL'; repeatable."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Dataset format or 'auto'.")] = "auto",
    model_spec: Annotated[
        Path | None,
        typer.Option(help="TOML spec for a .onnx model or an http+json API (docs/model-spec.md)."),
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
        bool,
        typer.Option(
            help="Images are face crops already (folders, manifests): no detection.", metavar=FLAG
        ),
    ] = False,
    groups: Annotated[
        list[str] | None, typer.Option(help="Attributes to cross, e.g. gender,race.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for perturbations and bootstrap.")] = 0,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    min_group_n: Annotated[int, typer.Option(help="Smallest group size in disparities.")] = 30,
    reference: ReferenceOption = None,
    hostile: HostileOption = "anger,contempt,disgust",
    at_equal: AtEqualOption = "happy",
    pool_splits: Annotated[
        bool, typer.Option(help="One result over all splits (default: one per split).")
    ] = False,
    fps: Annotated[
        float | None, typer.Option(help="Frames per second sampled from videos (default: 5).")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Samples per cached shard.")] = 512,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Faces per inference call (default: 16 on cpu, 64 on cuda)."),
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
        bool,
        typer.Option(help="Embed example faces in the report (blurred by default).", metavar=FLAG),
    ] = False,
    examples_unblurred: Annotated[
        bool, typer.Option(help="Do not blur example faces.", metavar=FLAG)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress output.", metavar=FLAG)
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(help="Another run holds --out: wait for it (default: refuse).", metavar=FLAG),
    ] = False,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Saved outputs of a system to audit instead of running --model."),
    ] = None,
    predictions_format: Annotated[
        str | None,
        typer.Option(
            help="csv, jsonl, parquet, rekognition, google-vision, deepface or pyfeat "
            "(default: from the extension)."
        ),
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Name of the system whose --predictions these are.")
    ] = None,
) -> None:
    """Run models on a dataset (or import their saved outputs with --predictions); write
    predictions.parquet, results.json and report.html. A thin layer over emoaudit.audit()."""
    from emoaudit import api
    from emoaudit.run.audit import check_request
    from emoaudit.run.cache import out_lock

    with user_errors():
        options = dict(
            out=out, format=fmt, model_spec=model_spec, conditions=conditions,
            detector=detector, precropped=precropped, seed=seed, groups=_split(groups) or None,
            n_resamples=resamples, min_group_n=min_group_n, chunk_size=chunk_size,
            batch_size=batch_size, workers=workers, executor=executor, ray_address=address,
            device=device, fps=fps, wait=wait,
            predictions=predictions, predictions_format=predictions_format,
            model_name=model_name, protocols=protocols, pool_splits=pool_splits,
            **group_options(reference, hostile, at_equal),
        )  # fmt: skip
        models = _split(model)
        req = api.build_request(data=data, models=models, **options)
        api.check_given(req)  # --at-equal COLUMN against the first samples, before --out is made
        check_request(req)
        with out_lock(out, wait=wait):  # held over the reports too: no mixed outputs
            with _progress(quiet, data) as (on_start, on_progress, on_stage):
                _say_resuming(out, quiet=quiet)
                if device != "cpu":  # say which GPU path runs (cpu is the default: say nothing)
                    from emoaudit.models.device import choose_backend

                    typer.echo(choose_backend(device).message(), err=True)
                results = api.audit(
                    data, models, **options,
                    on_start=on_start, on_progress=on_progress, on_stage=on_stage,
                ).results  # fmt: skip
            _write_report(  # after the bar has stopped, so its lines are not drawn over
                out, results, quiet=quiet, examples=include_examples, unblurred=examples_unblurred
            )
    if not quiet:
        from emoaudit.report.console import print_summary

        print_summary(results)


RESUMING = (
    "resuming: {n} cached shard(s) in {path} are reused where they match; "
    "only missing work is computed"
)


def _say_resuming(out: Path, *, quiet: bool) -> None:
    """A rerun into the same folder reuses every cached chunk that still matches: say so."""
    from emoaudit.run.runner import CACHE_DIR

    n = sum(1 for _ in (out / CACHE_DIR).glob("*/*.parquet")) if not quiet else 0
    if n:
        typer.echo(RESUMING.format(n=n, path=out / CACHE_DIR), err=True)


def _write_report(
    out: Path, results: dict, *, quiet: bool, examples: bool = False, unblurred: bool = False
) -> None:
    from emoaudit.report.card import write_audit_card
    from emoaudit.report.html import write_report

    if examples:
        from emoaudit.analysis.results import example_rows

        results = {**results, "examples": example_rows(out)}
    from emoaudit.report.tables import write_tables

    path = write_report(out, results, include_examples=examples, examples_unblurred=unblurred)
    card = write_audit_card(out, results)
    tables = write_tables(out, results)  # tidy CSVs: one row per number, with its interval
    if not quiet:
        typer.echo(f"report: {path}\naudit card: {card}")
        if tables:
            typer.echo(f"tables: {', '.join(p.name for p in tables)} in {out}")


@contextmanager
def _progress(quiet: bool, data: Path | None, *, total: int | None = None):
    """Yield (on_start, on_progress, on_stage) for the run: a bar of samples done, the mean
    rate since the start (chunk-sized jumps make an instantaneous rate meaningless), and the
    stage after inference ("analysing") so the bar never sits silent while intervals are
    computed. The bar is stopped before anything else is printed."""
    if quiet:
        yield (lambda fmt: None), None, None
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
    task = progress.add_task("inference", total=total, rate="")  # samples through the models

    def on_start(fmt: str) -> None:
        """Called once the input is known to be usable: only then does the bar appear."""
        typer.echo(f"format: {fmt}", err=True)
        progress.start()
        if data is None:
            return
        threading.Thread(target=_count, args=(progress, task, data, fmt), daemon=True).start()

    def on_progress(n: int) -> None:
        progress.advance(task, n)
        t = progress.tasks[0]
        progress.update(task, rate=mean_rate(t.completed, t.elapsed))

    def on_stage(stage: str) -> None:
        """A line of its own, pulsing with its own clock, while the statistics are computed."""
        progress.add_task(stage, total=None, rate="")

    try:
        yield on_start, on_progress, on_stage
    finally:
        progress.stop()


def mean_rate(done: float, elapsed: float | None) -> str:
    """Samples per second since the start, or nothing before a second has passed."""
    if not elapsed or elapsed < 1.0 or not done:
        return ""
    rate = done / elapsed
    return f"{rate:,.1f} samples/s" if rate < 100 else f"{rate:,.0f} samples/s"


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
    out: Annotated[Path, typer.Argument(help="Audit output folder.", parser=path)],
    groups: Annotated[list[str] | None, typer.Option(help="Attributes to cross.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    resamples: Annotated[int, typer.Option()] = 1000,
    min_group_n: Annotated[int, typer.Option()] = 30,
    reference: ReferenceOption = None,
    hostile: HostileOption = "anger,contempt,disgust",
    at_equal: AtEqualOption = "happy",
    pool_splits: Annotated[
        bool, typer.Option(help="One result over all splits.", metavar=FLAG)
    ] = False,
    include_examples: Annotated[bool, typer.Option(metavar=FLAG)] = False,
    examples_unblurred: Annotated[bool, typer.Option(metavar=FLAG)] = False,
    pdf: Annotated[
        bool,
        typer.Option(
            help="Also print report.pdf with headless Chromium (if installed).", metavar=FLAG
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar=FLAG)] = False,
) -> None:
    """Recompute results.json (and the report) from cached predictions; runs no model."""
    from emoaudit.analysis.results import build_results
    from emoaudit.errors import MISSING_PATH
    from emoaudit.run.cache import out_lock

    with user_errors():
        check_run_numbers(seed=seed, n_resamples=resamples, min_group_n=min_group_n)
        if not (out / "predictions.parquet").exists():
            raise EmoauditError(MISSING_PATH.format(path=out / "predictions.parquet"))
        _check_groups_in(out, _split(groups))
        options = group_options(reference, hostile, at_equal)
        _check_at_equal_in(out, options["given"])
        with out_lock(out):
            _say_if_no_run_info(out, quiet=quiet)
            results = build_results(
                out,
                groups=_split(groups) or None,
                n_resamples=resamples,
                seed=seed,
                min_group_n=min_group_n,
                pool_splits=pool_splits,
                **options,
            )
            _write_report(
                out, results, quiet=quiet, examples=include_examples, unblurred=examples_unblurred
            )
        if pdf:
            from emoaudit.report.html import REPORT
            from emoaudit.report.pdf import write_pdf

            path = write_pdf(out / REPORT)
            if not quiet:
                typer.echo(f"pdf: {path}")
    if not quiet:
        from emoaudit.report.console import print_summary

        print_summary(results)


NO_RUN_INFO = (
    "note: no {path} (an audit stopped before it finished, or predictions made elsewhere): "
    "the results carry no dataset or model provenance; rerunning the audit into this folder "
    "resumes from its cache and writes it"
)


def _say_if_no_run_info(out: Path, *, quiet: bool) -> None:
    """An audit removes run.json before it replaces the predictions and writes it again after
    (run/audit.py clear_derived_outputs): without it, a report lacks provenance; say why."""
    from emoaudit.analysis.results import RUN_INFO

    if not quiet and not (out / RUN_INFO).exists():
        typer.echo(NO_RUN_INFO.format(path=out / RUN_INFO), err=True)


def _check_groups_in(out: Path, groups: list[str]) -> None:
    """--groups against the attr_* columns of OUT/predictions.parquet (its schema alone)."""
    from emoaudit.run.options import check_groups, prediction_attributes

    predictions = out / "predictions.parquet"
    check_groups(groups, prediction_attributes(predictions), where=str(predictions))


def _check_at_equal_in(out: Path, given: str) -> None:
    """--at-equal COLUMN against the attr_* columns of OUT/predictions.parquet."""
    from emoaudit.run.options import at_equal_needs_column, check_at_equal, prediction_columns

    predictions = out / "predictions.parquet"
    if at_equal_needs_column(given):
        check_at_equal(given, prediction_columns(predictions, given), where=str(predictions))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", parser=path)] = Path(
        "emoaudit-demo"
    ),
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar=FLAG)] = False,
) -> None:
    """Built-in models on public-domain photos shipped by scikit-image and matplotlib, with the
    robustness suite, model agreement and a flagging analysis: a demonstration, not evidence."""
    from emoaudit.demo import PHOTOS, run_demo
    from emoaudit.run.cache import out_lock
    from emoaudit.run.options import check_out_dir

    with user_errors():
        check_run_numbers(seed=seed, n_resamples=resamples)
        check_out_dir(out)
    with user_errors(), out_lock(out):
        with _progress(quiet, None, total=len(PHOTOS)) as (on_start, on_progress, on_stage):
            _say_resuming(out, quiet=quiet)
            results = run_demo(
                out,
                n_resamples=resamples,
                seed=seed,
                on_start=on_start,
                on_progress=on_progress,
                on_stage=on_stage,
            )
        _write_report(out, results, quiet=quiet)
    if not quiet:
        from emoaudit.report.console import print_summary

        print_summary(results)
        from emoaudit.demo import closing_hint

        typer.echo(closing_hint())


NO_FLAG = "flagging needs --flag LABELS (e.g. --flag anger,fear), --list or --remove N"


@app.command()
def flagging(
    out: Annotated[Path, typer.Argument(help="Audit output folder.", parser=path)],
    flag: Annotated[
        list[str] | None,
        typer.Option(help="Predicted labels a deployment would flag, e.g. anger,fear."),
    ] = None,
    base_rate: Annotated[
        float, typer.Option(help="Share of screened people who are real targets.")
    ] = 1e-4,
    population: Annotated[int, typer.Option(help="People screened.")] = 1_000_000,
    display_rate: Annotated[
        float | None,
        typer.Option(
            help="Share of ordinary people showing a flagged expression. Drives every number; "
            "the default is the dataset's label mix, which reflects no real setting."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model (default: the only one).")] = None,
    groups: Annotated[
        list[str] | None, typer.Option(help="Attributes for false-flag rates.")
    ] = None,
    list_requests: Annotated[
        bool, typer.Option("--list", help="List the stored flagging requests and stop.")
    ] = False,
    remove: Annotated[
        int | None, typer.Option(help="Remove stored request N (as --list numbers them).")
    ] = None,
    resamples: Annotated[int, typer.Option()] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar=FLAG)] = False,
) -> None:
    """What flagging people by predicted expression would do: expected flags, PPV, innocent
    people flagged per true hit. emoaudit never flags anyone; it computes the consequences.
    Requests are stored in DIR/flagging.json (same request once, whatever the label spelling)."""
    from emoaudit.analysis.results import (
        add_flagging_request,
        build_results,
        describe_request,
        read_flagging_requests,
        remove_flagging_request,
    )

    with user_errors():
        check_run_numbers(seed=seed, n_resamples=resamples)
        if not (out / "predictions.parquet").exists():
            from emoaudit.errors import MISSING_PATH

            raise EmoauditError(MISSING_PATH.format(path=out / "predictions.parquet"))
        if list_requests:
            stored = read_flagging_requests(out)
            for i, r in enumerate(stored, 1):
                typer.echo(f"{i}. {describe_request(r)}")
            if not stored:
                typer.echo("no flagging requests stored")
            return
        if remove is not None:
            from emoaudit.run.cache import out_lock

            with out_lock(out):
                removed = remove_flagging_request(out, remove)
                results = build_results(out, n_resamples=resamples, seed=seed)
                _write_report(out, results, quiet=quiet)
            if not quiet:
                typer.echo(f"removed: {describe_request(removed)}")
            return
        if not flag:
            raise EmoauditError(NO_FLAG)
        from emoaudit.analysis.flagging import flagging_analysis, normalise_request
        from emoaudit.analysis.results import load_predictions
        from emoaudit.run.cache import out_lock

        request = normalise_request(
            {
                "flag": _split(flag),
                "base_rate": base_rate,
                "population": population,
                "display_rate": display_rate,
                "model": model,
                "groups": _split(groups) or None,
            }
        )
        # flagging also takes the column name (attr_gender)
        _check_groups_in(out, [g.removeprefix("attr_") for g in request.get("groups") or []])
        # validate (one-line errors) before the request is stored
        flagging_analysis(load_predictions(out), **request, n_resamples=10, seed=seed)
        with out_lock(out):
            if not add_flagging_request(out, request) and not quiet:
                typer.echo("this request was already stored; recomputing it")
            results = build_results(out, n_resamples=resamples, seed=seed)
            _write_report(out, results, quiet=quiet)
    if not quiet:
        from emoaudit.analysis.flagging import plain_statement

        index = read_flagging_requests(out).index(request)
        typer.echo(plain_statement(results["flagging"][index]))
        if display_rate is None:
            typer.echo(
                "Note: the share of ordinary people showing these expressions was taken from "
                "the dataset's label mix; it drives every number above. Set it with "
                "--display-rate for the setting you have in mind."
            )


@app.command("compare")
def compare_cmd(
    dirs: Annotated[list[Path], typer.Argument(help="Audit output folders.", parser=path)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", parser=path)],
    resamples: Annotated[int, typer.Option()] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar=FLAG)] = False,
) -> None:
    """Models x datasets x conditions with intervals; paired tests where samples match."""
    from emoaudit.report.compare import compare
    from emoaudit.run.options import check_out_dir

    with user_errors():
        check_run_numbers(seed=seed, n_resamples=resamples)
        check_out_dir(out)
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
    force: Annotated[bool, typer.Option(help="Rebuild even if present.", metavar=FLAG)] = False,
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
    data: Annotated[Path, typer.Argument(help="Dataset file or folder.", parser=path)],
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
