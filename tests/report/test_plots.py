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
