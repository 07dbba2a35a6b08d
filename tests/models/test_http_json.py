"""The HTTP JSON adapter against a real local server (tests/models/api_server.py) with faults."""

from __future__ import annotations

import base64
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from api_server import FakeApi, ScriptedApi, ZooModel, send, write_plain_spec, write_spec

from emoaudit.errors import ModelError
from emoaudit.models.http_json import (
    MISSING_SCORE,
    NON_FINITE_SCORE,
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

    def stored() -> int:  # answers stored whole: a kill mid-write leaves a .tmp-*.json behind
        return sum(not p.name.startswith(".tmp-") for p in responses.rglob("*.json"))

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if responses.is_dir() and stored() >= 10:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # a request in flight at the kill may still reach the server
    cached = stored()
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


# -- hostile answers (ScriptedApi): every face gets a row, in bounded memory and time ------------


@pytest.fixture
def scripted():
    started: list[ScriptedApi] = []

    def make(reply) -> ScriptedApi:
        api = ScriptedApi(reply).start()
        started.append(api)
        return api

    yield make
    for api in started:
        api.stop()


def _predict(api, spec, tmp_path, n=1):
    """The model's answer for n distinct tiny faces: (probabilities, {index: failure})."""
    model = http_model(f"http+json:{api.url}/x", spec_path=spec, out=tmp_path)
    faces = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    samples = [SimpleNamespace(sample_id=f"s{i}") for i in range(n)]
    return model.predict_faces(faces, samples=samples, condition="clean")


def test_ctrl_c_before_the_socket_exists_still_stops_the_request(tmp_path, scripted, api_key,
                                                                  monkeypatch):  # fmt: skip
    """Ctrl-C shuts down the sockets of requests in flight; one that had not connected yet had
    none to shut down, connected afterwards and waited for its whole timeout (15 s in the
    Ctrl-C test, which then failed now and then under load). The interrupt is now seen right
    after connecting."""
    import http.client

    from emoaudit.models.http_json import Interrupted

    api = scripted(lambda req, n: api.stopped.wait(20))
    spec = write_plain_spec(tmp_path / "api.toml", timeout_s=15, retries=3)
    model = http_model(f"http+json:{api.url}/x", spec_path=spec, out=tmp_path)
    connect = http.client.HTTPConnection.connect

    def connect_after_ctrl_c(conn):
        model.interrupt()  # SIGINT arrives here: nothing to shut down yet
        connect(conn)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", connect_after_ctrl_c)
    start = time.monotonic()
    with pytest.raises(Interrupted):
        model.predict_faces([np.zeros((8, 8, 3), np.uint8)], samples=[SimpleNamespace(
            sample_id="s0")], condition="clean")  # fmt: skip
    model._pool.shutdown(wait=True)  # what the process waits for at exit: the request thread
    assert time.monotonic() - start < 5
    assert api.total == 0  # nothing was sent


@pytest.mark.parametrize("how", ["declared", "chunked"])
def test_an_answer_over_max_answer_bytes_is_a_model_error(tmp_path, scripted, api_key, how):
    """An endless chunked body reached 7.4 GB of RSS in 25 s; a declared 300 MB body 2.6 GB."""

    def reply(req, n):
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        if how == "declared":
            req.send_header("Content-Length", str(10**9))
        else:
            req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        for _ in range(10_000):  # 10 MB at most: the client hangs up after 1 KB
            chunk = b" " * 1024
            req.wfile.write(b"400\r\n" + chunk + b"\r\n" if how == "chunked" else chunk)

    api = scripted(reply)
    spec = write_plain_spec(tmp_path / "api.toml", max_answer_bytes=1000, retries=2)
    probs, errors = _predict(api, spec, tmp_path)
    why = "answer larger than 1000 bytes"
    assert errors == {0: REQUEST_FAILED.format(sample="s0", attempts=1, why=why)}
    assert np.isnan(probs).all() and api.total == 1  # a cap is not retried


@pytest.mark.parametrize("where", ["body", "headers"])
def test_timeout_bounds_the_whole_attempt_not_each_read(tmp_path, scripted, api_key, where):
    """A byte every 50 ms never tripped a 0.3 s socket timeout: timeout_s was per read."""

    def reply(req, n):
        if where == "headers":
            req.wfile.write(b"HTTP/1.1 200 OK\r\n")
        else:
            req.send_response(200)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", "100")
            req.end_headers()
        while not api.stopped.wait(0.05):
            req.wfile.write(b"X-A: b\r\n" if where == "headers" else b" ")
            req.wfile.flush()

    api = scripted(reply)
    spec = write_plain_spec(tmp_path / "api.toml", timeout_s=0.3, retries=1)
    start = time.monotonic()
    _, errors = _predict(api, spec, tmp_path)
    elapsed = time.monotonic() - start
    why = "timed out after 0.3 s"
    assert errors == {0: REQUEST_FAILED.format(sample="s0", attempts=2, why=why)}
    assert 0.6 <= elapsed < 1.5  # two attempts of 0.3 s and a backoff of at most 20 ms


NUMBERS = {
    '{"happy": NaN, "sad": 0.5}': ("bad_output", NON_FINITE_SCORE, "NaN", "happy"),
    '{"happy": 0.5, "sad": -Infinity}': ("bad_output", NON_FINITE_SCORE, "infinite", "sad"),
    '{"happy": 1' + "0" * 400 + ', "sad": 1}': (
        "bad_output", NON_FINITE_SCORE, "too large for a float", "happy",
    ),
    '{"happy": 0.9}': ("model_error", MISSING_SCORE, None, "sad"),
}  # fmt: skip


@pytest.mark.parametrize("body", list(NUMBERS))
def test_scores_no_float_can_hold_or_a_missing_label_name_the_label(
    tmp_path, scripted, api_key, body
):
    """NaN was "negative or sum to zero", 10**400 an OverflowError that ended the run, and a
    missing label a score of 0 (status ok: a made-up prediction)."""
    api = scripted(lambda req, n: send(req, 200, body))
    spec = write_plain_spec(tmp_path / "api.toml")
    probs, errors = _predict(api, spec, tmp_path)
    status, template, what, label = NUMBERS[body]
    reason = template.format(sample="s0", what=what, label=label)
    assert errors == {0: (status, reason) if status == "bad_output" else reason}
    assert np.isnan(probs).all()


def test_huge_but_finite_scores_are_normalised(tmp_path, scripted, api_key):
    api = scripted(lambda req, n: send(req, 200, '{"happy": 1e308, "sad": 1e308}'))
    probs, errors = _predict(api, write_plain_spec(tmp_path / "api.toml"), tmp_path)
    assert errors == {} and np.allclose(probs, 0.5)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"happy": 0.5, "happy": -3, "sad": 0.5}', "answer has duplicate key 'happy'"),
        ("[" * 200_000 + "]" * 200_000, "answer nested deeper than 64 levels"),
        (
            '{"happy": 1, "sad": ' + "[" * 100 + "]" * 100 + "}",
            "answer nested deeper than 64 levels",
        ),
    ],
)
def test_ambiguous_or_deep_json_is_a_model_error_not_a_traceback(
    tmp_path, scripted, api_key, body, why
):
    """json kept the last of two values in silence; 200,000 brackets raised RecursionError."""
    api = scripted(lambda req, n: send(req, 200, body))
    spec = write_plain_spec(tmp_path / "api.toml", retries=2, max_answer_bytes=10**6)
    _, errors = _predict(api, spec, tmp_path)
    assert errors == {0: REQUEST_FAILED.format(sample="s0", attempts=1, why=why)}
    assert api.total == 1


def test_a_retry_after_over_the_limit_says_so(tmp_path, scripted, api_key):
    api = scripted(
        lambda req, n: send(req, 429, "slow down", "text/plain", **{"Retry-After": "3600"})
    )
    spec = write_plain_spec(tmp_path / "api.toml", retries=3)
    _, errors = _predict(api, spec, tmp_path)
    why = "HTTP 429 (rate limited); Retry-After 3600 s is longer than max_retry_after_s (1 s)"
    assert errors == {0: REQUEST_FAILED.format(sample="s0", attempts=1, why=why)}


@pytest.mark.parametrize(
    "body", [b"\xef\xbb\xbf" + b'{"happy": 3, "sad": 1}', '{"happy": 3, "sad": 1}'.encode("utf-16")]
)
def test_stored_answers_read_back_whatever_their_encoding(tmp_path, scripted, api_key, body):
    """A BOM answer was stored with the BOM as text, and every later run stopped reading it."""
    api = scripted(lambda req, n: send(req, 200, body))
    spec = write_plain_spec(tmp_path / "api.toml")
    first, errors = _predict(api, spec, tmp_path, n=2)
    assert errors == {} and np.allclose(first, [0.75, 0.25])
    again, errors = _predict(api, spec, tmp_path, n=2)  # a new run: from the store
    assert errors == {} and api.total == 2 and np.array_equal(first, again)
    stored = sorted((tmp_path / RESPONSES_DIR).rglob("*.json"))
    stored[0].write_text('{"body": "\ufeff{\\"happy\\": 1,"}')  # damaged, or an old format
    again, errors = _predict(api, spec, tmp_path, n=2)
    assert errors == {} and api.total == 3 and np.array_equal(first, again)  # asked again


SCRUB_KEY = "sk/CANARY+7f3a9c2e 1b4d5f6a8e0c"  # "/", "+" and " ": escaped forms differ


def _echoes(key: str) -> list:
    """The key echoed in every place an answer can hold text, in every spelling, straddling
    every cut a reason has had (40, 60 and 200 characters) and has (120)."""
    spellings = [
        key,
        key.replace("/", "\\/"),
        urllib.parse.quote(key, safe=""),
        urllib.parse.quote_plus(key),
        "".join(f"\\u{ord(c):04x}" for c in key),
        key.upper(),  # transformed echoes: a message quoting the key in another case,
        key.lower(),
        base64.b64encode(key.encode()).decode(),  # or base64-encoded, as a header is
        base64.urlsafe_b64encode(key.encode()).decode().rstrip("="),
    ]
    out = []
    for spelling in spellings:
        for pad in (0, 14, 33, 38, 40, 59, 112, 118, 120, 190, 199):
            x = "x" * pad
            out += [
                f'{{"scores": {{"happy": 0.5, "sad": 0.5, "{x}{spelling}": 0.1}}}}',
                f'{{"scores": {{"happy": 0.5, "sad": "{x}{spelling}"}}}}',
                f"text/html; k={x}{spelling}",
                f'{{"scores": {{"happy": 0.5, "sad": 0.5}}, "x": ["{x}{spelling}"]}}',
            ]
    return out


def test_a_key_echoed_anywhere_never_reaches_any_output(tmp_path, scripted, monkeypatch):
    """Reasons were cut before the key was scrubbed: a key straddling the cut survived in
    predictions.parquet and the shards (`invalid key sk-CANARY-7f3a9c2e1b4d5f6a8e`)."""
    monkeypatch.setenv("EMOAUDIT_TEST_API_KEY", SCRUB_KEY)
    echoes = _echoes(SCRUB_KEY)

    def reply(req, n):
        echo = echoes[(n - 1) % len(echoes)]
        send(req, 200, *(("nope", echo) if echo.startswith("text/") else (echo,)))

    api = scripted(reply)
    spec = write_plain_spec(tmp_path / "api.toml", scores="/scores")
    rng = np.random.default_rng(3)
    data = tmp_path / "faces.csv"
    rows = [" ".join(map(str, rng.integers(0, 255, 48 * 48))) for _ in echoes]
    data.write_text("emotion,pixels,Usage\n" + "".join(f"3,{r},Test\n" for r in rows))
    out = tmp_path / "out"
    req = AuditRequest(data=data, out=out, models=[f"http+json:{api.url}/x"], model_spec=spec,
                       n_resamples=20, chunk_size=64)  # fmt: skip
    run_audit(req)
    assert api.total == len(echoes) and all(h["X-Api-Key"] == SCRUB_KEY for h in api.headers)
    df = pd.read_parquet(out / "predictions.parquet")
    assert df.status.value_counts().to_dict() == {"model_error": len(echoes) * 3 // 4,
                                                  "ok": len(echoes) // 4}  # fmt: skip
    assert len(list((out / RESPONSES_DIR).rglob("*.json"))) == len(echoes) // 4  # stored
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" and ".cache" in p.parts for p in files)
    pieces = {SCRUB_KEY[i : i + 6] for i in range(len(SCRUB_KEY) - 5)}
    pieces |= {urllib.parse.quote(p, safe="") for p in pieces}
    pieces |= {p.upper() for p in pieces} | {p.lower() for p in pieces}
    for encoded in (
        base64.b64encode(SCRUB_KEY.encode()),
        base64.urlsafe_b64encode(SCRUB_KEY.encode()),
    ):
        pieces |= {encoded[i : i + 8].decode() for i in range(len(encoded) - 7)}
    for path in files:
        data_bytes = path.read_bytes()
        for piece in pieces:
            assert piece.encode() not in data_bytes, (path, piece)


def test_a_basic_auth_credential_is_scrubbed_decoded_too():
    """A header `Authorization: Basic <base64 of user:password>` holds the password in a form
    no answer quotes; a server that decoded it may quote `alice:...` back in clear."""
    from emoaudit.models.http_json import SCRUBBED, secret_forms, secret_pattern

    credential = base64.b64encode(b"alice:Tr0ub4dor&3-horse").decode()
    pattern = secret_pattern(secret_forms([credential]))
    for echo in (
        "unknown user alice:Tr0ub4dor&3-horse",
        "bad password TR0UB4DOR&3-HORSE for ALICE",
        f"got Basic {credential}",
        "password=Tr0ub4dor%263-horse",
    ):
        clean = pattern.sub(SCRUBBED, echo)
        assert "tr0ub4dor" not in clean.lower() and "alice" not in clean.lower(), echo
        assert credential not in clean and SCRUBBED in clean
    assert secret_pattern(secret_forms([])) is None


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a test suite started as a background job (`cmd &`
    in a script) ignores SIGINT, its children inherit that, and the audit then (rightly) never
    saw the signal: the test failed on how it was launched, not on the code."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_at_once_and_writes_nothing_half(tmp_path, scripted, faces_csv, api_key):
    """With 30 s requests queued, SIGINT waited for each of them (still running 30 s on)."""

    def reply(req, n):
        api.stopped.wait(20)

    api = scripted(reply)
    spec = write_plain_spec(tmp_path / "api.toml", timeout_s=15, retries=3)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "emoaudit", "audit", str(faces_csv), "--model",
           f"http+json:{api.url}/x", "--model-spec", str(spec), "--out", str(out),
           "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)  # fmt: skip
    deadline = time.monotonic() + 120
    while api.total < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.total == 4  # concurrency 4: the rest are queued
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - start < 3
    assert proc.returncode != 0 and b"Traceback" not in stdout + stderr
    assert api.total == 4  # nothing queued was sent after Ctrl-C
    assert not (out / "predictions.parquet").exists()
    assert not list((out / ".cache").rglob("*.parquet"))  # no shard for the cut-off faces
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp") or ".tmp" in p.name]
