import tracemalloc
from itertools import islice

import pytest
from dataset_fixtures import write_image, write_manifest_csv, write_manifest_parquet

from emoaudit.data import manifest
from emoaudit.errors import DataError


def test_manifest_csv_rows(tmp_path):
    path = write_manifest_csv(tmp_path)
    samples = list(manifest.iter_samples(path))
    got = [(s.sample_id, s.raw_label, s.label, s.status, s.subject_id, s.split) for s in samples]
    assert got == [
        ("img/a.png", "happy", "happy", "ok", "p1", "test"),
        ("img/b.png", "Sadness", "sad", "ok", "p2", "test"),
        ("img/c.png", "bored", None, "unmapped_label", "p2", "train"),
        ("img/missing.png", "anger", None, "unreadable", "p3", "test"),
        ("img/d.png", "unknown", None, "unmapped_label", None, None),
    ]
    assert samples[0].path == str(tmp_path / "img" / "a.png")  # relative to the manifest
    assert samples[0].attributes == {"age_group": "20-39"}
    assert samples[0].targets == {"valence": 0.5}
    assert samples[1].targets == {}
    assert samples[2].reason.startswith(
        f"{path}:4: label 'bored' is not in the canonical label set"
    )
    assert samples[3].reason == (
        f"{tmp_path / 'img' / 'missing.png'}: image file not found (referenced by {path}:5)"
    )
    expected = f"{path}:6: label 'unknown' is not an expression (a non-expression value)"
    assert samples[4].reason == expected


def test_manifest_missing_path_column_is_one_line_error(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("file,label\na.png,happy\n")
    with pytest.raises(DataError) as info:
        list(manifest.iter_samples(path))
    assert str(info.value) == f"{path}: missing column(s) path; expected header path"
    assert "\n" not in str(info.value)


def test_manifest_without_labels_is_audited_label_free(tmp_path):
    """Demographic face sets carry no expression label: the rows stay ok (whether the face is
    found is their status), the label is simply absent, and attributes are kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.png").write_bytes(b"x")
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"path": ["a.png"], "gender": ["f"]}), path)
    (sample,) = manifest.iter_samples(path)
    assert (sample.status, sample.label, sample.reason) == ("ok", None, "")
    assert sample.attributes == {"gender": "f"}
    csv = tmp_path / "m.csv"
    csv.write_text("path,label,age\na.png,,20-29\na.png,bored,30-39\n")
    empty, unknown = manifest.iter_samples(csv)
    assert (empty.status, empty.label, empty.reason) == ("ok", None, "")
    assert unknown.status == "unmapped_label"


def test_manifest_parquet_streams_by_record_batch(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    path = write_manifest_parquet(tmp_path, rows=200_000, row_group_size=20_000)
    pulled = []
    original = pq.ParquetFile.iter_batches

    def counting(self, *args, **kwargs):
        for batch in original(self, *args, **kwargs):
            pulled.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counting)
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: pytest.fail("read the whole table"))
    first = list(islice(manifest.iter_samples(path), 10))
    assert [s.sample_id for s in first] == [f"s{i}" for i in range(10)]
    assert [s.label for s in first[:4]] == ["happy", "sad", "neutral", "fear"]
    assert first[0].attributes == {"site": "site0"}
    assert pulled == [manifest.BATCH_ROWS]  # one batch of 4096 rows read, not 200,000


def test_manifest_csv_first_rows_in_bounded_memory(tmp_path):
    write_image(tmp_path / "img.png", 1)
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("path,label,site\n")
        for i in range(200_000):
            fh.write(f"img.png,happy,site{i % 7}\n")
    tracemalloc.start()
    try:
        first = list(islice(manifest.iter_samples(path), 100))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 100
    assert peak < 2_000_000  # all 200k rows as dicts would take tens of MB


def _quote_manifest(tmp_path, bad_row: str, n_good: int = 100):
    write_image(tmp_path / "img" / "a.png", 0)
    lines = ["path,label,note", "img/a.png,happy,first", bad_row]
    lines += [f"img/a.png,sad,row {i}" for i in range(n_good)]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_stray_quote_flags_its_row_and_keeps_every_row_after_it(tmp_path):
    path = _quote_manifest(tmp_path, 'img/a.png,happy,"he said hi')
    samples = list(manifest.iter_samples(path))
    assert len(samples) == 102  # the old reader audited 2 rows, the third holding the rest
    assert [s.status for s in samples].count("ok") == 101
    bad = samples[1]
    assert bad.status == "bad_input" and bad.sample_id == "img/a.png"
    assert bad.reason.startswith(f"{path}:3: unbalanced quote")
    assert "\n" not in bad.reason
    assert [s.attributes["note"] for s in samples[2:4]] == ["row 0", "row 1"]


def test_a_stray_quote_closed_by_a_later_quote_is_still_caught(tmp_path):
    path = _quote_manifest(tmp_path, 'img/a.png,happy,"he said hi', n_good=3)
    with open(path, "a") as fh:
        fh.write('img/a.png,sad,"quoted, fine"\n')
    samples = list(manifest.iter_samples(path))
    assert [s.status for s in samples] == ["ok", "bad_input", "ok", "ok", "ok", "ok"]
    assert samples[-1].attributes["note"] == "quoted, fine"


def test_a_quoted_cell_may_still_span_lines(tmp_path):
    path = _quote_manifest(tmp_path, 'img/a.png,happy,"two\nlines"', n_good=2)
    samples = list(manifest.iter_samples(path))
    assert [s.status for s in samples] == ["ok"] * 4
    assert samples[1].attributes["note"] == "two\nlines"


def test_a_stray_quote_closed_on_the_next_row_does_not_swallow_it(tmp_path):
    """`"he said hi` closed by a quote at the end of the next row made one record of the two
    with the header's three cells: the next row became part of the note, its image never
    audited and never counted."""
    path = _quote_manifest(tmp_path, 'img/a.png,happy,"he said hi', n_good=3)
    text = path.read_text().replace("row 0\n", 'row 0"\n')
    path.write_text(text)
    samples = list(manifest.iter_samples(path))
    assert len(samples) == 5
    assert [s.status for s in samples] == ["ok", "bad_input", "ok", "ok", "ok"]
    assert samples[1].reason.startswith(f"{path}:3: a quoted cell spans 2 lines and holds a")
    assert "reads as a row of its own ('img/a.png,sad,row 0')" in samples[1].reason
    assert [s.attributes["note"] for s in samples[2:]] == ['row 0"', "row 1", "row 2"]


def test_a_line_break_in_a_label_is_a_stray_quote(tmp_path):
    path = _quote_manifest(tmp_path, 'img/a.png,"happy\nsad",x', n_good=1)
    samples = list(manifest.iter_samples(path))
    assert [s.status for s in samples] == ["ok", "bad_input", "bad_input", "ok"]
    assert "puts a line break in the 'label' column" in samples[1].reason


def test_a_quoted_cell_over_the_csv_field_limit_is_one_bad_row(tmp_path):
    path = _quote_manifest(tmp_path, 'img/a.png,happy,"' + "x" * 200_000 + '"', n_good=5)
    samples = list(manifest.iter_samples(path))
    assert [s.status for s in samples] == ["ok", "bad_input"] + ["ok"] * 5
    assert samples[1].reason.startswith(f"{path}:3: malformed csv record (field larger")


def test_a_utf16_manifest_is_read(tmp_path):
    write_image(tmp_path / "img" / "a.png", 0)
    path = tmp_path / "m.csv"
    path.write_bytes("path,label\nimg/a.png,happy\nimg/a.png,sad\n".encode("utf-16"))
    assert manifest.detect(path)
    assert [(s.label, s.status) for s in manifest.iter_samples(path)] == [
        ("happy", "ok"),
        ("sad", "ok"),
    ]


def test_a_folder_or_device_as_an_image_path_is_not_called_missing(tmp_path):
    (tmp_path / "img").mkdir()
    path = tmp_path / "m.csv"
    path.write_text("path,label\nimg,happy\n/dev/null,sad\n")
    samples = list(manifest.iter_samples(path))
    assert [s.status for s in samples] == ["unreadable", "unreadable"]
    assert samples[0].reason == (
        f"{tmp_path / 'img'}: not a regular file (a folder or device; referenced by {path}:2)"
    )
    assert samples[1].reason.startswith("/dev/null: not a regular file")


FERPLUS_VOTE_NAMES = [
    "votes_neutral", "votes_happiness", "votes_surprise", "votes_sadness", "votes_anger",
    "votes_disgust", "votes_fear", "votes_contempt", "votes_unknown", "votes_NF",
]  # fmt: skip


def _vote_manifest(tmp_path, names):
    write_image(tmp_path / "a.png", 1)
    path = tmp_path / "m.csv"
    votes = ["1", "7", "0", "2", "0", "0", "0", "0", "0", "0"][: len(names)]
    path.write_text(
        ",".join(["path", "label", *names]) + "\n" + ",".join(["a.png", "happy", *votes]) + "\n"
    )
    return path


def test_manifest_vote_columns_with_ferplus_names_map_through_the_taxonomy(tmp_path):
    path = _vote_manifest(tmp_path, FERPLUS_VOTE_NAMES)
    (sample,) = manifest.iter_samples(path)
    assert sample.votes == {
        "neutral": 1, "happy": 7, "surprise": 0, "sad": 2, "anger": 0, "disgust": 0,
        "fear": 0, "contempt": 0, "unknown": 0, "nf": 0,
    }  # fmt: skip
    assert not any(k.startswith("votes") for k in sample.attributes)


def test_manifest_unknown_or_duplicate_vote_column_is_refused_in_one_line(tmp_path):
    path = _vote_manifest(tmp_path, ["votes_neutral", "votes_joyful"])
    with pytest.raises(DataError) as err:
        list(manifest.iter_samples(path))
    assert str(err.value) == manifest.UNKNOWN_VOTE_COLUMN.format(
        path=path, column="votes_joyful", known=manifest.VOTE_KNOWN
    )
    path = _vote_manifest(tmp_path, ["votes_happy", "votes_happiness"])
    with pytest.raises(DataError, match="'votes_happy' and 'votes_happiness' both count 'happy'"):
        list(manifest.iter_samples(path))


def test_one_image_named_twice_in_different_spellings_is_scored_once(tmp_path):
    write_image(tmp_path / "img" / "a.png", 1)
    write_image(tmp_path / "img" / "b.png", 2)
    path = tmp_path / "m.csv"
    rows = ["img/a.png", "./img/a.png", "img//a.png", "img/a.png/", str(tmp_path / "img/a.png")]
    path.write_text("path,label\n" + "".join(f"{r},happy\n" for r in [*rows, "img/b.png"]))
    samples = list(manifest.iter_samples(path))
    assert [s.status for s in samples] == ["ok"] + ["bad_input"] * 4 + ["ok"]
    assert samples[1].reason == (
        f"{path}:3: the same image file as {path}:2 ('./img/a.png'); a face counted twice "
        "would narrow every interval, so this row is not scored"
    )
    assert samples[5].path == str(tmp_path / "img" / "b.png")
