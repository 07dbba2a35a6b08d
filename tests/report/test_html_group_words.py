"""Words on group differences in the flagging and directional sections come from their tests;
the max/min ratio and max-min gap, which can never show "no difference", stay numbers."""

from __future__ import annotations

import numpy as np
from markupsafe import escape

from emoaudit.analysis.bootstrap import BootstrapSpec
from emoaudit.analysis.groups import disaggregate
from emoaudit.report.html import directional_block, flagging_block, render_report


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start : html.index("</section>", start)]


def test_flagging_section_prints_the_group_tests_words(results):
    sec = _section(render_report(results), "flagging")
    printed = 0
    for f in results["flagging"]:
        for attr, g in f["groups"].items():
            if g.get("finding"):
                assert f"By {attr}: {escape(g['finding'])}" in sec
                printed += 1
            if g.get("ratio_max_min"):
                assert "descriptive, 1 or more by construction; not a test" in sec
    assert printed  # the fixture has two genders with enough rows of each kind


def _flagging(finding: str | None) -> dict:
    ratio = {"value": 2.5, "ci_low": 1.4, "ci_high": 4.0, "n": 2000}
    rate = {"value": 0.1, "ci_low": 0.05, "ci_high": 0.15, "n": 1000}
    group = {"group": "a", "n": 1000, "small": False, "false_flag_rate": rate}
    block = {"groups": [group, {**group, "group": "b"}], "ratio_max_min": ratio}
    if finding is not None:
        block["finding"] = finding
    return {"groups": {"gender": block}, "rates": {"false_flag_rate": rate}}


def test_ratio_is_a_number_and_old_results_without_a_test_get_no_words():
    words = "groups are flagged differently: ... is higher for b (Holm p = 0.001)."
    g = flagging_block(_flagging(words))["groups"][0]
    assert g["finding"] == words
    assert "Highest / lowest: 2.5 (1.4 to 4) (descriptive" in str(g["svg"])
    old = flagging_block(_flagging(None))["groups"][0]
    assert old["finding"] is None and "not a test" in str(old["svg"])


def test_calm_as_hostile_caption_is_its_test_and_the_gap_is_descriptive():
    rng = np.random.default_rng(3)
    n = 1200
    t = rng.integers(0, 2, n)
    g = rng.integers(0, 2, n)
    p = np.where((g == 1) & (rng.random(n) < 0.2), 2, t)  # group y: 20% read as anger
    out = disaggregate(
        true_idx=t,
        pred_idx=p,
        labels=["neutral", "happy", "anger", "disgust"],
        group=g,
        group_names=["x", "y"],
        spec=BootstrapSpec(n_resamples=50),
    )
    out["attribute"] = "race"
    svg = str(directional_block("m", out)["svg"])
    words = out["directional_errors"]["calm_read_as_hostile"]["test"]["text"]
    assert "higher for y" in words
    assert f"<figcaption>{escape(words[:1].upper() + words[1:])}</figcaption>" in svg
    assert "Descriptive, not a test: difference" in svg and "Disparity:" not in svg
