"""Merge shards into one predictions.parquet, streaming, with one schema for every row.

Shards can differ in columns (one model emits contempt, another does not; an attribute may be
absent from a whole chunk), so the merged schema is the union and missing values are null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoaudit.run.cache import write_atomic

ROW_GROUP_ROWS = 65_536  # few large row groups: small files, fast scans, bounded memory
FIXED = (
    "sample_id subject_id dataset split path model model_sha256 condition status reason "
    "raw_label label pred clip_id time_s"
).split()


def _column_order(names: list[str]) -> list[str]:
    from emoaudit.taxonomy import CANONICAL

    rest = [n for n in names if n not in FIXED]
    probs = [f"prob_{c}" for c in CANONICAL if f"prob_{c}" in rest]
    others = sorted(n for n in rest if n not in probs)
    return [n for n in FIXED if n in names] + probs + others


def union_schema(paths: list[Path]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = {}
    for path in dict.fromkeys(paths):
        schemas[path] = pq.read_schema(path)
    merged = pa.unify_schemas(list(schemas.values()), promote_options="permissive")
    fields = {f.name: f for f in merged}
    for name, f in fields.items():
        if pa.types.is_null(f.type):
            fields[name] = pa.field(name, pa.string())
    return pa.schema([fields[n] for n in _column_order(list(fields))])


def conform(table: Any, schema: Any) -> Any:
    import pyarrow as pa

    cols = []
    for f in schema:
        if f.name in table.column_names:
            cols.append(table.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(table.num_rows, type=f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def merge_shards(paths: list[Path], target: Path) -> int:
    """Concatenate shards in the given order into `target` atomically; return the row count."""
    import pyarrow.parquet as pq

    if not paths:
        raise ValueError("no shards to merge")
    schema = union_schema(paths)
    n_rows = 0

    def write(tmp: Path) -> None:
        nonlocal n_rows
        import pyarrow as pa

        pending: list = []
        with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
            for path in paths:
                # ParquetFile.read: a third faster than read_table on small files (no dataset layer)
                table = conform(pq.ParquetFile(path).read(use_threads=False), schema)
                n_rows += table.num_rows
                pending.append(table)
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending = []
            if pending:
                out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)

    write_atomic(target, write)
    return n_rows
