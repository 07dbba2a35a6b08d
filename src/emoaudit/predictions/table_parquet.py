"""Generic Parquet of outputs: `sample_id` or `path`, then `pred` and/or per-label score
columns; read one record batch at a time, so memory stays bounded by the batch size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoaudit.errors import EmoauditError
from emoaudit.predictions import table
from emoaudit.predictions.base import Problem, Record

NAME = "parquet"
DESCRIPTION = "Parquet: sample_id or path, then pred and/or per-label scores"
LABELS = table.LABELS
PROBABILITIES = table.PROBABILITIES
NOTES = table.NOTES
NOT_PARQUET = "{path}: not a Parquet file ({why})"
BATCH_ROWS = 8192


def read(path: Path) -> Iterator[Record | Problem]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise EmoauditError(NOT_PARQUET.format(path=path, why=str(exc)[:80])) from None
    key, pred, scores = table.columns(path, pf.schema_arrow.names)
    wanted = [key, *([pred] if pred else []), *scores]
    row_no = 0
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        for row in batch.to_pylist():
            row_no += 1
            where = f"{path}:row {row_no}"
            yield table.row_record(row, where=where, key=key, pred=pred, scores=scores)
