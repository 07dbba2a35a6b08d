"""Perturbation contract: a family is a function (image, severity, rng) -> image.

Randomness comes only from ``rng(sample_id, seed)`` so the same sample, seed and severity always
produce the same pixels, whichever process or machine runs it (a cached prediction stays valid).
"""

from __future__ import annotations

import hashlib

import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)


def rng(sample_id: str, seed: int, *, salt: str = "") -> np.random.Generator:
    """A generator that depends only on (sample_id, seed, salt), stable across processes."""
    digest = hashlib.sha256(f"{seed}\x00{salt}\x00{sample_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))
