from dataset_fixtures import CKPLUS48_FILES, write_ckplus, write_ckplus48, write_image

from emoaudit.data import ckplus, ckplus48


def test_ckplus_one_peak_frame_per_sequence(tmp_path):
    write_ckplus(tmp_path)
    samples = list(ckplus.iter_samples(tmp_path))
    got = [(s.sample_id, s.subject_id, s.raw_label, s.label, s.status) for s in samples]
    assert got == [
        ("S005/001/S005_001_00000003.png", "S005", "3", "disgust", "ok"),
        ("S005/002/S005_002_00000002.png", "S005", None, None, "ok"),
        ("S010/001/S010_001_00000004.png", "S010", "7", "surprise", "ok"),
        ("S011/001/S011_001_00000002.png", "S011", "9", None, "bad_input"),
    ]
    assert samples[0].path.endswith("cohn-kanade-images/S005/001/S005_001_00000003.png")
    assert samples[1].reason == (
        "S005/002: CK+ sequence has no Emotion/*_emotion.txt file; not labelled"
    )
    assert "label '9.0000000e+00' is not in the CK+ label set" in samples[3].reason


def test_ckplus_label_file_without_its_frame_is_unreadable(tmp_path):
    write_ckplus(tmp_path)
    (tmp_path / "cohn-kanade-images" / "S010" / "001" / "S010_001_00000004.png").unlink()
    sample = [s for s in ckplus.iter_samples(tmp_path) if s.subject_id == "S010"][0]
    assert (sample.status, sample.label) == ("unreadable", None)
    assert "image file not found" in sample.reason


def test_ckplus48_classes_by_name_and_subjects(tmp_path):
    write_ckplus48(tmp_path)
    write_image(tmp_path / "happy" / "S999_001_00000001.png", 9)
    samples = list(ckplus48.iter_samples(tmp_path))
    got = {s.sample_id: (s.label, s.subject_id, s.status) for s in samples}
    assert set(got) == set(CKPLUS48_FILES) | {"happy/S999_001_00000001.png"}
    assert got["anger/S010_004_00000017.png"] == ("anger", "S010", "ok")
    assert got["contempt/S138_008_00000007.png"] == ("contempt", "S138", "ok")
    assert got["sadness/S011_002_00000020.png"] == ("sad", "S011", "ok")
    assert got["surprise/S022_001_00000030.png"] == ("surprise", "S022", "ok")
    assert all(s.precropped for s in samples)


def test_ckplus48_reports_a_linked_folder_instead_of_scoring_it_twice(tmp_path):
    write_ckplus48(tmp_path)
    (tmp_path / "happy" / "alias").symlink_to(tmp_path / "anger", target_is_directory=True)
    got = {s.sample_id: (s.label, s.status) for s in ckplus48.iter_samples(tmp_path)}
    assert set(got) == set(CKPLUS48_FILES) | {"happy/alias"}  # not happy/alias/S010_004_...
    assert got["happy/alias"] == ("happy", "unreadable")


def test_ckplus48_image_beside_the_class_folders_is_a_bad_input_row(tmp_path):
    write_ckplus48(tmp_path)
    write_image(tmp_path / "S012_001_00000001.png", 3)
    samples = list(ckplus48.iter_samples(tmp_path))
    assert len(samples) == len(CKPLUS48_FILES) + 1
    stray = samples[0]  # the top level's files come before its class folders
    assert (stray.sample_id, stray.status, stray.label, stray.path) == (
        "S012_001_00000001.png",
        "bad_input",
        None,
        None,
    )
    assert stray.reason == (
        "S012_001_00000001.png: image outside any class folder; "
        "expected <class>/S010_004_00000017.png"
    )


def test_ckplus_a_label_file_that_is_huge_or_a_fifo_is_one_bad_row(tmp_path):
    """read_text() held a label file of any size whole and waited forever on a FIFO named like
    one: each is now one bad_input row, and the other sequences are read."""
    import os

    write_ckplus(tmp_path)
    emotion = tmp_path / "Emotion"
    (emotion / "S005" / "001" / "S005_001_00000003_emotion.txt").write_text(" 3" * 100_000)
    fifo = emotion / "S010" / "001" / "S010_001_00000004_emotion.txt"
    fifo.unlink()
    os.mkfifo(fifo)
    import threading

    out: list = []
    reader = threading.Thread(target=lambda: out.extend(ckplus.iter_samples(tmp_path)), daemon=True)
    reader.start()
    reader.join(20)
    assert not reader.is_alive(), "the reader waits on the FIFO"  # fails, never hangs the suite
    samples = out
    got = [(s.subject_id, s.status) for s in samples]
    assert got == [("S005", "bad_input"), ("S005", "ok"), ("S010", "bad_input"),
                   ("S011", "bad_input")]  # fmt: skip
    assert "expected one number" in samples[0].reason and "expected one number" in samples[2].reason
