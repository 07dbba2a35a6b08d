import pytest
from dataset_fixtures import (
    write_affectnet,
    write_affectnet_sets,
    write_ckplus,
    write_ckplus48,
    write_fer2013,
    write_fer2013_folders,
    write_ferplus,
    write_ferplus_folders,
    write_folders,
    write_jaffe,
    write_manifest_csv,
    write_manifest_parquet,
    write_rafdb,
)

from emoaudit.data import DATASETS
from emoaudit.data.detect import detect_format, iter_dataset
from emoaudit.errors import DataError

CASES = [
    ("fer2013", lambda p: write_fer2013(p)),
    ("fer2013", lambda p: write_fer2013(p) and p / "fer2013.csv"),
    ("fer2013-folders", write_fer2013_folders),
    ("ferplus", write_ferplus),
    ("ferplus", lambda p: write_ferplus(p) / "fer2013new.csv"),
    ("ferplus", write_ferplus_folders),
    ("rafdb", write_rafdb),
    ("rafdb", lambda p: write_rafdb(p) / "basic"),
    ("affectnet", write_affectnet),
    ("affectnet", write_affectnet_sets),
    ("ckplus", write_ckplus),
    ("ckplus48", write_ckplus48),
    ("jaffe", lambda p: write_jaffe(p) and p),
    ("folders", write_folders),
    ("folders", lambda p: write_folders(p, split="train")),
    ("manifest", write_manifest_csv),
    ("manifest", lambda p: write_manifest_parquet(p, rows=10, row_group_size=5)),
]


@pytest.mark.parametrize(("expected", "make"), CASES)
def test_detects_each_format(tmp_path, expected, make):
    root = make(tmp_path) or tmp_path
    assert detect_format(root) == expected
    assert all(s.dataset == expected for s in iter_dataset(root))


def test_every_registered_format_is_tried():
    from emoaudit.data.detect import _candidates

    assert set(_candidates()) == set(DATASETS.names())


def test_adapters_follow_the_contract():
    for name in DATASETS.names():
        adapter = DATASETS.get(name)
        assert adapter.NAME == name
        assert adapter.DESCRIPTION and isinstance(adapter.PRECROPPED, bool)
        assert callable(adapter.detect) and callable(adapter.iter_samples)


def test_missing_path(tmp_path):
    with pytest.raises(DataError) as info:
        detect_format(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path / 'nope'}: no such file or directory"
    with pytest.raises(DataError, match="no such file or directory"):
        list(iter_dataset(tmp_path / "nope", "fer2013"))


def test_unknown_format(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as info:
        detect_format(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}: could not detect the dataset format; pass --format")
    assert "fer2013-folders" in message and "\n" not in message


def test_empty_dataset_is_data_error(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no samples found for format 'fer2013'"):
        list(iter_dataset(tmp_path))


def test_undetected_table_says_what_was_tried_and_why(tmp_path):
    semi = tmp_path / "faces.csv"
    semi.write_text("path;label\na.png;happy\n")
    with pytest.raises(DataError) as info:
        detect_format(semi)
    message = str(info.value)
    assert "\n" not in message
    assert "manifest (its columns are there, but separated by ';')" in message
    assert "fer2013 (missing column(s) emotion, pixels)" in message
    assert "tables must be comma-separated" in message

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,emotion\na.png,happy\n")
    with pytest.raises(DataError) as info:
        detect_format(wrong)
    assert "manifest (missing column(s) path)" in str(info.value)
    assert "comma-separated" not in str(info.value)


def test_undetected_folder_lists_the_formats_tried(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as info:
        detect_format(tmp_path)
    assert "Tried ferplus, fer2013, manifest" in str(info.value)
    assert "none matched this folder's layout" in str(info.value)


@pytest.mark.parametrize(("videos", "images"), [(3, 2), (1, 3)])
def test_folder_of_videos_and_images_is_refused_naming_both(tmp_path, videos, images):
    """Either generic format reads one kind only: guessing dropped the minority silently."""
    for i in range(videos):
        (tmp_path / f"clip{i}.mp4").write_bytes(b"")
    (tmp_path / "photos").mkdir()
    for i in range(images):
        (tmp_path / "photos" / f"face{i}.jpg").write_bytes(b"")
    with pytest.raises(DataError) as info:
        detect_format(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}: holds both video files (e.g. clip0.mp4)")
    assert "image files (e.g. photos/face0.jpg)" in message and "pass --format" in message
    assert "\n" not in message


def test_one_kind_of_media_is_still_detected(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "b.gif").write_bytes(b"")  # read by both formats: not a second kind
    (tmp_path / ".hidden.jpg").write_bytes(b"")  # AppleDouble-style: skipped by the adapters
    assert detect_format(tmp_path) == "video"
    (tmp_path / "a.mp4").unlink()
    (tmp_path / "c.png").write_bytes(b"")
    assert detect_format(tmp_path) == "images"
