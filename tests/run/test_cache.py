import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emoaudit.run.cache import shard_key, shard_path, stable_digest, write_table_atomic


def _key(**over):
    args = dict(
        chunk_digest="c",
        model_sha256="m",
        input_spec={"h": 64},
        output={"name": "m", "labels": ["happy", "sad"], "kind": "probs"},
        condition="clean",
        seed=0,
        faces={"precropped": True},
    )
    args.update(over)
    return shard_key(**args)


def test_stable_digest_ignores_key_order():
    assert stable_digest({"a": 1, "b": [1, 2]}) == stable_digest({"b": [1, 2], "a": 1})


@pytest.mark.parametrize(
    "change",
    [
        {"chunk_digest": "d"},
        {"model_sha256": "n"},
        {"input_spec": {"h": 48}},
        {"output": {"name": "m", "labels": ["sad", "happy"], "kind": "probs"}},
        {"output": {"name": "m", "labels": ["happy", "sad"], "kind": "logits"}},
        {"output": {"name": "m2", "labels": ["happy", "sad"], "kind": "probs"}},
        {"condition": "jpeg:3"},
        {"seed": 1},
        {"faces": {"detector": "haar", "margin": 0.2}},
    ],
)
def test_every_ingredient_changes_the_shard_key(change):
    assert _key() != _key(**change)


def test_shard_written_atomically_leaves_no_temp_on_failure(tmp_path):
    path = shard_path(tmp_path, _key())
    table = pa.table({"x": [1, 2, 3]})
    write_table_atomic(path, table)
    assert pq.read_table(path).equals(table)

    class Boom(Exception):
        pass

    bad = shard_path(tmp_path, _key(seed=9))

    def explode(_tmp):
        raise Boom

    from emoaudit.run.cache import write_atomic

    with pytest.raises(Boom):
        write_atomic(bad, explode)
    assert not bad.exists()
    assert not [p for p in os.listdir(bad.parent) if p.startswith(".tmp-")]
