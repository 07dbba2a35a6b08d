"""Conditions: what `--conditions` names, and how one condition turns a face crop into pixels.

A condition is ``clean`` or ``family:severity``. ``clean`` always comes first because every
robustness measure is a paired difference from it. The rng is salted with the family only, so
one sample sees the same noise pattern, patch position or rotation direction at every severity:
severities then differ only in strength, and a flip between severities is not a new dice roll.
"""

from __future__ import annotations

import difflib

import numpy as np

from emoaudit.errors import EmoauditError
from emoaudit.perturb import GROUPS, PERTURBATIONS
from emoaudit.perturb.base import rng
from emoaudit.registry import DID_YOU_MEAN, UNKNOWN_NAME

CLEAN = "clean"
BAD_CONDITION = (
    "condition '{token}': {why}; expected clean, a group ({groups}), FAMILY or FAMILY:SEVERITY"
)


def _unknown(name: str) -> EmoauditError:
    known = sorted(set(PERTURBATIONS.names()) | set(GROUPS) | {CLEAN})
    msg = UNKNOWN_NAME.format(kind="perturbation", name=name, known=", ".join(known))
    guess = difflib.get_close_matches(name, known, n=1)
    if guess:
        msg += DID_YOU_MEAN.format(guess=guess[0])
    return EmoauditError(msg)


def family_conditions(family: str) -> list[str]:
    """Every condition of one family, e.g. ``jpeg:1`` ... ``jpeg:5`` (``flip:1`` only)."""
    if family not in PERTURBATIONS:
        raise _unknown(family)
    severities = PERTURBATIONS.meta(family).get("severities", (1, 2, 3, 4, 5))
    return [f"{family}:{s}" for s in severities]


def split_condition(condition: str) -> tuple[str, int]:
    """``"jpeg:3"`` -> ``("jpeg", 3)``, with a one-line error for anything malformed."""
    family, sep, sev = condition.partition(":")
    if not sep or not sev.strip().isdigit():
        groups = ", ".join(GROUPS)
        raise EmoauditError(
            BAD_CONDITION.format(token=condition, why="not FAMILY:SEVERITY", groups=groups)
        )
    family, severity = family.strip(), int(sev)
    allowed = family_conditions(family)
    if f"{family}:{severity}" not in allowed:
        why = f"severity must be one of {', '.join(c.split(':')[1] for c in allowed)}"
        raise EmoauditError(
            BAD_CONDITION.format(token=condition, why=why, groups=", ".join(GROUPS))
        )
    return family, severity


def parse_conditions(spec: str) -> list[str]:
    """Parse ``standard``, ``resolution,jpeg``, ``jpeg:3``, or any comma-separated mix.

    Returns ordered, de-duplicated condition names starting with ``clean``.
    """
    out: list[str] = [CLEAN]
    for token in (t.strip() for t in spec.split(",")):
        if not token or token == CLEAN:
            continue
        if token in GROUPS:
            for family in GROUPS[token]:
                out.extend(family_conditions(family))
        elif ":" in token:
            family, severity = split_condition(token)
            out.append(f"{family}:{severity}")
        else:
            out.extend(family_conditions(token))
    return list(dict.fromkeys(out))


def apply_condition(image: np.ndarray, condition: str, *, sample_id: str, seed: int) -> np.ndarray:
    """The face crop under `condition`; a grey (H, W) crop is perturbed as RGB and returned grey."""
    if condition == CLEAN:
        return image
    family, severity = split_condition(condition)
    fn = PERTURBATIONS.get(family)
    gen = rng(sample_id, seed, salt=family)
    if image.ndim == 2:
        import cv2

        rgb = np.repeat(np.ascontiguousarray(image)[:, :, None], 3, axis=2)
        return cv2.cvtColor(fn(rgb, severity=severity, rng=gen), cv2.COLOR_RGB2GRAY)
    return fn(image, severity=severity, rng=gen)
