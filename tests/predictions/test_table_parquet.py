"""Generic Parquet of outputs: read in record batches, rows numbered in messages."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emoaudit.errors import EmoauditError
from emoaudit.predictions import table_parquet
from emoaudit.predictions.base import COLLIDING_COLUMNS


def test_rows_are_read_in_batches_with_their_row_number(tmp_path, monkeypatch):
    monkeypatch.setattr(table_parquet, "BATCH_ROWS", 3)
    n = 10
    table = pa.table(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "prob_happy": [0.1 * i for i in range(n)],
            "prob_sad": [1 - 0.1 * i for i in range(n)],
            "extra": list(range(n)),
        }
    )
    table = table.set_column(1, "prob_happy", pa.array([*[0.1 * i for i in range(n - 1)], None]))
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=4)
    items = list(table_parquet.read(path))
    assert [r.key for r in items] == [f"s{i}" for i in range(n)]
    assert items[9].where == f"{path}:row 10"
    assert items[9].faces[0].scores == pytest.approx({"sad": 0.1})  # missing is missing, not 0
    assert items[2].faces[0].scores == pytest.approx({"happy": 0.2, "sad": 0.8})


def test_a_file_that_is_not_parquet_is_refused(tmp_path):
    path = tmp_path / "p.parquet"
    path.write_text("sample_id,pred\n")
    with pytest.raises(EmoauditError) as err:
        list(table_parquet.read(path))
    assert str(err.value).startswith(f"{path}: not a Parquet file")


def test_nan_scores_are_bad_outputs_and_two_columns_for_one_label_are_refused(tmp_path):
    path = tmp_path / "p.parquet"
    table = {"sample_id": ["a", "b"], "prob_happy": [0.3, math.nan], "prob_sad": [0.7, 0.5]}
    pq.write_table(pa.table(table), path)
    a, b = table_parquet.read(path)
    assert a.bad is None and b.bad == f"{path}:row 2: score for 'happy' is NaN"
    pq.write_table(pa.table({**table, "Happiness": [0.1, 0.2]}), path)
    with pytest.raises(EmoauditError) as err:
        list(table_parquet.read(path))
    assert str(err.value) == COLLIDING_COLUMNS.format(
        path=path, columns="'prob_happy', 'Happiness'", label="happy"
    )
