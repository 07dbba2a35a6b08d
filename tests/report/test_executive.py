"""The executive summary: headline beside chance, group verdicts only from a test, worst
conditions, flagging bottom line, and what the data cannot tell."""

from __future__ import annotations

import copy

import pytest

from emoaudit.report import executive
from emoaudit.report.html import render_report

FINDING = {
    "metric": "accuracy",
    "test": "chi-squared over groups",
    "p_value": 0.004,
    "p_holm": 0.008,
    "alpha": 0.05,
    "rejected": True,
    "worse": ["female"],
    "better": ["male"],
    "min_detectable_difference": 0.11,
    "text": "Accuracy is lower for female than for male (p = 0.008).",
}


@pytest.fixture
def with_finding(results):
    """The fixture results plus issue 12's per-grouping finding and baselines (the contract)."""
    res = copy.deepcopy(results)
    for e in res["results"]:
        if e["condition"] == "clean":
            e["groups"]["gender"]["finding"] = dict(FINDING)
            e["baselines"] = {
                "chance": 1 / 7,
                "majority": 0.19,
                "majority_label": "anger",
                "distinguishable_from_chance": True,
            }
    return res


def _model_a(summary):
    return next(m for m in summary["models"] if m["name"].startswith("model-a"))


def test_headline_carries_interval_and_chance(results):
    m = _model_a(executive.executive_summary(results))
    acc = results["results"][0]["headline"]["accuracy"]
    assert f"{100 * acc['value']:.1f}% ({100 * acc['ci_low']:.1f}%" in m["headline"]
    assert "guessing among 7 labels would score 14.3%" in m["headline"]


def test_baselines_are_used_when_present(with_finding):
    m = _model_a(executive.executive_summary(with_finding))
    assert "always answering 'anger' 19.0%" in m["headline"]
    e = with_finding["results"][0]
    e["baselines"]["distinguishable_from_chance"] = False
    assert "not shown to beat answers that ignore the face" in executive.headline_sentence(e)


def test_no_group_sentence_without_a_finding(results):
    import copy

    results = copy.deepcopy(results)
    for e in results["results"]:
        for g in (e.get("groups") or {}).values():
            g.pop("finding", None)
    m = _model_a(executive.executive_summary(results))
    assert m["groups"] == []
    assert "female" not in " ".join(executive.as_lines(executive.executive_summary(results)))


def test_rejected_finding_names_groups(with_finding):
    m = _model_a(executive.executive_summary(with_finding))
    assert m["groups"] == [f"by gender: {FINDING['text']}"]


def test_unrejected_finding_never_names_a_worst_group(with_finding):
    for e in with_finding["results"]:
        if "finding" in e["groups"]["gender"]:
            e["groups"]["gender"]["finding"].update(rejected=False, p_holm=0.43)
    lines = executive.as_lines(executive.executive_summary(with_finding))
    text = " ".join(lines)
    assert "no evidence of a difference by gender (p = 0.43)" in text
    assert "this data could detect a gap of 11 points or more" in text
    assert "lower for female" not in text


def test_worst_conditions_are_the_largest_drops(results):
    m = _model_a(executive.executive_summary(results))
    assert 1 <= len(m["worst"]) <= executive.N_WORST
    assert m["worst"][0].startswith("resolution 5 (face 16 px wide): accuracy -")
    rows = results["robustness"]["models"]["model-a"]["conditions"]
    drops = sorted(r["accuracy_diff"]["value"] for r in rows)
    assert f"{100 * drops[0]:+.1f} points" in m["worst"][0]


def test_flagging_bottom_line_and_display_rate_warning(results):
    m = _model_a(executive.executive_summary(results))
    f = results["flagging"][0]
    assert f"{f['outcomes']['expected_flags']['value']:,.0f} flags" in m["flagging"][0]
    assert "e+0" not in m["flagging"][0]
    assert "dataset's label mix" in m["display_rate"][0]
    assert "--display-rate" in m["display_rate"][0]


def test_cannot_tell_names_missing_subjects_and_demographics(results):
    notes = executive.cannot_tell(results)
    assert any("No subject ids" in n for n in notes)
    bare = copy.deepcopy(results)
    for e in bare["results"]:
        e["groups"] = {}
        e["label_free"] = None
        e["data"]["n_labelled"] = e["data"]["n_rows"] - 5
        e["data"].pop("n_unlabelled", None)  # results written before the count existed
    notes = executive.cannot_tell(bare)
    assert any("No demographic attributes" in n for n in notes)
    assert any("5 of 240 samples have no label" in n for n in notes)


def test_cannot_tell_does_not_call_unreadable_labelled_samples_unlabelled(results):
    """Rows with a label whose image could not be read were reported as having no label."""
    broken = copy.deepcopy(results)
    for e in broken["results"]:
        data = e["data"]
        data["n_labelled"] = data["n_rows"] - 6
        data["n_unlabelled"] = 2
        data["n_evaluated"] = data["n_rows"] - 6
    notes = executive.cannot_tell(broken)
    assert any("2 of 240 samples have no label" in n for n in notes)
    assert any("4 of 240 samples have a label but were not scored" in n for n in notes)
    assert not any("6 of 240" in n for n in notes)


def test_small_ppv_is_not_printed_as_zero():
    iv = {"value": 0.00011, "ci_low": 0.00009, "ci_high": 0.00013, "n": 10}
    assert executive.share_interval(iv) == "0.011% (0.009% to 0.013%)"


def test_report_opens_with_the_summary(with_finding):
    html = render_report(with_finding)
    top = html.index('id="executive"')
    assert top < html.index('id="accounting"')
    assert html.index(FINDING["text"]) < html.index('id="accounting"')
    assert "partials/label_free" not in html  # the partial for the lead renders nothing yet


def test_demo_leads_with_agreement_and_flips_not_accuracy(results):
    demo = {**results, "provenance": {**results["provenance"], "demo": True}}
    summary = executive.executive_summary(demo)
    assert summary["demo"][0].startswith("model-a and model-b gave the same answer on ")
    m = _model_a(summary)
    assert m["headline"].startswith("model-a changed its answer on at least one face under ")
    assert "of 4 camera conditions" in m["headline"]
    assert "agreed with the dataset's labels" not in " ".join(executive.as_lines(summary))
    assert all("answer changed on" in w for w in m["worst"])


def test_tiny_counts_are_counts():
    from emoaudit.report.heat import share_of_faces

    assert share_of_faces({"value": 2 / 3, "ci_low": 0.0, "ci_high": 1.0, "n": 3}) == "2 of 3 faces"
    assert "(" in share_of_faces({"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 200})


def test_one_photo_per_subject_is_not_called_no_subject_ids(results):
    """With a subject id on every photo and one photo each, the unit is `sample` and the card
    said 'No subject ids' beside 'clustered by subject_id'."""
    single = copy.deepcopy(results)
    for e in single["results"]:
        e["resampling"] = {"unit": "sample", "n_units": 240, "stratified_by": "label",
                           "subject_ids": True}  # fmt: skip
    notes = executive.cannot_tell(single)
    assert not any("No subject ids" in n for n in notes)


def test_a_reference_group_not_shown_is_named_in_the_report(results):
    """--reference gender=X with no shown group X fell back to 'the rest' without a word."""
    asked = copy.deepcopy(results)
    grouped = [g for e in asked["results"] for g in (e.get("groups") or {}).values()]
    assert grouped
    for g in grouped:
        g["reference"], g["reference_not_shown"] = None, "X"
    html = render_report(asked)
    assert "the reference group &#39;X&#39; is not among the groups shown" in html or (
        "the reference group 'X' is not among the groups shown" in html
    )


def _row(results, condition):
    rows = results["robustness"]["models"]["model-a"]["conditions"]
    return next(r for r in rows if r["condition"] == condition)


def test_a_drop_is_stated_plainly_only_when_the_test_rejects(results):
    """An interval below 0 is not enough: with many conditions, 40-47% of audits showed a
    drop that is not there. The wording follows the paired test after Holm (`rejected`)."""
    res = copy.deepcopy(results)
    row = _row(res, "resolution:3")
    assert row["accuracy_diff"]["ci_high"] < 0 and row["rejected"]
    worst = executive.worst_conditions(res, res["results"][0])
    line = next(w for w in worst if w.startswith("resolution 3 "))
    assert not line.endswith("(could be chance)")
    row.update(rejected=False, p_holm=0.2)  # the interval still excludes 0
    worst = executive.worst_conditions(res, res["results"][0])
    assert next(w for w in worst if w.startswith("resolution 3 ")).endswith(" (could be chance)")
    for r in res["robustness"]["models"]["model-a"]["conditions"]:
        for key in ("p_value", "p_holm", "rejected"):
            r.pop(key)  # results written before the test: no drop is backed
    worst = executive.worst_conditions(res, res["results"][0])
    assert worst and all(w.endswith(" (could be chance)") for w in worst)


def test_a_ranking_of_flip_rates_says_changed_not_hurt(results):
    demo = {**results, "provenance": {**results["provenance"], "demo": True}}
    m = _model_a(executive.executive_summary(demo))
    assert m["worst_heading"] == executive.WORST_BY_FLIPS
    lines = executive.as_lines(executive.executive_summary(demo))
    assert "  Conditions that changed the most answers:" in lines
    assert "  Conditions that hurt most:" not in lines
    m = _model_a(executive.executive_summary(results))
    assert m["worst_heading"] == executive.WORST_BY_ACCURACY


def test_the_chance_words_say_what_the_verdict_tests(with_finding):
    """The verdict is about skill (accuracy above 1/k and kappa above 0: answers that ignore
    the face, even always the common label, are never told apart), so the words name that, not
    'chance', which read as 1/k alone. No words when the model was told apart."""
    e = copy.deepcopy(with_finding["results"][0])
    assert "ignore the face" not in executive.headline_sentence(e)
    e["baselines"]["distinguishable_from_chance"] = False
    text = executive.headline_sentence(e)
    assert text.endswith(" (on this data, not shown to beat answers that ignore the face).")
    assert "distinguishable from chance" not in text
    e["baselines"]["distinguishable_from_chance"] = None  # no verdict made: no words either way
    assert "ignore the face" not in executive.headline_sentence(e)
