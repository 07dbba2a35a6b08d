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
  and every reason are scrubbed of the values, and header values are never recorded.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import numpy as np

from emoaudit.data.base import NO_FACE
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
_MISSING = object()


class Transient(Exception):
    """A failure worth retrying (429, 5xx, timeout, unreadable answer)."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class Final(Exception):
    """A failure that asking again will not fix (400, 401, 403, 404, ...)."""


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

    # -- the runner's entry point -------------------------------------------------------------

    def predict_faces(
        self, faces: list[np.ndarray], *, samples: list, condition: str
    ) -> tuple[np.ndarray, dict[int, Any]]:
        """Probabilities per face (NaN where it failed) and {index: reason or (status, reason)}."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="http")
        futures = [
            self._pool.submit(self._one, face, sample, condition)
            for face, sample in zip(faces, samples, strict=True)
        ]
        probs = np.full((len(faces), len(self.info.labels)), np.nan)
        errors: dict[int, Any] = {}
        for i, future in enumerate(futures):
            result = future.result()
            if isinstance(result, np.ndarray):
                probs[i] = result
            else:
                errors[i] = result
        return probs, errors

    def _one(self, face: np.ndarray, sample: Any, condition: str) -> np.ndarray | Any:
        sid = sample.sample_id
        if self.spec.image == "photo" and condition != "clean":
            return PHOTO_NEEDS_CLEAN.format(sample=sid, condition=condition)
        image = self._image_bytes(face, sample)
        if image is None:
            return NO_PHOTO.format(sample=sid)
        key = self.cache_key(hashlib.sha256(image).hexdigest())
        stored = self._cached(key)
        if stored is not None:
            with self._lock:
                self.stats["cache_hits"] += 1
            return self._parse(json.loads(stored["body"]), sid)
        try:
            body, ctype, attempts = self._request_with_retries(image)
            doc = parse_json(body, ctype)
        except (Transient, Final) as exc:
            with self._lock:
                self.stats["failed"] += 1
            attempts = getattr(exc, "attempts", 1)
            return self.scrub(REQUEST_FAILED.format(sample=sid, attempts=attempts, why=exc))
        result = self._parse(doc, sid)
        if isinstance(result, np.ndarray) or isinstance(result, tuple):
            self._store(key, image_sha=hashlib.sha256(image).hexdigest(), body=body, ctype=ctype)
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

    def _request_with_retries(self, image: bytes) -> tuple[bytes, str, int]:
        body, headers = self.build_request(image)
        attempt = 0
        while True:
            attempt += 1
            try:
                self._wait_for_rate()
                with self._lock:
                    self.stats["requests"] += 1
                data, ctype = self._send(body, headers)
                parse_json(data, ctype)  # an unreadable answer is retried like a 5xx
                return data, ctype, attempt
            except Final as exc:
                exc.attempts = attempt
                raise
            except Transient as exc:
                if attempt > self.spec.retries:
                    exc.attempts = attempt
                    raise
                if exc.retry_after is not None and exc.retry_after > self.spec.max_retry_after_s:
                    exc.attempts = attempt
                    raise
                with self._lock:
                    self.stats["retries"] += 1
                time.sleep(self._backoff(attempt, exc.retry_after))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (uniform 0..cap) on an exponential cap; never sooner than Retry-After."""
        cap = min(self.spec.max_backoff_s, self.spec.backoff_s * 2 ** (attempt - 1))
        wait = self._rng.uniform(0, cap)
        return max(wait, retry_after) if retry_after is not None else wait

    def _wait_for_rate(self) -> None:
        if not self.spec.rate_per_s:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.spec.rate_per_s
        if start > now:
            time.sleep(start - now)

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, str]:
        parts = urllib.parse.urlsplit(self._url)
        conn = self._connection(parts)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(self.spec.method, target, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError:
            self._drop()
            raise Transient(f"timed out after {self.spec.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise Transient(f"connection error ({type(exc).__name__})") from None
        if resp.getheader("Connection", "").lower() == "close":
            self._drop()
        status, ctype = resp.status, resp.getheader("Content-Type", "") or ""
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
        spec = self.spec
        if spec.no_face is not None:
            face = get_pointer(doc, spec.no_face)
            if face is _MISSING or face in (None, [], {}):
                return (NO_FACE, NO_FACE_IN_RESPONSE.format(sample=sid, pointer=spec.no_face))
        if spec.items is not None:
            items = get_pointer(doc, spec.items)
            if not isinstance(items, list):
                return BAD_RESPONSE.format(sample=sid, why=f"has no list at {spec.items}")
            pairs = [(get_pointer(it, spec.label), get_pointer(it, spec.score)) for it in items]
        else:
            obj = get_pointer(doc, spec.scores)
            if not isinstance(obj, dict):
                return BAD_RESPONSE.format(sample=sid, why=f"has no object at {spec.scores}")
            pairs = list(obj.items())
        scores = np.zeros(len(spec.labels))
        for label, score in pairs:
            number = isinstance(score, int | float) and not isinstance(score, bool)
            if not isinstance(label, str) or not number:
                why = f"has a label/score pair that is not (text, number): {label!r}, {score!r}"
                return self.scrub(BAD_RESPONSE.format(sample=sid, why=why[:200]))
            if label in self._index:
                scores[self._index[label]] = float(score)
            elif label not in spec.ignore:
                return self.scrub(UNEXPECTED_LABEL.format(sample=sid, label=label[:40]))
        total = scores.sum()
        if not np.isfinite(total) or total <= 0 or (scores < 0).any():
            return BAD_RESPONSE.format(sample=sid, why="scores are negative or sum to zero")
        return scores / total

    def cache_key(self, image_sha256: str) -> str:
        return hashlib.sha256(
            f"image:{image_sha256}\nendpoint:{self.url_template}\nspec:{self.spec_sha256}".encode()
        ).hexdigest()

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> dict | None:
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _store(self, key: str, *, image_sha: str, body: bytes, ctype: str) -> None:
        from emoaudit.run.cache import write_text_atomic

        record = {
            "endpoint": self.url_template,
            "spec_sha256": self.spec_sha256,
            "image_sha256": image_sha,
            "content_type": ctype,
            "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "body": self.scrub(body.decode("utf-8", errors="replace")),
        }
        write_text_atomic(self._path(key), json.dumps(record))

    def scrub(self, text: str) -> str:
        """Remove every secret value this model holds from `text`."""
        for secret in self._secrets:
            text = text.replace(secret, SCRUBBED)
        return text


def parse_json(body: bytes, ctype: str) -> Any:
    """The answer as JSON; a wrong content type or malformed body is Transient (retried)."""
    if "json" not in ctype.lower():
        raise Transient(f"answer is not JSON (content type {ctype[:60] or 'missing'!r})")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Transient(f"malformed JSON ({str(exc)[:80]})") from None


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
    except (TypeError, ValueError):
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


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


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
