import numpy as np
from dataset_fixtures import write_jaffe

from emoaudit.data import jaffe
from emoaudit.data.images import decode_image


def test_jaffe_names_subjects_and_expressions(tmp_path):
    expected = write_jaffe(tmp_path)
    samples = list(jaffe.iter_samples(tmp_path))
    got = [(s.sample_id, s.subject_id, s.raw_label, s.label, s.status) for s in samples]
    assert got == [
        ("KA.HA1.29.tiff", "KA", "HA", "happy", "ok"),
        ("KM.SU2.15.tiff", "KM", "SU", "surprise", "ok"),
        ("NA.NE1.202.tiff", "NA", "NE", "neutral", "ok"),
        ("YM.XX1.60.tiff", "YM", "XX", None, "bad_input"),
    ]
    assert "does not match the JAFFE pattern" in samples[3].reason
    rgb = decode_image(samples[0].path)  # palette TIFF decodes through its palette
    np.testing.assert_array_equal(rgb, expected["KA.HA1.29.tiff"])


def test_jaffe_reads_converted_copies_and_reports_links_it_does_not_follow(tmp_path):
    from dataset_fixtures import write_image

    write_jaffe(tmp_path / "jaffe")
    root = tmp_path / "jaffe"
    write_image(root / "KA.NE1.33.png", 1)  # a PNG copy: once left out without a row
    write_image(tmp_path / "elsewhere" / "KM.AN1.1.tiff", 2)
    (root / "KM.AN1.1.tiff").symlink_to(tmp_path / "elsewhere" / "KM.AN1.1.tiff")
    (root / "KR.DI1.2.tiff").symlink_to(root / "missing.tiff")
    got = {s.sample_id: (s.label, s.status) for s in jaffe.iter_samples(root)}
    assert got["KA.NE1.33.png"] == ("neutral", "ok")
    assert got["KM.AN1.1.tiff"] == (None, "unreadable")
    assert got["KR.DI1.2.tiff"] == (None, "unreadable")
    assert len(got) == 7
    reasons = {s.sample_id: s.reason for s in jaffe.iter_samples(root)}
    assert "outside its folder; not followed" in reasons["KM.AN1.1.tiff"]
    assert "symbolic link with no file at its end" in reasons["KR.DI1.2.tiff"]
