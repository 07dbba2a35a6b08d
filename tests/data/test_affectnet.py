import numpy as np
import pytest
from dataset_fixtures import write_affectnet, write_affectnet_sets, write_image

from emoaudit.data import affectnet
from emoaudit.errors import DataError


def test_affectnet_csv_rows(tmp_path):
    write_affectnet(tmp_path)
    samples = list(affectnet.iter_samples(tmp_path))
    got = [(s.sample_id, s.split, s.raw_label, s.label, s.status) for s in samples]
    assert got == [
        ("689/a1.jpg", "train", "1", "happy", "ok"),
        ("689/a2.jpg", "train", "8", None, "unmapped_label"),
        ("12/b1.png", "train", "12", None, "bad_input"),
        ("12/missing.jpg", "train", "6", None, "unreadable"),
        ("7/c1.jpg", "val", "7", "contempt", "ok"),
    ]
    images = tmp_path / "Manually_Annotated" / "Manually_Annotated_Images"
    assert samples[0].path == str(images / "689" / "a1.jpg")
    assert samples[0].face_box == (10, 12, 70, 74)
    assert samples[0].targets == {"valence": 0.5}  # arousal -2 = missing, omitted
    assert samples[1].targets == {}
    assert samples[4].targets == {"valence": -0.25, "arousal": 0.25}
    training = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    assert samples[1].reason == (
        f"{training}:3: label '8 none' is not an expression "
        "(AffectNet codes 8-10 are not expressions)"
    )
    assert samples[2].reason.startswith(f"{training}:4: label '12' is not in the AffectNet")
    assert samples[3].reason.endswith(f"(referenced by {training}:5)")


def test_affectnet_csv_given_directly(tmp_path):
    write_affectnet(tmp_path)
    csv_path = tmp_path / "Manually_Annotated_file_lists" / "validation.csv"
    samples = list(affectnet.iter_samples(csv_path))
    assert [(s.sample_id, s.status) for s in samples] == [("7/c1.jpg", "ok")]


def test_affectnet_missing_expression_column(tmp_path):
    path = tmp_path / "training.csv"
    path.write_text("subDirectory_filePath,valence\n1/a.jpg,0.1\n")
    assert not affectnet.detect(path)
    with pytest.raises(DataError, match="no samples found for format 'affectnet'"):
        list(affectnet.iter_samples(path))


def test_affectnet_set_folders(tmp_path):
    write_affectnet_sets(tmp_path)
    samples = list(affectnet.iter_samples(tmp_path))
    got = [(s.sample_id, s.split, s.label, s.status, s.targets) for s in samples]
    assert got[0] == ("train_set/images/0.jpg", "train", "surprise", "ok",
                      {"valence": 0.2, "arousal": -0.1})  # fmt: skip
    assert got[1][:4] == ("train_set/images/1.jpg", "train", None, "bad_input")
    assert got[2][:4] == ("val_set/images/5.jpg", "val", None, "unmapped_label")
    assert samples[0].precropped
    assert "1_exp.npy: cannot read expression annotation" in samples[1].reason


def _one_set_sample(tmp_path, write_exp, *, valence=None):
    """A val_set/ with one image whose expression file is written by `write_exp(path)`."""
    ann = tmp_path / "val_set" / "annotations"
    ann.mkdir(parents=True)
    write_image(tmp_path / "val_set" / "images" / "0.jpg", 1, mode="RGB")
    write_image(tmp_path / "val_set" / "images" / "1.jpg", 2, mode="RGB")
    write_exp(ann / "0_exp.npy")
    if valence is not None:
        valence(ann / "0_val.npy")
    np.save(ann / "1_exp.npy", np.array("1"))
    return list(affectnet.iter_samples(tmp_path))


def _npz(path):
    with open(path, "wb") as fh:
        np.savez(fh, exp=np.array("3"))


def _save(value, **kw):
    return lambda path: np.save(path, value, **kw)


@pytest.mark.parametrize(
    ("write", "why"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (_npz, "an .npz archive, not a .npy array"),
        (lambda p: p.write_text("3\n"), "not a .npy file"),
        (_save(np.array({"exp": 3}, dtype=object), allow_pickle=True),
         "holds pickled Python objects"),
        (_save(np.array([3, 4])), "holds an array of shape (2,)"),
        (_save(np.array("happy")), "holds 'happy', not a number"),
        (_save(np.array(2.5)), "holds 2.5, not a whole-number code"),
        (_save(np.array([1 + 2j])), "holds a value of type complex128"),
        (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr'"), "corrupt .npy"),
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: None, "no such file"),
    ],
)  # fmt: skip
def test_an_unreadable_expression_file_is_bad_input_and_the_rest_are_kept(tmp_path, write, why):
    bad, good = _one_set_sample(tmp_path, write)
    exp = tmp_path / "val_set" / "annotations" / "0_exp.npy"
    assert (bad.status, bad.label) == ("bad_input", None)
    assert bad.reason.startswith(f"{exp}: cannot read expression annotation ({why}")
    assert bad.reason.endswith("expected a .npy file holding one number)")
    assert "\n" not in bad.reason
    assert (good.status, good.label) == ("ok", "happy")


def test_expression_codes_stored_as_numbers_or_strings_are_read(tmp_path):
    for i, value in enumerate((np.array(3), np.array(3.0), np.array(["3"]), np.array(b"3"))):
        (sample, _) = _one_set_sample(tmp_path / str(i), _save(value))
        assert (sample.status, sample.raw_label, sample.label) == ("ok", "3", "surprise")


def test_a_broken_valence_file_is_bad_input_a_missing_one_is_omitted(tmp_path):
    (broken, _) = _one_set_sample(
        tmp_path / "a", _save(np.array("1")), valence=lambda p: p.write_bytes(b"")
    )
    assert broken.status == "bad_input"
    assert "0_val.npy: cannot read valence annotation (empty file" in broken.reason
    (absent, _) = _one_set_sample(tmp_path / "b", _save(np.array("1")))
    assert (absent.status, absent.targets) == ("ok", {})


def test_a_folder_named_as_an_image_is_not_called_missing(tmp_path):
    write_affectnet(tmp_path)
    images = tmp_path / "Manually_Annotated" / "Manually_Annotated_Images"
    (images / "12" / "missing.jpg").mkdir(parents=True)
    training = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    (sample,) = [s for s in affectnet.iter_samples(tmp_path) if s.sample_id == "12/missing.jpg"]
    assert sample.status == "unreadable"
    assert sample.reason == (
        f"{images / '12' / 'missing.jpg'}: not a regular file "
        f"(a folder or device; referenced by {training}:5)"
    )


def test_the_face_box_of_a_photo_over_16_megapixels_crops_the_face(tmp_path):
    """A 6000x3000 photo is decoded at half size; the csv box (in the file's pixels) must still
    crop the face, not the gray wall beside it, and a box past the half-size image is no miss."""
    import cv2

    from emoaudit.data import images
    from emoaudit.run.chunks import FaceSettings, decode_chunk, read_chunk

    assert 6000 * 3000 > images.DECODE_PIXELS
    photo = np.full((3000, 6000, 3), 90, np.uint8)
    photo[1000:1150, 1170:1320] = (220, 30, 30)  # the 'face'
    photo[2700:2850, 5000:5150] = (220, 30, 30)
    folder = tmp_path / "Manually_Annotated_Images" / "1"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "big.jpg"), photo[:, :, ::-1])
    (tmp_path / "training.csv").write_text(
        "subDirectory_filePath,face_x,face_y,face_width,face_height,expression\n"
        "1/big.jpg,1170,1000,150,150,1\n1/big.jpg,5000,2700,150,150,1\n1/big.jpg,6100,10,50,50,1\n"
    )
    samples = list(affectnet.iter_samples(tmp_path / "training.csv"))
    chunk = read_chunk(0, samples)
    decode_chunk(chunk, faces=FaceSettings(detector="haar", margin=0.0))
    assert [s.status for s in samples] == ["ok", "ok", "bad_input"]
    for crop in chunk.faces[:2]:
        assert crop.shape == (75, 75, 3)  # 150 pixels of the file, decoded at 1/2
        assert (np.abs(crop.astype(int) - (220, 30, 30)).max(axis=2) < 40).mean() > 0.9
    assert "lies outside the 6000x3000 image" in samples[2].reason


def test_a_stray_quote_closed_on_the_next_row_does_not_swallow_it(tmp_path):
    """A quote opening a row's last cell and closed at the end of the next row made one record
    with the header's cells: the next image was never audited. No AffectNet column holds a
    line break, so that row is bad_input and the next is read as its own."""
    write_affectnet(tmp_path)
    training = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    lines = training.read_text().splitlines(keepends=True)
    head, _, last = lines[1].rpartition(",")
    lines[1] = f'{head},"{last}'
    lines[2] = lines[2].rstrip("\n") + '"\n'
    training.write_text("".join(lines))
    samples = list(affectnet.iter_samples(tmp_path))
    assert [s.sample_id for s in samples][:2] == ["689/a1.jpg", "689/a2.jpg"]
    assert samples[0].status == "bad_input"
    assert "puts a line break in the 'arousal' column" in samples[0].reason
    assert len(samples) == 5


def test_a_fifo_named_like_an_annotation_is_bad_input_not_a_hang(tmp_path):
    """open() on a FIFO waits for a writer forever: 0_exp.npy as a FIFO hung the run."""
    import os
    import threading

    out: list = []
    reader = threading.Thread(
        target=lambda: out.extend(_one_set_sample(tmp_path, os.mkfifo)), daemon=True
    )
    reader.start()
    reader.join(20)
    assert not reader.is_alive(), "the reader waits on the FIFO"  # fails, never hangs the suite
    bad, good = out
    assert bad.status == "bad_input" and "a FIFO, device or socket, not a file" in bad.reason
    assert (good.status, good.label) == ("ok", "happy")
