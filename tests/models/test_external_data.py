"""ONNX external data: resolved beside the model file only, hashed, and inlined before running."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from emoaudit.errors import ModelError
from emoaudit.models.external_data import EXTERNAL_MISSING, EXTERNAL_OUTSIDE
from emoaudit.models.onnx_model import load_model

sys.path.insert(0, str(Path(__file__).parent.parent / "run"))
from run_inputs import tiny_onnx, tiny_spec  # noqa: E402


def _faces() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.uniform(-1, 1, size=(5, 3, 8, 8)).astype(np.float32)


def _retarget(model_path: Path, location: str) -> None:
    """Point every external tensor of the saved model at `location`."""
    import onnx

    model = onnx.load_model(str(model_path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    model_path.write_bytes(model.SerializeToString())


def test_external_weights_load_from_any_directory_and_match_inline(tmp_path, monkeypatch):
    inline = tiny_onnx(tmp_path / "inline.onnx")
    folder = tmp_path / "model"
    folder.mkdir()
    external = tiny_onnx(folder / "tiny.onnx", weights_file="tiny.weights")
    spec = tiny_spec(tmp_path / "spec.toml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # ONNX Runtime given bytes looked the weights up here
    a = load_model(str(inline), spec_path=spec)
    b = load_model(str(external), spec_path=spec)
    np.testing.assert_array_equal(a.predict_proba(_faces()), b.predict_proba(_faces()))
    plain = hashlib.sha256((folder / "tiny.onnx").read_bytes()).hexdigest()
    assert b.sha256 != plain  # the recorded hash covers the weights file too
    assert a.sha256 == hashlib.sha256(inline.read_bytes()).hexdigest()  # unchanged without


def test_changed_external_weights_change_the_sha256(tmp_path):
    spec = tiny_spec(tmp_path / "spec.toml")
    folder = tmp_path / "model"
    folder.mkdir()
    path = tiny_onnx(folder / "tiny.onnx", weights_file="tiny.weights", seed=0)
    before = load_model(str(path), spec_path=spec)
    graph_bytes = path.read_bytes()
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    tiny_onnx(retrained / "tiny.onnx", weights_file="tiny.weights", seed=1)
    (folder / "tiny.weights").write_bytes((retrained / "tiny.weights").read_bytes())  # weights only
    assert path.read_bytes() == graph_bytes
    after = load_model(str(path), spec_path=spec)
    assert after.sha256 != before.sha256
    assert not np.array_equal(after.predict_proba(_faces()), before.predict_proba(_faces()))


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "ABSOLUTE", "link"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    path = tiny_onnx(folder / "tiny.onnx", weights_file="tiny.weights")
    secret = tmp_path / "secret.bin"
    secret.write_bytes((folder / "tiny.weights").read_bytes())  # would load fine if followed
    if location == "ABSOLUTE":
        location = str(secret)
    if location == "link":
        (folder / "link").symlink_to(secret)
    _retarget(path, location)
    with pytest.raises(ModelError) as exc:
        load_model(str(path), spec_path=tiny_spec(tmp_path / "spec.toml"))
    assert str(exc.value) == EXTERNAL_OUTSIDE.format(path=path, location=location)


def test_missing_external_file_is_one_line_naming_it(tmp_path):
    path = tiny_onnx(tmp_path / "tiny.onnx", weights_file="tiny.weights")
    (tmp_path / "tiny.weights").unlink()
    with pytest.raises(ModelError) as exc:
        load_model(str(path), spec_path=tiny_spec(tmp_path / "spec.toml"))
    assert str(exc.value) == EXTERNAL_MISSING.format(path=path, location="tiny.weights")


def test_external_file_shorter_than_its_tensor_is_refused(tmp_path):
    path = tiny_onnx(tmp_path / "tiny.onnx", weights_file="tiny.weights")
    weights = tmp_path / "tiny.weights"
    weights.write_bytes(weights.read_bytes()[:10])
    with pytest.raises(ModelError, match="tiny.weights' holds 10 bytes; tensor 'w' needs"):
        load_model(str(path), spec_path=tiny_spec(tmp_path / "spec.toml"))
