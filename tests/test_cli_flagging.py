"""`emoaudit flagging`: requests normalised and de-duplicated, listed and removed, and only the
new request printed (no model is run: predictions come from the report fixtures)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoaudit.cli import NO_FLAG, app

sys.path.insert(0, str(Path(__file__).parent / "report"))
from report_fixtures import make_predictions  # noqa: E402

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def audit_dir(tmp_path):
    df = make_predictions(n=120)
    df[df["model"] == "model-a"].to_parquet(tmp_path / "predictions.parquet")
    return tmp_path


def _stored(out):
    return json.loads((out / "flagging.json").read_text())


def test_spellings_of_one_label_are_one_request(audit_dir):
    for spelling in ("Anger", "angry", "anger"):
        result = _run("flagging", audit_dir, "--flag", spelling, "--resamples", "20")
        assert result.exit_code == 0, result.output
    assert _stored(audit_dir) == [{"flag": ["anger"], "base_rate": 0.0001, "population": 1000000}]
    assert "already stored" in result.output
    assert result.output.count("Suppose model") == 1  # earlier requests are not reprinted
    results = json.loads((audit_dir / "results.json").read_text())
    assert len(results["flagging"]) == 1


def test_list_and_remove(audit_dir):
    _run("flagging", audit_dir, "--flag", "anger", "--resamples", "20")
    _run("flagging", audit_dir, "--flag", "fear,disgust", "--resamples", "20")
    listing = _run("flagging", audit_dir, "--list")
    assert listing.exit_code == 0
    assert "1. flag anger;" in listing.output and "2. flag fear, disgust;" in listing.output
    removed = _run("flagging", audit_dir, "--remove", "1", "--resamples", "20")
    assert removed.exit_code == 0, removed.output
    assert "removed: flag anger" in removed.output
    assert [r["flag"] for r in _stored(audit_dir)] == [["fear", "disgust"]]
    results = json.loads((audit_dir / "results.json").read_text())
    assert [f["flag"] for f in results["flagging"]] == [["fear", "disgust"]]


def test_remove_a_missing_request_is_one_line(audit_dir):
    result = _run("flagging", audit_dir, "--remove", "3")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"emoaudit: error: flagging request 3 does not exist in {audit_dir / 'flagging.json'}; "
        "there are 0"
    ]


def test_no_flag_is_one_line(audit_dir):
    result = _run("flagging", audit_dir)
    assert result.exit_code == 2 and NO_FLAG in result.output


def test_display_rate_from_data_is_pointed_out(audit_dir):
    result = _run("flagging", audit_dir, "--flag", "anger", "--resamples", "20")
    assert "--display-rate" in result.output
    quiet = _run("flagging", audit_dir, "--flag", "anger", "--display-rate", "0.05",
                 "--resamples", "20")  # fmt: skip
    assert "dataset's label mix" not in quiet.output


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "Expecting property name"),
        ("{}", "not a list of requests"),
        ("[null]", "request 1: expected an object, found NoneType"),
        ('[{"flag": "anger"}]', "request 1: 'flag' must be a list of names"),
        ('[{"flag": ["anger"], "base_rate": "x"}]', "request 1: 'base_rate' must be a number"),
        ('[{"flag": ["anger"], "population": 1e400}]', "request 1: 'population' must be a"),
        ('[{"flag": ["anger"], "population": true}]', "request 1: 'population' must be a"),
        ('[{"flag": ["anger"], "colour": 1}]', "request 1: unknown key 'colour'"),
        ('[{"base_rate": 0.1}]', "request 1: no 'flag' labels"),
    ],
)
def test_a_hand_edited_flagging_file_is_one_line_naming_it(audit_dir, text, why):
    """Each of these was a traceback (JSONDecodeError, AttributeError, OverflowError...) in
    report, flagging --list and when adding a request."""
    (audit_dir / "flagging.json").write_text(text)
    for args in (("flagging", audit_dir, "--list"), ("report", audit_dir, "--resamples", "20")):
        result = _run(*args)
        assert result.exit_code == 2, result.output
        line = result.output.strip().splitlines()[-1]
        assert line.startswith(f"emoaudit: error: {audit_dir / 'flagging.json'}") and why in line
