"""Invariants over every registered perturbation family, then per-family monotonicity checks."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from emoaudit.perturb import GROUPS, PERTURBATIONS
from emoaudit.perturb.base import rng

FAMILIES = PERTURBATIONS.names()


def _run(family: str, image: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    return PERTURBATIONS.get(family)(image, severity=severity, rng=rng("s1", seed, salt=family))


def _severities(family: str) -> tuple[int, ...]:
    return PERTURBATIONS.meta(family)["severities"]


def test_suite_covers_the_issue_families():
    expected = {
        "resolution", "gaussian_noise", "defocus_blur", "motion_blur", "jpeg", "brightness",
        "contrast", "gamma_dark", "gamma_bright", "rotation", "flip", "lower_face_mask",
        "sunglasses", "random_patch",
    }  # fmt: skip
    assert set(GROUPS["standard"]) == expected
    assert set(GROUPS["all"]) == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_metadata_matches_the_module(family):
    meta = PERTURBATIONS.meta(family)
    module = importlib.import_module(f"emoaudit.perturb.{family}")
    assert tuple(meta["values"]) == tuple(module.VALUES)
    assert meta["severities"] == tuple(range(1, len(module.VALUES) + 1))
    assert meta["description"] and meta["parameter"]
    expected_count = 1 if family == "flip" else 5
    assert len(meta["severities"]) == expected_count


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", [(48, 48), (112, 112), (37, 53)])
def test_shape_and_dtype_preserved(family, shape, face112):
    import cv2

    image = cv2.resize(face112, shape[::-1])
    for severity in _severities(family):
        out = _run(family, image, severity)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("family", FAMILIES)
def test_input_is_not_modified_and_strided_crops_work(family, face112):
    wide = np.concatenate([face112, face112], axis=1)
    view = wide[:, ::2]  # a strided view, like a crop of a larger photo
    before = view.copy()
    out = _run(family, view, _severities(family)[-1])
    assert np.array_equal(view, before)
    assert out.shape == view.shape


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_pixels(family, face48):
    for severity in _severities(family):
        assert np.array_equal(_run(family, face48, severity), _run(family, face48, severity))


@pytest.mark.parametrize("family", FAMILIES)
def test_seed_matters_exactly_where_the_family_is_random(family, face112):
    severity = _severities(family)[-1]
    outs = [_run(family, face112, severity, seed=s) for s in range(8)]
    differ = any(not np.array_equal(outs[0], o) for o in outs[1:])
    assert differ == PERTURBATIONS.meta(family)["random"]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_severity_changes_the_image(family, face112):
    for severity in _severities(family):
        assert not np.array_equal(_run(family, face112, severity), face112), severity


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_input_and_severity_give_one_line_errors(family, face48):
    fn = PERTURBATIONS.get(family)
    for bad in (face48.astype(np.float32), face48[:, :, 0], face48[:, :, :2]):
        with pytest.raises(ValueError, match=f"perturbation '{family}' expects an RGB uint8"):
            fn(bad, severity=1, rng=rng("s", 0))
    with pytest.raises(ValueError, match="severity must be one of"):
        fn(face48, severity=len(_severities(family)) + 1, rng=rng("s", 0))


# --- monotone in severity, measured on the real photo -----------------------------------------


def _gradient_energy(image: np.ndarray) -> float:
    g = image.astype(np.float64).mean(axis=2)
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


def _high_frequency_energy(image: np.ndarray) -> float:
    g = image.astype(np.float64).mean(axis=2)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(g - g.mean()))) ** 2
    h, w = g.shape
    yy, xx = np.mgrid[:h, :w]
    radius = np.hypot(yy - h / 2, xx - w / 2)
    return float(spectrum[radius > min(h, w) / 8].sum())


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())


def _series(family, image, measure):
    return [measure(_run(family, image, s)) for s in _severities(family)]


def _strictly_decreasing(xs):
    return all(a > b for a, b in zip(xs, xs[1:], strict=False))


def _strictly_increasing(xs):
    return all(a < b for a, b in zip(xs, xs[1:], strict=False))


@pytest.mark.parametrize("family", ["defocus_blur", "motion_blur"])
@pytest.mark.parametrize("size", [48, 112])
def test_more_blur_lowers_gradient_energy(family, size, face48, face112):
    image = face48 if size == 48 else face112
    energies = [_gradient_energy(image)] + _series(family, image, _gradient_energy)
    assert _strictly_decreasing(energies), energies


def test_lower_resolution_lowers_high_frequency_energy(face112, face48):
    energies = [_high_frequency_energy(face112)] + _series(
        "resolution", face112, _high_frequency_energy
    )
    assert _strictly_decreasing(energies), energies
    # a 48 px crop has no detail above 48 px: severities 1 (64) and 2 (48) leave it unchanged
    small = _series("resolution", face48, lambda x: x)
    assert np.array_equal(small[0], face48) and np.array_equal(small[1], face48)
    assert _strictly_decreasing([_high_frequency_energy(x) for x in small[1:]])


@pytest.mark.parametrize(
    "family",
    ["jpeg", "gaussian_noise", "rotation", "shift", "scale", "lower_face_mask", "sunglasses"],
)
def test_distance_from_clean_grows_with_severity(family, face112):
    errors = _series(family, face112, lambda x: _mse(x, face112))
    assert _strictly_increasing(errors), errors


def test_random_patch_hides_more_of_the_face(face112):
    changed = _series("random_patch", face112, lambda x: int((x != face112).any(axis=2).sum()))
    assert _strictly_increasing(changed), changed
    colours = {
        tuple(_run("random_patch", face112, s)[face112 != _run("random_patch", face112, s)][:3])
        for s in (1, 5)
    }  # noqa: E501
    assert len(colours) == 1  # same colour at every severity of one sample


def test_exposure_families_move_brightness_the_right_way(face112):
    means = {f: [float(face112.mean())] + _series(f, face112, np.mean) for f in
             ("brightness", "gamma_dark", "gamma_bright")}  # fmt: skip
    assert _strictly_increasing(means["brightness"])
    assert _strictly_decreasing(means["gamma_dark"])
    assert _strictly_increasing(means["gamma_bright"])
    stds = [float(face112.std())] + _series("contrast", face112, np.std)
    assert _strictly_decreasing(stds)


def test_flip_is_a_mirror(face48):
    out = _run("flip", face48, 1)
    assert np.array_equal(out, face48[:, ::-1])
    assert np.array_equal(_run("flip", out, 1), face48)


def test_occlusions_stay_where_the_template_puts_them(face112):
    mask = (_run("lower_face_mask", face112, 5) != face112).any(axis=2)
    rows = np.nonzero(mask.any(axis=1))[0]
    assert rows.min() >= int(0.50 * 112) and rows.max() <= int(0.98 * 112)
    glasses = (_run("sunglasses", face112, 5) != face112).any(axis=2)
    rows = np.nonzero(glasses.any(axis=1))[0]
    assert rows.min() >= int(0.28 * 112) and rows.max() <= int(0.50 * 112)
