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
