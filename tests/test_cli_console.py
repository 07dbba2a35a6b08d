"""What the terminal shows around a run: a sane rate, the analysis stage, the report lines
after the bar, "resuming" on a rerun, no numpy warnings, and the demo's closing hint."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from emoaudit.cli import app, mean_rate
from emoaudit.demo import ACTIVATE, CLOSING, closing_hint

sys.path.insert(0, str(Path(__file__).parent / "run"))
from run_inputs import face_rows, write_fer_csv  # noqa: E402

runner = CliRunner()


def test_rate_is_the_mean_since_the_start():
    # 540 photos in 60 s is 9 a second, whatever size the chunks arrive in
    assert mean_rate(540, 60.0) == "9.0 samples/s"
    assert mean_rate(512, 0.01) == ""  # no rate before a second has passed
    assert mean_rate(20_000, 10.0) == "2,000 samples/s"


def test_demo_hint_says_how_to_activate_the_environment():
    hint = closing_hint("/opt/emo/.venv", "/usr")
    assert hint.startswith(CLOSING)
    assert ACTIVATE.format(activate=Path("/opt/emo/.venv/bin/activate")) in hint
    assert closing_hint("/usr", "/usr") == CLOSING


def test_audit_console_stage_order_and_resume(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(40))
    out = tmp_path / "out"
    args = ["audit", str(data), "--model", "fer-mini-xception", "--out", str(out),
            "--resamples", "30", "--chunk-size", "16"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    text = first.output
    assert "analysing" in text and "report: " in text
    assert text.rindex("analysing") < text.index("report: ")  # the bar stopped first
    assert "RuntimeWarning" not in text
    assert "resuming" not in text
    assert text.index("guessing among") < text.index("headline results")

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "resuming: " in second.output and "cached shard(s)" in second.output
