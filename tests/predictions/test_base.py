"""Shared reading rules: what a score is, and when a row of scores is a distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoaudit.predictions.base import (
    BAD_SUM,
    OUT_OF_RANGE,
    SUM_TOLERANCE,
    Problem,
    distribution_faults,
    not_probabilities,
    score_value,
)

W = "f.csv:3"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("0.25", 0.25), (0.25, 0.25), (1, 1.0), (" 0.5 ", 0.5), ("", None), ("  ", None),
        (None, None), ("nan", "f.csv:3: score for 'happy' is NaN"), (math.nan, f"{W}: score for "
        "'happy' is NaN"), ("inf", f"{W}: score for 'happy' is inf"), ("1e999", f"{W}: score "
        "for 'happy' is inf"), (-math.inf, f"{W}: score for 'happy' is -inf"),
    ],
)  # fmt: skip
def test_a_score_is_a_number_missing_or_a_bad_output_reason(raw, expected):
    assert score_value(raw, where=W, label="happy") == expected


@pytest.mark.parametrize("raw", ["lots", True, "0.5.1", [0.5], {"p": 1}])
def test_anything_else_is_a_malformed_record(raw):
    value = score_value(raw, where=W, label="happy")
    assert isinstance(value, Problem) and value.message.startswith(f"{W}: score for 'happy' is not")


def test_rows_rounded_to_two_decimals_are_probabilities_unnormalised_ones_are_not():
    # ten labels each rounded to 2 decimals: the sum can be off by 10 * 0.005 at most
    assert not_probabilities({f"l{i}": 0.1 for i in range(10)}, where=W) is None
    assert not_probabilities({"a": 0.33, "b": 0.33, "c": 0.33}, where=W) is None
    assert not_probabilities({"a": 0.975, "b": 0.0203, "c": 0.0047}, where=W) is None  # DeepFace
    assert not_probabilities({"a": 1.0, "b": 0.0}, where=W) is None
    low = 1 - SUM_TOLERANCE - 0.01
    assert not_probabilities({"a": low, "b": 0.0}, where=W) == BAD_SUM.format(
        where=W, total=low, tolerance=SUM_TOLERANCE
    )
    assert not_probabilities({"a": 0.005, "b": 0.005}, where=W).startswith(
        f"{W}: scores sum to 0.01"
    )
    assert not_probabilities({"a": 0.5, "b": 0.9}, where=W).startswith(f"{W}: scores sum to 1.4")
    assert not_probabilities({"a": -0.5, "b": 1.5}, where=W) == OUT_OF_RANGE.format(
        where=W, label="a", value=-0.5
    )
    assert not_probabilities({"a": 3.2, "b": -2.2}, where=W).endswith("is 3.2, outside [0, 1]")


def test_one_distribution_test_serves_a_whole_table_and_one_face():
    """distribution_faults checks a table at once (the contract, the import's batches);
    not_probabilities is the same test on one face, with its message."""
    proba = np.array(
        [
            [0.2, 0.3, 0.5],  # fine
            [0.2, np.nan, 0.8],  # a label with no score adds nothing
            [np.nan, np.nan, np.nan],  # no score at all: label-only, not bad
            [0.5, 0.9, 0.0],  # sums to 1.4
            [0.1, 1.5, -0.6],  # first outside: column 1
            [0.0, np.inf, 0.0],  # inf is outside too
            [1 + 1e-7, 0.0, -1e-7],  # float noise around 0 and 1
        ]
    )
    found = distribution_faults(proba)
    assert found.bad.tolist() == [False, False, False, True, True, True, False]
    assert found.out_of_range.tolist() == [-1, -1, -1, -1, 1, 1, -1]
    assert found.total[3] == pytest.approx(1.4)
    for row in proba[[0, 1, 3, 4, 5, 6]]:
        scores = {f"l{k}": v for k, v in enumerate(row.tolist()) if not math.isnan(v)}
        faulty = bool(distribution_faults(row[None, :]).bad[0])
        assert (not_probabilities(scores, where=W) is not None) == faulty
    assert not_probabilities({}, where=W) is not None  # a face with no score is no distribution
    assert not_probabilities({"a": 0.1, "b": 1.5, "c": -0.6}, where=W) == OUT_OF_RANGE.format(
        where=W, label="b", value=1.5
    )
