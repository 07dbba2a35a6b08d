"""A black-box model behind an HTTP JSON API: ``--model http+json:URL --model-spec api.toml``.

Most deployed emotion recognition can only be reached as a vendor API, so emoaudit audits it
the way it audits an ONNX file: every face gets a row, whatever happens on the wire. The spec
(models/http_spec.py) says how an image is sent and where the scores are in the answer. What
this module adds is the discipline of talking to a paid, rate-limited, flaky service:

- at most ``concurrency`` requests in flight and at most ``rate_per_s`` started per second;
- retries with exponential backoff and full jitter on 429 (honouring Retry-After), 5xx,
  timeouts, dropped connections and unreadable answers (wrong content type, malformed JSON);
  other 4xx answers are final (a bad key will not improve by asking again);
- every usable answer is stored under OUT/api_responses/ keyed by (sha256 of the image bytes
  sent, endpoint, spec text), written atomically as soon as it arrives, so a rerun or a resume
  after SIGKILL never pays for the same image twice, and the raw answers stay for provenance;
- a face whose request still fails gets status ``model_error`` with the reason (the runner
  retries such rows on the next run), never a crash and never a made-up prediction;
- secrets: ``${VAR}`` in the URL or headers is read from the environment when the model is
  loaded and lives only in memory; the endpoint is recorded as its template, stored answers
  and every reason are scrubbed of the values, and header values are never recorded;
- the answer is hostile too: its size is capped (``max_answer_bytes``), ``timeout_s`` bounds
  the whole attempt (a reply dripping one byte a second never ends otherwise), and every way
  it can be wrong (NaN, a missing or repeated label, a duplicate key, nesting a parser cannot
  follow, a number no float holds) is a status on that face, never a traceback;
- Ctrl-C stops the run at once: queued requests are cancelled and those in flight cut off.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import math
import random
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import weakref
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emoaudit.data.base import BAD_OUTPUT, NO_FACE
from emoaudit.errors import ModelError
from emoaudit.models.http_spec import HttpSpec, expand, read_http_spec, secrets_in
from emoaudit.models.python_model import ExternalInfo, RawFaces

PREFIX = "http+json:"
RESPONSES_DIR = "api_responses"
SPEC_NEEDED = "model '{url}': an http+json model needs --model-spec api.toml (docs/model-spec.md)"
BAD_URL = "model '{url}': expected http+json:http://host/path or http+json:https://host/path"
REQUEST_FAILED = "{sample}: API request failed after {attempts} attempt(s): {why}"
BAD_RESPONSE = "{sample}: API response {why}"
NO_FACE_IN_RESPONSE = "{sample}: the API found no face ({pointer} is missing or empty)"
UNEXPECTED_LABEL = "{sample}: API returned label '{label}', which the spec neither maps nor ignores"
REPEATED_LABEL = "{sample}: API returned label '{label}' more than once"
MISSING_SCORE = "{sample}: API response has no score for label '{label}'"
NON_FINITE_SCORE = "{sample}: API response score for label '{label}' is {what}"
NOT_A_PAIR = "{sample}: API response has a label/score pair that is not (text, number): {pair}"
NOT_SCORES = "{sample}: API response scores are negative or sum to zero"
ANSWER_TOO_LARGE = "answer larger than {limit} bytes"
TIMED_OUT = "timed out after {timeout:g} s"
NOT_JSON = "answer is not JSON (content type {ctype!r})"
MALFORMED = "malformed JSON ({why})"
TOO_DEEP = "answer nested deeper than {depth} levels"
DUPLICATE_KEY = "answer has duplicate key {key!r}"
RETRY_AFTER_TOO_LONG = (
    "{why}; Retry-After {seconds:.0f} s is longer than max_retry_after_s ({limit:g} s)"
)
INTERRUPTED = "interrupted: queued API requests cancelled"
PHOTO_NEEDS_CLEAN = (
    "{sample}: image = 'photo' sends the stored file unchanged; condition '{condition}' "
    "needs image = 'face'"
)
NO_PHOTO = "{sample}: image = 'photo' but the sample has no stored file or pixels"
SECRET_ON_COMMAND_LINE = (
    "model '{url}': the value of a ${{VAR}} used by the spec is on the command line, which is "
    "recorded in run.json and results.json; quote the model argument in single quotes so the "
    "shell passes ${{VAR}} through"
)
SCRUBBED = "[secret]"
MAX_DEPTH = 64  # JSON nesting: an emotion answer has under 10 levels; 200,000 broke json.loads
MAX_FIELD = 120  # characters of one field of a reason (a label, a content type), after scrubbing
WAIT_STEP_S = 0.2  # how often a waiting thread looks for Ctrl-C
# headers that carry no credential: their values are not scrubbed from reasons
PUBLIC_HEADERS = {"accept", "accept-encoding", "accept-language", "content-type", "user-agent"}
_MISSING = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Transient(Exception):
    """A failure worth retrying (429, 5xx, timeout, unreadable answer)."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class Final(Exception):
    """A failure that asking again will not fix (400, 401, 403, 404, ...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C reached the run: the requests of this model stop, and no row is written for them."""


class _TooLarge(Exception):
    pass


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def http_model(target: str, *, spec_path: Path | None, out: Path | None) -> HttpModel:
    """The model for ``http+json:URL``; answers are stored under OUT/api_responses."""
    url = target[len(PREFIX) :] if target.startswith(PREFIX) else target
    if spec_path is None:
        raise ModelError(SPEC_NEEDED.format(url=url))
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ModelError(BAD_URL.format(url=url))
    spec = read_http_spec(Path(spec_path))
    cache = (Path(out) if out is not None else Path.cwd()) / RESPONSES_DIR
    return HttpModel(url, spec=spec, cache_dir=cache)


class HttpModel:
    """Runs faces through the API; the runner calls predict_faces from its worker threads."""

    def __init__(self, url_template: str, *, spec: HttpSpec, cache_dir: Path) -> None:
        self.spec = spec
        self.url_template = url_template
        self.cache_dir = Path(cache_dir)
        self._url = expand(url_template, path=spec.path, where="url")
        self._headers = {k: expand(v, path=spec.path, where="headers")
                         for k, v in spec.headers.items()}  # fmt: skip
        self._secrets = secrets_in([url_template, *spec.headers.values()])
        self._forms = secret_forms([*self._secrets, *header_secrets(self._headers)])
        self._echo = secret_pattern(self._forms)
        if any(secret in arg for secret in self._secrets for arg in sys.argv):
            raise ModelError(SECRET_ON_COMMAND_LINE.format(url=self.scrub(url_template)))
        self.spec_sha256 = hashlib.sha256(spec.text.encode()).hexdigest()
        self.sha256 = hashlib.sha256(
            f"endpoint:{url_template}\nspec:{self.spec_sha256}".encode()
        ).hexdigest()
        self.stats = {"requests": 0, "cache_hits": 0, "retries": 0, "failed": 0}
        self.info = ExternalInfo(
            name=spec.name or f"http:{urllib.parse.urlsplit(url_template).netloc}",
            labels=spec.canonical_labels,
            input=RawFaces("http", {"image": spec.image, "encoding": spec.encoding}),
            source={
                "endpoint": url_template,
                "spec_sha256": self.spec_sha256,
                "version": spec.version,
                "api": spec.as_dict(),
                "responses": str(self.cache_dir),
                "stats": self.stats,
            },
        )
        self._index = {name: i for i, name in enumerate(spec.labels)}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._local = threading.local()
        self._rng = random.Random()
        self._stop = threading.Event()
        self._deadlines = Deadlines()
        _LIVE.add(self)
        hook_sigint()

    # -- the runner's entry point -------------------------------------------------------------

    def predict_faces(
        self, faces: list[np.ndarray], *, samples: list, condition: str
    ) -> tuple[np.ndarray, dict[int, Any]]:
        """Probabilities per face (NaN where it failed) and {index: reason or (status, reason)}.

        Raises Interrupted after Ctrl-C, so the runner writes no shard for these faces.
        """
        self._check_interrupt()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="http")
            pool = self._pool
        futures = []
        try:
            for face, sample in zip(faces, samples, strict=True):
                futures.append(pool.submit(self._one, face, sample, condition))
            probs = np.full((len(faces), len(self.info.labels)), np.nan)
            errors: dict[int, Any] = {}
            for i, future in enumerate(futures):
                result = self._result(future)
                if isinstance(result, np.ndarray):
                    probs[i] = result
                else:
                    errors[i] = result
        except BaseException:
            for future in futures:
                future.cancel()
            self._check_interrupt()  # a pool shut down by Ctrl-C refuses submit: RuntimeError
            raise
        return probs, errors

    def interrupt(self) -> None:
        """Stop now: called from the SIGINT handler, in the main thread between two bytecodes,
        so it takes no lock a worker could hold; sockets in flight are shut down."""
        self._stop.set()
        self._deadlines.abort_all()

    def _check_interrupt(self) -> None:
        if self._stop.is_set():
            pool = self._pool
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            raise Interrupted(INTERRUPTED)

    def _result(self, future: Any) -> Any:
        """Short waits: a thread blocked in result() for a 30 s request would not see Ctrl-C."""
        while True:
            try:
                return future.result(timeout=WAIT_STEP_S)
            except FutureTimeout:
                self._check_interrupt()
            except CancelledError:
                raise Interrupted(INTERRUPTED) from None

    def _one(self, face: np.ndarray, sample: Any, condition: str) -> np.ndarray | Any:
        if self._stop.is_set():
            raise Interrupted(INTERRUPTED)
        sid = sample.sample_id
        if self.spec.image == "photo" and condition != "clean":
            return self._reason(PHOTO_NEEDS_CLEAN, sample=sid, condition=condition)
        image = self._image_bytes(face, sample)
        if image is None:
            return self._reason(NO_PHOTO, sample=sid)
        image_sha = hashlib.sha256(image).hexdigest()
        key = self.cache_key(image_sha)
        stored = self._cached(key)
        if stored is not None:
            result = self._parse(stored, sid)
            if not isinstance(result, str):  # a stored answer that now fails is asked again
                with self._lock:
                    self.stats["cache_hits"] += 1
                return result
        try:
            doc, ctype = self._request_with_retries(image)
        except (Transient, Final) as exc:
            with self._lock:
                self.stats["failed"] += 1
            attempts = getattr(exc, "attempts", 1)
            return self._reason(REQUEST_FAILED, sample=sid, attempts=attempts, why=exc)
        result = self._parse(doc, sid)
        if not isinstance(result, str):  # probabilities, no_face or bad_output: a usable answer
            self._store(key, image_sha=image_sha, doc=doc, ctype=ctype)
        return result

    # -- what is sent ---------------------------------------------------------------------------

    def _image_bytes(self, face: np.ndarray, sample: Any) -> bytes | None:
        if self.spec.image == "photo":
            if getattr(sample, "path", None) and getattr(sample, "pixels", None) is None:
                try:
                    return Path(sample.path).read_bytes()
                except OSError:
                    return None
            if getattr(sample, "pixels", None) is None:
                return None
            face = np.asarray(sample.pixels, dtype=np.uint8)
        return encode_image(face, encoding=self.spec.encoding, quality=self.spec.jpeg_quality)

    def build_request(self, image: bytes) -> tuple[bytes, dict[str, str]]:
        """Body and headers for one image, as the spec says (send = base64_json, multipart, raw)."""
        spec = self.spec
        headers = dict(self._headers)
        mime = image_type(image)  # a stored photo keeps its own format
        if spec.send == "base64_json":
            doc = json.loads(json.dumps(spec.json_body))
            set_pointer(doc, spec.image_field, base64.b64encode(image).decode("ascii"))
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(doc).encode(), headers
        if spec.send == "raw":
            headers.setdefault("Content-Type", spec.content_type or mime)
            return image, headers
        boundary = "emoaudit-" + hashlib.sha256(image).hexdigest()[:24]
        parts = []
        for name, value in spec.form.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                         f"{value}\r\n".encode())  # fmt: skip
        ext = mime.rsplit("/", 1)[-1].replace("jpeg", "jpg").replace("octet-stream", "bin")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{spec.image_field}"; '
            f'filename="face.{ext}"\r\nContent-Type: {mime}\r\n\r\n'.encode()
            + image
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return b"".join(parts), headers

    # -- the wire ---------------------------------------------------------------------------------

    def _request_with_retries(self, image: bytes) -> tuple[Any, str]:
        """The answer as parsed and scrubbed, and its content type; at most 1 + retries tries."""
        body, headers = self.build_request(image)
        attempt = 0
        while True:
            attempt += 1
            try:
                self._wait_for_rate()
                with self._lock:
                    self.stats["requests"] += 1
                data, ctype = self._send(body, headers)
                # an unreadable answer is retried like a 5xx; scrubbed before anything reads it,
                # so a fresh answer and the same answer read back from the store agree
                ctype = self.scrub(ctype)  # before a message quotes it
                return self.scrub_doc(parse_json(data, ctype)), ctype
            except Final as exc:
                exc.attempts = attempt
                raise
            except Transient as exc:
                if exc.retry_after is not None and exc.retry_after > self.spec.max_retry_after_s:
                    why = RETRY_AFTER_TOO_LONG.format(
                        why=exc, seconds=exc.retry_after, limit=self.spec.max_retry_after_s
                    )
                    raise _attempts(Transient(why), attempt) from None
                if attempt > self.spec.retries:
                    raise _attempts(exc, attempt) from None
                with self._lock:
                    self.stats["retries"] += 1
                if self._stop.wait(self._backoff(attempt, exc.retry_after)):
                    raise Interrupted(INTERRUPTED) from None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (uniform 0..cap) on an exponential cap; never sooner than Retry-After."""
        cap = min(self.spec.max_backoff_s, self.spec.backoff_s * 2 ** (attempt - 1))
        wait = self._rng.uniform(0, cap)
        return max(wait, retry_after) if retry_after is not None else wait

    def _wait_for_rate(self) -> None:
        if self._stop.is_set():
            raise Interrupted(INTERRUPTED)
        if not self.spec.rate_per_s:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.spec.rate_per_s
        if start > now and self._stop.wait(start - now):
            raise Interrupted(INTERRUPTED)

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, str]:
        """One attempt, connect to last byte within timeout_s (a socket timeout bounds each read
        only: a server dripping a byte a second held a request for days), and at most
        max_answer_bytes read (an endless body reached 7.4 GB in 25 s)."""
        parts = urllib.parse.urlsplit(self._url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        timeout = self.spec.timeout_s
        conn = self._connection(parts)
        watch = self._deadlines.watch(conn, time.monotonic() + timeout)
        try:
            try:
                if conn.sock is None:
                    conn.connect()  # plain or TLS: the watchdog sees conn.sock during TLS
                watch.sock = conn.sock
                if watch.expired:  # passed while nothing was there to shut down
                    raise TimeoutError
                if self._stop.is_set():  # Ctrl-C came before there was a socket to shut down:
                    raise Interrupted(INTERRUPTED)  # interrupt() sets _stop before it aborts
                conn.request(self.spec.method, target, body=body, headers=headers)
                resp = conn.getresponse()
                status, ctype = resp.status, resp.getheader("Content-Type", "") or ""
                data = read_capped(resp, self.spec.max_answer_bytes) if status < 300 else b""
            finally:
                expired = self._deadlines.release(watch)
        except _TooLarge:
            self._drop()
            raise Final(ANSWER_TOO_LARGE.format(limit=self.spec.max_answer_bytes)) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # ValueError: http.client refuses a header value holding a line break (whose text,
            # the key, it would put in the message: only the type is kept)
            self._drop()
            if self._stop.is_set():
                raise Interrupted(INTERRUPTED) from None
            if expired or isinstance(exc, TimeoutError):
                raise Transient(TIMED_OUT.format(timeout=timeout)) from None
            raise Transient(f"connection error ({type(exc).__name__})") from None
        if expired:  # a body that ends at the cut-off (no length given) is not a whole answer
            self._drop()
            raise Transient(TIMED_OUT.format(timeout=timeout))
        if status >= 300 or resp.getheader("Connection", "").lower() == "close":
            self._drop()  # an error's body is not read: the connection cannot be reused
        if status == 429:
            raise Transient("HTTP 429 (rate limited)", retry_after(resp.getheader("Retry-After")))
        if status >= 500:
            raise Transient(f"HTTP {status}")
        if status >= 300:
            raise Final(f"HTTP {status}")
        return data, ctype

    def _connection(self, parts: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            https = parts.scheme == "https"
            cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
            conn = cls(parts.hostname, parts.port, timeout=self.spec.timeout_s)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    # -- what comes back --------------------------------------------------------------------------

    def _parse(self, doc: Any, sid: str) -> np.ndarray | Any:
        """Probabilities, or a reason (model_error), or (status, reason) for no_face/bad_output.

        Every label of the spec must have exactly one finite score: a missing one read as 0 was
        a made-up prediction, and of two values for one label json kept the last in silence.
        """
        spec = self.spec
        if spec.no_face is not None:
            face = get_pointer(doc, spec.no_face)
            if face is _MISSING or face in (None, [], {}):
                return (NO_FACE, self._reason(NO_FACE_IN_RESPONSE, sample=sid,
                                              pointer=spec.no_face))  # fmt: skip
        if spec.items is not None:
            items = get_pointer(doc, spec.items)
            if not isinstance(items, list):
                return self._reason(BAD_RESPONSE, sample=sid, why=f"has no list at {spec.items}")
            pairs = [(get_pointer(it, spec.label), get_pointer(it, spec.score)) for it in items]
        else:
            obj = get_pointer(doc, spec.scores)
            if not isinstance(obj, dict):
                why = f"has no object at {spec.scores!r}"
                return self._reason(BAD_RESPONSE, sample=sid, why=why)
            pairs = list(obj.items())
        scores = np.zeros(len(spec.labels))
        seen: set[str] = set()
        for label, score in pairs:
            number = isinstance(score, int | float) and not isinstance(score, bool)
            if not isinstance(label, str) or not number:
                pair = f"{_repr(label)}, {_repr(score)}"
                return self._reason(NOT_A_PAIR, sample=sid, pair=pair)
            if label in self._index:
                if label in seen:
                    return self._reason(REPEATED_LABEL, sample=sid, label=label)
                seen.add(label)
                value = finite(score)
                if isinstance(value, str):
                    reason = self._reason(NON_FINITE_SCORE, sample=sid, what=value, label=label)
                    return (BAD_OUTPUT, reason)
                scores[self._index[label]] = value
            elif label not in spec.ignore:
                return self._reason(UNEXPECTED_LABEL, sample=sid, label=label)
        missing = [label for label in spec.labels if label not in seen]
        if missing:
            return self._reason(MISSING_SCORE, sample=sid, label=missing[0])
        if (scores < 0).any() or scores.max() <= 0:
            return self._reason(NOT_SCORES, sample=sid)
        scores = scores / scores.max()  # two scores of 1e308 summed to inf
        return scores / scores.sum()

    def cache_key(self, image_sha256: str) -> str:
        return hashlib.sha256(
            f"image:{image_sha256}\nendpoint:{self.url_template}\nspec:{self.spec_sha256}".encode()
        ).hexdigest()

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> Any | None:
        """The stored answer, parsed; None (ask again) for one missing or unreadable.

        Answers stored before answers were re-serialised hold the body as text: a UTF-8 BOM
        kept in it made every later run stop with a JSONDecodeError.
        """
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
            body = record["body"]
            data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""
            return self.scrub_doc(parse_json(data, "application/json"))
        except (OSError, ValueError, TypeError, KeyError, RecursionError, Transient, Final):
            return None

    def _store(self, key: str, *, image_sha: str, doc: Any, ctype: str) -> None:
        """The answer as parsed (ASCII JSON), not the bytes received: whatever their encoding
        (a BOM, UTF-16), what is read back is what was scored."""
        from emoaudit.run.cache import write_text_atomic

        record = {
            "endpoint": self.url_template,
            "spec_sha256": self.spec_sha256,
            "image_sha256": image_sha,
            "content_type": ctype,
            "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "body": json.dumps(doc),
        }
        write_text_atomic(self._path(key), self.scrub(json.dumps(record)))

    def _reason(self, template: str, **fields: Any) -> str:
        """Every reason is made here: each field is scrubbed of secrets whole, then made one
        line and cut. Cutting first let a key that straddled the cut reach predictions.parquet
        (`invalid key sk-CANARY-7f3a9c2e1b4d5f6a8e`: the scrub no longer matched the rest)."""
        clean = {}
        for name, value in fields.items():
            text = self.scrub(str(value))
            if name != "sample":
                text = _CONTROL.sub(" ", text)
                text = text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 3] + "..."
            clean[name] = text
        return self.scrub(template.format(**clean))

    def scrub(self, text: str) -> str:
        """Remove every secret this model holds from `text`, in the forms an answer may echo it
        (secret_forms), in any letter case."""
        return text if self._echo is None else self._echo.sub(SCRUBBED, text)

    def scrub_doc(self, doc: Any) -> Any:
        """`doc` with every string (keys too) scrubbed: catches a key escaped as \\uXXXX. The
        walk runs only when some secret is in the answer's text at all (one C-speed dump and
        search instead of a Python call per value: a tenth of a millisecond a request)."""
        if self._echo is None:
            return doc
        if not self._echo.search(json.dumps(doc, ensure_ascii=False)):
            return doc
        return self._scrub_values(doc)

    def _scrub_values(self, doc: Any) -> Any:
        """The walk of scrub_doc, once a secret is known to be in the answer (the check is
        made once at the top, not again for every nested value)."""
        if isinstance(doc, str):
            return self.scrub(doc)
        if isinstance(doc, list):
            return [self._scrub_values(x) for x in doc]
        if isinstance(doc, dict):
            return {self.scrub(k): self._scrub_values(v) for k, v in doc.items()}
        return doc


class Deadlines:
    """One thread per model that shuts down the socket of an attempt past its deadline, which
    unblocks whatever read is waiting on it (headers or body, plain or TLS)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: dict[int, Watch] = {}
        self._thread: threading.Thread | None = None

    def watch(self, conn: http.client.HTTPConnection, deadline: float) -> Watch:
        item = Watch(conn, deadline)
        with self._cond:
            self._watches[id(item)] = item
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self._cond.notify()
        return item

    def release(self, item: Watch) -> bool:
        """Stop watching; True if the deadline passed (the answer, if any, is cut off)."""
        with self._cond:
            self._watches.pop(id(item), None)
        return item.expired

    def abort_all(self) -> None:
        for item in list(self._watches.values()):  # no lock: see HttpModel.interrupt
            item.abort()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for key, item in list(self._watches.items()):
                    if item.deadline <= now:
                        del self._watches[key]
                        item.expired = True
                        item.abort()
                nearest = min((w.deadline for w in self._watches.values()), default=None)
                self._cond.wait(None if nearest is None else max(0.001, nearest - now))


class Watch:
    """One attempt's connection and deadline; `sock` is kept because http.client drops
    conn.sock on `Connection: close` while the body is still being read from it."""

    def __init__(self, conn: http.client.HTTPConnection, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.expired = False

    def abort(self) -> None:
        for sock in (self.sock, self.conn.sock):
            if sock is not None:
                try:  # the plain socket's shutdown: SSLSocket's would tear down TLS state
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except (OSError, TypeError):
                    pass


_LIVE: weakref.WeakSet[HttpModel] = weakref.WeakSet()
_PREVIOUS_SIGINT: list[Any] = []


def hook_sigint() -> None:
    """Chain a SIGINT handler that stops every live HTTP model before the usual
    KeyboardInterrupt. Without it Ctrl-C waited for every queued request (the runner's pools
    shut down waiting for their work): 30 s later a run was still going."""
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGINT)
    if current is _on_sigint or current in (signal.SIG_IGN, None):
        return
    _PREVIOUS_SIGINT[:] = [current]
    signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum: int, frame: Any) -> Any:
    for model in list(_LIVE):
        model.interrupt()
    previous = _PREVIOUS_SIGINT[0] if _PREVIOUS_SIGINT else None
    if callable(previous):
        return previous(signum, frame)
    raise KeyboardInterrupt


def _attempts(exc: Exception, attempts: int) -> Exception:
    exc.attempts = attempts
    return exc


def _repr(value: Any) -> str:
    """repr of a JSON value, bounded: a list of a million numbers is not printed whole."""
    if isinstance(value, list | dict) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)}>"
    return repr(value)


def finite(score: int | float) -> float | str:
    """The score as a float, or what is wrong with it (json reads NaN, Infinity and integers
    of any length: float(10**400) raised OverflowError and stopped the run)."""
    try:
        value = float(score)
    except OverflowError:
        return "too large for a float"
    if math.isnan(value):
        return "NaN"
    return value if math.isfinite(value) else "infinite"


def header_secrets(headers: dict[str, str]) -> list[str]:
    """Header values that may be credentials (all but a few standard ones), whole and each
    word of 8 characters or more (`Bearer <token>`)."""
    out = []
    for name, value in headers.items():
        if name.lower() in PUBLIC_HEADERS:
            continue
        out.append(value)
        out.extend(word for word in value.split() if len(word) >= 8)
    return out


def secret_forms(secrets: list[str]) -> list[str]:
    """Each secret as an answer or a message may spell it (as sent, JSON-escaped with or
    without ``\\/``, URL-encoded, and each of those as repr() shows it), longest first.

    Transformed echoes too: the secret base64-encoded (a server quoting the Authorization
    header it got), and a base64 credential decoded, whole and each part of ``user:password``
    (a server may quote a Basic-auth credential back as it decoded it). Letter case is left to
    the pattern (secret_pattern): a message may quote a key upper- or lower-cased."""
    forms: set[str] = set()
    expanded = list(secrets)
    for secret in secrets:
        encoded = secret.encode()
        forms |= {
            base64.b64encode(encoded).decode(),
            base64.urlsafe_b64encode(encoded).decode(),
        }
        forms |= {form.rstrip("=") for form in forms}
        expanded += _decoded_credential(secret)
    for secret in expanded:
        escaped = json.dumps(secret)[1:-1]
        spellings = {
            secret,
            escaped,
            escaped.replace("/", "\\/"),
            json.dumps(secret, ensure_ascii=False)[1:-1],
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote(secret),
            urllib.parse.quote_plus(secret),
        }
        forms |= spellings | {repr(form)[1:-1] for form in spellings}
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def _decoded_credential(secret: str) -> list[str]:
    """A base64 credential's text and its ``user:password`` parts ([] if not one)."""
    if len(secret) < 8 or len(secret) % 4:
        return []
    try:
        text = base64.b64decode(secret, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return []
    if not text.isprintable():
        return []
    return [text, *text.split(":", 1)] if ":" in text else [text]


def secret_pattern(forms: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for every form, longest first (so a longer spelling is
    removed whole before a shorter one inside it could leave its rest); None: no secrets."""
    if not forms:
        return None
    return re.compile("|".join(map(re.escape, forms)), re.IGNORECASE)


def read_capped(resp: http.client.HTTPResponse, limit: int) -> bytes:
    """The body, or _TooLarge as soon as it passes `limit` bytes (a declared length is
    checked before reading)."""
    if resp.length is not None and resp.length > limit:
        raise _TooLarge
    buf = bytearray()
    while len(buf) <= limit:
        chunk = resp.read(min(1 << 16, limit + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
    if len(buf) > limit:
        raise _TooLarge
    return bytes(buf)


def parse_json(body: bytes, ctype: str) -> Any:
    """The answer as JSON; a wrong content type or malformed body is Transient (retried), an
    ambiguous one (a key twice) or one nested past MAX_DEPTH is Final."""
    if "json" not in ctype.lower():
        raise Transient(NOT_JSON.format(ctype=ctype or "missing"))
    try:
        doc = json.loads(body, object_pairs_hook=_unique_keys)  # the encoding: RFC 8259 rules
    except _DuplicateKey as exc:
        raise Final(DUPLICATE_KEY.format(key=exc.key)) from None
    except RecursionError:
        raise Final(TOO_DEEP.format(depth=MAX_DEPTH)) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int over 4300 digits
        raise Transient(MALFORMED.format(why=exc)) from None
    if too_deep(doc):
        raise Final(TOO_DEEP.format(depth=MAX_DEPTH))
    return doc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return doc


def too_deep(doc: Any) -> bool:
    """Nested past MAX_DEPTH (walked with a stack: the walk itself must not recurse)."""
    stack = [(doc, 1)] if isinstance(doc, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo else None


def encode_image(face: np.ndarray, *, encoding: str, quality: int = 95) -> bytes:
    """PNG (lossless, the default) or JPEG bytes of an RGB or gray uint8 image."""
    import cv2

    img = face if face.ndim == 2 else np.ascontiguousarray(face[..., ::-1])
    if encoding == "png":
        ok, buf = cv2.imencode(".png", img)
    else:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ModelError(f"could not encode a {face.shape} face as {encoding}")
    return buf.tobytes()


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"), (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"),
          (b"MM\x00*", "image/tiff"))  # fmt: skip


def image_type(data: bytes) -> str:
    """MIME type from the first bytes (faces are PNG or JPEG; a stored photo may be anything)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    return "application/octet-stream"


@lru_cache(maxsize=256)
def _tokens(pointer: str) -> tuple[str, ...]:
    """A spec's pointers are few and read for every face: split once."""
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:])


def get_pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901 lookup; _MISSING where the path does not exist."""
    for token in _tokens(pointer):
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return _MISSING
    return doc


def set_pointer(doc: dict, pointer: str, value: Any) -> None:
    """Set `value` at an object path, creating intermediate objects (for the request body)."""
    tokens = _tokens(pointer)
    for token in tokens[:-1]:
        doc = doc.setdefault(token, {})
    doc[tokens[-1]] = value
