"""FairFace: label-free rows with age, gender and race; a path that is not an image file says
what it is (missing, or a folder or device), never one for the other."""

from __future__ import annotations

from dataset_fixtures import write_image

from emoaudit.data import fairface


def _fairface(root, rows: str):
    write_image(root / "val" / "1.jpg", 1, mode="RGB")
    (root / "fairface_label_val.csv").write_text("file,age,gender,race,service_test\n" + rows)
    return list(fairface.iter_samples(root))


def test_rows_keep_their_attributes_and_no_label(tmp_path):
    (sample,) = _fairface(tmp_path, "val/1.jpg,20-29,Female,East Asian,True\n")
    assert (sample.sample_id, sample.status, sample.label, sample.split) == (
        "val/1.jpg", "ok", None, "val"
    )  # fmt: skip
    assert sample.path == str(tmp_path / "val" / "1.jpg")
    assert sample.attributes == {"age": "20-29", "gender": "Female", "race": "East Asian"}


def test_a_folder_or_device_as_an_image_path_is_not_called_missing(tmp_path):
    (tmp_path / "val" / "2.jpg").mkdir(parents=True)
    csv_path = tmp_path / "fairface_label_val.csv"
    ok, folder, device, missing = _fairface(
        tmp_path,
        "val/1.jpg,3-9,Male,Indian,False\n"
        "val/2.jpg,20-29,Male,White,True\n"
        "/dev/null,20-29,Male,White,True\n"
        "val/3.jpg,3-9,Female,Black,False\n",
    )
    assert [s.status for s in (ok, folder, device, missing)] == ["ok"] + ["unreadable"] * 3
    assert folder.reason == (
        f"{tmp_path / 'val' / '2.jpg'}: not a regular file "
        f"(a folder or device; referenced by {csv_path}:3)"
    )
    assert device.reason.startswith("/dev/null: not a regular file")
    assert missing.reason == (
        f"{tmp_path / 'val' / '3.jpg'}: image file not found (referenced by {csv_path}:5)"
    )
    assert folder.attributes == {"age": "20-29", "gender": "Male", "race": "White"}


def test_a_row_without_a_file_is_bad_input(tmp_path):
    (sample,) = _fairface(tmp_path, ",20-29,Male,White,True\n")
    assert sample.status == "bad_input"
    assert sample.reason == f"{tmp_path / 'fairface_label_val.csv'}:2: empty 'file' field"
