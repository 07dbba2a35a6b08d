import pyarrow as pa
import pyarrow.parquet as pq

from emoaudit.run.merge import merge_shards


def test_merge_unions_columns_keeps_order_and_fills_nulls(tmp_path):
    a = pa.table(
        {
            "sample_id": ["s1", "s2"],
            "model": ["m1", "m1"],
            "status": ["ok", "no_face"],
            "prob_happy": [0.9, None],
            "prob_contempt": [0.05, None],
            "attr_gender": [None, None],
        }
    )
    b = pa.table(
        {
            "sample_id": ["s1", "s2"],
            "model": ["m2", "m2"],
            "status": ["ok", "ok"],
            "prob_happy": [0.7, 0.2],
            "attr_gender": ["female", "male"],
            "votes_happy": [3, 0],
        }
    )
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    target = tmp_path / "predictions.parquet"
    n = merge_shards([tmp_path / "a.parquet", tmp_path / "b.parquet"], target)
    out = pq.read_table(target)
    assert n == 4 == out.num_rows
    assert out.column("sample_id").to_pylist() == ["s1", "s2", "s1", "s2"]
    assert out.column("model").to_pylist() == ["m1", "m1", "m2", "m2"]
    # canonical order for prob columns (happy before contempt), then side columns sorted
    names = out.column_names
    assert names.index("prob_happy") < names.index("prob_contempt") < names.index("attr_gender")
    assert out.column("prob_contempt").to_pylist() == [0.05, None, None, None]
    assert out.column("attr_gender").to_pylist() == [None, None, "female", "male"]
    assert out.schema.field("attr_gender").type == pa.string()
    assert out.column("votes_happy").to_pylist() == [None, None, 3, 0]
