import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emoaudit.run.cache import shard_key, shard_path, stable_digest, write_table_atomic


def _key(**over):
    args = dict(
        chunk_digest="c",
        model_name="fer",
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
        {"model_name": "vendor"},
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


def test_shards_of_an_older_decoder_are_not_reused(monkeypatch):
    """A 16-bit file holding 8-bit values decoded almost black before version 4: the same
    bytes must not find those rows in an audit folder written by the older code."""
    from emoaudit.run import cache

    assert cache.CACHE_VERSION >= 4
    now = _key()
    monkeypatch.setattr(cache, "CACHE_VERSION", 3)
    assert _key() != now


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


HOLD = """
import sys, time
from pathlib import Path
from emoaudit.run.cache import out_lock
with out_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_in_another_process(out, seconds: float):
    """A second process holding OUT's lock (the real out_lock) until `seconds` pass."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    from emoaudit.errors import EmoauditError
    from emoaudit.run.cache import OUT_LOCKED, out_lock

    proc = hold_in_another_process(tmp_path, 30)
    try:
        with pytest.raises(EmoauditError) as exc:
            with out_lock(tmp_path):
                pass
        holder = f"pid {proc.pid} on "
        assert str(exc.value).startswith(OUT_LOCKED.split("(")[0].format(path=tmp_path))
        assert holder in str(exc.value) and "\n" not in str(exc.value)
    finally:
        proc.kill()
        proc.wait()
    with out_lock(tmp_path):  # the kernel released the dead holder's lock: no stale lock file
        pass


def test_wait_blocks_until_the_holder_is_done(tmp_path):
    import time

    from emoaudit.run.cache import out_lock

    proc = hold_in_another_process(tmp_path, 1.0)
    start = time.monotonic()
    with out_lock(tmp_path, wait=True):
        waited = time.monotonic() - start  # entered only once the holder let go
    proc.wait()
    assert waited > 0.5


def test_the_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(tmp_path):
    import threading

    from emoaudit.errors import EmoauditError
    from emoaudit.run.cache import out_lock

    seen = []

    def other():
        try:
            with out_lock(tmp_path):
                seen.append("entered")
        except EmoauditError:
            seen.append("refused")

    with out_lock(tmp_path):
        with out_lock(tmp_path):  # the CLI holds it around the audit; the runner again
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        thread = threading.Thread(target=other)  # still held by the outer level
        thread.start()
        thread.join()
    other()
    assert seen == ["refused", "refused", "entered"]
