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
