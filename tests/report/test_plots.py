"""SVG plots: intervals drawn as given, strings escaped, empty input handled."""

from __future__ import annotations

from emoaudit.report import plots

IV = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.62, "n": 100}


def test_bars_draw_the_given_interval():
    svg = str(plots.interval_bars([("happy", IV)], title="t"))
    assert "50.0% (40.0% to 62.0%)" in svg
    assert svg.startswith("<svg") and 'width="640"' in svg


def test_every_plot_escapes_strings():
    evil = "<script>x</script>"
    outputs = [
        plots.confusion_heatmap([evil, "b"], [[1.0, 0.0], [0.5, 0.5]], title=evil),
        plots.interval_bars([(evil, IV)], title=evil),
        plots.forest_plot([{"label": evil, "interval": IV}], title=evil, disparity=evil),
        plots.reliability_diagram([{"confidence": 0.5, "accuracy": IV, "n": 3}], title=evil),
        plots.robustness_curves({evil: [(evil, IV)]}, clean=IV, title=evil),
        plots.stability_summary([(evil, 0.3)], title=evil),
    ]
    for svg in outputs:
        assert "<script>" not in str(svg) and "&lt;script&gt;" in str(svg)


def test_missing_values_do_not_break_plots():
    none = {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    assert "n/a" in str(plots.interval_bars([("x", none)], title="t"))
    assert "no data" in str(plots.forest_plot([], title="t"))
    assert "no data" in str(plots.reliability_diagram([], title="t"))
    assert plots.fmt_interval(None) == "n/a"


def _text_extents(svg: str):
    """(left, right, text) of every <text> by its anchor and the plots' own width estimate."""
    import re
    from html import unescape

    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))
    out = []
    for m in re.finditer(r"<text ([^>]*)>([^<]*)</text>", svg):
        attrs, text = m.group(1), unescape(m.group(2))
        if "transform" in attrs:
            continue
        x = float(re.search(r'\bx="([\d.-]+)"', attrs).group(1))
        size = (
            float(re.search(r'font-size="([\d.]+)"', attrs).group(1))
            if "font-size" in attrs
            else 12
        )
        w = plots.text_width(text, size)
        anchor = re.search(r'text-anchor="(\w+)"', attrs)
        anchor = anchor.group(1) if anchor else "start"
        left = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        out.append((left, left + w, text, width))
    return out


LONG = "resolution:5 on a-very-long-dataset-manifest-name (clean)"
WIDE = {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 100000}


def test_no_label_runs_outside_its_plot():
    svgs = [
        plots.interval_bars([(LONG, WIDE), ("x", IV)], title="Accuracy " * 12),
        plots.forest_plot(
            [{"label": LONG, "interval": WIDE, "small": True}], title="t" * 100, disparity="d" * 90
        ),
        plots.reliability_diagram(
            [{"confidence": 0.5, "accuracy": IV, "n": 3}], title="a long model name: reliability"
        ),
        plots.confusion_heatmap([LONG, "b"], [[1.0, 0.0], [0.5, 0.5]], title="c" * 120),
        plots.stability_summary([(f"model-a: {LONG}", 2.5)]),
        plots.robustness_curves({"lower_face_mask": [("5", IV)]}, clean=IV, title="r" * 110),
    ]
    for svg in svgs:
        for left, right, text, width in _text_extents(str(svg)):
            assert left >= 0 and right <= width, (text, left, right, width)
