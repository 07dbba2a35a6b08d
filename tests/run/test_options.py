"""Option checks before any inference: numbers, the output folder, group names, OS errors."""

from __future__ import annotations

import errno
import tempfile
from types import SimpleNamespace

import pytest

from emoaudit.errors import EmoauditError
from emoaudit.run import options
from emoaudit.run.options import (
    BAD_OPTION,
    NO_SPACE,
    OUT_IS_FILE,
    OUT_NOT_WRITABLE,
    check_groups,
    check_out_dir,
    check_run_numbers,
    os_error_line,
    sample_attributes,
)

GOOD = dict(seed=0, n_resamples=1000, min_group_n=30, chunk_size=512, batch_size=None, workers=None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": -1}, BAD_OPTION.format(name="seed", expected="an integer >= 0", value=-1)),
        (
            {"n_resamples": 0},
            BAD_OPTION.format(name="resamples", expected="an integer >= 1 and <= 100,000", value=0),
        ),
        (
            {"n_resamples": 10**23},
            BAD_OPTION.format(
                name="resamples", expected="an integer >= 1 and <= 100,000", value=10**23
            ),
        ),  # 36 GiB after inference
        (
            {"n_resamples": 20.0},
            BAD_OPTION.format(
                name="resamples", expected="an integer >= 1 and <= 100,000", value=20.0
            ),
        ),  # a TypeError after inference
        (
            {"seed": float("nan")},
            BAD_OPTION.format(name="seed", expected="an integer >= 0", value=float("nan")),
        ),
        (
            {"min_group_n": -3},
            BAD_OPTION.format(name="min-group-n", expected="an integer >= 1", value=-3),
        ),
        (
            {"chunk_size": -5},
            BAD_OPTION.format(name="chunk-size", expected="an integer >= 1", value=-5),
        ),
        (
            {"chunk_size": 0},
            BAD_OPTION.format(name="chunk-size", expected="an integer >= 1", value=0),
        ),
        (
            {"batch_size": -1},
            BAD_OPTION.format(name="batch-size", expected="an integer >= 1", value=-1),
        ),
        ({"workers": 0}, BAD_OPTION.format(name="workers", expected="an integer >= 1", value=0)),
        ({"confidence": 1.0}, "--confidence: expected a number in (0, 1), got 1.0"),
        ({"confidence": "0.9"}, "--confidence: expected a number in (0, 1), got 0.9"),
    ],
)
def test_each_bad_number_is_refused_by_name(change, message):
    with pytest.raises(EmoauditError) as exc:
        check_run_numbers(**{**GOOD, **change})
    assert str(exc.value) == message


def test_an_attribute_named_twice_in_groups_is_refused():
    from emoaudit.run.options import check_groups

    with pytest.raises(EmoauditError, match="'gender' is named twice"):
        check_groups(["gender", "gender"], ["gender"], where="data")


def test_good_numbers_and_defaults_pass():
    check_run_numbers(**GOOD)
    check_run_numbers(seed=2**40, n_resamples=1, min_group_n=1, chunk_size=1, batch_size=1)


def test_out_that_is_a_file_or_under_a_file_is_refused(tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    with pytest.raises(EmoauditError) as exc:
        check_out_dir(target)
    assert str(exc.value) == OUT_IS_FILE.format(path=target)
    with pytest.raises(EmoauditError) as exc:
        check_out_dir(target / "sub")
    assert str(exc.value) == OUT_NOT_WRITABLE.format(path=target / "sub", why="Not a directory")


def test_out_that_cannot_be_written_is_refused_and_a_good_one_is_left_clean(tmp_path, monkeypatch):
    check_out_dir(tmp_path / "new" / "out")
    assert list((tmp_path / "new" / "out").iterdir()) == []  # the probe file is gone

    def denied(*args, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # what a read-only folder does (not as root)
    with pytest.raises(EmoauditError) as exc:
        check_out_dir(tmp_path)
    assert str(exc.value) == OUT_NOT_WRITABLE.format(path=tmp_path, why="Permission denied")


def test_groups_unknown_or_wrong_case_are_refused_with_a_suggestion():
    check_groups(["gender", "race"], ["race", "gender", "age"], where="data.csv")
    check_groups(None, [], where="data.csv")
    with pytest.raises(EmoauditError) as exc:
        check_groups(["age_band"], ["gender", "race"], where="data.csv")
    assert (
        str(exc.value)
        == "--groups: 'age_band' is not an attribute of data.csv (found: gender, race)"
    )
    with pytest.raises(EmoauditError, match=r"'Gender' is not .*; did you mean 'gender'\?$"):
        check_groups(["Gender"], ["gender", "race"], where="data.csv")
    with pytest.raises(EmoauditError, match=r"\(found: none\)$"):
        check_groups(["gender"], [], where="data.csv")


def test_sample_attributes_reads_past_sparse_rows_and_stops_once_found():
    rows = [SimpleNamespace(attributes={}) for _ in range(50)]
    rows.append(SimpleNamespace(attributes={"gender": "f"}))
    rows += [SimpleNamespace(attributes={"late": "x"})]
    consumed = iter(rows)
    assert sample_attributes(consumed, ["gender"]) == {"gender"}
    assert next(consumed).attributes == {"late": "x"}  # stopped right after the find
    assert sample_attributes(iter(rows), ["late"], limit=10) == set()


def test_os_errors_become_one_line_only_for_the_environment():
    full = OSError(errno.ENOSPC, "No space left on device", "/out/predictions.parquet")
    assert os_error_line(full) == NO_SPACE.format(path="/out/predictions.parquet")
    # pyarrow's own (measured writing to /dev/full): the errno, no file name
    arrow = OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert os_error_line(arrow) == NO_SPACE.format(path="the output folder")
    ro = OSError(errno.EROFS, "Read-only file system", "/out/x")
    assert os_error_line(ro) == "/out/x: Read-only file system"
    assert os_error_line(OSError(errno.EIO, "Input/output error")) is None
    assert options.GROUP_PEEK >= 100
