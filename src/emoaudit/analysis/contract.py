"""The predictions.parquet contract (DESIGN.md), checked before any number is computed from it.

`emoaudit report`, `emoaudit flagging` and `emoaudit compare` read tables that may have been
edited by hand or written by another tool. A missing column used to surface as a KeyError, an
integer status column as "unreadable, malformed, no face" for every sample, repeated rows as
inflated counts, and probabilities times five as an ECE of 1.9. Each is refused here with one
line naming the file and what was expected, so no statistic is printed that no valid input backs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emoaudit.data.base import MODEL_ERROR, STATUSES
from emoaudit.errors import EmoauditError, clipped, one_line
from emoaudit.predictions.base import RANGE_SLACK, SUM_TOLERANCE  # the import check's slack
from emoaudit.predictions.join import NO_OUTPUT  # an imported file had no output for a sample

# Every analysis keys on these; the other contract columns (subject_id, split, ...) are optional
# to the analysis and handled where read.
REQUIRED = ("sample_id", "dataset", "model", "condition", "status", "label", "pred")
NOT_NULL = ("sample_id", "dataset", "model", "condition", "status")
ROW_KEY = ["dataset", "model", "condition", "sample_id"]
KNOWN_STATUSES = (*STATUSES, MODEL_ERROR, NO_OUTPUT)

UNREADABLE_PREDICTIONS = "{path}: cannot read as a Parquet predictions table ({why})"
MISSING_PREDICTIONS = (
    "{path}: no such file; expected the predictions table an audit writes (run `emoaudit audit`)"
)
NO_ROWS = "{path}: no rows; expected one row per (sample, model, condition)"
MISSING_PREDICTION_COLUMNS = (
    "{path}: missing column(s) {missing}; a predictions table needs {required}"
)
NOT_TEXT = "{path}: column '{column}' holds {kind} values; expected text{expected}"
NULL_KEY = "{path}: column '{column}' is empty on {n} row(s); every row needs one"
UNKNOWN_STATUS = (
    "{path}: status '{status}' on {n} row(s) is not a known status (expected one of: {known})"
)
DUPLICATE_ROWS = (
    "{path}: sample id '{sample}' appears {n} times for model '{model}' ({condition}); "
    "re-run `emoaudit audit` into that folder (repeated ids are now renamed)"
)
NOT_NUMERIC = "{path}: column '{column}' holds {kind} values; expected probabilities (numbers)"
NOT_DISTRIBUTIONS = (
    "{path}: {n} of {total} row(s) with status ok have prob_ values that are not a probability "
    "distribution (each in [0, 1], summing to 1 within {tolerance}; first: sample '{sample}', "
    "model '{model}', {what}); calibration, log loss and Brier would be meaningless (a model "
    'spec saying kind = "probs" for logits? see docs/model-spec.md)'
)


def check_predictions(df: pd.DataFrame, path: Path | str, *, probabilities: bool = True) -> None:
    """Refuse, with one line naming `path`, a table outside the predictions contract.

    ``probabilities=False`` skips the prob_ checks for readers that never use them (compare
    reads only the key and label columns)."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise EmoauditError(
            MISSING_PREDICTION_COLUMNS.format(
                path=path, missing=", ".join(missing), required=", ".join(REQUIRED)
            )
        )
    if df.empty:
        raise EmoauditError(NO_ROWS.format(path=path))
    for column in REQUIRED:  # every one of them is text
        _check_text(df[column], column, path)
    for column in NOT_NULL:
        n = int(df[column].isna().sum())
        if n:
            raise EmoauditError(NULL_KEY.format(path=path, column=column, n=n))
    _check_statuses(df["status"], path)
    _check_unique_rows(df, path)
    if probabilities:
        check_distributions(df, path)


def _check_text(values: pd.Series, column: str, path: Path | str) -> None:
    if isinstance(values.dtype, pd.CategoricalDtype):  # pandas writes category columns so
        values = pd.Series(values.cat.categories)  # their categories are the values
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("string", "empty"):
        expected = f" ({', '.join(KNOWN_STATUSES)})" if column == "status" else ""
        raise EmoauditError(NOT_TEXT.format(path=path, column=column, kind=kind, expected=expected))


def _check_statuses(status: pd.Series, path: Path | str) -> None:
    counts = status.value_counts()
    unknown = [s for s in counts.index if s not in KNOWN_STATUSES]
    if unknown:
        first = unknown[0]
        raise EmoauditError(
            UNKNOWN_STATUS.format(
                path=path,
                status=one_line(clipped(first)),
                n=int(counts[first]),
                known=", ".join(KNOWN_STATUSES),
            )
        )


def _check_unique_rows(df: pd.DataFrame, path: Path | str) -> None:
    """Repeated rows would be counted twice by every statistic (and paired twice in compare)."""
    repeated = df.duplicated(ROW_KEY, keep=False)
    if not repeated.any():
        return
    row = df.loc[repeated].iloc[0]
    n = int((df[ROW_KEY] == row[ROW_KEY]).all(axis=1).sum())
    raise EmoauditError(
        DUPLICATE_ROWS.format(
            path=path, sample=one_line(row["sample_id"]), n=n, model=one_line(row["model"]),
            condition=one_line(row["condition"]),
        )
    )  # fmt: skip


def check_distributions(df: pd.DataFrame, path: Path | str) -> None:
    """Rows with status ok must carry a probability distribution over their prob_ columns, or
    none at all (an imported record with a label but no scores). emoaudit writes softmax
    outputs and imports only scores that pass the same test, so a table that fails it was
    edited or written by something else; a subset would be calibrated in silence otherwise."""
    columns = [c for c in df.columns if c.startswith("prob_")]
    if not columns:
        return
    for column in columns:
        if not pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(df[column]):
            kind = pd.api.types.infer_dtype(df[column], skipna=True)
            raise EmoauditError(NOT_NUMERIC.format(path=path, column=column, kind=kind))
    ok = (df["status"] == "ok").to_numpy()
    if not ok.any():
        return
    proba = df.loc[ok, columns].to_numpy(dtype=np.float64)
    present = ~np.isnan(proba)
    given = present.any(axis=1)  # rows with no probability at all are label-only, not broken
    values = np.where(present, proba, 0.0)
    in_range = ((values >= -RANGE_SLACK) & (values <= 1 + RANGE_SLACK)).all(axis=1)
    with np.errstate(invalid="ignore"):
        total = values.sum(axis=1)
    sums = np.abs(total - 1) <= SUM_TOLERANCE
    bad = given & ~(in_range & sums)
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    if not in_range[first]:
        row = values[first]
        k = int(np.flatnonzero((row < -RANGE_SLACK) | ~(row <= 1 + RANGE_SLACK))[0])
        what = f"{columns[k]} = {values[first, k]:g}"
    else:
        what = f"they sum to {total[first]:.4g}"
    rows = df.loc[ok]
    raise EmoauditError(
        NOT_DISTRIBUTIONS.format(
            path=path, n=int(bad.sum()), total=int(ok.sum()), tolerance=SUM_TOLERANCE,
            sample=one_line(clipped(rows["sample_id"].iloc[first])),
            model=one_line(rows["model"].iloc[first]), what=what,
        )
    )  # fmt: skip


def read_predictions(
    path: Path,
    *,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    probabilities: bool = True,
) -> pd.DataFrame:
    """`path` as a DataFrame after the contract check; a missing or unreadable file is one line.

    ``columns`` limits what is read (absent names are skipped, so the check names them);
    ``exclude`` leaves out free-text columns no analysis reads (1M rows stay small)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise EmoauditError(MISSING_PREDICTIONS.format(path=path))
    try:
        names = pq.read_schema(path).names
        wanted = [n for n in (names if columns is None else columns) if n in names]
        wanted = [n for n in wanted if n not in exclude]
        df = pq.read_table(path, columns=wanted).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        why = one_line(clipped(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 120))
        raise EmoauditError(UNREADABLE_PREDICTIONS.format(path=path, why=why)) from None
    check_predictions(df, path, probabilities=probabilities)
    return df
