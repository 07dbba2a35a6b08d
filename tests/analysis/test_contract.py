"""check_predictions(): a table outside the predictions contract is refused with one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoaudit.analysis import contract as C
from emoaudit.errors import EmoauditError

PATH = "out/predictions.parquet"
LABELS = ["anger", "happy", "neutral"]


def _table(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), n).astype(np.float32)  # what emoaudit writes: float32
    df = pd.DataFrame(
        {
            "sample_id": [f"s{i}.png" for i in range(n)],
            "dataset": "folders",
            "model": "m",
            "condition": "clean",
            "status": ["ok"] * (n - 1) + ["no_face"],
            "label": [LABELS[i % 3] for i in range(n)],
            "pred": [LABELS[k] for k in proba.argmax(1)],
        }
    )
    for k, name in enumerate(LABELS):
        df[f"prob_{name}"] = proba[:, k]
    df.loc[n - 1, [f"prob_{x}" for x in LABELS]] = np.nan  # a missed face has none
    return df


def _refused(df: pd.DataFrame) -> str:
    with pytest.raises(EmoauditError) as exc:
        C.check_predictions(df, PATH)
    message = str(exc.value)
    assert message.startswith(PATH + ": ") and "\n" not in message
    return message


def test_a_table_emoaudit_writes_passes():
    C.check_predictions(_table(), PATH)


@pytest.mark.parametrize("column", C.REQUIRED)
def test_a_missing_core_column(column):
    message = _refused(_table().drop(columns=column))
    assert message.startswith(f"{PATH}: missing column(s) {column};")


def test_no_rows():
    assert _refused(_table().iloc[:0]) == C.NO_ROWS.format(path=PATH)


def test_a_status_of_integers_is_not_blamed_on_the_images():
    message = _refused(_table().assign(status=1))
    assert message.startswith(f"{PATH}: column 'status' holds integer values; expected text")


def test_integer_sample_ids():
    assert "column 'sample_id' holds integer" in _refused(_table().assign(sample_id=range(6)))


def test_an_unknown_status():
    df = _table()
    df.loc[:1, "status"] = "weird"
    assert _refused(df) == C.UNKNOWN_STATUS.format(
        path=PATH, status="weird", n=2, known=", ".join(C.KNOWN_STATUSES)
    )


def test_every_status_emoaudit_writes_is_known():
    df = _table(len(C.KNOWN_STATUSES) + 1)
    df["status"] = ["ok", *C.KNOWN_STATUSES]
    df.loc[1:, [f"prob_{x}" for x in LABELS]] = np.nan
    C.check_predictions(df, PATH)


def test_repeated_rows_are_refused_not_counted_twice():
    df = _table()
    message = _refused(pd.concat([df, df.iloc[:2]], ignore_index=True))
    assert message == C.DUPLICATE_ROWS.format(
        path=PATH, sample="s0.png", n=2, model="m", condition="clean"
    )


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda p: p * 5, "= "),  # out of range
        (lambda p: -p, "= -"),
        (lambda p: p * 0.8, "they sum to"),
    ],
)
def test_probabilities_that_are_not_a_distribution(edit, what):
    df = _table()
    cols = [f"prob_{x}" for x in LABELS]
    df[cols] = edit(df[cols])
    message = _refused(df)
    assert message.startswith(f"{PATH}: 5 of 5 row(s) with status ok have prob_ values")
    assert what in message


def test_a_dropped_probability_column():
    message = _refused(_table().drop(columns="prob_happy"))
    assert "they sum to" in message


def test_a_partly_empty_row_is_not_a_distribution():
    df = _table()
    df.loc[0, "prob_happy"] = np.nan
    df.loc[0, "prob_anger"] = 0.0
    assert "1 of 5 row(s)" in _refused(df)


def test_rows_without_any_probability_are_label_only():
    """An imported record with a label and no scores: allowed (the analysis says so)."""
    df = _table()
    df.loc[:2, [f"prob_{x}" for x in LABELS]] = np.nan
    C.check_predictions(df, PATH)


def test_two_models_with_different_label_sets():
    a = _table()
    b = _table().assign(model="m8", prob_contempt=0.0)
    C.check_predictions(pd.concat([a, b], ignore_index=True), PATH)


def test_compare_reads_without_probabilities():
    df = _table()
    df["prob_happy"] *= 5
    C.check_predictions(df, PATH, probabilities=False)


def test_read_predictions_missing_and_unreadable(tmp_path):
    path = tmp_path / "predictions.parquet"
    with pytest.raises(EmoauditError, match="no such file"):
        C.read_predictions(path)
    path.write_text("not parquet")
    with pytest.raises(EmoauditError, match="cannot read as a Parquet predictions table"):
        C.read_predictions(path)
