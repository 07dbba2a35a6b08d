"""Option checks that run before any inference: a bad number, output folder or group name is one
line and exit 2 at once, never a traceback after minutes of work.

Every check here is cheap. The audit checks its numbers, its output folder and its `--groups`
(against the attribute names of the dataset's first samples) before a model is loaded; `report`
and `flagging` check `--groups` against the columns of predictions.parquet before any analysis.

`--at-equal` names a label (no data needed) or an attribute column: the column is checked the same
way, against the first samples before an audit and the schema of predictions.parquet before a
report; a name that matched nothing used to drop the comparison without a word.
"""

from __future__ import annotations

import difflib
import errno
import math
import numbers
import os
import tempfile
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from emoaudit.errors import EmoauditError

BAD_OPTION = "--{name}: expected {expected}, got {value}"
OUT_IS_FILE = "--out {path}: is a file; expected a folder (new or existing)"
OUT_NOT_WRITABLE = "--out {path}: cannot write here ({why})"
UNKNOWN_GROUP = "--groups: '{name}' is not an attribute of {where} (found: {known}){hint}"
GROUP_HINT = "; did you mean '{guess}'?"
REPEATED_GROUP = "--groups: '{name}' is named twice; name each attribute once"
NO_SPACE = (
    "{path}: no space left on device; free some space and run again (finished shards are kept)"
)
EMPTY_PATH = "{name}: got an empty path; expected {what} (use '.' for the current folder)"
BAD_PATH = "{name}: expected {what} as a str or pathlib.Path, got {value}"
AT_EQUAL_EMPTY = (
    "--at-equal: got an empty name; expected an expression label (e.g. happy) or a numeric "
    "attribute column"
)
AT_EQUAL_UNKNOWN = (
    "--at-equal '{name}': neither an expression label nor an attribute of {where} "
    "(found: {known}){hint}"
)
AT_EQUAL_NOT_NUMERIC = (
    "--at-equal '{name}': attribute has no numeric value in {where}; expected an expression "
    "label or a numeric column such as a smile rating"
)
GROUP_PEEK = 1000  # samples read to learn a dataset's attribute names (stops once all are found)


def check_at_least(
    name: str,
    value: int | None,
    minimum: int,
    *,
    optional: bool = False,
    maximum: int | None = None,
) -> None:
    """An integer option with bounds (None allowed when `optional`: the default). An int, not a
    float that equals one: 20.0 resamples passed here and failed after the inference, and NaN
    raised from int()."""
    if value is None and optional:
        return
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
    if not ok or (maximum is not None and value > maximum):
        expected = f"an integer >= {minimum}"
        expected += "" if maximum is None else f" and <= {maximum:,}"
        raise EmoauditError(BAD_OPTION.format(name=name, expected=expected, value=value))


# Bootstrap resamples: 1,000 is the default and 10,000 a careful run; 100 million took 36 GiB
# after the inference had finished.
MAX_RESAMPLES = 100_000


def check_run_numbers(
    *,
    seed: int,
    n_resamples: int,
    min_group_n: int = 1,
    confidence: float = 0.95,
    chunk_size: int = 1,
    batch_size: int | None = None,
    workers: int | None = None,
) -> None:
    """The numeric options of audit, report, flagging, compare and demo (option names as typed)."""
    check_at_least("seed", seed, 0)
    check_at_least("resamples", n_resamples, 1, maximum=MAX_RESAMPLES)
    check_at_least("min-group-n", min_group_n, 1)
    check_at_least("chunk-size", chunk_size, 1)
    check_at_least("batch-size", batch_size, 1, optional=True)
    check_at_least("workers", workers, 1, optional=True)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, numbers.Real)
        or not (0 < confidence < 1)
    ):
        why = BAD_OPTION.format(name="confidence", expected="a number in (0, 1)", value=confidence)
        raise EmoauditError(why)


def check_out_dir(out: Path) -> None:
    """Create `out` if needed and prove it is a writable folder (a probe file, then removed)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EmoauditError(OUT_IS_FILE.format(path=out))
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EmoauditError(OUT_NOT_WRITABLE.format(path=out, why=_why(exc))) from None


def path_argument(value: Any, *, name: str, what: str) -> Path:
    """A path as given (a str or os.PathLike), never an empty string: Path("") is the current
    folder, so `--out ""` (an unset shell variable) wrote the audit into it without a word."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        raise EmoauditError(BAD_PATH.format(name=name, what=what, value=_shown(value)))
    if not text.strip():
        raise EmoauditError(EMPTY_PATH.format(name=name, what=what))
    return Path(text)


def _shown(value: Any) -> str:
    from emoaudit.errors import clipped, one_line

    return one_line(clipped(repr(value)))


def check_groups(groups: list[str] | None, known: Iterable[str], *, where: str) -> None:
    """Each requested attribute must exist; a near miss (wrong case, typo) is suggested."""
    if not groups:
        return
    repeated = sorted({name for name in groups if list(groups).count(name) > 1})
    if repeated:
        raise EmoauditError(REPEATED_GROUP.format(name=repeated[0]))
    names = sorted(set(known))
    for name in groups:
        if name in names:
            continue
        raise EmoauditError(
            UNKNOWN_GROUP.format(
                name=name, where=where, known=", ".join(names) or "none",
                hint=near_miss(name, names),
            )
        )  # fmt: skip


def near_miss(name: str, names: list[str]) -> str:
    """ "; did you mean 'X'?" for a name that differs in case or by a typo, else ""."""
    same_case = [k for k in names if k.lower() == name.lower()]
    guess = same_case or difflib.get_close_matches(name, names, n=1)
    return GROUP_HINT.format(guess=guess[0]) if guess else ""


def sample_attributes(samples: Iterable[Any], wanted: list[str], *, limit: int = GROUP_PEEK) -> set:
    """Attribute names seen in the first `limit` samples, stopping early once all `wanted` are.

    Attributes may be sparse (a manifest leaves empty cells out), so one sample is not enough;
    reading every sample would cost a pass over the data before the run.
    """
    seen: set[str] = set()
    for sample in islice(samples, limit):
        seen.update(sample.attributes)
        if set(wanted) <= seen:
            break
    return seen


def at_equal_needs_column(given: str) -> bool:
    """False for what needs no data to check: an expression label (compared at P(label)) or a
    per-label column such as prob_happy or votes_happy; True for an attribute column's name."""
    from emoaudit.taxonomy import CANONICAL

    prefix, _, label = given.partition("_")
    return given not in CANONICAL and not (prefix in ("prob", "votes") and label in CANONICAL)


def check_at_equal(given: str, columns: dict[str, bool], *, where: str) -> None:
    """`given` (canonical already) is a label, or one of the attribute `columns` (name -> whether
    a value seen is a number), named bare or as attr_NAME."""
    if not given:
        raise EmoauditError(AT_EQUAL_EMPTY)
    if not at_equal_needs_column(given):
        return
    name = given if given in columns else given.removeprefix("attr_")
    if name not in columns:
        names = sorted(columns)
        raise EmoauditError(
            AT_EQUAL_UNKNOWN.format(
                name=given, where=where, known=", ".join(names) or "none",
                hint=near_miss(name, names),
            )
        )  # fmt: skip
    if not columns[name]:
        raise EmoauditError(AT_EQUAL_NOT_NUMERIC.format(name=given, where=where))


def sample_columns(samples: Iterable[Any], wanted: str, *, limit: int = GROUP_PEEK) -> dict:
    """Attribute names in the first `limit` samples, each with whether a value seen is a number;
    stops early once `wanted` (bare or attr_NAME) has shown a number."""
    wanted = {wanted, wanted.removeprefix("attr_")}
    seen: dict[str, bool] = {}
    for sample in islice(samples, limit):
        for key, value in sample.attributes.items():
            seen[key] = seen.get(key, False) or is_number(value)
        if any(seen.get(name) for name in wanted):
            break
    return seen


def prediction_columns(predictions: Path, wanted: str) -> dict[str, bool]:
    """The attribute columns of a predictions.parquet (name -> has a number), reading only the
    column `wanted` names (bare or attr_NAME); the others are known from the schema alone."""
    import pyarrow.parquet as pq

    names = prediction_attributes(predictions)
    columns = dict.fromkeys(names, False)
    for name in {wanted, wanted.removeprefix("attr_")} & set(names):
        values = pq.read_table(predictions, columns=[f"attr_{name}"]).column(0).to_pylist()
        columns[name] = any(is_number(v) for v in values)
    return columns


def is_number(value: Any) -> bool:
    """A finite number, or text that reads as one ("4", "3.5"); pandas.to_numeric's view."""
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def prediction_attributes(predictions: Path) -> list[str]:
    """Attribute names of a predictions.parquet, from its schema alone (no rows read)."""
    import pyarrow.parquet as pq

    names = pq.read_schema(predictions).names
    return [n.removeprefix("attr_") for n in names if n.startswith("attr_")]


def os_error_line(exc: OSError) -> str | None:
    """One line for an environment failure (disk full, read-only, no permission), else None.

    pyarrow's errors carry the errno but no file name ("Error writing bytes to file. Detail:
    [errno 28] ..."), so a full disk is named in words, not in the library's text.
    """
    path = exc.filename or "the output folder"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return NO_SPACE.format(path=path)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{path}: {_why(exc)}"
    return None


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
