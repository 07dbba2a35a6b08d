"""Temporal stability on hand-made label sequences, against hand computation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from emoaudit.analysis.stability import clip_stability, run_lengths, stability_summary


def frames(clip, labels, *, step=0.2, model="m", with_columns=False):
    out = []
    for i, lab in enumerate(labels):
        t = round(i * step, 3)
        row = {"sample_id": f"{clip}#t={t:.3f}", "model": model, "condition": "clean", "pred": lab}
        if with_columns:
            row |= {"clip_id": clip, "time_s": t}
        out.append(row)
    return out


def test_run_lengths():
    assert run_lengths(["a", "a", "b", "b", "b", "a"]) == [2, 3, 1]
    assert run_lengths([]) == []


def test_one_clip_by_hand():
    times = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    got = clip_stability(times, ["a", "a", "b", "b", "b", "a"])
    assert got["changes"] == 2 and got["duration_s"] == pytest.approx(1.0)
    assert got["changes_per_s"] == pytest.approx(2.0)
    assert got["mean_run_frames"] == pytest.approx(2.0)
    assert got["mean_run_s"] == pytest.approx(0.4)  # 2 frames x 0.2 s
    # second 0 holds a,a,b,b,b (entropy of 0.4/0.6); second 1 holds a (0 bits)
    h = -(0.4 * math.log2(0.4) + 0.6 * math.log2(0.6))
    assert got["entropy_bits"] == pytest.approx(h / 2)


def test_order_comes_from_time_not_rows():
    got = clip_stability([1.0, 0.0, 0.5], ["b", "a", "a"])
    assert got["changes"] == 1 and got["changes_per_s"] == pytest.approx(1.0)


def test_a_steady_clip_scores_zero_and_a_single_frame_is_undefined():
    steady = clip_stability([0.0, 0.2, 0.4, 1.4], ["a"] * 4)
    assert steady["changes_per_s"] == 0 and steady["entropy_bits"] == 0
    single = clip_stability([3.0], ["a"])
    assert single["changes_per_s"] is None and single["mean_run_s"] is None


@pytest.mark.parametrize("with_columns", [False, True])
def test_summary_across_clips(with_columns):
    df = pd.DataFrame(
        frames("a.mp4", ["x", "x", "y", "y", "y", "x"], with_columns=with_columns)  # 2 / s
        + frames("dir/b.mkv", ["x"] * 6, with_columns=with_columns)  # 0 / s
        + frames("c.avi", ["x"], with_columns=with_columns)  # undefined
    )
    out = stability_summary(df, n_resamples=200, seed=0)
    clips = out["models"]["m"]["clips"]
    assert [c["clip"] for c in clips] == ["a.mp4", "dir/b.mkv", "c.avi"]
    summary = out["models"]["m"]["summary"]
    assert summary["changes_per_s"]["value"] == pytest.approx(1.0)
    assert summary["changes_per_s"]["n"] == 2  # the one-frame clip has no rate
    assert summary["changes_per_s"]["ci_low"] == pytest.approx(0.0)
    assert summary["changes_per_s"]["ci_high"] == pytest.approx(2.0)
    assert summary["entropy_bits"]["n"] == 3


def test_frames_without_prediction_are_counted_and_skipped():
    rows = frames("a.mp4", ["x", None, "x", "y"])
    out = stability_summary(pd.DataFrame(rows), n_resamples=20)
    (clip,) = out["models"]["m"]["clips"]
    assert clip["n_frames_without_prediction"] == 1
    assert clip["n_frames"] == 3 and clip["changes"] == 1
    assert clip["changes_per_s"] == pytest.approx(1 / 0.6)


def test_a_clip_that_could_not_be_decoded_keeps_its_id_and_the_summary_stays_valid_json():
    """A zero-byte .mp4 beside a good one: its one unreadable row has a clip id and no time;
    the old fallback parsed ids and gave it a NaN clip, which json refused (issue 15)."""
    import json

    rows = frames("good.mp4", ["x", "x", "y"], with_columns=True)
    rows.append(
        {"sample_id": "bad.mp4#unreadable", "model": "m", "condition": "clean", "pred": None,
         "clip_id": "bad.mp4", "time_s": float("nan")}
    )  # fmt: skip
    out = stability_summary(pd.DataFrame(rows), n_resamples=20)
    clips = out["models"]["m"]["clips"]
    assert [(c["clip"], c["n_frames"]) for c in clips] == [("good.mp4", 3), ("bad.mp4", 0)]
    assert clips[1]["n_frames_without_prediction"] == 1
    json.dumps(clips, allow_nan=False)
