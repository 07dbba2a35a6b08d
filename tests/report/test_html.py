"""report.html without a browser: self-contained, escaped, sections present, examples opt-in."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image
from report_fixtures import EVIL, EVIL_ATTR

from emoaudit.report.html import SECTIONS, render_report, write_report


def test_one_self_contained_file_with_every_section(results, tmp_path):
    path = write_report(tmp_path, results)
    html = path.read_text(encoding="utf-8")
    assert path.name == "report.html"
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}"' in html
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere
    assert list(tmp_path.iterdir()) == [path]  # atomic write leaves no temp file


def test_plots_carry_the_analysis_intervals(results):
    html = render_report(results)
    acc = results["results"][0]["headline"]["accuracy"]
    shown = f"{100 * acc['value']:.1f}% ({100 * acc['ci_low']:.1f}% to {100 * acc['ci_high']:.1f}%)"
    assert shown in html


def test_strings_from_data_are_escaped(evil_results):
    html = render_report(evil_results, title=EVIL)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert EVIL_ATTR not in html and 'onerror="window' not in html


def test_demo_banner_only_for_demo(results):
    assert "Demonstration, not evidence" not in render_report(results)
    demo = {**results, "provenance": {**results["provenance"], "demo": True}}
    assert "Demonstration, not evidence" in render_report(demo)


def test_absent_sections_say_so():
    html = render_report({"schema_version": "1.0", "provenance": {}})
    assert html.count('class="absent"') >= 10


def test_faces_only_on_request_and_blurred_by_default(results, tmp_path):
    rng = np.random.default_rng(0)
    face = tmp_path / "face.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(face)
    res = {**results, "examples": [{"path": str(face), "label": "happy", "pred": "sad"}]}
    assert "data:image/png" not in render_report(res)
    blurred = render_report(res, include_examples=True)
    sharp = render_report(res, include_examples=True, examples_unblurred=True)
    assert "data:image/png" in blurred and "blurred" in blurred
    assert "unblurred" in sharp
    uri = lambda h: re.search(r'src="(data:image/png;base64,[^"]+)"', h).group(1)  # noqa: E731
    assert uri(blurred) != uri(sharp)


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start : html.index("</section>", start)]


def test_video_stability_in_its_own_units(results):
    stab = _section(render_report(results), "stability")
    s = results["stability"]["models"]["model-a"]["summary"]
    assert f"{s['mean_run_s']['value']:.3g} s (" in stab
    assert f"{s['entropy_bits']['value']:.3g} bits (" in stab
    assert f"{s['changes_per_s']['value']:.3g}/s (" in stab
    assert f"{100 * s['mean_run_s']['value']:.1f}%" not in stab


def test_flagging_counts_are_whole_numbers_not_scientific(results):
    flag = _section(render_report(results), "flagging")
    f = results["flagging"][0]
    assert f"{f['outcomes']['expected_flags']['value']:,.0f} (" in flag
    assert "1,000,000" in flag and "0.01% (1 in 10,000)" in flag
    assert not re.search(r"\de[+-]\d\d", flag)
    assert "display-rate R" in flag  # the assumption that drives every number, prominently


def test_directional_table_says_what_it_lists_in_one_format(results):
    sec = _section(render_report(results), "directional")
    assert "Largest differences" not in sec
    assert "smallest p-value" in sec
    assert "points (" in sec
    assert not re.search(r"<td>-?0\.\d{3} \(", sec)  # no bare fractions beside percentages


def test_agreement_section_named_for_what_it_shows(results):
    html = render_report(results)
    assert "Agreement between models" in _section(html, "agreement")
    assert "Human agreement" not in html  # no annotator votes in these results


def test_method_notes_read_as_sentences():
    from emoaudit.report.html import cell

    notes = ["Undefined values are null.", "Equal-mass bins hold equal counts."]
    assert cell(notes) == "Undefined values are null. Equal-mass bins hold equal counts."
    assert cell(["a", "b"]) == "a, b"


def test_protocol_section_shows_the_range_sentence_and_paired_differences(results):
    from emoaudit.report.plots import fmt_interval

    html = render_report(results)
    section = html[html.index('<section id="protocols"') :]
    section = section[: section.index("</section>")]
    for block in results["protocols"]["results"]:
        assert block["statement"] in section
        assert f"{block['model']} on synthetic (test)" in section
        diff = block["protocols"][1]["difference"]
        assert block["protocols"][1]["protocol"] == "protocol:resize=area"
        assert fmt_interval(diff) in section
    assert "No protocols were run" not in section
    # protocol slices are not perturbations: the robustness table does not list them
    robustness = html[html.index('<section id="robustness"') :]
    assert "protocol:resize=area" not in robustness[: robustness.index("</section>")]
    empty = render_report({"schema_version": "1.0", "provenance": {}})
    assert "No protocols were run (use --protocols standard)." in empty
