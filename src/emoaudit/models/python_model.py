"""Any Python object with ``labels`` and ``predict(faces) -> probabilities`` as an audited model.

A PyTorch, Keras, scikit-learn or Hugging Face model a user holds in a notebook should need no
export to be audited, so the contract is the smallest one that still says what ran: the object
receives the face crops (a list of uint8 H x W x 3 RGB arrays, sizes as cropped unless ``size``
is given) and returns one row of probabilities (or logits) per face in ``labels`` order.
scikit-learn's convention is accepted as well: ``predict_proba`` is called when the object has
it (``predict`` there returns classes, not probabilities) and ``classes_`` stands in for
``labels``, so a Pipeline that flattens the crops and ends in a classifier can be passed as is.

Caching. The runner reuses prediction shards by model identity. An ONNX file is identified by
its bytes; a Python object has none that can be trusted, so its identity is the ``name`` plus
the ``version`` the user gives, or a ``digest`` the user computes (e.g. the sha256 of a weights
file). Without either, every run gets a fresh identity and nothing is reused: a stale cache
would silently audit yesterday's weights.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emoaudit.errors import ModelError
from emoaudit.taxonomy import CANONICAL, canonical

NOT_A_MODEL = (
    "model {name!r}: a Python model needs `labels` (names in output order) and "
    "`predict(faces) -> probabilities`; got {kind}"
)
BAD_LABEL = "model '{name}': label '{label}' is not an expression name ({known})"
REPEATED_LABEL = "model '{name}': label '{label}' repeats '{canonical}'"
BAD_OUTPUT = "model '{name}': predict() returned {got}; expected {expected}"
PREDICT_FAILED = "model '{name}': predict() raised {error}"
BAD_SIZE = "model '{name}': size must be (height, width) in pixels, got {size!r}"
BAD_OUTPUT_KIND = "model '{name}': outputs must be 'probs' or 'logits', got {kind!r}"
PROB_TOLERANCE = 1e-3  # rows of "probabilities" must sum to 1 within this


@dataclass(frozen=True)
class RawFaces:
    """Stands in for InputSpec for models that take crops as they are: the runner puts
    ``as_dict()`` in the cache key and provenance, so it holds what changes the model's input."""

    kind: str  # "python" or "http"
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"raw_faces": self.kind, **self.detail}


@dataclass(frozen=True)
class ExternalInfo:
    """The ModelInfo fields the runner reads, for models that are not ONNX files."""

    name: str
    labels: tuple[str, ...]
    input: RawFaces
    source: dict = field(default_factory=dict)
    outputs_probabilities: bool = True


class PythonModel:
    """Wraps a user's object for the runner (``emoaudit.audit(..., models=[obj])``).

    Pass ``name`` with ``version`` (or ``digest``) to let reruns reuse cached predictions; the
    object's own ``name`` / ``version`` attributes are used when present. ``size`` resizes every
    crop (PIL, antialiased) to (height, width) first, for models that need one input size.
    ``threadsafe=False`` (default) serialises predict() calls: the runner has several workers.
    """

    def __init__(
        self,
        obj: Any,
        *,
        name: str | None = None,
        version: str | None = None,
        digest: str | None = None,
        size: tuple[int, int] | None = None,
        outputs: str = "probs",
        threadsafe: bool = False,
    ) -> None:
        name = name or getattr(obj, "name", None) or type(obj).__name__
        labels = getattr(obj, "labels", None)
        labels = getattr(obj, "classes_", None) if labels is None else labels
        method = getattr(obj, "predict_proba", None) or getattr(obj, "predict", None)
        if labels is None or not callable(method):
            raise ModelError(NOT_A_MODEL.format(name=name, kind=type(obj).__name__))
        if outputs not in ("probs", "logits"):
            raise ModelError(BAD_OUTPUT_KIND.format(name=name, kind=outputs))
        if size is not None and not _is_size(size):
            raise ModelError(BAD_SIZE.format(name=name, size=size))
        version = version or _attr_str(obj, "version")
        self.obj = obj
        self._predict = method
        self.size = tuple(size) if size is not None else None
        self._lock = None if threadsafe else threading.Lock()
        self.sha256, cache = identity(name, version=version, digest=digest)
        self.info = ExternalInfo(
            name=str(name),
            labels=model_labels(labels, name=str(name)),
            input=RawFaces("python", {"size": list(self.size) if self.size else None}),
            source={
                "python": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "method": method.__name__,
                "version": version,
                "digest": digest,
                "cache": cache,
            },
            outputs_probabilities=outputs == "probs",
        )

    def predict_faces(
        self, faces: list[np.ndarray], *, samples: list, condition: str
    ) -> tuple[np.ndarray, dict[int, str]]:
        """(n, n_labels) probabilities and no per-face failures: an exception in the user's
        code is a bug there, reported once as a ModelError rather than hidden in rows."""
        batch = [self._face(f) for f in faces]
        try:
            if self._lock is None:
                raw = self._predict(batch)
            else:
                with self._lock:
                    raw = self._predict(batch)
        except Exception as exc:  # the user's code: any exception, one line
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            raise ModelError(PREDICT_FAILED.format(name=self.info.name, error=error)) from exc
        return check_probabilities(raw, n=len(faces), info=self.info), {}

    def _face(self, face: np.ndarray) -> np.ndarray:
        rgb = np.repeat(face[:, :, None], 3, axis=2) if face.ndim == 2 else face
        if self.size is None or rgb.shape[:2] == self.size:
            # a copy: the user's code may write into it, and every model shares the face
            return rgb.copy() if rgb is face else rgb
        from PIL import Image

        h, w = self.size
        return np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.LANCZOS))


def identity(name: str, *, version: str | None, digest: str | None) -> tuple[str, str]:
    """(the sha256 the cache keys use, how it was made); without version or digest, random."""
    if digest:
        return hashlib.sha256(f"digest:{digest}".encode()).hexdigest(), "digest"
    if version:
        return hashlib.sha256(f"name:{name}\nversion:{version}".encode()).hexdigest(), "version"
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest(), "off (no version or digest given)"


def model_labels(raw: Any, *, name: str) -> tuple[str, ...]:
    """Canonical label names in output order; unknown or repeated names are refused."""
    if isinstance(raw, str) or not hasattr(raw, "__iter__"):
        raise ModelError(NOT_A_MODEL.format(name=name, kind=f"labels={raw!r}"))
    out: list[str] = []
    for label in raw:
        mapped = canonical(str(label))
        if mapped is None:
            raise ModelError(BAD_LABEL.format(name=name, label=label, known=", ".join(CANONICAL)))
        if mapped in out:
            raise ModelError(REPEATED_LABEL.format(name=name, label=label, canonical=mapped))
        out.append(mapped)
    if not out:
        raise ModelError(NOT_A_MODEL.format(name=name, kind="an empty label list"))
    return tuple(out)


def check_probabilities(raw: Any, *, n: int, info: Any) -> np.ndarray:
    """(n, n_labels) float64 probabilities, or a one-line ModelError saying what came back."""
    k = len(info.labels)
    kind = "probabilities" if info.outputs_probabilities else "logits"
    expected = f"a ({n}, {k}) array of {kind}"
    try:
        arr = np.asarray(raw)
        if arr.dtype.kind == "c":  # a cast to float would drop the imaginary part in silence
            raise ModelError(BAD_OUTPUT.format(name=info.name, got="complex numbers",
                                               expected=expected))  # fmt: skip
        arr = arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError):  # ragged, text, an int too big for a float
        raise ModelError(BAD_OUTPUT.format(name=info.name, got=type(raw).__name__,
                                           expected=expected)) from None  # fmt: skip
    if arr.shape != (n, k):
        got = f"shape {arr.shape}"
        raise ModelError(BAD_OUTPUT.format(name=info.name, got=got, expected=expected))
    if not np.isfinite(arr).all():
        raise ModelError(BAD_OUTPUT.format(name=info.name, got="NaN or inf", expected=expected))
    if not info.outputs_probabilities:
        z = np.exp(arr - arr.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    if n and ((arr < 0).any() or np.abs(arr.sum(axis=1) - 1).max() > PROB_TOLERANCE):
        got = "rows that are not probabilities (negative or not summing to 1)"
        expected += "; pass outputs='logits'"
        raise ModelError(BAD_OUTPUT.format(name=info.name, got=got, expected=expected))
    return arr


def _is_size(size: Any) -> bool:
    return (
        isinstance(size, tuple | list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    )


def _attr_str(obj: Any, attr: str) -> str | None:
    value = getattr(obj, attr, None)
    return None if value is None or callable(value) else str(value)
