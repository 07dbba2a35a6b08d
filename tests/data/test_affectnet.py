import pytest
from dataset_fixtures import write_affectnet, write_affectnet_sets

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
