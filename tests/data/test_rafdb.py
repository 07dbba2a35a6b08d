from dataset_fixtures import write_rafdb

from emoaudit.data import rafdb


def test_rafdb_labels_splits_images_and_attributes(tmp_path):
    write_rafdb(tmp_path)
    samples = list(rafdb.iter_samples(tmp_path))  # root above basic/ works
    assert [s.sample_id for s in samples] == [
        "train_00001.jpg", "train_00002.jpg", "test_0001.jpg", "test_0002.jpg",
        "train_00003.jpg", "train_00004.jpg", "line7",
    ]  # fmt: skip
    got = [(s.split, s.raw_label, s.label, s.status) for s in samples]
    assert got == [
        ("train", "5", "sad", "ok"),
        ("train", "7", "neutral", "ok"),
        ("test", "1", "surprise", "ok"),
        ("test", "9", None, "bad_input"),
        ("train", "4", "happy", "ok"),
        ("train", "2", None, "unreadable"),
        (None, None, None, "bad_input"),
    ]
    basic = tmp_path / "basic"
    assert samples[0].path == str(basic / "Image" / "aligned" / "train_00001_aligned.jpg")
    assert samples[0].precropped
    assert samples[4].path == str(basic / "Image" / "original" / "train_00003.jpg")
    assert not samples[4].precropped
    assert samples[0].attributes == {"gender": "female", "race": "Asian", "age": "20-39"}
    assert samples[1].attributes == {}
    assert samples[2].attributes == {"gender": "male", "race": "African-American", "age": "70+"}
    assert samples[4].attributes == {"gender": "unsure", "race": "Caucasian", "age": "0-3"}
    listing = basic / "EmoLabel" / "list_patition_label.txt"
    assert samples[3].reason.startswith(f"{listing}:4: label '9' is not in the RAF-DB basic")
    assert samples[5].reason.endswith(f"(referenced by {listing}:6)")
    assert samples[6].reason == f"{listing}:7: expected '<image name> <code 1-7>'"
    assert list(rafdb.iter_samples(basic))[0].sample_id == "train_00001.jpg"


def _list_file(tmp_path, content: bytes):
    from dataset_fixtures import write_image

    base = tmp_path / "basic"
    for n in (1, 2):
        write_image(base / "Image" / "aligned" / f"train_0000{n}_aligned.jpg", n)
    listing = base / "EmoLabel" / "list_patition_label.txt"
    listing.parent.mkdir(parents=True)
    listing.write_bytes(content)
    return listing


def test_rafdb_a_line_that_is_not_utf8_is_one_bad_row(tmp_path):
    listing = _list_file(tmp_path, b"train_00001.jpg 4\ntr\xe9in_00002.jpg 5\ntrain_00002.jpg 5\n")
    got = [(s.sample_id, s.status, s.reason) for s in rafdb.iter_samples(tmp_path)]
    assert got == [  # once a UnicodeDecodeError traceback that ended the run
        ("train_00001.jpg", "ok", ""),
        (
            "line2",
            "bad_input",
            f"{listing}:2: not UTF-8 text (byte 0xe9 at column 3); "
            "expected '<image name> <code 1-7>'",
        ),
        ("train_00002.jpg", "ok", ""),
    ]


def test_rafdb_a_utf8_bom_is_not_part_of_the_first_name(tmp_path):
    _list_file(tmp_path, b"\xef\xbb\xbftrain_00001.jpg 4\r\ntrain_00002.jpg 5\r\n")
    got = [(s.sample_id, s.split, s.label, s.status) for s in rafdb.iter_samples(tmp_path)]
    assert got == [
        ("train_00001.jpg", "train", "happy", "ok"),
        ("train_00002.jpg", "train", "sad", "ok"),
    ]


def test_rafdb_an_image_name_with_a_folder_is_bad_input_not_read(tmp_path):
    listing = _list_file(tmp_path, b"../../secret.jpg 4\n/etc/x.jpg 4\ntrain_00001.jpg 4\n")
    samples = list(rafdb.iter_samples(tmp_path))
    assert [(s.sample_id, s.status, s.path) for s in samples[:2]] == [
        ("line1", "bad_input", None),
        ("line2", "bad_input", None),
    ]
    assert samples[0].reason == f"{listing}:1: expected '<image name> <code 1-7>'"
    assert samples[2].status == "ok"


def test_rafdb_an_endless_line_is_one_bad_row(tmp_path):
    """The list was iterated a whole line at a time: a list of one line with no break in it
    was held whole. A line over MAX_LIST_LINE is one bad row, skipped in bounded pieces."""
    listing = _list_file(
        tmp_path, b"train_00001.jpg 4\n" + b"z" * 100_000 + b"\ntrain_00002.jpg 5\n"
    )
    got = [(s.sample_id, s.status, s.reason) for s in rafdb.iter_samples(tmp_path)]
    assert got == [
        ("train_00001.jpg", "ok", ""),
        (
            "line2",
            "bad_input",
            f"{listing}:2: line longer than 4,096 bytes, not read; "
            "expected '<image name> <code 1-7>'",
        ),
        ("train_00002.jpg", "ok", ""),
    ]
