"""Face sets without expression labels (UTKFace, FairFace, any image folder): every image is a
row with status ok and no label, attributes kept, bad names and missing files flagged."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emoaudit.data import fairface, image_folder, utkface
from emoaudit.data.detect import detect_format
from emoaudit.errors import DataError


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(path)


def test_utkface_names_become_age_band_gender_race(tmp_path):
    root = tmp_path / "UTKFace"
    for name in (
        "26_1_2_20170116174525125.jpg.chip.jpg",
        "1_0_0_20161219140623097.jpg.chip.jpg",
        "61_0_4_20170117174525125.jpg.chip.jpg",
        "39_1_20170116174525125.jpg.chip.jpg",  # one of the dataset's malformed names
    ):
        _image(root / name)
    assert detect_format(root) == "utkface"
    rows = {s.sample_id: s for s in utkface.iter_samples(root)}
    first = rows["26_1_2_20170116174525125.jpg.chip.jpg"]
    assert (first.status, first.label) == ("ok", None)
    assert first.attributes == {"age_band": "20-39", "gender": "female", "race": "Asian"}
    assert rows["1_0_0_20161219140623097.jpg.chip.jpg"].attributes["age_band"] == "0-2"
    assert rows["61_0_4_20170117174525125.jpg.chip.jpg"].attributes["race"] == "Others"
    bad = rows["39_1_20170116174525125.jpg.chip.jpg"]
    assert bad.status == "bad_input" and "UTKFace pattern" in bad.reason


def test_fairface_csv_and_folders(tmp_path):
    root = tmp_path / "fairface"
    _image(root / "val" / "1.jpg")
    _image(root / "val" / "2.jpg")
    (root / "fairface_label_val.csv").write_text(
        "file,age,gender,race,service_test\n"
        "val/1.jpg,20-29,Female,East Asian,True\n"
        "val/2.jpg,more than 70,Male,Black,False\n"
        "val/3.jpg,3-9,Male,Indian,False\n"
    )
    assert detect_format(root) == "fairface"
    a, b, missing = fairface.iter_samples(root)
    assert (a.status, a.label, a.split) == ("ok", None, "val")
    assert a.attributes == {"age": "20-29", "gender": "Female", "race": "East Asian"}
    assert b.attributes["age"] == "more than 70"
    assert missing.status == "unreadable"
    assert missing.reason.endswith("fairface_label_val.csv:4)")


def test_a_plain_image_folder_is_audited_label_free(tmp_path):
    _image(tmp_path / "set" / "women" / "a.png")
    _image(tmp_path / "set" / "men" / "b.png")
    _image(tmp_path / "set" / "c.png")
    assert detect_format(tmp_path / "set") == "images"
    rows = {s.sample_id: s for s in image_folder.iter_samples(tmp_path / "set")}
    assert set(rows) == {"women/a.png", "men/b.png", "c.png"}
    assert all(s.status == "ok" and s.label is None for s in rows.values())
    assert rows["women/a.png"].attributes == {"folder": "women"}
    assert rows["c.png"].attributes == {}


def test_an_image_folder_does_not_follow_a_link_out_of_it(tmp_path):
    """A link to a file outside the folder was read as an ordinary image of the set."""
    _image(tmp_path / "outside.png")
    _image(tmp_path / "set" / "a.png")
    (tmp_path / "set" / "b.png").symlink_to(tmp_path / "outside.png")
    rows = {s.sample_id: s for s in image_folder.iter_samples(tmp_path / "set")}
    assert rows["a.png"].status == "ok"
    assert rows["b.png"].status == "unreadable" and rows["b.png"].path is None
    assert "b.png" in rows["b.png"].reason


def test_an_image_folder_gives_a_video_among_its_photos_a_row_saying_so(tmp_path):
    _image(tmp_path / "set" / "a.png")
    (tmp_path / "set" / "clips").mkdir(parents=True)
    (tmp_path / "set" / "clips" / "b.mp4").write_bytes(b"not decoded")
    (tmp_path / "set" / ".hidden.mp4").write_bytes(b"skipped like hidden images")
    rows = {s.sample_id: s for s in image_folder.iter_samples(tmp_path / "set")}
    assert set(rows) == {"a.png", "clips/b.mp4"}
    assert rows["clips/b.mp4"].status == "unreadable" and rows["clips/b.mp4"].path is None
    assert rows["clips/b.mp4"].reason.startswith("clips/b.mp4: a video file, not an image")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "c.mov").write_bytes(b"x")
    with pytest.raises(DataError, match="it holds video files: --format video reads them"):
        list(image_folder.iter_samples(tmp_path / "only"))


def test_class_folders_are_still_class_folders(tmp_path):
    _image(tmp_path / "d" / "happy" / "a.png")
    _image(tmp_path / "d" / "train" / "sad" / "b.png")
    assert detect_format(tmp_path / "d") == "folders"
    _image(tmp_path / "s" / "train" / "happy" / "a.png")
    _image(tmp_path / "s" / "test" / "sad" / "b.png")
    assert detect_format(tmp_path / "s") == "folders"


def test_utkface_age_over_the_human_limit_is_bad_input_not_a_crash(tmp_path):
    from emoaudit.data.inspect import inspect_dataset

    root = tmp_path / "UTKFace"
    for name in (
        "201_0_0_20170109150557335.jpg",  # once StopIteration inside the generator
        "999_1_1_20170109150557335.jpg",
        "122_1_1_20170109150557335.jpg",
        "30_0_1_20170116174525126.jpg",
    ):
        _image(root / name)
    rows = {s.sample_id: s for s in utkface.iter_samples(root)}
    assert rows["122_1_1_20170109150557335.jpg"].attributes["age_band"] == "60+"
    bad = rows["201_0_0_20170109150557335.jpg"]
    assert (bad.status, bad.attributes) == ("bad_input", {})
    assert bad.reason == (
        "201_0_0_20170109150557335.jpg: age 201 is over 122, the oldest documented human age "
        "(expected <age>_<gender 0|1>_<race 0-4>_<date>.jpg)"
    )
    assert rows["999_1_1_20170109150557335.jpg"].status == "bad_input"
    assert utkface.age_band(201) is None
    info = inspect_dataset(root, fmt="utkface")
    assert info["statuses"] == {"ok": 2, "bad_input": 2}


def test_utkface_links_not_followed_are_unreadable_rows(tmp_path):
    root = tmp_path / "UTKFace"
    _image(root / "26_1_2_20170116174525125.jpg")
    _image(tmp_path / "outside" / "30_0_1_20170116174525126.jpg")
    (root / "30_0_1_20170116174525126.jpg").symlink_to(
        tmp_path / "outside" / "30_0_1_20170116174525126.jpg"
    )
    (root / "40_0_1_20170116174525126.jpg").symlink_to(root / "gone.jpg")
    got = {s.sample_id: (s.status, s.path) for s in utkface.iter_samples(root)}
    assert got == {  # the two links used to vanish without a row
        "26_1_2_20170116174525125.jpg": ("ok", str(root / "26_1_2_20170116174525125.jpg")),
        "30_0_1_20170116174525126.jpg": ("unreadable", None),
        "40_0_1_20170116174525126.jpg": ("unreadable", None),
    }
