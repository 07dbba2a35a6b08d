"""Taxonomy additions for imported outputs: vendor names map; calm and confused never merge."""

from __future__ import annotations

import pytest

from emoaudit.taxonomy import CANONICAL, canonical, canonical_order, output_label


@pytest.mark.parametrize(
    "raw,name",
    [("joy", "happy"), ("sorrow", "sad"), ("Happiness", "happy"), ("SADNESS", "sad"),
     ("surprised", "surprise"), ("DISGUSTED", "disgust"), ("fearful", "fear"),
     ("ANGRY", "anger"), ("neutral", "neutral")],
)  # fmt: skip
def test_vendor_names_map_to_canonical_labels(raw, name):
    assert canonical(raw) == name and output_label(raw) == name


@pytest.mark.parametrize("raw", ["CALM", "Confused", "unknown"])
def test_labels_without_a_counterpart_stay_themselves(raw):
    assert canonical(raw) is None
    assert output_label(raw) == raw.lower()


def test_non_canonical_values_sort_after_the_canonical_ones():
    assert canonical_order(["confused", "sad", "calm", "happy", "sad"]) == [
        "happy", "sad", "calm", "confused",
    ]  # fmt: skip
    assert canonical_order(list(reversed(CANONICAL))) == list(CANONICAL)
