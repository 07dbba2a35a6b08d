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


def test_a_group_is_named_worse_only_where_the_test_rejects():
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
    finding = {
        "metric": "accuracy", "test": "chi2", "p_value": 0.001, "p_holm": 0.002, "alpha": 0.05,
        "rejected": True, "worse": ["B"], "better": ["A"], "min_detectable_difference": 0.2,
        "text": "B is worse than A (p = 0.002).",
    }  # fmt: skip
    results = {
        "results": [
            {"dataset": "d", "model": "m", "condition": "clean", "groups": groups,
             "headline": {"accuracy": iv(0.5)}}
        ]
    }  # fmt: skip
    card = render_card(results)
    assert "B" not in card.split("## Who it fails")[1].split("##")[0].replace("by skin", "")
    groups["skin"]["finding"] = finding
    card = render_card(results)
    assert "B is worse than A" in card
    groups["skin"]["finding"] = {**finding, "rejected": False, "p_holm": 0.31}
    card = render_card(results)
    assert "no evidence of a difference by skin \\(p = 0.31\\)" in card
    assert "gap of 20 points or more" in card and "B is worse" not in card


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
