"""The predictions.parquet contract (DESIGN.md), checked before any number is computed from it.

`emoaudit report`, `emoaudit flagging` and `emoaudit compare` read tables that may have been
edited by hand or written by another tool. A missing column used to surface as a KeyError, an
integer status column as "unreadable, malformed, no face" for every sample, repeated rows as
inflated counts, probabilities times five as an ECE of 1.9, a label typed 'happiness' as a class
of its own, and a `pred` edited away from the probabilities as accuracy and calibration of two
different models. Each is refused here with one line naming the file and what was expected, so
no statistic is printed that no valid input backs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emoaudit.data.base import MODEL_ERROR, STATUSES
from emoaudit.errors import EmoauditError, clipped, one_line
from emoaudit.predictions.base import RANGE_SLACK, SUM_TOLERANCE, distribution_faults
from emoaudit.predictions.join import NO_OUTPUT, OUTPUT_AT
from emoaudit.taxonomy import CANONICAL, canonical, output_label

# Every analysis keys on these; the other contract columns (subject_id, split, ...) are optional
# to the analysis and handled where read.
REQUIRED = ("sample_id", "dataset", "model", "condition", "status", "label", "pred")
NOT_NULL = ("sample_id", "dataset", "model", "condition", "status")
ROW_KEY = ["dataset", "model", "condition", "sample_id"]
KNOWN_STATUSES = (*STATUSES, MODEL_ERROR, NO_OUTPUT)
# Rows an analysis reads a prediction from (label_free reads unmapped_label rows too).
PREDICTED = ("ok", "unmapped_label")

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
UNKNOWN_LABEL = (
    "{path}: {column} '{value}' on {n} row(s) is not a label (first: row {row}, sample "
    "'{sample}', model '{model}'); expected {expected}"
)
CANONICAL_OR_EMPTY = "a canonical name ({known}) or empty"
WRITTEN_AS = "; '{value}' is written '{canonical}'"
IMPORTED_PRED = (
    ", or on an imported row (one with {output_at}) the system's own answer as the import writes "
    "it, lower case ('{normal}')"
)
PRED_NOT_ARGMAX = (
    "{path}: row {row} (sample '{sample}', model '{model}') has pred '{pred}' ({pred_p}) but its "
    "highest probability is prob_{top} = {top_p:.4g}; {n} of {total} scored row(s) so. emoaudit "
    "writes the argmax (ties: any top label), so the table was edited or written elsewhere and "
    "its accuracy and its calibration would describe two different models"
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
    _check_labels(df, path)
    if probabilities:
        check_distributions(df, path)
        check_argmax(df, path)


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


def _check_labels(df: pd.DataFrame, path: Path | str) -> None:
    """`label` holds canonical names (or nothing); so does `pred`, except on imported rows, where
    a system's answer with no canonical counterpart (Rekognition's CALM, Vision's `none`) stays
    its own value, lower-cased (predictions/join.py, docs/predictions-import.md). A typo or a
    synonym ('happiness') would otherwise be a class of its own, always counted wrong."""
    imported = _imported(df)
    for column in ("label", "pred"):
        values = df[column]
        odd = values.notna() & ~values.isin(CANONICAL)
        if not odd.any():
            continue
        if column == "pred" and imported.any():
            answers = [v for v in pd.unique(values[odd & imported]) if _an_own_answer(v)]
            odd &= ~(imported & values.isin(answers))
            if not odd.any():
                continue
        first = int(np.flatnonzero(odd.to_numpy())[0])
        value = values.iloc[first]
        expected = CANONICAL_OR_EMPTY.format(known=", ".join(CANONICAL))
        if column == "pred" and imported.iloc[first]:
            normal = output_label(value)
            expected += IMPORTED_PRED.format(output_at=OUTPUT_AT, normal=one_line(clipped(normal)))
        elif canonical(value):
            shown = one_line(clipped(value))
            expected += WRITTEN_AS.format(value=shown, canonical=canonical(value))
        raise EmoauditError(
            UNKNOWN_LABEL.format(
                path=path, column=column, value=one_line(clipped(value)),
                n=int((odd & (values == value)).sum()), row=first + 1,
                **_row_names(df, first), expected=expected,
            )
        )  # fmt: skip


def _row_names(rows: pd.DataFrame, i: int) -> dict[str, str]:
    """The sample and model of row i, as an error line names them."""
    return {
        "sample": one_line(clipped(rows["sample_id"].iloc[i])),
        "model": one_line(rows["model"].iloc[i]),
    }


def _imported(df: pd.DataFrame) -> pd.Series:
    """Rows written by an import of saved outputs: they name their output's FILE:LINE."""
    if OUTPUT_AT not in df.columns:
        return pd.Series(False, index=df.index)
    return df[OUTPUT_AT].notna()


def _an_own_answer(value: str) -> bool:
    """A system's answer as the import writes one with no canonical name: trimmed, lower case."""
    return bool(value) and canonical(value) is None and value == output_label(value)


def check_distributions(df: pd.DataFrame, path: Path | str) -> None:
    """Rows with status ok must carry a probability distribution over their prob_ columns, or
    none at all (an imported record with a label but no scores). emoaudit writes softmax
    outputs and imports only scores that pass the same test (predictions.base
    .distribution_faults), so a table that fails it was edited or written by something else; a
    subset would be calibrated in silence otherwise."""
    columns = _prob_columns(df, path)
    if not columns:
        return
    ok = (df["status"] == "ok").to_numpy()
    if not ok.any():
        return
    found = distribution_faults(df.loc[ok, columns].to_numpy(dtype=np.float64))
    if not found.bad.any():
        return
    first = int(np.flatnonzero(found.bad)[0])
    k = int(found.out_of_range[first])
    if k >= 0:
        what = f"{columns[k]} = {df.loc[ok, columns[k]].iloc[first]:g}"
    else:
        what = f"they sum to {found.total[first]:.4g}"
    rows = df.loc[ok]
    raise EmoauditError(
        NOT_DISTRIBUTIONS.format(
            path=path, n=int(found.bad.sum()), total=int(ok.sum()), tolerance=SUM_TOLERANCE,
            **_row_names(rows, first), what=what,
        )
    )  # fmt: skip


def _prob_columns(df: pd.DataFrame, path: Path | str) -> list[str]:
    """The prob_ columns, each refused in one line unless it holds numbers."""
    columns = [c for c in df.columns if c.startswith("prob_")]
    for column in columns:
        if not pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(df[column]):
            kind = pd.api.types.infer_dtype(df[column], skipna=True)
            raise EmoauditError(NOT_NUMERIC.format(path=path, column=column, kind=kind))
    return columns


def check_argmax(df: pd.DataFrame, path: Path | str) -> None:
    """On a row with a prediction and probabilities, `pred` is a top probability's label: the
    runner writes the argmax (run/predict.py; on a tie, the first top label in the model's
    order, so any top label passes). Imported rows are left out: a vendor's stated label may
    differ from its own scores, and the import keeps it (docs/predictions-import.md)."""
    columns = _prob_columns(df, path)
    if not columns:
        return
    rows = df["status"].isin(PREDICTED).to_numpy() & ~_imported(df).to_numpy()
    if not rows.any():
        return
    proba = df.loc[rows, columns].to_numpy(dtype=np.float64)
    given = ~np.isnan(proba).all(axis=1)
    if not given.any():
        return
    top = np.nanmax(np.where(given[:, None], proba, 0.0), axis=1)
    names = [c[len("prob_") :] for c in columns]
    pred = df.loc[rows, "pred"]
    k = pd.Index(names).get_indexer(pred.astype(object))  # -1: no prob_ column, no pred
    mine = np.where(k >= 0, proba[np.arange(len(k)), np.maximum(k, 0)], np.nan)
    bad = given & ~(mine >= top - RANGE_SLACK)  # no pred, or no probability for it: wrong too
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    top_k = int(np.nanargmax(proba[first]))
    said = pred.iloc[first]
    if pd.isna(said):
        said, pred_p = "", "empty"
    elif np.isnan(mine[first]):
        pred_p = f"no prob_{one_line(clipped(said))} on this row"
    else:
        pred_p = f"prob_{said} = {mine[first]:.4g}"
    scored = df.loc[rows]
    raise EmoauditError(
        PRED_NOT_ARGMAX.format(
            path=path, row=int(np.flatnonzero(rows)[first]) + 1,
            **_row_names(scored, first),
            pred=one_line(clipped(said)), pred_p=pred_p, top=one_line(clipped(names[top_k])),
            top_p=proba[first, top_k], n=int(bad.sum()), total=int(given.sum()),
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
        # which rows are imported is part of the check, whatever the caller reads
        extra = [OUTPUT_AT] if OUTPUT_AT in names and OUTPUT_AT not in wanted else []
        df = pq.read_table(path, columns=wanted + extra).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        why = one_line(clipped(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 120))
        raise EmoauditError(UNREADABLE_PREDICTIONS.format(path=path, why=why)) from None
    check_predictions(df, path, probabilities=probabilities)
    return df.drop(columns=extra)
