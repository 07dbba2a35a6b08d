"""Protocols: alternative, equally defensible preprocessing a model is also run under.

Published accuracies move with preprocessing that papers rarely state (how a face is resized,
how much margin its crop has, which detector found it, RGB or BGR order, which gray weights).
`--protocols standard` runs every model once more per protocol below, on the clean images;
analysis/sensitivity.py then reports how far each headline number moves: the range across
protocols and the paired difference from the default, with intervals.

A protocol is a condition named ``protocol:<key>=<value>``, so it is cached, resumed and stored
exactly like a perturbation (one shard per chunk x model x condition; the name is in the cache
key). One protocol changes one thing relative to the run's default:

* ``resize=``: OpenCV ``bilinear`` (no antialiasing), OpenCV ``area``, OpenCV ``nearest``, or
  ``pil`` (Pillow's bilinear, which antialiases when it shrinks);
* ``color=swap``: the model receives BGR where it expects RGB (and a gray model weights the
  channels in swapped order);
* ``gray=``: ``mean`` (equal weights) or ``bt709`` (0.2126, 0.7152, 0.0722) instead of the
  model's own (gray models only; a colour model is unchanged);
* ``margin=`` 0, 0.1 or 0.25 around the detected box, with the run's detector;
* ``detector=`` ``blazeface`` or ``haar``, with the detector's own margin.

``margin`` and ``detector`` protocols detect again on the decoded image. For a dataset of given
crops (FER2013, CK+48, --precropped) the default is the given crop and these protocols run a
detector on the crop, as some libraries do (the fer package does; FER+ papers do not). A protocol
that equals the model's default (resize=bilinear for fer) reproduces the default: a built-in
check, its difference is zero.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from emoaudit.errors import EmoauditError

PREFIX = "protocol:"
# key -> allowed values, in report order
CHOICES: dict[str, tuple[str, ...]] = {
    "resize": ("bilinear", "area", "nearest", "pil_bilinear"),
    "color": ("swap",),
    "gray": ("mean", "bt709"),
    "margin": ("0", "0.1", "0.25"),
    "detector": ("blazeface", "haar"),
}
GRAY_WEIGHTS = {"mean": (1 / 3, 1 / 3, 1 / 3), "bt709": (0.2126, 0.7152, 0.0722)}
FACE_KEYS = ("margin", "detector")
STANDARD = tuple(f"{PREFIX}{k}={v}" for k, vs in CHOICES.items() for v in vs)
BAD_PROTOCOL = (
    "protocol '{token}': {why}; expected 'standard' or KEY=VALUE items "
    "(resize=bilinear|area|nearest|pil_bilinear, color=swap, gray=mean|bt709, margin=0|0.1|0.25, "
    "detector=blazeface|haar)"
)


def is_protocol(condition: str) -> bool:
    return condition.startswith(PREFIX)


def is_face_protocol(condition: str) -> bool:
    """A protocol that finds faces its own way (margin, detector): its misses are its own."""
    return is_protocol(condition) and split_protocol(condition)[0] in FACE_KEYS


def split_protocol(condition: str) -> tuple[str, str]:
    """``"protocol:resize=area"`` -> ``("resize", "area")``, one-line error when malformed."""
    token = condition[len(PREFIX) :] if is_protocol(condition) else condition
    key, sep, value = token.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or key not in CHOICES:
        raise EmoauditError(BAD_PROTOCOL.format(token=token, why="unknown key"))
    if value not in CHOICES[key]:
        why = f"{key} must be one of {', '.join(CHOICES[key])}"
        raise EmoauditError(BAD_PROTOCOL.format(token=token, why=why))
    return key, value


def parse_protocols(spec: str | None) -> list[str]:
    """``standard``, ``none`` or a comma-separated list such as ``resize=area,color=swap``."""
    if spec is None or spec.strip() in ("", "none"):
        return []
    out: list[str] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if token == "standard":
            out.extend(STANDARD)
            continue
        key, value = split_protocol(token)
        out.append(f"{PREFIX}{key}={value}")
    return list(dict.fromkeys(out))


def input_spec(spec: Any, condition: str) -> Any:
    """The model's InputSpec as this protocol changes it (unchanged for face protocols)."""
    key, value = split_protocol(condition)
    if key == "resize":
        return dataclasses.replace(spec, resize=value)
    if key == "color":
        if spec.color == "gray":
            return dataclasses.replace(spec, gray_weights=tuple(spec.gray_weights)[::-1])
        return dataclasses.replace(spec, color="bgr" if spec.color == "rgb" else "rgb")
    if key == "gray":
        if spec.color != "gray":
            return spec
        return dataclasses.replace(spec, gray_weights=GRAY_WEIGHTS[value])
    return spec


def face_settings(condition: str, *, detector: str) -> tuple[str, float | None] | None:
    """(detector, margin) a face protocol detects with; None for a preprocessing protocol."""
    key, value = split_protocol(condition)
    if key == "margin":
        return detector, float(value)
    if key == "detector":
        return value, None
    return None
