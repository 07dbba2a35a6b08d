"""Perturbation families, one module per family, looked up by name through PERTURBATIONS.

Each family module exposes ``apply(image, *, severity, rng) -> image`` and ``VALUES`` (its
parameter at severities 1..len(VALUES)). The metadata below is what `emoaudit` shows users and
records in results; tests/perturb/test_families.py checks it matches each module's VALUES.
"""

from __future__ import annotations

from emoaudit.registry import Registry

PERTURBATIONS: Registry = Registry("perturbations")

# name: (description, parameter (unit), values per severity, uses the rng, label-free check)
_FAMILIES: dict[str, tuple[str, str, tuple, bool, bool]] = {
    "resolution": (
        "face downscaled and enlarged back (distant camera)",
        "face width in px",
        (64, 48, 32, 24, 16),
        False,
        False,
    ),
    "gaussian_noise": (
        "sensor noise",
        "noise std (fraction of 255)",
        (0.08, 0.12, 0.18, 0.26, 0.38),
        True,
        False,
    ),
    "defocus_blur": (
        "out-of-focus lens (disc blur)",
        "disc radius (fraction of crop width)",
        (0.015, 0.025, 0.04, 0.06, 0.08),
        False,
        False,
    ),
    "motion_blur": (
        "motion during exposure (line blur, random direction)",
        "streak length (fraction of crop width)",
        (0.03, 0.06, 0.10, 0.15, 0.20),
        True,
        False,
    ),
    "jpeg": ("JPEG compression", "JPEG quality", (90, 70, 50, 30, 10), False, False),
    "brightness": (
        "washed-out face (constant added)",
        "offset (fraction of 255)",
        (0.1, 0.2, 0.3, 0.4, 0.5),
        False,
        False,
    ),
    "contrast": (
        "low contrast (haze, flat light)",
        "contrast factor kept",
        (0.7, 0.5, 0.35, 0.2, 0.1),
        False,
        False,
    ),
    "gamma_dark": (
        "under-exposure (gamma > 1)",
        "gamma",
        (1.5, 2.0, 2.5, 3.0, 4.0),
        False,
        False,
    ),
    "gamma_bright": (
        "over-exposure (gamma < 1)",
        "gamma",
        (0.6667, 0.5, 0.4, 0.3333, 0.25),
        False,
        False,
    ),
    "rotation": (
        "in-plane rotation (random direction)",
        "angle in degrees",
        (5, 10, 15, 20, 30),
        True,
        False,
    ),
    "flip": ("horizontal flip (one severity)", "flip", ("horizontal",), False, True),
    "lower_face_mask": (
        "surgical mask placed from face proportions",
        "mask top edge (fraction of crop height)",
        (0.84, 0.76, 0.68, 0.60, 0.52),
        False,
        False,
    ),
    "sunglasses": (
        "sunglasses placed from face proportions",
        "lens opacity",
        (0.25, 0.45, 0.65, 0.85, 1.0),
        False,
        False,
    ),
    "random_patch": (
        "square patch of random colour at a random position",
        "patch area (fraction of crop area)",
        (0.05, 0.10, 0.20, 0.30, 0.40),
        True,
        False,
    ),
    "shift": (
        "small translation (detector jitter, random direction)",
        "shift (fraction of crop width)",
        (0.02, 0.04, 0.06, 0.08, 0.10),
        True,
        True,
    ),
    "scale": (
        "small zoom in or out (detector box jitter)",
        "zoom factor",
        (1.05, 1.10, 1.15, 1.20, 1.25),
        True,
        True,
    ),
}

for _name, (_desc, _param, _values, _random, _label_free) in _FAMILIES.items():
    PERTURBATIONS.add(
        _name,
        f"emoaudit.perturb.{_name}:apply",
        description=_desc,
        parameter=_param,
        values=_values,
        severities=tuple(range(1, len(_values) + 1)),
        random=_random,
        label_free=_label_free,
    )

# Named sets of families for --conditions. "standard" is the real-world camera suite;
# "consistency" are the label-free checks (a stable model should not change its answer).
GROUPS: dict[str, tuple[str, ...]] = {
    "standard": (
        "resolution",
        "gaussian_noise",
        "defocus_blur",
        "motion_blur",
        "jpeg",
        "brightness",
        "contrast",
        "gamma_dark",
        "gamma_bright",
        "rotation",
        "flip",
        "lower_face_mask",
        "sunglasses",
        "random_patch",
    ),
    "consistency": ("flip", "shift", "scale"),
    "occlusion": ("lower_face_mask", "sunglasses", "random_patch"),
    "all": tuple(_FAMILIES),
}
