"""Mistakes the parser finds, empty paths and --at-equal: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoaudit.cli import EMPTY_PATH, app
from emoaudit.run.options import AT_EQUAL_EMPTY

sys.path.insert(0, str(Path(__file__).parent / "run"))
sys.path.insert(0, str(Path(__file__).parent / "report"))
from report_fixtures import make_predictions  # noqa: E402
from run_inputs import write_manifest  # noqa: E402

runner = CliRunner()


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _one_line(result, says: str) -> None:
    """Exit 2, one line that is the error, no usage box and no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"emoaudit: error: {says}"], result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--resamples", "abc"], "--resamples: expected an integer, got 'abc'"),
        (["--resamples", "nan"], "--resamples: expected an integer, got 'nan'"),
        (["--seed=1.5"], "--seed: expected an integer, got '1.5'"),
        (["--resamples", "5", "--resamples", "x"], "--resamples: expected an integer, got 'x'"),
        (["--fps", "fast"], "--fps: expected a number, got 'fast'"),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_parser_errors_are_one_line(tmp_path, args, says):
    """They were click's six-line boxed usage message."""
    out = tmp_path / "o"
    result = _run("audit", tmp_path, "--model", "m", "--out", out, *args)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"emoaudit: error: {says}"), result.output
    assert "╭" not in result.output and "Usage:" not in result.output
    assert not out.exists()


def test_missing_options_and_unknown_commands_are_one_line(tmp_path):
    result = _run("audit", tmp_path)
    _one_line(result, "Missing option '--out' / '-o'. (see 'root audit --help')")
    result = _run("audti")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "No such command 'audti'" in result.output and "'audit'" in result.output
    result = _run("report", tmp_path, "--resamples", "many")
    _one_line(result, "--resamples: expected an integer, got 'many'")


def test_help_still_prints_help():
    for args in (["--help"], ["audit", "--help"], ["models"], []):
        result = _run(*args)
        assert "Usage:" in result.output and "error" not in result.output, (args, result.output)
    assert _run("audit", "--help").exit_code == 0


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["audit", "{data}", "--model", "m", "--out", ""], "--out"),
        (["audit", "{data}", "--model", "m", "--out="], "--out"),
        (["audit", "", "--model", "m", "--out", "{tmp}/o"], "DATA"),
        (["demo", "--out", ""], "--out"),
        (["compare", "{tmp}", "--out", ""], "--out"),
        (["report", ""], "OUT"),
        (["flagging", "", "--flag", "anger"], "OUT"),
        (["datasets", "inspect", ""], "DATA"),
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, args,
                                                                 name):  # fmt: skip
    """`--out ""` (an unset shell variable) wrote the whole audit into the current folder."""
    data = write_manifest(tmp_path / "faces", 2)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    result = _run(*(a.format(data=data, tmp=tmp_path) for a in args))
    _one_line(result, f"{name}: {EMPTY_PATH}")
    assert sorted(tmp_path.iterdir()) == before


@pytest.fixture
def smile_data(tmp_path) -> Path:
    """A manifest with a numeric column (smile) and a text one (gender)."""
    return write_manifest(
        tmp_path / "faces", 8, attributes={"smile": ["1", "4.5"], "gender": ["f", "m"]}
    )


@pytest.mark.parametrize(
    ("at_equal", "says"),
    [
        ("smle", "--at-equal 'smle': neither an expression label nor an attribute of"),
        ("Smile", "(found: gender, smile); did you mean 'smile'?"),
        ("gender", "--at-equal 'gender': attribute has no numeric value in"),
        ("", AT_EQUAL_EMPTY),
    ],
)
def test_at_equal_is_a_label_or_a_numeric_column_before_the_audit(tmp_path, smile_data,
                                                                  at_equal, says):  # fmt: skip
    """A column that did not exist was ignored: the run finished without the comparison."""
    out = tmp_path / "o"
    result = _run("audit", smile_data, "--model", "fer-mini-xception", "--out", out,
                  "--precropped", "--at-equal", at_equal)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("emoaudit: error: ")
    assert says in result.output
    assert not out.exists()  # refused before the output folder or a model


def test_at_equal_in_report_is_checked_against_the_predictions(tmp_path):
    predictions = make_predictions(n=100)
    probs = [c for c in predictions.columns if c.startswith("prob_")]
    scored = predictions[probs].notna().all(axis=1)  # pred is the argmax, as emoaudit writes
    predictions.loc[scored, "pred"] = predictions.loc[scored, probs].idxmax(axis=1).str[5:]
    predictions["attr_smile"] = [str(i % 5) for i in range(len(predictions))]
    predictions.to_parquet(tmp_path / "predictions.parquet")
    for at_equal, says in (
        ("smiles", "--at-equal 'smiles': neither an expression label nor an attribute of"),
        ("gender", "--at-equal 'gender': attribute has no numeric value in"),
        ("", AT_EQUAL_EMPTY),
    ):
        result = _run("report", tmp_path, "--at-equal", at_equal, "--quiet")
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and says in result.output, result.output
        assert not (tmp_path / "results.json").exists()
    for at_equal, given in (
        ("smile", "smile"),
        ("attr_smile", "attr_smile"),
        ("Happiness", "happy"),
    ):
        result = _run("report", tmp_path, "--at-equal", at_equal, "--resamples", "20", "--quiet")
        assert result.exit_code == 0, (at_equal, result.output)
        results = json.loads((tmp_path / "results.json").read_text())
        assert {r["label_free"]["given"] for r in results["results"]} == {given}
