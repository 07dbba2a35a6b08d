"""prepare_batch follows each original library's pipeline, on any crop size, in one batch."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emoaudit.errors import ModelError
from emoaudit.models.base import InputSpec
from emoaudit.models.fer_mini_xception import INPUT_SPEC as FER
from emoaudit.models.human_emotion import INPUT_SPEC as HUMAN
from emoaudit.models.preprocess import pad_square, prepare_batch, tf_resize_matrix


def _faces(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [(48, 48)] * 5 + [(37, 53), (120, 90), (64, 64), (1, 1)]
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def test_fer_pipeline_is_cv2_gray_then_cv2_resize_then_scaled():
    faces = _faces()
    expected = np.stack(
        [
            (cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (64, 64)) / 255.0 - 0.5) * 2.0
            for f in faces
        ]
    )[..., None]
    got = prepare_batch(faces, FER)
    assert got.shape == (len(faces), 64, 64, 1) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


def _tf_resize_reference(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """tfjs cpu resizeBilinear(alignCorners=false, halfPixelCenters=false), written as a loop."""
    in_h, in_w = img.shape[:2]
    out = np.zeros((out_h, out_w) + img.shape[2:], dtype=np.float64)
    for r in range(out_h):
        src_r = r * in_h / out_h
        r0, r1 = int(np.floor(src_r)), min(in_h - 1, int(np.ceil(src_r)))
        fr = src_r - r0
        for c in range(out_w):
            src_c = c * in_w / out_w
            c0, c1 = int(np.floor(src_c)), min(in_w - 1, int(np.ceil(src_c)))
            fc = src_c - c0
            top = img[r0, c0] + (img[r0, c1] - img[r0, c0]) * fc
            bottom = img[r1, c0] + (img[r1, c1] - img[r1, c0]) * fc
            out[r, c] = top + (bottom - top) * fr
    return out


def test_human_pipeline_is_tf_resize_then_weighted_gray():
    faces = _faces(1)
    weights = np.array([0.2989, 0.5870, 0.1140])
    expected = []
    for f in faces:
        resized = _tf_resize_reference(f.astype(np.float64) / 255.0, 64, 64)
        gray = (resized * weights).sum(-1, keepdims=True)
        expected.append((gray - 0.5) * 2.0)
    np.testing.assert_allclose(prepare_batch(faces, HUMAN), np.stack(expected), atol=2e-5)


def test_tf_resize_rows_are_interpolation_weights():
    m = tf_resize_matrix(48, 64)
    np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-6)
    assert m[0, 0] == 1.0  # legacy TF sampling: output pixel 0 is input pixel 0 exactly
    assert m[-1, -1] > 0 and m[-1, :-2].sum() == 0


def test_pad_square_centres_like_face_api():
    stack = np.full((1, 3, 6, 3), 9, dtype=np.uint8)  # diff 3: 2 rows after, 1 before
    padded = pad_square(stack)
    assert padded.shape == (1, 6, 6, 3)
    assert padded[0, :, 0, 0].tolist() == [0, 9, 9, 9, 0, 0]
    tall = pad_square(np.full((1, 5, 1, 3), 7, dtype=np.uint8))  # diff 4: 2 after, 2 before
    assert tall[0, 0, :, 0].tolist() == [0, 0, 7, 0, 0]


def test_rgb_nchw_normalisation_per_channel():
    spec = InputSpec(
        height=4, width=4, layout="NCHW", color="rgb", mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0)
    )
    face = np.zeros((4, 4, 3), dtype=np.uint8)
    face[..., 0], face[..., 1], face[..., 2] = 255, 0, 51
    x = prepare_batch([face], spec)
    assert x.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, -1.0, 0.2], atol=1e-6)


def test_bgr_swaps_channels():
    spec = InputSpec(height=2, width=2, color="bgr", scale=1.0)
    face = np.zeros((2, 2, 3), dtype=np.uint8)
    face[..., 0] = 10  # red
    assert prepare_batch([face], spec)[0, 0, 0].tolist() == [0.0, 0.0, 10.0]


def test_gray_input_crops_are_accepted():
    gray = np.full((10, 10), 128, dtype=np.uint8)
    x = prepare_batch([gray], FER)
    np.testing.assert_allclose(x, (128 / 255 - 0.5) * 2, atol=1e-6)


def test_many_same_size_crops_match_one_at_a_time():
    rng = np.random.default_rng(2)
    faces = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(700)]
    batch = prepare_batch(faces, FER)  # more than OpenCV's 512 channels in one call
    singles = np.concatenate([prepare_batch([f], FER) for f in faces[::97]])
    np.testing.assert_array_equal(batch[::97], singles)


def test_empty_batch_has_the_right_shape():
    assert prepare_batch([], HUMAN).shape == (0, 64, 64, 1)
    assert prepare_batch([], FER).shape == (0, 64, 64, 1)


def test_gray_block_resize_equals_cv2_resize_face_by_face():
    """The all-gray path resizes a batch in one OpenCV call; it must give each face exactly
    what cv2.resize gives it: any size, views into larger arrays, faces already at size."""
    from emoaudit.models.preprocess import _resize_gray_block_cv2

    rng = np.random.default_rng(4)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(1, 130, 2))
        faces = []
        for _ in range(int(rng.integers(1, 24))):
            h, w = (int(v) for v in rng.integers(1, 160, 2))
            big = rng.integers(0, 256, (h + 3, w + 5), dtype=np.uint8)
            faces.append(big[1 : h + 1, 2 : w + 2])  # not contiguous
        faces.append(rng.integers(0, 256, (height, width), dtype=np.uint8))
        spec = InputSpec(height=height, width=width, color="gray")
        want = [cv2.resize(np.ascontiguousarray(f), (width, height)) for f in faces]
        np.testing.assert_array_equal(_resize_gray_block_cv2(faces, spec), np.stack(want))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 3), dtype=np.float32), np.zeros((4, 4, 4), dtype=np.uint8), "face.png"],
)
def test_bad_face_is_a_one_line_error_naming_its_index(bad):
    ok = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ModelError) as exc:
        prepare_batch([ok, bad], FER)
    assert "face 1 must be a uint8 HxWx3 RGB" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("resize", ["bilinear", "area", "nearest"])
def test_all_gray_batch_gives_the_tensor_its_rgb_copies_give(resize):
    """The all-gray fast path (one uint8 block) must equal the per-face colour path exactly."""
    from dataclasses import replace

    spec = replace(FER, resize=resize)
    rng = np.random.default_rng(3)
    sizes = [(48, 48)] * 4 + [(64, 64), (37, 53), (1, 1), (120, 90)]
    gray = [rng.integers(0, 256, size, dtype=np.uint8) for size in sizes]
    as_rgb = [np.repeat(g[:, :, None], 3, axis=2) for g in gray]
    np.testing.assert_array_equal(prepare_batch(gray, spec), prepare_batch(as_rgb, spec))


def test_normalisation_is_the_same_for_tuples_numbers_and_arrays():
    """The constants are cached per spec; a spec built in Python may hold a number or an array
    for mean and std, and must normalise exactly as the tuple does."""
    import dataclasses

    spec = InputSpec(height=8, width=8, color="gray", mean=(0.5,), std=(0.25,))
    faces = [np.arange(64, dtype=np.uint8).reshape(8, 8)]
    want = prepare_batch(faces, spec)
    assert want[0, 0, 1, 0] == np.float32(1 / 255 / 0.25) - np.float32(0.5 / 0.25)
    for mean, std in ((0.5, 0.25), (np.float32(0.5), [0.25]), (np.array([0.5]), (0.25,))):
        got = prepare_batch(faces, dataclasses.replace(spec, mean=mean, std=std))
        np.testing.assert_array_equal(got, want)
