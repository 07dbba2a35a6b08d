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
