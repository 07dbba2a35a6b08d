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
