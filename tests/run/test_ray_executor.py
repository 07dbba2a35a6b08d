"""Ray executor: same rows as the local runner, and the same resume after the driver is killed.

One local Ray instance (2 CPUs, started with `ray start --head`) serves the whole test session;
drivers connect to it by address, as they would to an existing cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from run_inputs import face_rows, write_fer_csv

ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install emoaudit[ray]")

MODELS = ["fer-mini-xception", "human-emotion"]
# A private test instance: no usage stats, and no auth token (a token left in ~/.ray by any
# earlier plain ray.init() would otherwise make the drivers fail with InvalidAuthToken).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _complete(shards) -> int:
    """Finished shards only: a killed writer may leave a .tmp-*.parquet behind."""
    return sum(1 for p in shards.rglob("*.parquet") if not p.name.startswith(".tmp-"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_address(tmp_path_factory, zoo_home):
    ray_bin = Path(sys.executable).parent / "ray"
    cmd = str(ray_bin) if ray_bin.exists() else shutil.which("ray")
    tmp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "EMOAUDIT_HOME": str(zoo_home), **RAY_ENV}
    port = str(_free_port())  # a fixed port failed when two test suites ran side by side
    subprocess.run(
        [
            cmd,
            "start",
            "--head",
            "--num-cpus=2",
            f"--port={port}",
            "--include-dashboard=false",
            f"--temp-dir={tmp}",
            "--disable-usage-stats",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([cmd, "stop", "--force"], env=env, capture_output=True)


def _cmd(data, out, *, executor, address=None, chunk=8):
    cmd = [sys.executable, "-m", "emoaudit", "audit", str(data), "--out", str(out)]
    for m in MODELS:
        cmd += ["--model", m]
    cmd += ["--chunk-size", str(chunk), "--resamples", "10", "--quiet", "--executor", executor]
    return cmd + (["--address", address] if address else [])


def test_ray_rows_equal_local_rows(tmp_path, zoo_home, ray_address):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(60))
    env = {**os.environ, "EMOAUDIT_HOME": str(zoo_home), **RAY_ENV}
    subprocess.run(_cmd(data, tmp_path / "local", executor="local"), env=env, check=True)
    subprocess.run(
        _cmd(data, tmp_path / "ray", executor="ray", address=ray_address), env=env, check=True
    )
    local = pq.read_table(tmp_path / "local" / "predictions.parquet")
    remote = pq.read_table(tmp_path / "ray" / "predictions.parquet")
    assert remote.num_rows == 60 * len(MODELS)
    assert remote.equals(local)
    # the same cache keys: the local run can reuse every shard Ray wrote
    shutil.copytree(tmp_path / "ray" / ".cache", tmp_path / "local2" / ".cache")
    subprocess.run(_cmd(data, tmp_path / "local2", executor="local"), env=env, check=True)
    info = json.loads((tmp_path / "local2" / "run.json").read_text())
    assert info["cache"]["shards_computed"] == 0


@pytest.mark.slow
def test_killed_ray_driver_resumes_exactly(tmp_path, zoo_home, ray_address):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(600))
    env = {**os.environ, "EMOAUDIT_HOME": str(zoo_home), **RAY_ENV}
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(data, out, executor="ray", address=ray_address), env=env)
    shards = out / ".cache" / "shards"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if shards.exists() and _complete(shards) >= 10:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "predictions.parquet").exists()
    time.sleep(1.0)  # actors of the dead driver are torn down by Ray
    subprocess.run(_cmd(data, out, executor="ray", address=ray_address), env=env, check=True)
    subprocess.run(_cmd(data, tmp_path / "clean", executor="local"), env=env, check=True)
    resumed = pq.read_table(out / "predictions.parquet")
    assert resumed.num_rows == 600 * len(MODELS)
    assert resumed.equals(pq.read_table(tmp_path / "clean" / "predictions.parquet"))
    info = json.loads((out / "run.json").read_text())
    assert info["cache"]["shards_cached"] >= 10


def test_windows_are_bounded_by_bytes_as_well_as_chunks(monkeypatch):
    """Photo chunks carry their file bytes: 64 of them could hold gigabytes in the driver."""
    from emoaudit.run import ray_executor

    monkeypatch.setattr(ray_executor, "WINDOW_BYTES", 1000)
    assert not ray_executor.window_full([b"x" * 100] * 9)
    assert ray_executor.window_full([b"x" * 100] * 10)  # 1,000 bytes
    assert ray_executor.window_full([b"x"] * ray_executor.WINDOW_CHUNKS)
    assert not ray_executor.window_full([b"x"] * (ray_executor.WINDOW_CHUNKS - 1))
