import os

import pytest

from emoaudit.data.files import iter_csv, walk_image_paths
from emoaudit.errors import DataError


def test_csv_reader_gives_the_csv_modules_rows_line_numbers_and_width_problems(tmp_path):
    from emoaudit.data.files import BAD_RECORD

    path = tmp_path / "f.csv"
    path.write_bytes(
        "\ufeffemotion,pixels,Usage\r\n"
        "0,1 2 3,Training\r\n"
        "\r\n"
        '1,"4 5, 6",PublicTest\r\n'
        "2,7 8\r\n"
        "3,9,PrivateTest,extra\r\n"
        "   \t \r\n"
        "5,12,Training,,\r\n"
        "4,10 11,Training".encode("utf-8")
    )
    rows = list(iter_csv(path, required=("emotion", "pixels")))
    assert [line for line, _ in rows] == [2, 4, 5, 6, 8, 9]  # the line of spaces is blank
    assert rows[1][1]["pixels"] == "4 5, 6"
    short, long = rows[2][1], rows[3][1]
    assert (
        short[BAD_RECORD]
        == f"{path}:5: 2 cells where the header has 3 (an unquoted comma in a cell?)"
    )
    assert long[BAD_RECORD].startswith(f"{path}:6: 4 cells where the header has 3")
    assert BAD_RECORD not in rows[4][1]  # empty cells past the last column: a trailing comma
    assert rows[4][1] == {"emotion": "5", "pixels": "12", "Usage": "Training"}


def test_csv_reader_names_missing_and_repeated_columns(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(DataError, match=r"missing column\(s\) pixels"):
        list(iter_csv(path, required=("emotion", "pixels")))
    path.write_text("emotion,pixels,emotion\n0,1 2,Training\n")
    with pytest.raises(DataError, match=r"f.csv: column\(s\) emotion appear more than once"):
        list(iter_csv(path, required=("emotion", "pixels")))


def test_a_quoted_cell_across_lines_is_one_record(tmp_path):
    """FER+ joins fer2013new.csv to fer2013.csv by record position: a quoted pixel cell that
    spans two lines must stay one record, or every later row is paired with the wrong face."""
    path = tmp_path / "f.csv"
    path.write_text('emotion,pixels,Usage\n0,"1 2\n3 4",Training\n1,5 6,Training\n')
    rows = list(iter_csv(path, required=("emotion", "pixels")))
    assert [(line, row["emotion"]) for line, row in rows] == [(2, "0"), (4, "1")]
    assert rows[0][1]["pixels"] == "1 2\n3 4"


def test_image_paths_as_strings_list_what_walk_images_lists(tmp_path):
    from emoaudit.data.files import walk_image_paths, walk_images

    for rel in ("b/2.jpg", "a/1.png", "a/z/3.jpeg", "a/notes.txt", "a/.hidden.jpg", "0.bmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    strings = list(walk_image_paths(tmp_path))
    assert strings == [str(p) for p in walk_images(tmp_path)]
    assert [s[len(str(tmp_path)) + 1 :] for s in strings] == [
        "0.bmp",
        "a/1.png",
        "a/z/3.jpeg",
        "b/2.jpg",
    ]


def test_display_path_takes_strings_and_paths_alike(tmp_path):
    from emoaudit.data.files import display_path

    image = tmp_path / "happy" / "1.jpg"
    assert display_path(str(image), tmp_path) == display_path(image, tmp_path) == "happy/1.jpg"
    assert display_path("elsewhere/2.jpg", tmp_path) == "elsewhere/2.jpg"


def test_listing_leaves_out_hidden_and_non_image_files(tmp_path):
    for name in ("b.jpg", "a.PNG", ".hidden.jpg", "notes.txt", "c"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jpeg").write_bytes(b"x")
    found = [os.path.relpath(p, tmp_path) for p in walk_image_paths(tmp_path)]
    assert found == ["a.PNG", "b.jpg", os.path.join("sub", "d.jpeg")]


def test_csv_reader_flags_a_quoted_cell_over_the_field_limit(tmp_path):
    from emoaudit.data.files import BAD_RECORD

    path = tmp_path / "f.csv"
    path.write_text('emotion,pixels\n0,"' + "1 " * 70_000 + '"\n1,2 3\n')
    rows = list(iter_csv(path, required=("emotion", "pixels")))
    assert [line for line, _ in rows] == [2, 3]
    assert rows[0][1][BAD_RECORD].startswith(f"{path}:2: malformed csv record")
    assert BAD_RECORD not in rows[1][1]


def test_csv_records_reread_the_lines_a_broken_record_had_taken():
    from emoaudit.data.files import csv_records

    lines = ['a,"b\n', "c,d\n", 'e,"f\n', 'g",h\n', "\n", "i,j"]
    got = list(csv_records(enumerate(lines, start=2), width=2))
    # line 2's quote closes on line 4, then 'f' follows it; line 4's record 'f\ng' then 'h'
    # has 3 cells, not 2: both are flagged and every line they had taken is read again
    assert [(line, cells) for line, cells, _ in got] == [
        (2, ["a", '"b']),
        (3, ["c", "d"]),
        (4, ["e", '"f']),
        (5, ['g"', "h"]),
        (7, ["i", "j"]),
    ]
    problems = [problem.split(" (")[0].split(" and")[0] for _, _, problem in got]
    assert problems == ["malformed csv record", "", "a quoted cell spans 2 lines", "", ""]


DEPTH = 200


def _deep_folder(tmp_path):
    """tmp_path/a/d/d/.../d, DEPTH levels."""
    path = tmp_path / "a"
    for _ in range(DEPTH):
        path = path / "d"
    path.mkdir(parents=True)
    return path


def _under_low_recursion_limit(run):
    """run() with the recursion limit set to half the tree's depth above the current stack: any
    recursive walk of the tree fails, an iterative one does not."""
    import sys

    frames, frame = 0, sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + DEPTH // 2)
    try:
        return run()
    finally:
        sys.setrecursionlimit(old)


def test_walk_of_a_tree_deeper_than_the_recursion_limit(tmp_path):

    # A 1,100-deep tree was a RecursionError traceback. The limit is lowered instead of the
    # tree made that deep: shutil.rmtree (pytest's clean-up) recurses too, and fails on it.
    path = _deep_folder(tmp_path)
    for image in (path / "deep.jpg", tmp_path / "a" / "top.jpg", tmp_path / "b.jpg"):
        image.write_bytes(b"x")
    found = _under_low_recursion_limit(lambda: list(walk_image_paths(tmp_path)))
    assert found == [
        str(tmp_path / "b.jpg"),
        str(tmp_path / "a" / "top.jpg"),
        str(path / "deep.jpg"),
    ]


def test_walk_order_is_depth_first_files_before_sub_folders(tmp_path):
    for rel in ("z.jpg", "a/b/1.jpg", "a/2.jpg", "a/c/3.jpg", "b/4.jpg", "a/b/e/5.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [os.path.relpath(p, tmp_path) for p in walk_image_paths(tmp_path)]
    assert found == ["z.jpg", "a/2.jpg", "a/b/1.jpg", "a/b/e/5.jpg", "a/c/3.jpg", "b/4.jpg"]


def test_every_listing_of_a_deep_tree_uses_the_walk_without_recursion(tmp_path):
    """The mixed-folder check, the images format's video rows and the video format's listing
    used os.walk or rglob, which recurse: the 1,100-deep tree failed there again."""

    from emoaudit.data import image_folder, video
    from emoaudit.data.detect import mixed_media

    path = _deep_folder(tmp_path)
    (path / "deep.jpg").write_bytes(b"x")
    (path / "deep.mp4").write_bytes(b"x")
    (tmp_path / "top.jpg").write_bytes(b"x")
    mixed, rows, clips = _under_low_recursion_limit(
        lambda: (
            mixed_media(tmp_path),
            list(image_folder.iter_samples(tmp_path)),
            video._files(tmp_path),
        )
    )
    assert mixed is not None and "deep.mp4" in mixed and "top.jpg" in mixed
    assert [r.status for r in rows] == ["ok", "ok", "unreadable"]  # top, deep, the video
    assert [p.name for p in clips] == ["deep.jpg", "deep.mp4", "top.jpg"]


def test_an_endless_line_is_one_bad_row_read_in_bounded_memory(tmp_path, monkeypatch):
    """Iterating a csv held a whole line: a manifest of one line with no break in it, gigabytes
    long, needed all of it in memory. A line over MAX_LINE_CHARS is now one bad row, skipped a
    bounded piece at a time, and the rows around it are read."""
    import tracemalloc

    from emoaudit.data import files, manifest

    monkeypatch.setattr(files, "MAX_LINE_CHARS", 10_000)
    path = tmp_path / "m.csv"
    path.write_text("path,label\na.png,happy\n" + "x" * 2_000_000 + "\nb.png,sad\n" + "y" * 500_000)
    tracemalloc.start()
    try:
        samples = list(manifest.iter_samples(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400_000  # the long lines are 2 MB and 0.5 MB
    assert [s.status for s in samples] == ["unreadable", "bad_input", "unreadable", "bad_input"]
    assert [s.reason.split(": ", 1)[0] for s in samples[1::2]] == [f"{path}:3", f"{path}:5"]
    assert "line longer than 10,000 characters, not read" in samples[1].reason
    assert samples[2].sample_id == "b.png"


def test_bounded_lines_numbers_every_line_and_cuts_only_long_ones():
    import io

    from emoaudit.data.files import bounded_lines

    text = "ab\n" + "c" * 25 + "\r\n" + "d" * 9 + "\n" + "e" * 30 + "\rf"
    got = list(bounded_lines(io.StringIO(text, newline=""), limit=10))
    assert got == [(1, "ab\n"), (2, None), (3, "d" * 9 + "\n"), (4, None), (5, "f")]
    raw = list(bounded_lines(io.BytesIO(b"x" * 11 + b"\ny\n"), start=2, limit=10))
    assert raw == [(2, None), (3, b"y\n")]


def test_bounded_lines_keeps_numbering_when_a_piece_ends_inside_a_crlf():
    import io

    from emoaudit.data.files import bounded_lines

    for width in range(1, 14):  # every place a piece can end
        text = "a" * width + "\r\n" + "b\r\n" + "c" * 30 + "\r\n" + "d\r" + "e\n"
        got = list(bounded_lines(io.StringIO(text, newline=""), limit=10))
        first = "a" * width + "\r\n" if width <= 10 else None  # 10 and its break: in
        assert got == [(1, first), (2, "b\r\n"), (3, None), (4, "d\r"), (5, "e\n")], width
