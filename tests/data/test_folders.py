import pytest
from dataset_fixtures import write_folders

from emoaudit.data import folders
from emoaudit.errors import DataError


def test_folders_map_class_names_through_taxonomy(tmp_path):
    write_folders(tmp_path)
    got = {
        s.sample_id: (s.raw_label, s.label, s.status, s.split)
        for s in folders.iter_samples(tmp_path)
    }
    assert got == {
        "Happy/a.png": ("Happy", "happy", "ok", None),
        "happiness/b.jpg": ("happiness", "happy", "ok", None),
        "angry/c.png": ("angry", "anger", "ok", None),
        "sadness/d.png": ("sadness", "sad", "ok", None),
        "confused/e.png": ("confused", None, "unmapped_label", None),
    }  # notes.txt is not an image and is not a sample


def test_folders_with_split_level(tmp_path):
    write_folders(tmp_path, split="test")
    samples = list(folders.iter_samples(tmp_path))
    assert {s.split for s in samples} == {"test"}
    assert {s.sample_id for s in samples} >= {"test/Happy/a.png", "test/confused/e.png"}


def test_folders_empty_is_data_error(tmp_path):
    (tmp_path / "happy").mkdir()
    with pytest.raises(DataError, match="no samples found for format 'folders'"):
        list(folders.iter_samples(tmp_path))


def _linked_folders(root):
    from dataset_fixtures import write_image

    for name in ("happy/a.png", "happy/b.png", "neutral/c.png", "neutral/d.png"):
        write_image(root / name, 0)
    return root


def test_a_symlinked_folder_is_not_followed_into_another_class(tmp_path):
    root = _linked_folders(tmp_path)
    (root / "happy" / "alias").symlink_to(root / "neutral", target_is_directory=True)
    got = {s.sample_id: (s.label, s.status) for s in folders.iter_samples(root)}
    assert got == {  # the old walk scored neutral/c and neutral/d a second time, as happy
        "happy/a.png": ("happy", "ok"),
        "happy/alias": ("happy", "unreadable"),
        "happy/b.png": ("happy", "ok"),
        "neutral/c.png": ("neutral", "ok"),
        "neutral/d.png": ("neutral", "ok"),
    }
    alias = next(s for s in folders.iter_samples(root) if s.sample_id == "happy/alias")
    assert alias.path is None
    assert alias.reason == f"{root / 'happy' / 'alias'}: " + (
        "symbolic link to a folder; not followed (it could repeat or loop)"
    )


def test_a_symlinked_file_into_another_class_is_reported_not_read(tmp_path):
    root = _linked_folders(tmp_path)
    (root / "happy" / "e.png").symlink_to(root / "neutral" / "c.png")
    (root / "happy" / "f.png").symlink_to(root / "happy" / "a.png")  # inside its folder: read
    samples = {s.sample_id: s for s in folders.iter_samples(root)}
    assert samples["happy/e.png"].status == "unreadable"
    assert "outside its folder; not followed" in samples["happy/e.png"].reason
    assert samples["happy/f.png"].status == "ok"


def test_symlink_loops_are_reported_not_fatal(tmp_path):
    from emoaudit.data.inspect import inspect_dataset

    root = _linked_folders(tmp_path)
    (root / "happy" / "up").symlink_to(root, target_is_directory=True)
    (root / "happy" / "self.png").symlink_to(root / "happy" / "self.png")
    (root / "neutral" / "x.jpg").symlink_to(root / "neutral" / "y.jpg")
    (root / "neutral" / "y.jpg").symlink_to(root / "neutral" / "x.jpg")
    info = inspect_dataset(root)
    assert info["format"] == "folders"
    assert info["n_samples"] == 8
    assert info["statuses"] == {"ok": 4, "unreadable": 4}


def test_a_folder_that_cannot_be_listed_is_one_unreadable_sample(tmp_path, monkeypatch):
    import os

    root = _linked_folders(tmp_path)
    (root / "happy" / "private").mkdir()
    scandir = os.scandir

    def refusing(path):
        if str(path).endswith("private"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    samples = {s.sample_id: s for s in folders.iter_samples(root)}
    assert len(samples) == 5
    private = samples["happy/private"]
    assert (private.status, private.reason) == (
        "unreadable",
        f"{root / 'happy' / 'private'}: cannot list folder (Permission denied)",
    )


# --- images outside any class folder are rows, never dropped (hostile-input sweep) ----------


def _image(root, rel, seed=0):
    from dataset_fixtures import write_image

    return write_image(root / rel, seed)


def test_an_image_beside_the_class_folders_is_a_bad_input_row(tmp_path):
    for rel in ("happy/a.png", "sad/b.png", "root.jpg", "._root.jpg"):
        _image(tmp_path, rel)
    (tmp_path / ".DS_Store").write_bytes(b"Bud1")
    got = {s.sample_id: (s.status, s.path, s.reason) for s in folders.iter_samples(tmp_path)}
    assert set(got) == {"root.jpg", "happy/a.png", "sad/b.png"}  # hidden names: skipped
    assert got["root.jpg"] == (
        "bad_input",
        None,  # never read: a stray is counted, not scored
        "root.jpg: image outside any class folder; expected <class>/<image>",
    )


def test_an_image_directly_in_a_split_folder_is_a_bad_input_row(tmp_path):
    for rel in ("train/happy/a.png", "train/stray.jpg", "test/sad/b.png", "top.png"):
        _image(tmp_path, rel)
    samples = list(folders.iter_samples(tmp_path))
    got = {s.sample_id: (s.split, s.status) for s in samples}
    assert got == {
        "top.png": (None, "bad_input"),
        "train/stray.jpg": ("train", "bad_input"),
        "train/happy/a.png": ("train", "ok"),
        "test/sad/b.png": ("test", "ok"),
    }
    stray = next(s for s in samples if s.sample_id == "train/stray.jpg")
    assert stray.reason.endswith("image outside any class folder; expected <split>/<class>/<image>")


def test_fer2013_folders_read_a_val_split_and_count_stray_images(tmp_path):
    # (fer2013-folders tests otherwise live in test_fer2013.py)
    from emoaudit.data import fer2013_folders

    for rel in (
        "train/happy/Training_1.jpg",
        "test/sad/PublicTest_2.jpg",
        "val/angry/PrivateTest_3.jpg",
        "validation/fear/4.jpg",
        "train/x.jpg",
        "x.jpg",
        "extra/neutral/5.jpg",
    ):
        _image(tmp_path, rel)
    assert fer2013_folders.detect(tmp_path)
    got = [
        (s.sample_id, s.split, s.label, s.status) for s in fer2013_folders.iter_samples(tmp_path)
    ]
    assert got == [  # train, test, then val splits: the order before val was read is kept
        ("x.jpg", None, None, "bad_input"),
        ("extra/neutral/5.jpg", None, None, "bad_input"),
        ("train/x.jpg", "train", None, "bad_input"),
        ("train/happy/Training_1.jpg", "Training", "happy", "ok"),
        ("test/sad/PublicTest_2.jpg", "PublicTest", "sad", "ok"),
        ("val/angry/PrivateTest_3.jpg", "PrivateTest", "anger", "ok"),
        ("validation/fear/4.jpg", "validation", "fear", "ok"),
    ]
