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


# label and pred hold canonical names (DESIGN.md); a synonym or a typo would be a class of its own


@pytest.mark.parametrize(
    ("column", "value", "hint"),
    [
        ("label", "happiness", "; 'happiness' is written 'happy'"),
        ("label", "hapy", ""),
        ("label", "Happy", "; 'Happy' is written 'happy'"),
        ("label", "", ""),
        ("pred", "calm", ""),  # an imported system's own answer, but this row is not imported
        ("pred", "joy", "; 'joy' is written 'happy'"),
    ],
)
def test_a_label_or_pred_that_is_not_a_canonical_name(column, value, hint):
    df = _table()
    df.loc[[2, 4], column] = value
    expected = C.CANONICAL_OR_EMPTY.format(known=", ".join(C.CANONICAL)) + hint
    assert _refused(df) == C.UNKNOWN_LABEL.format(
        path=PATH, column=column, value=value, n=2, row=3, sample="s2.png", model="m",
        expected=expected,
    )  # fmt: skip


def test_an_empty_label_or_pred_is_allowed():
    df = _table().astype({"label": object, "pred": object})
    df.loc[0, "label"] = None  # an unlabelled sample is audited label-free
    df.loc[5, "pred"] = None  # the missed face
    C.check_predictions(df, PATH)


def _imported(df: pd.DataFrame) -> pd.DataFrame:
    """As predictions/join.py writes it: each row names its output's FILE:LINE."""
    return df.assign(output_at=[f"vendor.csv:{i + 2}" for i in range(len(df))])


def test_an_imported_systems_own_answers_stay_their_own_value():
    df = _imported(_table())
    df.loc[:4, [f"prob_{x}" for x in LABELS]] = np.nan  # answers without scores
    df.loc[0, "pred"], df.loc[1, "pred"], df.loc[2, "pred"] = "calm", "none", "excited"
    C.check_predictions(df, PATH)
    for value, normal in (("Calm", "calm"), ("joy", "happy"), (" calm", "calm")):
        edited = df.copy()
        edited.loc[3, "pred"] = value
        message = _refused(edited)
        assert message.startswith(
            f"{PATH}: pred '{value}' on 1 row(s) is not a label (first: row 4"
        )
        assert message.endswith(
            "on an imported row (one with output_at) the system's own answer as the import "
            f"writes it, lower case ('{normal}')"
        )
    df.loc[3, "output_at"] = None  # a row emoaudit's runner wrote: canonical names only
    df.loc[3, "pred"] = "calm"
    assert "pred 'calm' on 1 row(s)" in _refused(df)


def test_the_label_is_checked_on_imported_rows_too():
    df = _imported(_table())
    df.loc[1, "label"] = "calm"
    assert _refused(df).startswith(f"{PATH}: label 'calm' on 1 row(s) is not a label (first: row 2")


# pred is the argmax of the probabilities emoaudit writes


def test_a_pred_edited_away_from_the_top_probability():
    df = _table()
    top = df.loc[1, "pred"]
    other = next(x for x in LABELS if x != top)
    df.loc[1, "pred"] = other
    message = _refused(df)
    p_other, p_top = float(df.loc[1, f"prob_{other}"]), float(df.loc[1, f"prob_{top}"])
    assert message == C.PRED_NOT_ARGMAX.format(
        path=PATH, row=2, sample="s1.png", model="m", pred=other,
        pred_p=f"prob_{other} = {p_other:.4g}", top=top, top_p=p_top, n=1, total=5,
    )  # fmt: skip


def test_a_pred_the_model_has_no_probability_for():
    df = _table()
    df.loc[0, "pred"] = "contempt"  # canonical, but not one of this model's labels
    assert "pred 'contempt' (no prob_contempt on this row) but its highest" in _refused(df)
    df = _table().assign(prob_contempt=np.nan)
    df.loc[0, "pred"] = "contempt"
    assert "pred 'contempt' (no prob_contempt on this row)" in _refused(df)


def test_an_empty_pred_beside_probabilities():
    df = _table().astype({"pred": object})
    df.loc[3, "pred"] = None
    assert "row 4 (sample 's3.png', model 'm') has pred '' (empty) but its highest" in _refused(df)


def test_unmapped_label_rows_are_read_label_free_so_they_are_checked_too():
    df = _table()
    df.loc[0, "status"] = "unmapped_label"
    C.check_predictions(df, PATH)
    df.loc[0, "pred"] = next(x for x in LABELS if x != df.loc[0, "pred"])
    assert "row 1 (sample 's0.png'" in _refused(df)


def test_a_tie_at_the_top_accepts_either_label():
    df = _table()
    df.loc[0, [f"prob_{x}" for x in LABELS]] = [0.4, 0.4, 0.2]  # anger, happy, neutral
    for pred in ("anger", "happy"):
        C.check_predictions(df.assign(pred=df["pred"].where(df.index != 0, pred)), PATH)
    assert "pred 'neutral'" in _refused(df.assign(pred=df["pred"].where(df.index != 0, "neutral")))


def test_an_imported_vendor_label_may_differ_from_its_scores():
    """docs/predictions-import.md: the prediction is the system's stated `pred`, else the top
    score; a vendor's label beside its scores is kept as the vendor gave it."""
    df = _imported(_table())
    df.loc[1, "pred"] = next(x for x in LABELS if x != df.loc[1, "pred"])
    C.check_predictions(df, PATH)


def test_compare_reads_without_probabilities_but_checks_labels():
    df = _table()
    df["prob_happy"] *= 5
    df.loc[0, "pred"] = next(x for x in LABELS if x != df.loc[0, "pred"])  # no argmax check
    C.check_predictions(df, PATH, probabilities=False)
    df.loc[0, "label"] = "happiness"
    assert "label 'happiness'" in _refused_without_probabilities(df)


def _refused_without_probabilities(df: pd.DataFrame) -> str:
    with pytest.raises(EmoauditError) as exc:
        C.check_predictions(df, PATH, probabilities=False)
    return str(exc.value)


def test_read_predictions_knows_imported_rows_whatever_columns_are_asked_for(tmp_path):
    path = tmp_path / "predictions.parquet"
    df = _imported(_table())
    df.loc[0, "pred"] = "calm"
    df.loc[:0, [f"prob_{x}" for x in LABELS]] = np.nan
    df.to_parquet(path)
    read = C.read_predictions(path, columns=C.REQUIRED, probabilities=False)  # as compare does
    assert "output_at" not in read and read.loc[0, "pred"] == "calm"
    assert "output_at" in C.read_predictions(path)
    df.drop(columns="output_at").to_parquet(path)
    with pytest.raises(EmoauditError, match="pred 'calm' on 1 row"):
        C.read_predictions(path, probabilities=False)


def test_the_contract_and_the_import_share_one_distribution_test(monkeypatch):
    """predictions.base.distribution_faults decides for both: a row the import reads as
    probabilities is one the contract accepts, and the reverse."""
    from emoaudit.predictions import base

    calls = []
    real = base.distribution_faults
    monkeypatch.setattr(C, "distribution_faults", lambda p: calls.append(p.shape) or real(p))
    C.check_predictions(_table(), PATH)
    assert calls == [(5, 3)]
    rng = np.random.default_rng(3)
    rows = np.round(rng.dirichlet(np.ones(4), 400) * rng.uniform(0.9, 1.1, (400, 1)), 3)
    rows[::7, 1] *= -1
    names = ["anger", "happy", "neutral", "sad"]
    df = pd.DataFrame(
        {"sample_id": [f"r{i}" for i in range(400)], "dataset": "d", "model": "m",
         "condition": "clean", "status": "ok", "label": "happy",
         "pred": [names[k] for k in rows.argmax(1)]}
    )  # fmt: skip
    for k, name in enumerate(names):
        df[f"prob_{name}"] = rows[:, k]
    bad = [base.not_probabilities(dict(zip(names, r, strict=True)), where="f:1") for r in rows]
    first = next(i for i, why in enumerate(bad) if why)
    message = _refused(df)
    assert f"{sum(map(bool, bad))} of 400 row(s)" in message and f"sample 'r{first}'" in message
    C.check_predictions(df[[not why for why in bad]], PATH)
