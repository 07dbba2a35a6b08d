"""audit-card.md: the headline numbers with intervals, flagging statement, escaped strings."""

from __future__ import annotations

from report_fixtures import EVIL

from emoaudit.report.card import md, write_audit_card


def test_card_has_headline_with_intervals(results, tmp_path):
    text = write_audit_card(tmp_path, results).read_text(encoding="utf-8")
    assert text.startswith("# Audit card")
    acc = results["results"][0]["headline"]["accuracy"]
    assert f"{100 * acc['value']:.1f}% ({100 * acc['ci_low']:.1f}%" in text
    assert "Barrett et al" in text
    assert "If it were used to flag people" in text


def test_card_escapes_markup(evil_results, tmp_path):
    text = write_audit_card(tmp_path, evil_results).read_text(encoding="utf-8")
    assert "<script>" not in text and "<img" not in text


def test_md_neutralises_tables_links_and_tags():
    assert md("a|b") == "a\\|b"
    assert md("[x](http://e)") == "\\[x\\]\\(http://e\\)"
    assert "<" not in md(EVIL)


def test_a_group_is_named_only_where_its_test_rejects():
    """The card once named a "lowest" group from a max-min gap alone (whose interval can never
    contain 0), so random attributes always had a worst group. Now only the test's words."""
    from emoaudit.report.card import render_card

    def iv(v, n=50):
        return {"value": v, "ci_low": v, "ci_high": v, "n": n}

    def row(name, acc, **kw):
        return {"group": name, "n": 50, "small": False, "metrics": {"accuracy": iv(acc)}, **kw}

    def card_for(finding):
        groups = {
            "skin": {
                "groups": [row("A", 0.9), row("B", 0.0), row("C", None)],
                "disparity": {"accuracy": {"difference": iv(0.9)}},
                "finding": finding,
            }
        }
        results = {
            "results": [
                {"dataset": "d", "model": "m", "condition": "clean", "groups": groups,
                 "headline": {"accuracy": iv(0.5)}}
            ]
        }  # fmt: skip
        return render_card(results)

    named = card_for({"text": "accuracy differs between groups (Holm p = 0.001): worse for B."})
    assert "worse for B" in named
    silent = card_for(
        {"text": "no evidence of a difference in accuracy (Holm p = 0.4); this data could "
         "detect a gap of 12 points or more."}
    )  # fmt: skip
    assert "no evidence of a difference" in silent and "worse" not in silent
    assert "lowest" not in silent


def test_card_command_can_be_copied(results):
    from emoaudit.report.card import render_card

    prov = {**results["provenance"], "command": "emoaudit audit d --precropped --model m-1"}
    card = render_card({**results, "provenance": prov})
    assert "`emoaudit audit d --precropped --model m-1`" in card


def test_card_opens_with_the_executive_summary(results):
    from emoaudit.report.card import render_card

    card = render_card(results)
    assert card.index("## Summary") < card.index("## Headline results")
    assert "    1. resolution 5 \\(face 16 px wide\\)" in card
    assert "guessing among 7 labels" in card


def test_card_names_the_detector_and_states_exclusions_and_warnings(results):
    from emoaudit.report.card import render_card

    doc = {**results, "provenance": {**results["provenance"], "faces": {"detector": "haar",
           "margin": 0.2}}, "warnings": ["3 of 40 faces were not found"]}  # fmt: skip
    entry = doc["results"][0]
    doc["results"] = [{**entry, "warnings": ["intervals resample only 9 subjects"],
                       "data": {**entry["data"], "label_not_emitted": {
                           "rule": "r", "n": 7, "by_label": {"contempt": 7}}}}]  # fmt: skip
    text = render_card(doc)
    assert f"- Faces: {md('detected by haar (margin 0.2)')}." in text
    assert "- 3 of 40 faces were not found" in text
    assert "intervals resample only 9 subjects" in text
    assert md("7 rows left out (7 contempt): the model cannot output that label") in text
    doc["provenance"]["faces"] = {"precropped": True}
    assert md("crops given by the dataset (no detector)") in render_card(doc)
