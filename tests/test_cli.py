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


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--chunk-size", "-5", "--chunk-size: expected an integer >= 1, got -5"),
        ("--chunk-size", "0", "--chunk-size: expected an integer >= 1, got 0"),
        ("--batch-size", "-1", "--batch-size: expected an integer >= 1, got -1"),
        ("--seed", "-1", "--seed: expected an integer >= 0, got -1"),
        ("--resamples", "0", "--resamples: expected an integer >= 1 and <= 100,000, got 0"),
        ("--min-group-n", "-3", "--min-group-n: expected an integer >= 1, got -3"),
        ("--workers", "0", "--workers: expected an integer >= 1, got 0"),
        ("--groups", "age_band", "--groups: 'age_band' is not an attribute of"),
        ("--conditions", "resolutoin", "resolutoin"),
    ],
)
def test_bad_audit_options_are_one_line_before_any_inference(tmp_path, zoo_home, option, value,
                                                             says):  # fmt: skip
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(5))
    out = tmp_path / "o"
    result = _run("audit", data, "--model", "fer-mini-xception", "--out", out, option, value)
    _one_line_error(result, contains=says)
    assert not out.exists()  # refused before anything was written


def test_out_that_is_a_file_is_one_line(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(5))
    out = tmp_path / "out.txt"
    out.write_text("a file")
    result = _run("audit", data, "--model", "fer-mini-xception", "--out", out)
    _one_line_error(result, contains=f"--out {out}: is a file; expected a folder")
    assert out.read_text() == "a file"


def test_read_only_out_and_a_full_disk_are_one_line(tmp_path, zoo_home, monkeypatch):
    import errno
    import tempfile

    from emoaudit.run import runner

    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(5))

    def read_only(*args, **kw):  # what a read-only folder gives (chmod does not stop root)
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", read_only)
        result = _run("audit", data, "--model", "fer-mini-xception", "--out", tmp_path / "ro")
    _one_line_error(result, contains="cannot write here (Read-only file system)")

    def disk_full(path, table):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "write_table_atomic", disk_full)
    result = _run("audit", data, "--model", "fer-mini-xception", "--out", tmp_path / "full")
    _one_line_error(result, contains="no space left on device; free some space and run again")


def test_a_held_out_folder_is_one_line(tmp_path, zoo_home):
    sys.path.insert(0, str(Path(__file__).parent / "run"))
    from test_cache import hold_in_another_process

    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(5))
    out = tmp_path / "out"
    proc = hold_in_another_process(out, 60)
    try:
        result = _run("audit", data, "--model", "fer-mini-xception", "--out", out, "--quiet")
        _one_line_error(result, contains=f"pid {proc.pid} on ")
    finally:
        proc.kill()
        proc.wait()


def test_groups_in_report_and_flagging_are_checked_against_the_predictions(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(20))
    out = tmp_path / "out"
    assert _run("audit", data, "--model", "fer-mini-xception", "--out", out, "--resamples",
                "20", "--quiet").exit_code == 0  # fmt: skip
    before = (out / "results.json").read_text()
    result = _run("report", out, "--groups", "age_band", "--quiet")
    _one_line_error(result, contains="--groups: 'age_band' is not an attribute of")
    result = _run("report", out, "--resamples", "0", "--quiet")
    _one_line_error(result, contains="--resamples: expected an integer >= 1 and <= 100,000, got 0")
    result = _run("report", out, "--min-group-n", "-3", "--quiet")
    _one_line_error(result, contains="--min-group-n: expected an integer >= 1, got -3")
    assert (out / "results.json").read_text() == before
    result = _run("flagging", out, "--flag", "anger", "--groups", "nosuchattr", "--quiet")
    _one_line_error(result, contains="--groups: 'nosuchattr' is not an attribute of")
    assert not (out / "flagging.json").exists()
    result = _run("flagging", out, "--flag", "anger", "--groups", "attr_nosuchattr", "--quiet")
    _one_line_error(result, contains="--groups: 'nosuchattr' is not an attribute of")
    result = _run("compare", out, "--out", tmp_path / "cmp", "--seed", "-1")
    _one_line_error(result, contains="--seed: expected an integer >= 0, got -1")


def test_help_does_not_show_a_value_for_on_off_flags():
    """`--quiet <bool>` in the help made users type `--quiet true`, which click refuses."""
    for command in ("audit", "report", "flagging", "compare", "demo"):
        result = _run(command, "--help")
        lines = [line for line in result.output.splitlines() if "--quiet" in line]
        assert lines and all("<bool>" not in line for line in lines), (command, lines)


def test_demo_options_are_checked_before_it_writes_anything(tmp_path, zoo_home):
    out = tmp_path / "demo.txt"
    out.write_text("a file")
    _one_line_error(_run("demo", "--out", out), contains=f"--out {out}: is a file")
    result = _run("demo", "--out", tmp_path / "d", "--resamples", "0")
    _one_line_error(result, contains="--resamples: expected an integer >= 1 and <= 100,000, got 0")
    assert not (tmp_path / "d").exists()


def test_groups_the_data_has_pass_every_check(tmp_path, zoo_home):
    from run_inputs import write_manifest

    manifest = write_manifest(tmp_path / "faces", 12, attributes={"gender": ["f", "m"]})
    out = tmp_path / "out"
    options = ["--precropped", "--groups", "gender", "--min-group-n", "1", "--resamples", "20"]
    result = _run("audit", manifest, "--model", "fer-mini-xception", "--out", out, *options, "-q")
    assert result.exit_code == 0, result.output
    result = _run("report", out, "--groups", "gender", "--resamples", "20", "--quiet")
    assert result.exit_code == 0, result.output
    for name in ("gender", "attr_gender"):
        result = _run("flagging", out, "--flag", "anger", "--groups", name, "--resamples", "20",
                      "--quiet")  # fmt: skip
        assert result.exit_code == 0, result.output
