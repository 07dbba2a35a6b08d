"""--conditions parsing and applying one condition to a crop, as the runner calls it."""

from __future__ import annotations

import numpy as np
import pytest

from emoaudit.errors import EmoauditError
from emoaudit.perturb import GROUPS
from emoaudit.perturb.conditions import apply_condition, parse_conditions, split_condition


def test_standard_is_clean_then_every_family_and_severity():
    conds = parse_conditions("standard")
    assert conds[0] == "clean"
    assert conds[1:6] == [f"resolution:{s}" for s in range(1, 6)]
    assert "flip:1" in conds and "flip:2" not in conds  # flip has one severity
    assert len(conds) == 1 + 5 * (len(GROUPS["standard"]) - 1) + 1
    assert len(set(conds)) == len(conds)


def test_picks_mix_and_deduplicate_in_order():
    assert parse_conditions("jpeg:3, flip,jpeg:3,clean") == ["clean", "jpeg:3", "flip:1"]
    assert parse_conditions("resolution,jpeg")[1:] == [
        *(f"resolution:{s}" for s in range(1, 6)),
        *(f"jpeg:{s}" for s in range(1, 6)),
    ]
    assert parse_conditions("consistency")[0:2] == ["clean", "flip:1"]
    assert parse_conditions("clean") == ["clean"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jpg", "unknown perturbation 'jpg'; known: .* \\(did you mean 'jpeg'\\?\\)$"),
        ("standrd", "did you mean 'standard'"),
        ("jpeg:9", "condition 'jpeg:9': severity must be one of 1, 2, 3, 4, 5"),
        ("flip:2", "condition 'flip:2': severity must be one of 1;"),
        ("jpeg:x", "condition 'jpeg:x': not FAMILY:SEVERITY"),
        ("defocus:2", "did you mean 'defocus_blur'"),
    ],
)
def test_bad_specs_give_one_line_errors(spec, message):
    with pytest.raises(EmoauditError, match=message) as info:
        parse_conditions(spec)
    assert "\n" not in str(info.value)


def test_split_condition():
    assert split_condition("motion_blur:4") == ("motion_blur", 4)


def test_clean_returns_the_input(face48):
    assert apply_condition(face48, "clean", sample_id="a", seed=0) is face48


def test_pixels_depend_only_on_sample_seed_and_condition(face48):
    def run(sid, seed, cond="gaussian_noise:3"):
        return apply_condition(face48, cond, sample_id=sid, seed=seed)

    assert np.array_equal(run("a", 1), run("a", 1))
    assert not np.array_equal(run("a", 1), run("b", 1))
    assert not np.array_equal(run("a", 1), run("a", 2))


def test_one_sample_gets_the_same_draw_at_every_severity(face112):
    # noise is the same pattern, only scaled: residuals are proportional across severities
    r1 = apply_condition(face112, "gaussian_noise:1", sample_id="a", seed=0).astype(float) - face112
    r2 = apply_condition(face112, "gaussian_noise:2", sample_id="a", seed=0).astype(float) - face112
    inside = (face112 > 60) & (face112 < 190)  # away from clipping
    assert np.corrcoef(r1[inside], r2[inside])[0, 1] > 0.99


def test_grey_crops_stay_grey(face48):
    grey = face48[:, :, 1].copy()
    out = apply_condition(grey, "sunglasses:5", sample_id="a", seed=0)
    assert out.shape == grey.shape and out.dtype == np.uint8
    assert out[int(0.4 * 48), int(0.34 * 48)] < 40  # a dark lens over the left eye
