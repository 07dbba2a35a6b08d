"""Tidy CSV tables: one row per number, every number as in results.json, nothing recomputed."""

from __future__ import annotations

import pandas as pd

from emoaudit.report.tables import NUMBERS, TABLES, write_tables


def test_every_table_written_with_value_interval_and_n(results, tmp_path):
    paths = write_tables(tmp_path, results)
    assert sorted(p.stem for p in paths) == sorted(TABLES)
    for p in paths:
        df = pd.read_csv(p)
        assert list(df.columns) == [*TABLES[p.stem], *NUMBERS]
        assert len(df) > 0 and df["value"].notna().any()
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temp files


def test_numbers_are_the_ones_in_results(results, tmp_path):
    write_tables(tmp_path, results)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    acc = results["results"][0]["headline"]["accuracy"]
    row = metrics[(metrics.model == "model-a") & (metrics.condition == "clean")
                  & (metrics.measure == "headline.accuracy")]  # fmt: skip
    assert row[list(NUMBERS)].iloc[0].tolist() == [
        acc["value"],
        acc["ci_low"],
        acc["ci_high"],
        acc["n"],
    ]
    rob = pd.read_csv(tmp_path / "robustness.csv")
    cond = results["robustness"]["models"]["model-b"]["conditions"][2]
    row = rob[(rob.model == "model-b") & (rob.condition == cond["condition"])
              & (rob.measure == "flip_rate")]  # fmt: skip
    assert row["value"].iloc[0] == cond["flip_rate"]["value"]
    groups = pd.read_csv(tmp_path / "by_group.csv")
    assert set(groups["group"].dropna()) >= {"female", "male"}
    flag = pd.read_csv(tmp_path / "flagging.csv")
    ppv = results["flagging"][0]["outcomes"]["ppv"]["value"]
    assert flag.loc[flag.measure == "outcomes.ppv", "value"].iloc[0] == ppv


def test_absent_sections_write_no_table(tmp_path):
    assert write_tables(tmp_path, {"schema_version": "1.0"}) == []
