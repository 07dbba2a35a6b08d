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
