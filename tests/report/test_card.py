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


def test_a_group_at_zero_accuracy_is_named_lowest():
    from emoaudit.report.card import render_card

    def iv(v, n=50):
        return {"value": v, "ci_low": v, "ci_high": v, "n": n}

    def row(name, acc, **kw):
        return {"group": name, "n": 50, "small": False, "metrics": {"accuracy": iv(acc)}, **kw}

    groups = {
        "skin": {
            "groups": [
                row("A", 0.9),
                row("B", 0.0),
                row("C", None),
                row("(missing)", 0.0, missing_attribute=True),
            ],
            "disparity": {"accuracy": {"difference": iv(0.9)}},
        }
    }
    results = {
        "results": [
            {"dataset": "d", "model": "m", "condition": "clean", "groups": groups,
             "headline": {"accuracy": iv(0.5)}}
        ]
    }  # fmt: skip
    card = render_card(results)
    assert "lowest: B" in card


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
