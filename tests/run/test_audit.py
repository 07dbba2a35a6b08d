"""End-to-end audits on real models: exact accounting, caching and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from run_inputs import (
    TINY_LABELS,
    face_rows,
    tiny_onnx,
    tiny_spec,
    write_fer_csv,
    write_manifest,
)

from emoaudit.errors import EmoauditError
from emoaudit.run.audit import AuditRequest, run_audit

MODELS = ["fer-mini-xception", "human-emotion"]


def _complete(shards) -> int:
    """Finished shards only: a killed writer may leave a .tmp-*.parquet behind."""
    return sum(1 for p in shards.rglob("*.parquet") if not p.name.startswith(".tmp-"))


def _audit(data, out, **kw):
    req = AuditRequest(data=data, out=out, models=kw.pop("models", MODELS), n_resamples=20, **kw)
    return run_audit(req)


def test_every_sample_is_a_row_and_a_rerun_does_no_inference(fer_csv, zoo_home, tmp_path):
    out = tmp_path / "out"
    _audit(fer_csv, out, chunk_size=16)
    df = pd.read_parquet(out / "predictions.parquet")
    assert len(df) == 42 * len(MODELS)
    for model in MODELS:
        rows = df[df.model == model]
        assert rows.sample_id.tolist() == [f"row{i}" for i in range(42)]
        assert rows.status.value_counts().to_dict() == {"ok": 40, "bad_input": 2}
        bad = rows[rows.status == "bad_input"].set_index("sample_id")
        assert bad.loc["row40", "reason"].endswith(
            "fer2013.csv:42: expected 2304 pixel values, found 3"
        )
        assert "fer2013.csv:43: label '9'" in bad.loc["row41", "reason"]
        assert bad.pred.isna().all()
        assert rows[rows.status == "ok"].pred.notna().all()
        probs = rows[rows.status == "ok"].filter(like="prob_").dropna(axis=1)
        assert probs.shape[1] == 7
        assert (probs.sum(axis=1) - 1).abs().max() < 1e-5
    info = json.loads((out / "run.json").read_text())
    assert info["dataset"]["format"] == "fer2013"
    assert info["cache"] == {"shards_cached": 0, "shards_computed": 3 * len(MODELS)}

    _audit(fer_csv, out, chunk_size=16)
    again = json.loads((out / "run.json").read_text())
    assert again["cache"] == {"shards_cached": 3 * len(MODELS), "shards_computed": 0}
    assert again["dataset"]["digest"] == info["dataset"]["digest"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions.parquet"), df)


def test_changing_the_seed_or_a_sample_recomputes_only_what_changed(tmp_path, zoo_home):
    rows = face_rows(32)
    data = write_fer_csv(tmp_path / "fer2013.csv", rows)
    out = tmp_path / "out"
    _audit(data, out, chunk_size=16, models=["fer-mini-xception"])
    rows[20][1] = face_rows(1, seed=5)[0][1]  # second chunk changes
    write_fer_csv(data, rows)
    _audit(data, out, chunk_size=16, models=["fer-mini-xception"])
    info = json.loads((out / "run.json").read_text())
    assert info["cache"] == {"shards_cached": 1, "shards_computed": 1}


def test_photos_get_faces_detected_and_every_failure_is_counted(photo_folders, zoo_home, tmp_path):
    out = tmp_path / "out"
    results = _audit(photo_folders, out, fmt="folders", models=["fer-mini-xception"])
    df = pd.read_parquet(out / "predictions.parquet").set_index("sample_id")
    status = df.status.to_dict()
    assert status == {
        "contempt/hopper2.png": "unmapped_label",
        "happy/astronaut.jpg": "ok",
        "neutral/blank.png": "no_face",
        "neutral/hopper.jpg": "ok",
        "sad/broken.jpg": "unreadable",
    }
    assert (
        "not in the label set of model 'fer-mini-xception'"
        in df.loc["contempt/hopper2.png", "reason"]
    )
    assert df.loc["contempt/hopper2.png", "pred"] is not None  # still run, just not scored
    assert "broken.jpg: cannot decode image" in df.loc["sad/broken.jpg", "reason"]
    assert "no face found" in df.loc["neutral/blank.png", "reason"]
    assert df.loc["happy/astronaut.jpg", "pred"] == "happy"
    (block,) = results["results"]
    assert block["data"]["n_by_status"] == {
        "ok": 2,
        "unmapped_label": 1,
        "bad_input": 0,
        "unreadable": 1,
        "no_face": 1,
        "bad_output": 0,
    }


def _cli(data, out, env):
    cmd = [sys.executable, "-m", "emoaudit", "audit", str(data), "--out", str(out)]
    for m in MODELS:
        cmd += ["--model", m]
    return cmd + ["--chunk-size", "8", "--resamples", "10", "--quiet"]


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_exactly_the_uninterrupted_rows(tmp_path, zoo_home):
    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(1200))
    env = {**os.environ, "EMOAUDIT_HOME": str(zoo_home)}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(data, killed, env), env=env)
    shards = killed / ".cache" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if shards.exists() and _complete(shards) >= 20:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed; use more rows"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "predictions.parquet").exists()
    partial = _complete(shards)
    assert 20 <= partial < 300

    subprocess.run(_cli(data, killed, env), env=env, check=True)
    clean = tmp_path / "clean"
    subprocess.run(_cli(data, clean, env), env=env, check=True)

    resumed = pq.read_table(killed / "predictions.parquet")
    expected = pq.read_table(clean / "predictions.parquet")
    assert resumed.num_rows == expected.num_rows == 1200 * len(MODELS)
    assert resumed.equals(expected)
    info = json.loads((killed / "run.json").read_text())
    assert info["cache"]["shards_cached"] >= partial
    assert info["cache"]["shards_cached"] + info["cache"]["shards_computed"] == 300
    assert not list(shards.rglob(".tmp-*"))


def test_chunks_inferred_in_parts_give_the_rows_of_whole_chunks(fer_csv, zoo_home, tmp_path):
    """Pre-cropped chunks go to the workers in parts (runner.PART_SIZE, whole batches); the
    predictions must not depend on the split, bad rows and their reasons included."""
    from emoaudit.run import runner

    def predictions(part_size: int, out) -> pd.DataFrame:
        previous, runner.PART_SIZE = runner.PART_SIZE, part_size
        try:
            _audit(fer_csv, out, chunk_size=32, batch_size=4)
        finally:
            runner.PART_SIZE = previous
        return pd.read_parquet(out / "predictions.parquet")

    whole = predictions(512, tmp_path / "whole")
    assert len(whole) == 42 * len(MODELS)
    pd.testing.assert_frame_equal(predictions(6, tmp_path / "parts"), whole)  # parts of 4


def test_a_demographic_face_set_without_labels_is_audited_label_free(zoo_home, tmp_path):
    """The usual demographic face set: gender and age columns, no expression label. Every face
    is scored (status ok, label empty), and the report answers who is read how, with tests."""
    import cv2
    import numpy as np

    from emoaudit.report.html import write_report

    rows = face_rows(120, seed=4)
    lines = ["path,label,gender,age"]
    (tmp_path / "faces").mkdir()
    for i, (_, pixels, _) in enumerate(rows):
        face = np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)
        cv2.imwrite(str(tmp_path / "faces" / f"{i}.png"), face)
        lines.append(f"faces/{i}.png,,{'fm'[i % 2]},{('20-39', '40-69', '70+')[i % 3]}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    results = _audit(manifest, out, models=["fer-mini-xception"], precropped=True, min_group_n=20)
    df = pd.read_parquet(out / "predictions.parquet")
    assert (df.status == "ok").all() and df.label.isna().all() and df.pred.notna().all()
    (res,) = results["results"]
    assert res["data"]["n_by_status"]["ok"] == 120
    lf = res["label_free"]
    assert set(lf["groupings"]) == {"gender", "age"}
    gender = lf["groupings"]["gender"]
    assert {g["group"] for g in gender["groups"]} == {"f", "m"}
    assert {"hostile_rate", "hostile_probability_at_equal_happy"} <= set(gender["tests"])
    for t in gender["tests"].values():
        assert t["p_holm"] is not None and t["text"]
    write_report(out, results)
    html = (out / "report.html").read_text()
    assert "Who is read how" in html and "Test:" in html
    assert "how groups are read, not that the model fails them" in html


def test_provenance_counts_manifest_paths_outside_the_dataset_folder(zoo_home, tmp_path):
    """A manifest may point anywhere the user can read; the run records where it went."""
    import numpy as np
    from PIL import Image

    (tmp_path / "ds" / "img").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    face = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    for rel in ("ds/img/a.png", "elsewhere/b.png"):
        Image.fromarray(face).save(tmp_path / rel)
    manifest = tmp_path / "ds" / "m.csv"
    manifest.write_text(
        f"path,label\nimg/a.png,happy\n../elsewhere/b.png,sad\n{tmp_path}/elsewhere/b.png,sad\n"
    )
    out = tmp_path / "out"
    _audit(manifest, out, models=["fer-mini-xception"], precropped=True)
    outside = json.loads((out / "run.json").read_text())["dataset"]["paths_outside_root"]
    assert outside == {
        "root": str(tmp_path / "ds"),
        "n": 2,
        "examples": [
            str(tmp_path / "ds" / "../elsewhere/b.png"),
            str(tmp_path / "elsewhere/b.png"),
        ],
    }
    results = json.loads((out / "results.json").read_text())
    assert results["provenance"]["dataset"]["paths_outside_root"]["n"] == 2


TINY_SPEC = """
[input]
height = 8
width = 8
layout = "NCHW"
color = "rgb"
scale = 0.00392156862745098

[output]
labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
kind = "logits"
"""


def _tiny_onnx(path):
    """A 3x8x8 -> 7 logits graph (average pool + fixed linear map): fast, deterministic."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = (np.arange(21, dtype=np.float32).reshape(3, 7) % 5 - 2) / 3.0
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_byte_identical_models_keep_their_names_and_rows(fer_csv, tmp_path):
    """Issue 13: a 'vendor' model with a built-in's bytes merged into it (doubled rows)."""
    import shutil

    first = _tiny_onnx(tmp_path / "builtin.onnx")
    shutil.copyfile(first, tmp_path / "vendor.onnx")
    spec = tmp_path / "spec.toml"
    spec.write_text(TINY_SPEC)
    out = tmp_path / "out"
    models = [str(first), str(tmp_path / "vendor.onnx")]
    results = _audit(fer_csv, out, models=models, model_spec=spec, chunk_size=16)
    df = pd.read_parquet(out / "predictions.parquet")
    assert df.groupby("model").size().to_dict() == {"builtin": 42, "vendor": 42}
    for model in ("builtin", "vendor"):
        assert df[df.model == model].sample_id.tolist() == [f"row{i}" for i in range(42)]
    a, b = (df[df.model == m].reset_index(drop=True) for m in ("builtin", "vendor"))
    assert a.pred.equals(b.pred)
    assert a.model_sha256.iloc[0] == b.model_sha256.iloc[0]
    slices: dict[str, int] = {}
    for r in results["results"]:  # one result per split
        slices[r["model"]] = slices.get(r["model"], 0) + r["data"]["n_rows"]
    assert slices == {"builtin": 42, "vendor": 42}
    same = results["provenance"]["identical_models"]
    assert same == [{"sha256": a.model_sha256.iloc[0], "models": ["builtin", "vendor"]}]


def test_two_models_with_one_name_are_refused(fer_csv, tmp_path):
    from emoaudit.errors import EmoauditError
    from emoaudit.run.audit import DUPLICATE_MODEL_NAME

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    spec = tmp_path / "spec.toml"
    spec.write_text(TINY_SPEC)
    models = [str(_tiny_onnx(tmp_path / d / "m.onnx")) for d in ("a", "b")]
    with pytest.raises(EmoauditError) as err:
        _audit(fer_csv, tmp_path / "out", models=models, model_spec=spec)
    assert str(err.value) == DUPLICATE_MODEL_NAME.format(name="m")


def test_a_spec_or_weights_fix_is_never_answered_from_the_old_cache(fer_csv, tmp_path):
    """Reversed labels, another output kind, a new name or new external weights: each must
    recompute (the old rows are wrong for the fixed model), and the rows name what ran."""
    folder = tmp_path / "model"
    folder.mkdir()
    model = tiny_onnx(folder / "tiny.onnx", weights_file="tiny.weights")
    spec = tiny_spec(tmp_path / "spec.toml")
    out = tmp_path / "out"

    def run(spec_path):
        _audit(fer_csv, out, models=[str(model)], model_spec=spec_path, chunk_size=64)
        info = json.loads((out / "run.json").read_text())
        return pd.read_parquet(out / "predictions.parquet"), info

    first, info = run(spec)
    assert info["cache"] == {"shards_cached": 0, "shards_computed": 2}  # 42 rows: 32 + 10
    _, info = run(spec)
    assert info["cache"] == {"shards_cached": 2, "shards_computed": 0}

    reversed_spec = tiny_spec(tmp_path / "reversed.toml", labels=TINY_LABELS[::-1])
    flipped, info = run(reversed_spec)
    assert info["cache"]["shards_computed"] == 2
    ok = first.status == "ok"
    mirror = {a: b for a, b in zip(TINY_LABELS, TINY_LABELS[::-1], strict=True)}
    assert flipped[ok].pred.tolist() == first[ok].pred.map(mirror).tolist()

    named = tiny_spec(tmp_path / "named.toml", extra="")
    named.write_text('[model]\nname = "tiny-v2"\n' + named.read_text())
    renamed, info = run(named)
    assert info["cache"]["shards_computed"] == 2
    assert set(renamed.model) == {"tiny-v2"}

    probs = tiny_spec(tmp_path / "probs.toml")
    probs.write_text(probs.read_text().replace('kind = "logits"', 'kind = "probs"'))
    with pytest.raises(EmoauditError, match='kind = "probs" for logits'):
        run(probs)  # recomputed, not answered from the logits run's shards: so caught
    raw = pd.read_parquet(out / "predictions.parquet")
    prob_cols = [c for c in raw if c.startswith("prob_")]
    assert not np.allclose(raw.loc[ok, prob_cols].sum(axis=1), 1)  # the raw outputs, as said

    retrained = tmp_path / "retrained"
    retrained.mkdir()
    tiny_onnx(retrained / "tiny.onnx", weights_file="tiny.weights", seed=7)
    (folder / "tiny.weights").write_bytes((retrained / "tiny.weights").read_bytes())
    changed, info = run(spec)
    assert info["cache"]["shards_computed"] == 2
    assert changed.model_sha256.iloc[0] != first.model_sha256.iloc[0]
    assert info["models"][0]["sha256"] == changed.model_sha256.iloc[0]


def test_a_model_that_outputs_nan_is_never_scored(fer_csv, tmp_path):
    """A NaN output used to be read as the first label: 40/40 'anger', status ok, scored."""
    model = tiny_onnx(tmp_path / "broken.onnx", nan=True)
    out = tmp_path / "out"
    req = AuditRequest(data=fer_csv, out=out, models=[str(model)], n_resamples=20,
                       model_spec=tiny_spec(tmp_path / "spec.toml"), pool_splits=True)  # fmt: skip
    results = run_audit(req)
    df = pd.read_parquet(out / "predictions.parquet")
    assert df.status.value_counts().to_dict() == {"bad_output": 40, "bad_input": 2}
    assert df.pred.isna().all()
    (block,) = results["results"]  # splits pooled
    assert block["data"]["n_by_status"]["bad_output"] == 40
    assert block["data"]["n_evaluated"] == 0
    assert "headline" not in block
    assert block["end_to_end"]["value"] == 0.0 and block["end_to_end"]["n"] == 40


def test_a_second_run_into_a_held_out_refuses_before_touching_it(fer_csv, tmp_path):
    """Two audits into one --out: the second refuses at once (one line naming the holder) and
    leaves the first's in-flight temp shard alone (its start-up used to delete it)."""
    from test_cache import hold_in_another_process

    from emoaudit.errors import EmoauditError

    out = tmp_path / "out"
    in_flight = out / ".cache" / "shards" / "ab" / ".tmp-live.parquet"
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"being written by the first run")
    proc = hold_in_another_process(out, 60)
    try:
        with pytest.raises(EmoauditError, match=rf"pid {proc.pid} on .*pass --wait$"):
            _audit(fer_csv, out, models=["fer-mini-xception"])
    finally:
        proc.kill()
        proc.wait()
    assert in_flight.read_bytes() == b"being written by the first run"
    assert not (out / "predictions.parquet").exists()


def test_unknown_groups_are_refused_before_any_inference(fer_csv, tmp_path):
    from emoaudit.errors import EmoauditError

    out = tmp_path / "out"
    expected = r"--groups: 'age_band' is not an attribute of .*fer2013.csv \(first 1000 samples\)"
    with pytest.raises(EmoauditError, match=expected + r" \(found: none\)$"):
        _audit(fer_csv, out, models=["fer-mini-xception"], groups=["age_band"])
    assert not (out / ".cache").exists()  # refused before the runner started

    manifest = write_manifest(tmp_path / "faces", 6, attributes={"gender": ["f", "m"]})
    with pytest.raises(
        EmoauditError, match=r"'Gender' .* \(found: gender\); did you mean 'gender'"
    ):
        _audit(manifest, out, models=["fer-mini-xception"], groups=["Gender"], precropped=True)
    assert not (out / ".cache").exists()
    results = _audit(manifest, out, models=["fer-mini-xception"], groups=["gender"],
                     precropped=True, min_group_n=1)  # fmt: skip
    assert results["results"][0]["data"]["n_rows"] == 6


def test_fer2013_folders_keep_public_and_private_test_apart(tmp_path, zoo_home):
    """Both FER2013 test splits live under test/; results must not pool them."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from dataset_fixtures import write_fer2013_folders

    data = write_fer2013_folders(tmp_path / "fer")
    out = tmp_path / "out"
    results = _audit(data, out, models=["fer-mini-xception"], fmt="fer2013-folders")
    got = {r["split"]: r["data"]["n_rows"] for r in results["results"]}
    assert got == {"Training": 3, "PublicTest": 1, "PrivateTest": 2, "test": 1}
    pooled = _audit(data, out, models=["fer-mini-xception"], fmt="fer2013-folders",
                    pool_splits=True)  # fmt: skip
    assert [(r["split"], r["data"]["n_rows"]) for r in pooled["results"]] == [(None, 7)]
    html = (out / "results.json").read_text()
    assert '"pooled": true' in html


def test_small_crops_sent_to_the_detector_suggest_precropped(tmp_path, zoo_home):
    import numpy as np
    from PIL import Image

    root = tmp_path / "crops"
    rng = np.random.default_rng(0)
    for i in range(6):  # 48-px noise: no detector finds a face in it
        path = root / ("happy" if i % 2 else "sad") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(path)
    results = _audit(root, tmp_path / "out", models=["fer-mini-xception"], fmt="folders")
    assert results["warnings"] == [
        "6 of 6 faces were not found and 100% of the images are at most 64 px: these look "
        "like face crops already; run again with --precropped to skip detection"
    ]
    again = _audit(root, tmp_path / "out2", models=["fer-mini-xception"], fmt="folders",
                   precropped=True)  # fmt: skip
    assert again["warnings"] == []


@pytest.mark.parametrize("layout", ["label_csv_12_fields", "new_csv_with_pngs", "both_csvs"])
def test_ferplus_as_users_have_it_is_audited_not_all_bad(layout, tmp_path, zoo_home):
    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from dataset_fixtures import write_ferplus, write_ferplus_folders, write_ferplus_named

    root = tmp_path / "ferplus"
    writers = {
        "label_csv_12_fields": lambda r: write_ferplus_folders(r, face_box=True),
        "new_csv_with_pngs": write_ferplus_named,
        "both_csvs": write_ferplus,
    }
    writers[layout](root)
    results = _audit(root, tmp_path / "out", models=["fer-mini-xception"])
    assert results["provenance"]["dataset"]["format"] == "ferplus"
    rows = results["results"]
    assert sum(r["data"]["n_by_status"]["bad_input"] for r in rows) == 0
    assert sum(r["data"]["n_evaluated"] for r in rows) >= 2
    assert all(r["agreement"] is not None for r in rows if r["data"]["n_evaluated"])
    # contempt (row 5, PrivateTest) cannot come out of a 7-class model: counted, not scored
    dropped = sum(r["data"]["label_not_emitted"]["n"] for r in rows)
    assert dropped == (0 if layout == "label_csv_12_fields" else 1)
    original = [r["agreement"]["original_label"] for r in rows if r.get("agreement")]
    if layout == "both_csvs":
        (training,) = [r for r in rows if r["split"] == "Training"]
        orig = training["agreement"]["original_label"]
        # rows 0 and 1: plurality neutral/happy, FER2013 codes 6/3 (neutral/happy): 2 of 2
        assert orig["agrees_with_plurality"]["value"] == 1.0
        assert orig["agrees_with_plurality"]["n"] == 2 and orig["n_no_expression_plurality"] == 2
    else:
        assert all(o is None for o in original)


def _write_vendor_csv(path: Path, n: int) -> Path:
    lines = ["sample_id,pred,happy,sad,neutral"]
    lines += [f"row{i},happy,0.6,0.3,0.1" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("source", ["inference", "imported"])
def test_a_rerun_killed_as_its_predictions_land_leaves_no_output_of_the_old_ones(
    tmp_path, zoo_home, monkeypatch, source
):
    """SIGKILL just after a rerun replaced predictions.parquet (24 -> 32 samples) left the first
    run's run.json, results.json and report beside the new rows, all looking current."""
    from typer.testing import CliRunner

    from emoaudit.cli import app
    from emoaudit.run import merge
    from emoaudit.run.audit import derived_outputs

    data = write_fer_csv(tmp_path / "fer2013.csv", face_rows(24))
    out = tmp_path / "out"
    if source == "inference":
        how = ["--model", "fer-mini-xception"]
    else:
        how = ["--predictions", str(_write_vendor_csv(tmp_path / "vendor.csv", 24))]
    cli = CliRunner()
    audit = cli.invoke(app, ["audit", str(data), *how, "--out", str(out), "--resamples", "20",
                             "--quiet", "--include-examples"])  # fmt: skip
    assert audit.exit_code == 0, audit.output
    made = {p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert made - {"predictions.parquet"} <= {p.name for p in derived_outputs(out)}

    write_fer_csv(data, face_rows(32))
    if source == "imported":
        _write_vendor_csv(tmp_path / "vendor.csv", 32)
    left = []

    def merge_then_killed(paths, target):
        merge_shards(paths, target)
        left.extend(p.name for p in derived_outputs(out) if p.exists())
        raise KeyboardInterrupt  # the kill: nothing after the new predictions runs

    merge_shards = merge.merge_shards
    monkeypatch.setattr(merge, "merge_shards", merge_then_killed)
    rerun = AuditRequest(data=data, out=out, models=how[1:] if source == "inference" else [],
                         n_resamples=20)  # fmt: skip
    if source == "imported":
        rerun.predictions = tmp_path / "vendor.csv"
    with pytest.raises(KeyboardInterrupt):
        run_audit(rerun)
    assert left == []
    assert pq.read_metadata(out / "predictions.parquet").num_rows == 32

    monkeypatch.setattr(merge, "merge_shards", merge_shards)
    report = cli.invoke(app, ["report", str(out), "--resamples", "20"])
    assert report.exit_code == 0, report.output
    assert f"note: no {out / 'run.json'}" in report.output  # the provenance is missing: said
    blocks = json.loads((out / "results.json").read_text())["results"]  # one per split
    assert sum(sum(b["data"]["n_by_status"].values()) for b in blocks) == 32
    assert (out / "report.html").is_file()


def test_a_model_spec_that_does_not_exist_is_refused_before_any_model_runs(fer_csv, tmp_path):
    """It was ignored in silence when the model was a built-in one."""
    with pytest.raises(EmoauditError, match=r"--model-spec .*nope.toml: no such file"):
        _audit(fer_csv, tmp_path / "out", models=["fer-mini-xception"],
               model_spec=tmp_path / "nope.toml")  # fmt: skip
    assert not (tmp_path / "out" / "predictions.parquet").exists()
