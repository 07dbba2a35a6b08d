"""The HTTP JSON adapter against a real local server (tests/models/api_server.py) with faults."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from api_server import FakeApi, ZooModel, write_spec

from emoaudit.errors import ModelError
from emoaudit.models.http_json import (
    PHOTO_NEEDS_CLEAN,
    REQUEST_FAILED,
    RESPONSES_DIR,
    get_pointer,
    http_model,
    retry_after,
    set_pointer,
)
from emoaudit.models.http_spec import ENV_MISSING, read_http_spec
from emoaudit.run.audit import AuditRequest, run_audit

KEY = "canary-7f3a9c-DO-NOT-LEAK-51e2"
N = 59  # and one blank image: 60 requests, so 10% faults inject each of the six kinds once


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("EMOAUDIT_TEST_API_KEY", KEY)
    return KEY


@pytest.fixture(scope="module")
def zoo_model(zoo_home):
    return ZooModel()


@pytest.fixture
def server(zoo_model):
    started: list[FakeApi] = []

    def make(**kw) -> FakeApi:
        api = FakeApi(zoo_model, api_key=KEY, **kw).start()
        started.append(api)
        return api

    yield make
    for api in started:
        api.stop()


@pytest.fixture
def faces_csv(tmp_path) -> Path:
    """N distinct FER2013-style rows (seeded noise over a smooth face-sized blob) plus a blank."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:48, :48]
    blob = 120 + 60 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 300.0)
    path = tmp_path / "fer2013.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        for i in range(N):
            pixels = np.clip(blob + rng.normal(0, 25, (48, 48)), 0, 255).astype(int)
            writer.writerow([i % 7, " ".join(map(str, pixels.ravel())), "PrivateTest"])
        writer.writerow([3, " ".join(["128"] * 48 * 48), "PrivateTest"])  # the API sees no face
    return path


def _audit(data, out, url, spec, **kw):
    req = AuditRequest(data=data, out=out, models=[f"http+json:{url}/detect"], model_spec=spec,
                       n_resamples=20, chunk_size=16, **kw)  # fmt: skip
    return run_audit(req)


def _preds(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "predictions.parquet")
    # the two servers listen on different ports: a different endpoint, so another model_sha256
    return df.drop(columns=["reason", "model_sha256"]).reset_index(drop=True)


def test_rekognition_shape_is_parsed_into_canonical_probabilities(
    tmp_path, server, faces_csv, api_key, zoo_model
):
    api = server()
    spec = write_spec(tmp_path / "api.toml")
    _audit(faces_csv, tmp_path / "out", api.url, spec)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert len(df) == N + 1
    assert df.status.value_counts().to_dict() == {"ok": N, "no_face": 1}
    no_face = f"row{N}: the API found no face (/FaceDetails/0 is missing or empty)"
    assert df.reason.iloc[-1] == no_face
    probs = df.filter(like="prob_").iloc[:N]
    assert sorted(probs.columns) == sorted(f"prob_{k}" for k in zoo_model.labels)
    assert np.allclose(probs.sum(axis=1), 1.0)
    # CALM and CONFUSED are ignored as the spec says, so the rest is the model's own output
    pixels = np.array(list(csv.reader(open(faces_csv)))[1][1].split(), dtype=np.uint8)
    face = np.repeat(pixels.reshape(48, 48)[:, :, None], 3, axis=2)
    expected = zoo_model.predict_proba([face])[0]
    got = df.iloc[0][[f"prob_{k}" for k in zoo_model.labels]].to_numpy(float)
    assert np.allclose(got, expected, atol=1e-5)
    assert api.total == N + 1  # one request per image, nothing retried
    stored = list((tmp_path / "out" / RESPONSES_DIR).rglob("*.json"))
    assert len(stored) == N + 1  # every answer kept for provenance (the no-face one too)
    record = json.loads(stored[0].read_text())
    assert set(record) >= {"endpoint", "image_sha256", "spec_sha256", "body", "received_at"}


def test_ten_percent_faults_give_the_same_predictions(tmp_path, server, faces_csv, api_key):
    clean = server()
    spec = write_spec(tmp_path / "api.toml")
    _audit(faces_csv, tmp_path / "clean", clean.url, spec)
    faulty = server(fault_rate=0.1)
    _audit(faces_csv, tmp_path / "faulty", faulty.url, spec)
    assert set(faulty.injected) == {"429", "500", "timeout", "malformed", "content_type", "slow"}
    n_faults = sum(faulty.injected.values())
    assert faulty.total == N + 1 + n_faults - faulty.injected["slow"]  # each fault: one retry
    pd.testing.assert_frame_equal(_preds(tmp_path / "clean"), _preds(tmp_path / "faulty"))
    info = json.loads((tmp_path / "faulty" / "run.json").read_text())
    stats = info["models"][0]["source"]["stats"]
    assert stats["retries"] == n_faults - faulty.injected["slow"] and stats["failed"] == 0


def test_a_request_that_keeps_failing_is_a_status_and_the_next_run_retries_it(
    tmp_path, server, faces_csv, api_key
):
    down = server(always_fail=True)
    spec = write_spec(tmp_path / "api.toml", retries=2)
    out = tmp_path / "out"
    _audit(faces_csv, out, down.url, spec)
    df = pd.read_parquet(out / "predictions.parquet")
    assert (df.status == "model_error").all() and df.pred.isna().all()
    assert df.reason.iloc[0] == REQUEST_FAILED.format(sample="row0", attempts=3, why="HTTP 500")
    assert down.total == 3 * (N + 1)


def test_failed_rows_are_retried_on_the_same_endpoint(tmp_path, zoo_model, faces_csv, api_key):
    api = FakeApi(zoo_model, api_key=KEY, always_fail=True).start()
    try:
        spec = write_spec(tmp_path / "api.toml", retries=0)
        out = tmp_path / "out"
        _audit(faces_csv, out, api.url, spec)
        assert (pd.read_parquet(out / "predictions.parquet").status == "model_error").all()
        api.always_fail = False
        before = api.total
        _audit(faces_csv, out, api.url, spec)
        df = pd.read_parquet(out / "predictions.parquet")
        assert df.status.value_counts().to_dict() == {"ok": N, "no_face": 1}
        assert api.total - before == N + 1
        before = api.total
        info = _audit(faces_csv, out, api.url, spec)
        assert api.total == before  # all cached now: a third run sends nothing
        assert info is not None
    finally:
        api.stop()


def test_retry_after_is_honoured(tmp_path, server, faces_csv, api_key):
    api = server(fault_rate=1.0, faults=("429",), retry_after="0.6")
    spec = write_spec(tmp_path / "api.toml")
    lines = faces_csv.read_text().splitlines()[:3]
    small = tmp_path / "small.csv"
    small.write_text("\n".join(lines) + "\n")
    _audit(small, tmp_path / "out", api.url, spec)
    for times in api.times.values():
        assert len(times) == 2 and times[1] - times[0] >= 0.6
    assert retry_after("2") == 2.0 and retry_after("soon") is None and retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now


def test_concurrency_and_rate_limits(tmp_path, server, faces_csv, api_key):
    api = server(delay_s=0.05)
    spec = write_spec(tmp_path / "api.toml", concurrency=2)
    text = spec.read_text().replace("[limits]", "[limits]\nrate_per_s = 40")
    spec.write_text(text)
    start = time.monotonic()
    _audit(faces_csv, tmp_path / "out", api.url, spec, workers=2)
    elapsed = time.monotonic() - start
    assert api.max_in_flight <= 2
    assert api.total == N + 1
    assert elapsed >= (N - 1) / 40  # N + 1 starts at 40 a second: N intervals of 25 ms


@pytest.mark.parametrize(
    ("send", "field"), [("multipart", "image"), ("raw", "/unused"), ("base64_json", "/Image/Bytes")]
)
def test_every_way_of_sending_reaches_the_same_answer(
    tmp_path, server, faces_csv, api_key, send, field
):
    api = server()
    spec = write_spec(tmp_path / "api.toml", send=send, field=field)
    _audit(faces_csv, tmp_path / "out", api.url, spec)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert df.status.value_counts().to_dict() == {"ok": N, "no_face": 1}


def test_the_api_key_is_never_written_anywhere(tmp_path, server, faces_csv, api_key):
    """A canary key in a header and in the URL; every output file and all console output."""
    api = server(fault_rate=0.3)
    spec = write_spec(tmp_path / "api.toml")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "emoaudit", "audit", str(faces_csv), "--model",
           f"http+json:{api.url}/detect?key=${{EMOAUDIT_TEST_API_KEY}}", "--model-spec",
           str(spec), "--out", str(out), "--resamples", "20"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # and a run whose requests fail with the key in the URL: reasons must not carry it
    bad = write_spec(tmp_path / "bad.toml", retries=0)
    down = server(always_fail=True)
    url = f"http+json:{down.url}/detect?key=${{EMOAUDIT_TEST_API_KEY}}"
    cmd2 = [*cmd[:6], url, "--model-spec", str(bad), "--out", str(tmp_path / "out2"),
            "--resamples", "20"]  # fmt: skip
    failed = subprocess.run(cmd2, env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 0, failed.stderr[-2000:]
    assert KEY not in done.stdout + done.stderr + failed.stdout + failed.stderr
    specs = ("api.toml", "bad.toml")
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in specs]
    assert any(p.name == "report.html" for p in files)
    assert any(p.name == "results.json" for p in files)
    assert len(files) > 10
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    reasons = pd.read_parquet(tmp_path / "out2" / "predictions.parquet").reason
    assert reasons.str.contains("API request failed").sum() == N + 1
    # a key the shell expanded into the command line would be recorded: refused in one line
    expanded = [*cmd[:6], f"http+json:{api.url}/detect?key={KEY}", *cmd[7:]]
    expanded[expanded.index(str(out))] = str(tmp_path / "out3")
    refused = subprocess.run(expanded, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert "quote the model argument in single quotes" in refused.stderr
    assert KEY not in refused.stdout + refused.stderr


def test_a_sigkilled_audit_resumes_without_resending_cached_requests(
    tmp_path, server, faces_csv, api_key
):
    api = server(delay_s=0.05)
    spec = write_spec(tmp_path / "api.toml", concurrency=1)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "emoaudit", "audit", str(faces_csv), "--model",
           f"http+json:{api.url}/detect", "--model-spec", str(spec), "--out", str(out),
           "--workers", "1", "--chunk-size", "64", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    responses = out / RESPONSES_DIR
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if responses.is_dir() and len(list(responses.rglob("*.json"))) >= 10:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # a request in flight at the kill may still reach the server
    cached = len(list(responses.rglob("*.json")))
    assert 10 <= cached < N + 1, "the kill should land mid-run"
    assert not (out / "predictions.parquet").exists()
    before = api.total
    _audit(faces_csv, out, api.url, spec, workers=1)
    assert api.total - before == N + 1 - cached  # only what was not stored is sent again
    assert max(api.answered.values()) <= 2  # at most the one answer lost in flight, twice
    df = pd.read_parquet(out / "predictions.parquet")
    assert df.status.value_counts().to_dict() == {"ok": N, "no_face": 1}


def test_spec_errors_are_one_line_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("EMOAUDIT_TEST_API_KEY", raising=False)
    spec = write_spec(tmp_path / "api.toml")
    with pytest.raises(ModelError) as exc:
        http_model("http+json:http://127.0.0.1:9/detect", spec_path=spec, out=tmp_path)
    assert str(exc.value) == ENV_MISSING.format(
        path=spec, var="EMOAUDIT_TEST_API_KEY", where="headers"
    )
    cases = {
        "[response]\nlabels = ['HAPPY']\n": "needs exactly one of items",
        "[response]\nscores = '/s'\nlabels = ['CALM']\n": "label 'CALM' has no canonical",
        "[response]\nscores = '/s'\nlabels = ['HAPPY']\n[limits]\nconcurrency = 0\n": "concurrency",
        "[request]\nsend = 'smoke'\n[response]\nscores = '/s'\nlabels = ['HAPPY']\n": "send must",
        "[reponse]\n": "unknown table [reponse]",
    }
    for text, fragment in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ModelError) as exc:
            read_http_spec(bad)
        assert str(exc.value).startswith(f"{bad}: invalid model spec: ")
        assert fragment in str(exc.value)
    with pytest.raises(ModelError, match="needs --model-spec"):
        http_model("http+json:http://127.0.0.1:9/x", spec_path=None, out=tmp_path)


def test_photo_mode_sends_the_stored_image_and_refuses_perturbed_conditions(
    tmp_path, server, faces_csv, api_key
):
    api = server()
    spec = write_spec(tmp_path / "api.toml", image="photo")
    _audit(faces_csv, tmp_path / "out", api.url, spec, conditions="jpeg")
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    clean = df[df.condition == "clean"]
    assert clean.status.value_counts().to_dict() == {"ok": N, "no_face": 1}
    perturbed = df[df.condition != "clean"]
    assert len(perturbed) and (perturbed.status == "model_error").all()
    first = perturbed.iloc[0]
    assert first.reason == PHOTO_NEEDS_CLEAN.format(sample="row0", condition=first.condition)
    assert api.total == N + 1  # nothing was sent for the perturbed rows


def test_the_rekognition_example_spec_is_valid(monkeypatch, tmp_path):
    example = Path(__file__).parents[2] / "docs" / "examples" / "rekognition.toml"
    spec = read_http_spec(example)
    assert spec.canonical_labels == ("happy", "sad", "anger", "disgust", "surprise", "fear")
    assert spec.ignore == ("CONFUSED", "CALM") and spec.image_field == "/Image/Bytes"
    monkeypatch.setenv("REKOGNITION_PROXY_KEY", KEY)
    model = http_model("http+json:https://proxy.example/detect", spec_path=example, out=tmp_path)
    body, headers = model.build_request(b"\x89PNG")
    assert json.loads(body) == {"Attributes": ["ALL"], "Image": {"Bytes": "iVBORw=="}}
    assert headers["X-Api-Key"] == KEY and KEY not in json.dumps(model.info.source)


def test_image_types_are_sniffed():
    from emoaudit.models.http_json import encode_image, image_type

    face = np.zeros((4, 4, 3), np.uint8)
    assert image_type(encode_image(face, encoding="png")) == "image/png"
    assert image_type(encode_image(face, encoding="jpeg")) == "image/jpeg"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_type(b"nothing") == "application/octet-stream"


def test_json_pointers():
    doc = {"a/b": [{"~x": 1}], "FaceDetails": []}
    assert get_pointer(doc, "/a~1b/0/~0x") == 1
    assert get_pointer(doc, "/FaceDetails/0") is not None  # missing: the sentinel, not None
    body: dict = {"Attributes": ["ALL"]}
    set_pointer(body, "/Image/Bytes", "xx")
    assert body == {"Attributes": ["ALL"], "Image": {"Bytes": "xx"}}
