"""The TOML spec of a black-box HTTP model (``--model http+json:URL --model-spec api.toml``).

A vendor API is described as data: how an image is sent, which headers go with it (``${VAR}``
is replaced from the environment when the request is made, so keys live in the environment
and never in a file emoaudit writes), where labels and scores sit in the JSON response (JSON
pointers, RFC 6901), and how hard to push the service. Everything is validated up front with a
one-line error naming the spec file, because a misread spec would give a confident wrong audit.
The format is documented in docs/model-spec.md; docs/examples/rekognition.toml is a ready one.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoaudit.errors import BAD_MODEL_SPEC, MISSING_PATH, ModelError
from emoaudit.taxonomy import CANONICAL, canonical

ENV_MISSING = "{path}: environment variable ${{{var}}} used in [{where}] is not set"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TABLES: dict[str, set[str]] = {
    "model": {"name", "version"},
    "request": {
        "method", "send", "image", "encoding", "jpeg_quality", "field", "content_type",
        "timeout_s", "json", "form",
    },
    "headers": set(),  # any header name
    "response": {"items", "label", "score", "scores", "labels", "ignore", "map", "no_face"},
    "limits": {
        "concurrency", "rate_per_s", "retries", "backoff_s", "max_backoff_s", "max_retry_after_s",
        "max_answer_bytes",
    },
}  # fmt: skip
# An emotion answer is a few hundred bytes (Rekognition's DetectFaces with every attribute and
# landmark: about 5 KB a face); 4 MiB leaves room for a hundred faces and bounds what a broken or
# hostile endpoint can make emoaudit hold (an endless body reached 7.4 GB in 25 s without it).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_CHOICES = {
    "send": ("base64_json", "multipart", "raw"),
    "image": ("face", "photo"),
    "encoding": ("png", "jpeg"),
    "method": ("POST", "PUT"),
}


@dataclass(frozen=True)
class HttpSpec:
    """A validated spec; ``text`` (the file as written, ``${VAR}`` unexpanded) is hashed into
    the cache key, so editing the spec never reuses answers given to the old one."""

    path: Path
    text: str
    name: str | None = None
    version: str | None = None
    method: str = "POST"
    send: str = "base64_json"
    image: str = "face"
    encoding: str = "png"
    jpeg_quality: int = 95
    image_field: str = "/image"  # [request] field: JSON pointer, or multipart form field name
    content_type: str | None = None  # raw: defaults to the image type
    timeout_s: float = 30.0
    json_body: dict = field(default_factory=dict)
    form: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)  # templates: "${VAR}" kept unexpanded
    items: str | None = None  # pointer to a list of {label, score} objects
    label: str = "/label"
    score: str = "/score"
    scores: str | None = None  # pointer to an object {label: score}
    labels: tuple[str, ...] = ()  # vendor names in output order (those with a canonical name)
    canonical_labels: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()  # vendor labels dropped (no canonical counterpart), stated
    no_face: str | None = None  # pointer whose absence or emptiness means "no face found"
    concurrency: int = 4
    rate_per_s: float | None = None
    retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    max_answer_bytes: int = MAX_ANSWER_BYTES

    def as_dict(self) -> dict:
        """What provenance records: the shape of the API, never header values."""
        return {
            "spec": str(self.path),
            "send": self.send,
            "image": self.image,
            "encoding": self.encoding,
            "labels": list(self.labels),
            "ignore": list(self.ignore),
            "headers": sorted(self.headers),  # names only
        }


def read_http_spec(path: Path) -> HttpSpec:
    """Parse and validate an API spec; ModelError (one line, naming `path`) on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(MISSING_PATH.format(path=path))
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(BAD_MODEL_SPEC.format(path=path, why=f"not TOML ({exc})")) from None
    for table, value in raw.items():
        if table not in _TABLES or not isinstance(value, dict):
            _bad(path, f"unknown table [{table}] (expected {', '.join(sorted(_TABLES))})")
        extra = sorted(set(value) - _TABLES[table]) if _TABLES[table] else []
        if extra:
            _bad(path, f"unknown key '{extra[0]}' in [{table}]")
    if "response" not in raw:
        _bad(path, "missing table [response]")
    kw: dict[str, Any] = {"path": path, "text": text}
    kw.update(_model(path, raw.get("model", {})))
    kw.update(_request(path, raw.get("request", {})))
    kw["headers"] = _headers(path, raw.get("headers", {}))
    kw.update(_response(path, raw["response"]))
    kw.update(_limits(path, raw.get("limits", {})))
    return HttpSpec(**kw)


def expand(template: str, *, path: Path, where: str) -> str:
    """Replace ``${VAR}`` from the environment at request time; a missing one is an error."""

    def sub(match: re.Match) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ModelError(ENV_MISSING.format(path=path, var=match.group(1), where=where))
        return value

    return _VAR.sub(sub, template)


def secrets_in(templates: list[str]) -> list[str]:
    """Environment values a request carries: scrubbed from anything emoaudit writes or says."""
    out = []
    for template in templates:
        for var in _VAR.findall(template):
            value = os.environ.get(var)
            if value and len(value) >= 4:
                out.append(value)
    return out


def _bad(path: Path, why: str):
    raise ModelError(BAD_MODEL_SPEC.format(path=path, why=why))


def _model(path: Path, table: dict) -> dict:
    out = {}
    for key in ("name", "version"):
        if key in table:
            if not isinstance(table[key], str | int | float) or isinstance(table[key], bool):
                _bad(path, f"[model] {key} must be a string")
            out[key] = str(table[key])
    return out


def _request(path: Path, table: dict) -> dict:
    out: dict[str, Any] = {}
    for key, allowed in _CHOICES.items():
        if key in table:
            value = table[key]
            if key == "method" and isinstance(value, str):
                value = value.upper()
            if value not in allowed:
                why = f"[request] {key} must be one of {', '.join(allowed)}, got {table[key]!r}"
                _bad(path, why)
            out[key] = value
    for key, name in (("field", "image_field"), ("content_type", "content_type")):
        if key in table:
            if not isinstance(table[key], str) or not table[key]:
                _bad(path, f"[request] {key} must be a non-empty string")
            out[name] = table[key]
    send = out.get("send", "base64_json")
    if send == "base64_json" and not out.get("image_field", "/image").startswith("/"):
        _bad(path, "[request] field must be a JSON pointer such as '/Image/Bytes' for base64_json")
    if send == "multipart" and "image_field" not in out:
        out["image_field"] = "image"
    if "timeout_s" in table:
        out["timeout_s"] = _positive(path, table["timeout_s"], "request", "timeout_s")
    if "jpeg_quality" in table:
        q = table["jpeg_quality"]
        if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= 100:
            _bad(path, f"[request] jpeg_quality must be an integer 1-100, got {q!r}")
        out["jpeg_quality"] = q
    for key, name in (("json", "json_body"), ("form", "form")):
        if key in table:
            if not isinstance(table[key], dict):
                _bad(path, f"[request] {key} must be a table")
            out[name] = table[key]
    return out


def _headers(path: Path, table: dict) -> dict:
    for name, value in table.items():
        if not isinstance(value, str):
            _bad(path, f"[headers] {name} must be a string (use ${{VAR}} for secrets)")
    return dict(table)


def _response(path: Path, table: dict) -> dict:
    out: dict[str, Any] = {}
    if ("items" in table) == ("scores" in table):
        _bad(path, "[response] needs exactly one of items (a list of label/score objects) "
                   "or scores (an object of label: score)")  # fmt: skip
    for key in ("items", "label", "score", "scores", "no_face"):
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not (value == "" or value.startswith("/")):
                _bad(path, f"[response] {key} must be a JSON pointer ('' or starting with /)")
            out[key] = table[key]
    mapping = table.get("map", {})
    if not isinstance(mapping, dict):
        _bad(path, "[response] map must be a table of vendor label = canonical label")
    ignore = table.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
        _bad(path, "[response] ignore must be a list of vendor label names")
    raw = table.get("labels")
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        _bad(path, "[response] labels must be a non-empty list of the vendor's label names")
    vendor, mapped = [], []
    for name in raw:
        if name in ignore:
            continue
        target = canonical(str(mapping.get(name, name)))
        if target is None:
            _bad(path, f"[response] label '{name}' has no canonical expression "
                       f"({', '.join(CANONICAL)}); map it to one or list it in ignore")  # fmt: skip
        if target in mapped:
            _bad(path, f"[response] label '{name}' repeats '{target}'")
        vendor.append(name)
        mapped.append(target)
    if not vendor:
        _bad(path, "[response] every label is ignored; nothing left to audit")
    out.update(labels=tuple(vendor), canonical_labels=tuple(mapped), ignore=tuple(ignore))
    return out


def _limits(path: Path, table: dict) -> dict:
    out: dict[str, Any] = {}
    for key in ("concurrency", "retries", "max_answer_bytes"):
        if key in table:
            value = table[key]
            low = 0 if key == "retries" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                _bad(path, f"[limits] {key} must be an integer >= {low}, got {value!r}")
            out[key] = value
    for key in ("rate_per_s", "backoff_s", "max_backoff_s", "max_retry_after_s"):
        if key in table:
            out[key] = _positive(path, table[key], "limits", key)
    return out


def _positive(path: Path, value: Any, table: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        _bad(path, f"[{table}] {key} must be a positive number, got {value!r}")
    return float(value)
