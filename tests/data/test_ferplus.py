import numpy as np
from dataset_fixtures import FERPLUS_LINES, pattern, write_ferplus, write_ferplus_folders

from emoaudit.data import ferplus


def test_ferplus_joins_votes_to_pixels_by_row_order(tmp_path):
    write_ferplus(tmp_path)
    samples = list(ferplus.iter_samples(tmp_path))
    assert [s.sample_id for s in samples] == [f"row{k}" for k in range(6)]
    for k, sample in enumerate(samples):
        np.testing.assert_array_equal(sample.pixels, pattern(100 + k))  # row k <-> row k
    assert [s.split for s in samples] == [
        "Training", "Training", "Training", "Training", "PublicTest", "PrivateTest"
    ]  # fmt: skip
    assert [s.label for s in samples] == ["neutral", "happy", None, None, None, "contempt"]
    assert [s.status for s in samples] == [
        "ok", "ok", "unmapped_label", "unmapped_label", "unmapped_label", "ok"
    ]  # fmt: skip
    assert samples[0].votes == {
        "neutral": 4, "happy": 0, "surprise": 0, "sad": 1, "anger": 3, "disgust": 2,
        "fear": 0, "contempt": 0, "unknown": 0, "nf": 0,
    }  # fmt: skip
    assert samples[2].votes["nf"] == 10
    # original FER2013 labels kept for agreement analysis (codes 6,3,0,5,4,1)
    assert [s.attributes["fer2013_label"] for s in samples] == [
        "neutral", "happy", "anger", "surprise", "sad", "disgust"
    ]  # fmt: skip


def test_ferplus_reasons_for_not_a_face_tie_and_unknown(tmp_path):
    write_ferplus(tmp_path)
    samples = list(ferplus.iter_samples(tmp_path))
    labels = tmp_path / "fer2013new.csv"
    assert samples[2].reason == (
        f"{labels}:4: FER+ plurality is 'NF' (10 of 10 votes), not an expression"
    )
    assert samples[3].reason == (
        f"{labels}:5: FER+ votes tie between neutral, surprise (5 each); no plurality label"
    )
    assert samples[3].raw_label == "neutral+surprise"
    assert samples[4].reason == (
        f"{labels}:6: FER+ plurality is 'unknown' (4 of 10 votes), not an expression"
    )


def test_ferplus_usage_mismatch_and_row_count_mismatch_are_per_row(tmp_path):
    lines = list(FERPLUS_LINES)
    lines[4] = lines[4].replace("PublicTest", "Training")
    write_ferplus(tmp_path, lines=lines, fer_rows=7)
    samples = list(ferplus.iter_samples(tmp_path))
    assert len(samples) == 7
    assert samples[4].status == "bad_input"
    assert "Usage 'Training' differs from 'PublicTest'" in samples[4].reason
    assert samples[6].status == "bad_input"
    assert samples[6].reason == (
        f"{tmp_path / 'fer2013.csv'}:8: no matching row in fer2013new.csv "
        "(the files differ in row count)"
    )


def test_ferplus_needs_fer2013_next_to_it(tmp_path):
    import pytest

    from emoaudit.errors import DataError

    write_ferplus(tmp_path)
    (tmp_path / "fer2013.csv").unlink()
    with pytest.raises(DataError, match="FER\\+ votes need the FER2013 pixels"):
        list(ferplus.iter_samples(tmp_path / "fer2013new.csv"))


def test_ferplus_generated_folder_layout(tmp_path):
    write_ferplus_folders(tmp_path)
    samples = list(ferplus.iter_samples(tmp_path))
    got = [(s.sample_id, s.split, s.label, s.status) for s in samples]
    assert got == [
        ("FER2013Train/fer0000000.png", "Training", "neutral", "ok"),
        ("FER2013Train/fer0000001.png", "Training", "happy", "ok"),
        ("FER2013Train/fer0000009.png", "Training", None, "unreadable"),
    ]
    assert samples[2].reason.endswith(
        f"(referenced by {tmp_path / 'FER2013Train' / 'label.csv'}:3)"
    )


def test_ferplus_folders_with_face_box_column_as_committed_in_ferplus_data(tmp_path):
    """microsoft/FERPlus data/*/label.csv: name, "(0, 0, 48, 48)", ten votes (12 fields)."""
    write_ferplus_folders(tmp_path, face_box=True)
    samples = list(ferplus.iter_samples(tmp_path))
    got = [(s.sample_id, s.label, s.status) for s in samples]
    assert got == [
        ("FER2013Train/fer0000000.png", "neutral", "ok"),
        ("FER2013Train/fer0000001.png", "happy", "ok"),
        ("FER2013Train/fer0000009.png", None, "unreadable"),
    ]
    assert samples[0].votes["anger"] == 3


def test_ferplus_folders_with_fer2013_csv_beside_them_still_read_the_folders(tmp_path):
    from dataset_fixtures import write_fer2013

    from emoaudit.data.detect import detect_format

    write_ferplus_folders(tmp_path, face_box=True)
    write_fer2013(tmp_path)
    assert detect_format(tmp_path) == "ferplus"
    assert [s.status for s in ferplus.iter_samples(tmp_path)] == ["ok", "ok", "unreadable"]


def test_ferplus_label_csv_of_another_width_is_one_bad_row_naming_what_was_expected(tmp_path):
    write_ferplus_folders(tmp_path)
    label_csv = tmp_path / "FER2013Train" / "label.csv"
    lines = label_csv.read_text().splitlines()
    lines[1] = "fer0000001.png,(0 0 48 48),0,10,0,0,0,0,0,0,0,0"  # 12 fields, but no face box
    label_csv.write_text("\n".join(lines) + "\n")
    samples = list(ferplus.iter_samples(tmp_path))
    assert [s.status for s in samples] == ["ok", "bad_input", "unreadable"]
    assert samples[1].reason == f"{label_csv}:2: {ferplus.LABEL_CSV_EXPECTED}"


def test_ferplus_new_csv_with_png_folders_joins_through_image_name(tmp_path):
    from dataset_fixtures import write_ferplus_named

    from emoaudit.data.detect import detect_format

    write_ferplus_named(tmp_path)
    assert detect_format(tmp_path) == "ferplus"
    samples = list(ferplus.iter_samples(tmp_path))
    # same ids as the fer2013.csv join, so the two layouts compare sample by sample
    assert [s.sample_id for s in samples] == [f"row{k}" for k in range(6)]
    assert [s.label for s in samples] == ["neutral", "happy", None, None, None, "contempt"]
    assert [s.status for s in samples] == [
        "ok", "ok", "unmapped_label", "unmapped_label", "unmapped_label", "ok"
    ]  # fmt: skip
    assert samples[2].path is None  # no Image name: no PNG exists
    # row 3 is fer0000002.png (the counter skipped row 2), in the folder of its Usage
    assert samples[3].path == str(tmp_path / "FER2013Train" / "fer0000002.png")
    assert samples[5].path == str(tmp_path / "FER2013Test" / "fer0000004.png")
    from PIL import Image

    for k in (0, 1, 3, 4, 5):  # each PNG holds the pattern of its own row
        np.testing.assert_array_equal(np.asarray(Image.open(samples[k].path)), pattern(300 + k))


def test_ferplus_new_csv_with_png_folders_missing_png_and_nameless_expression(tmp_path):
    from dataset_fixtures import FERPLUS_HEADER, write_ferplus_named

    write_ferplus_named(tmp_path)
    (tmp_path / "FER2013Train" / "fer0000001.png").unlink()
    labels = tmp_path / "fer2013new.csv"
    lines = labels.read_text().splitlines()
    lines.append("Training,,0,9,0,0,0,0,0,0,0,1")  # a happy face with no image name
    labels.write_text("\n".join(lines) + "\n")
    assert lines[0] == FERPLUS_HEADER
    samples = list(ferplus.iter_samples(tmp_path))
    assert samples[1].status == "unreadable"
    assert samples[1].reason == (
        f"{tmp_path / 'FER2013Train' / 'fer0000001.png'}: image file not found "
        f"(referenced by {labels}:3)"
    )
    assert samples[6].status == "unreadable"
    assert samples[6].reason == ferplus.NO_IMAGE_NAME.format(path=labels, line=8)


def test_ferplus_pixels_come_from_the_fer2013_block_reader_with_its_reasons(tmp_path):
    """FER+ reads fer2013.csv a block at a time like the fer2013 adapter: a strict row is a
    face, a broken one keeps the per-row reason with its line."""
    write_ferplus(tmp_path)
    fer_csv = tmp_path / "fer2013.csv"
    lines = fer_csv.read_text().splitlines()
    code, pixels, usage = lines[2].split(",")
    lines[2] = ",".join([code, pixels.rsplit(" ", 1)[0], usage])  # row1: one value short
    lines[3] = lines[3].replace(" ", "  ", 1)  # row2: a double space, read by parse_pixels
    fer_csv.write_text("\n".join(lines) + "\n")
    samples = list(ferplus.iter_samples(tmp_path))
    assert samples[1].status == "bad_input" and samples[1].pixels is None
    assert samples[1].reason == f"{fer_csv}:3: expected 2304 pixel values, found 2303"
    np.testing.assert_array_equal(samples[2].pixels, pattern(102))
    np.testing.assert_array_equal(samples[0].pixels, pattern(100))


def _pixel_csv_lines(tmp_path):
    write_ferplus(tmp_path)
    path = tmp_path / "fer2013.csv"
    return path, path.read_text().splitlines(keepends=True)


def test_ferplus_a_line_of_spaces_in_fer2013_csv_does_not_shift_the_join(tmp_path):
    """A stray line of spaces used to be a record of its own: every later row of fer2013.csv
    moved down one and was paired with the votes of the face before it."""
    path, lines = _pixel_csv_lines(tmp_path)
    path.write_text("".join([*lines[:3], "   \t \n", *lines[3:]]))
    samples = list(ferplus.iter_samples(tmp_path))
    assert len(samples) == 6
    for k, sample in enumerate(samples):
        np.testing.assert_array_equal(sample.pixels, pattern(100 + k))
    assert [s.attributes["fer2013_label"] for s in samples] == [
        "neutral", "happy", "anger", "surprise", "sad", "disgust"
    ]  # fmt: skip


def test_ferplus_a_pixel_cell_quoted_across_two_lines_stays_one_record(tmp_path):
    """The csv module reads a quoted cell with a line break as one record; so must the join."""
    path, lines = _pixel_csv_lines(tmp_path)
    code, pixels, usage = lines[2].rstrip("\n").split(",")
    half = pixels.index(" ", len(pixels) // 2)
    lines[2] = f'{code},"{pixels[:half]}\n{pixels[half + 1 :]}",{usage}\n'
    path.write_text("".join(lines))
    samples = list(ferplus.iter_samples(tmp_path))
    assert len(samples) == 6
    for k in range(6):  # the line break reads as the space it replaced; later rows keep theirs
        np.testing.assert_array_equal(samples[k].pixels, pattern(100 + k))
    assert samples[2].votes["nf"] == 10


def test_ferplus_a_stray_quote_in_the_labels_csv_does_not_shift_the_join(tmp_path):
    """A quote left open at the end of a fer2013new.csv row and closed at the end of the
    next made one record of the two (the next row's text as a vote cell), so every later row
    was paired with the face after its own. No FER+ column holds a line break: the row is
    bad_input and the join stays aligned."""
    write_ferplus(tmp_path)
    labels = tmp_path / "fer2013new.csv"
    lines = labels.read_text().splitlines(keepends=True)
    head, _, last = lines[2].rpartition(",")
    lines[2] = f'{head},"{last}'  # a quote opening the last cell swallows the next line ...
    lines[3] = lines[3].rstrip("\n") + '"\n'  # ... which closes it
    labels.write_text("".join(lines))
    samples = list(ferplus.iter_samples(tmp_path))
    assert len(samples) == 6
    assert samples[1].status == "bad_input"
    assert "puts a line break in the '" in samples[1].reason
    for k in (0, 3, 4, 5):  # the rows after keep their own faces
        np.testing.assert_array_equal(samples[k].pixels, pattern(100 + k))
