"""The robustness heat table: one cell per family x severity, words and pixels, no-ops marked."""

from __future__ import annotations

import copy

from emoaudit.report import heat
from emoaudit.report.html import render_report


def test_severities_in_words_and_pixels():
    assert heat.describe("resolution", 5) == "resolution 5 (face 16 px wide)"
    assert heat.severity_words("jpeg", 3) == "JPEG quality 50"
    assert heat.severity_words("rotation", 5) == "head tilted 30°"
    assert heat.severity_words("nosuch", 2) == "severity 2"


def test_points_are_signed_with_interval():
    iv = {"value": -0.123, "ci_low": -0.2, "ci_high": -0.04, "n": 9}
    assert heat.points(iv) == "-12.3 points (-20.0 to -4.0)"


def _noop(row):
    zero = {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": row["n_pairs"]}
    return {**row, "flip_rate": zero, "accuracy_diff": zero, "ece_shift": zero}


def test_one_row_per_family_with_intervals(results):
    entry = results["results"][0]
    table = heat.heat_table(results, entry)
    assert [r["family"] for r in table["rows"]] == ["flip", "resolution"]
    assert table["severities"] == [1, 3, 5]
    res = table["rows"][1]["cells"]
    assert all("points (" in c["text"] for c in res)
    assert res[2]["words"] == "face 16 px wide" and res[2]["shade"] > res[0]["shade"]
    assert table["rows"][0]["cells"][1] is None  # flip has one severity only


def test_noop_severity_is_marked_not_reported(results):
    res = copy.deepcopy(results)
    rows = res["robustness"]["models"]["model-a"]["conditions"]
    rows[0] = _noop(rows[0])  # resolution:1, 64 px on smaller crops: nothing can change
    assert heat.is_noop(rows[0]) and not heat.is_noop(rows[1])
    table = heat.heat_table(res, res["results"][0])
    cell = table["rows"][1]["cells"][0]
    assert cell["noop"] and cell["text"].startswith(heat.NOOP)
    html = render_report(res)
    assert heat.NOOP in html
    from emoaudit.report import executive

    worst = executive.worst_conditions(res, res["results"][0])
    assert not any(w.startswith("resolution 1 ") for w in worst)


def test_robust_model_is_not_called_a_noop(results):
    row = copy.deepcopy(results["robustness"]["models"]["model-a"]["conditions"][0])
    row["flip_rate"] = {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 5}
    row["ece_shift"] = {"value": 0.004, "ci_low": 0.0, "ci_high": 0.01, "n": 5}
    assert not heat.is_noop(row)


def test_report_shows_heat_table_and_collapses_details(results):
    html = render_report(results)
    rob = html[html.index('<section id="robustness"') : html.index('<section id="stability"')]
    assert '<table class="heat">' in rob
    assert rob.index('<table class="heat">') < rob.index("<details")
    assert "face 16 px wide" in rob
    assert "<script" not in html


def test_only_backed_drops_are_shaded(results):
    """A red cell is a verdict: it needs the paired test (after Holm), not a point estimate."""
    res = copy.deepcopy(results)
    rows = {r["condition"]: r for r in res["robustness"]["models"]["model-a"]["conditions"]}
    assert (
        rows["resolution:1"]["accuracy_diff"]["value"] < 0 and not rows["resolution:1"]["rejected"]
    )
    assert rows["resolution:5"]["rejected"]
    table = heat.heat_table(res, res["results"][0])
    res_cells = table["rows"][1]["cells"]
    assert res_cells[0]["shade"] == 0.0 and res_cells[2]["shade"] > 0
    assert "backed by the paired test" in table["shading"]
    rows["resolution:5"]["rejected"] = False
    assert heat.heat_table(res, res["results"][0])["rows"][1]["cells"][2]["shade"] == 0.0
    old = {
        k: v for k, v in rows["resolution:5"].items() if k not in ("p_value", "p_holm", "rejected")
    }
    assert heat.backed_drop(old)  # before the test existed: the interval, wholly below 0
    assert not heat.backed_drop({**old, "accuracy_diff": {**old["accuracy_diff"], "ci_high": 0.01}})
    html = render_report(res)
    assert "red only where the drop is backed by the paired test of clean against" in html


def test_a_drift_is_shown_only_where_its_test_named_it(results):
    from emoaudit.report import view

    res = copy.deepcopy(results)
    row = res["robustness"]["models"]["model-a"]["conditions"][2]
    row["drift_toward"] = "sad"  # as settle() names it
    table = view.condition_table(res, res["results"][0])
    assert table[2]["drift_toward"] == "sad"
    del row["drift_tests"]  # written before the test: an interval rule, no correction
    assert view.condition_table(res, res["results"][0])[2]["drift_toward"] is None
