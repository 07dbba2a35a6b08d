from dataset_fixtures import write_rafdb
from rich.console import Console

from emoaudit.data.inspect import inspect_dataset, render_inspection


def test_inspect_counts(tmp_path):
    write_rafdb(tmp_path)
    info = inspect_dataset(tmp_path)
    assert info["format"] == "rafdb"
    assert info["n_samples"] == 7
    assert info["splits"] == {"train": 4, "test": 2, "(none)": 1}
    assert info["statuses"] == {"ok": 4, "bad_input": 2, "unreadable": 1}
    assert info["labels"] == {"(none)": 3, "sad": 1, "neutral": 1, "surprise": 1, "happy": 1}
    assert info["raw_labels"] == {"(none)": 1, "1": 1, "2": 1, "4": 1, "5": 1, "7": 1, "9": 1}
    assert info["attributes"]["gender"] == {"female": 1, "male": 1, "unsure": 1}
    assert info["attributes"]["age"] == {"20-39": 1, "70+": 1, "0-3": 1}
    assert len(info["example_reasons"]["bad_input"]) == 2


def test_render_inspection_prints_tables(tmp_path):
    write_rafdb(tmp_path)
    console = Console(record=True, width=200)
    render_inspection(inspect_dataset(tmp_path, "rafdb"), console)
    text = console.export_text()
    for title in (
        "Status",
        "Splits",
        "Labels (canonical)",
        "Attribute race",
        "Examples: bad_input",
    ):
        assert title in text
    assert "African-American" in text
