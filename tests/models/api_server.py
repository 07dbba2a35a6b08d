"""A Rekognition-shaped emotion API on 127.0.0.1, serving a real model, with injected faults.

The server answers like AWS Rekognition ``DetectFaces`` (``FaceDetails[].Emotions[{Type,
Confidence}]``, confidences in percent, CALM and CONFUSED included) using any object with
``labels`` and ``predict_proba(rgb crops)``; tests pass emoaudit's own fer-mini-xception. It
counts every request per image so tests can prove what was (not) sent again, and injects faults
on the first attempt for a seeded fraction of images: 429 with Retry-After, 500, a reply slower
than the client's timeout, malformed JSON, a wrong content type, and a slow but good reply.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

FAULTS = ("429", "500", "timeout", "malformed", "content_type", "slow")
VENDOR = {
    "anger": "ANGRY",
    "disgust": "DISGUSTED",
    "fear": "FEAR",
    "happy": "HAPPY",
    "sad": "SAD",
    "surprise": "SURPRISED",
    "neutral": "CALM_NEUTRAL",  # renamed by the spec's [response.map]: tests that map works
}


class FakeApi:
    """Start with .start(); .url is the endpoint; .requests counts requests per image sha256."""

    def __init__(
        self,
        model,
        *,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        always_fail: bool = False,
        api_key: str | None = None,
        delay_s: float = 0.0,
        hang_s: float = 1.5,
        retry_after: str = "0.2",
    ) -> None:
        self.model = model
        self.fault_rate = fault_rate
        self.faults = faults
        self.always_fail = always_fail
        self.api_key = api_key
        self.delay_s = delay_s
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.requests: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # good answers sent, per image
        self.times: dict[str, list[float]] = {}
        self.injected: Counter[str] = Counter()
        self.first_attempts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def start(self) -> FakeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without this, Nagle's algorithm holds the
            # body until the client's delayed ACK (~40 ms a request on keep-alive connections)
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                with api.lock:
                    api.in_flight += 1
                    api.max_in_flight = max(api.max_in_flight, api.in_flight)
                try:
                    api.handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout fault): nothing to answer
                finally:
                    with api.lock:
                        api.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- one request ------------------------------------------------------------------------------

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length", 0)))
        if self.api_key is not None and req.headers.get("X-Api-Key") != self.api_key:
            return _reply(req, 403, b'{"message": "bad key"}')
        image = _image_from(req, body)
        if image is None:
            return _reply(req, 400, b'{"message": "no image"}')
        sha = hashlib.sha256(image).hexdigest()
        with self.lock:
            self.requests[sha] += 1
            attempt = self.requests[sha]
            self.times.setdefault(sha, []).append(time.monotonic())
        if self.delay_s:
            time.sleep(self.delay_s)
        fault = self._fault(sha, attempt)
        if fault:
            with self.lock:
                self.injected[fault] += 1
        if fault == "429":
            return _reply(req, 429, b'{"message": "slow down"}', {"Retry-After": self.retry_after})
        if fault == "500":
            return _reply(req, 500, b'{"message": "internal error"}')
        if fault == "timeout":
            time.sleep(self.hang_s)
        if fault == "malformed":
            return _reply(req, 200, b'{"FaceDetails": [{"Emotions": [')
        if fault == "content_type":
            return _reply(req, 200, b"<html>Bad gateway</html>", ctype="text/html")
        if fault == "slow":
            time.sleep(0.2)
        answer = self.answer(image)
        with self.lock:
            self.answered[sha] += 1
        return _reply(req, 200, answer)

    def _fault(self, sha: str, attempt: int) -> str | None:
        """Exactly floor(n * fault_rate) of the first n first attempts fail, kinds in turn."""
        if self.always_fail:
            return "500"
        if attempt != 1:
            return None
        with self.lock:
            self.first_attempts += 1
            n = self.first_attempts
            if int(n * self.fault_rate) == int((n - 1) * self.fault_rate):
                return None
            return self.faults[sum(self.injected.values()) % len(self.faults)]

    def answer(self, image: bytes) -> bytes:
        import cv2

        arr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None or arr.size == 0 or arr.std() == 0:  # a blank image: no face
            return json.dumps({"FaceDetails": []}).encode()
        rgb = np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr[..., ::-1]
        probs = self.model.predict_proba([np.ascontiguousarray(rgb)])[0]
        emotions = [
            {"Type": VENDOR[label], "Confidence": round(float(p) * 97.0, 6)}
            for label, p in zip(self.model.labels, probs, strict=True)
        ]
        emotions += [{"Type": "CONFUSED", "Confidence": 2.0}, {"Type": "CALM", "Confidence": 1.0}]
        return json.dumps({"FaceDetails": [{"Emotions": emotions}]}).encode()


def _image_from(req: BaseHTTPRequestHandler, body: bytes) -> bytes | None:
    ctype = req.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        try:
            return base64.b64decode(json.loads(body)["Image"]["Bytes"])
        except (ValueError, KeyError, TypeError):
            return None
    if ctype.startswith("multipart/form-data"):
        msg = BytesParser().parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        for part in msg.walk():
            if part.get_param("name", header="content-disposition") == "image":
                return part.get_payload(decode=True)
        return None
    if ctype.startswith("image/"):
        return body
    return None


class ScriptedApi:
    """Answers request n (counted from 1) with whatever ``reply(req, n)`` writes: the hostile
    answers (huge, dripping, echoing the key, malformed) of tests/models/test_http_json.py.
    ``stopped`` is set by stop(), so a reply that drips or hangs can end with the test."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.total = 0
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ScriptedApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with api.lock:
                    api.total += 1
                    n = api.total
                    api.headers.append(dict(self.headers))
                try:
                    api.reply(self, n)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a cap or a deadline)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def send(req, status: int, body: bytes | str, ctype: str = "application/json", **headers) -> None:
    """A whole answer with its length (for ScriptedApi replies)."""
    _reply(req, status, body.encode() if isinstance(body, str) else body, headers, ctype)


def _reply(req, status: int, body: bytes, headers: dict | None = None, ctype: str = "") -> None:
    req.send_response(status)
    req.send_header("Content-Type", ctype or "application/json")
    req.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        req.send_header(key, value)
    req.end_headers()
    req.wfile.write(body)


class ZooModel:
    """fer-mini-xception through emoaudit's own preprocessing: the model behind the fake API."""

    def __init__(self, name: str = "fer-mini-xception") -> None:
        from emoaudit.models.onnx_model import load_model

        self.loaded = load_model(name, threads=1)
        self.labels = self.loaded.info.labels
        self.lock = threading.Lock()

    def predict_proba(self, faces: list[np.ndarray]) -> np.ndarray:
        from emoaudit.models.preprocess import prepare_batch

        with self.lock:
            return self.loaded.predict_proba(prepare_batch(faces, self.loaded.info.input))


REKOGNITION_SPEC = """
[model]
name = "fake-rekognition"
version = "test"

[request]
send = "{send}"
field = "{field}"
image = "{image}"
timeout_s = {timeout_s}

[request.json]
Attributes = ["ALL"]

[headers]
X-Api-Key = "${{EMOAUDIT_TEST_API_KEY}}"

[response]
items = "/FaceDetails/0/Emotions"
label = "/Type"
score = "/Confidence"
no_face = "/FaceDetails/0"
labels = ["HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR",
          "CALM_NEUTRAL"]
ignore = ["CONFUSED", "CALM"]

[response.map]
CALM_NEUTRAL = "neutral"

[limits]
concurrency = {concurrency}
retries = {retries}
backoff_s = 0.01
max_backoff_s = 0.05
"""


PLAIN_SPEC = """
[request]
timeout_s = {timeout_s}

[headers]
X-Api-Key = "${{EMOAUDIT_TEST_API_KEY}}"

[response]
scores = "{scores}"
labels = ["happy", "sad"]

[limits]
concurrency = 4
retries = {retries}
backoff_s = 0.01
max_backoff_s = 0.02
max_retry_after_s = 1
max_answer_bytes = {max_answer_bytes}
"""


def write_plain_spec(path, **kw) -> object:
    """A spec for answers shaped {"happy": p, "sad": q} (ScriptedApi); keywords override."""
    values = {"timeout_s": 0.5, "scores": "", "retries": 0, "max_answer_bytes": 4096} | kw
    path.write_text(PLAIN_SPEC.format(**values))
    return path


def write_spec(path, **kw) -> object:
    """The fake API's spec (Rekognition's shape); keyword arguments override the defaults."""
    values = {"send": "base64_json", "field": "/Image/Bytes", "timeout_s": 0.5, "image": "face",
              "concurrency": 4, "retries": 4} | kw  # fmt: skip
    path.write_text(REKOGNITION_SPEC.format(**values))
    return path
