"""The flagging arithmetic against hand computations, and its intervals, groups and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoaudit import errors
from emoaudit.analysis.flagging import BASE_RATES, deployment_outcomes, flagging_analysis
from emoaudit.errors import EmoauditError


def _predictions(
    *,
    n_flag: int = 100,
    hits: int = 90,
    n_other: int = 900,
    false_pos: int = 90,
    group: str | None = None,
    model: str = "m",
) -> pd.DataFrame:
    """Angry faces (n_flag, `hits` called angry) and neutral faces (`false_pos` called angry)."""
    label = ["anger"] * n_flag + ["neutral"] * n_other
    pred = (
        ["anger"] * hits
        + ["neutral"] * (n_flag - hits)
        + ["anger"] * false_pos
        + ["neutral"] * (n_other - false_pos)
    )
    df = pd.DataFrame(
        {
            "sample_id": [f"{model}-{group}-{i}" for i in range(len(label))],
            "subject_id": None,
            "dataset": "synthetic",
            "model": model,
            "condition": "clean",
            "status": "ok",
            "label": label,
            "pred": pred,
        }
    )
    if group is not None:
        df["attr_group"] = group
    return df


def test_hand_computation_90_sensitivity_90_specificity_2_percent_base_rate():
    out = deployment_outcomes(
        sensitivity=0.9, false_flag_rate=0.1, base_rate=0.02, population=10_000
    )
    # 200 targets -> 180 caught; 9,800 others -> 980 flagged; PPV = 180 / 1160.
    assert float(out["ppv"]) == pytest.approx(0.1552, abs=5e-5)
    assert float(out["expected_flags"]) == pytest.approx(1160)
    assert float(out["true_hits"]) == pytest.approx(180)
    assert float(out["missed_targets"]) == pytest.approx(20)
    assert float(out["innocent_per_true_hit"]) == pytest.approx(980 / 180)


def test_hand_computation_rare_targets():
    # 1 in 10,000 among 1,000,000: 100 targets, 99 caught at 99%; 1% of 999,900 flagged.
    out = deployment_outcomes(
        sensitivity=0.99, false_flag_rate=0.01, base_rate=1e-4, population=1_000_000
    )
    assert float(out["true_hits"]) == pytest.approx(99)
    assert float(out["innocent_flagged"]) == pytest.approx(9999)
    assert float(out["ppv"]) == pytest.approx(99 / (99 + 9999))


def test_analysis_reproduces_the_hand_computation_from_predictions():
    # No ordinary person shows anger (display rate 0): false-flag rate = 90 / 900 = 10%.
    res = flagging_analysis(
        _predictions(),
        flag=["anger"],
        base_rate=0.02,
        population=10_000,
        display_rate=0.0,
        n_resamples=200,
        seed=1,
    )
    assert res["rates"]["sensitivity"]["value"] == pytest.approx(0.9)
    assert res["rates"]["false_flag_rate"]["value"] == pytest.approx(0.1)
    ppv = res["outcomes"]["ppv"]
    assert ppv["value"] == pytest.approx(0.1552, abs=5e-5)
    assert ppv["ci_low"] < ppv["value"] < ppv["ci_high"]
    assert res["assumptions"]["display_rate_source"] == "user"


def test_ordinary_people_showing_the_expression_are_flagged_too():
    # Display rate defaults to the data's share of anger: 100 / 1000 = 10%.
    # false-flag rate = 0.1 * 0.9 + 0.9 * 0.1 = 0.18
    res = flagging_analysis(
        _predictions(), flag=["angry"], base_rate=0.02, population=10_000, n_resamples=200
    )
    assert res["assumptions"]["display_rate"]["value"] == pytest.approx(0.1)
    assert res["rates"]["false_flag_rate"]["value"] == pytest.approx(0.18)
    assert res["outcomes"]["ppv"]["value"] == pytest.approx(0.018 / (0.018 + 0.98 * 0.18))
    # A perfect expression reader still flags the 10% of ordinary people who look angry.
    assert res["perfect_reader"]["ppv"]["value"] == pytest.approx(0.02 / (0.02 + 0.98 * 0.1))


def test_sensitivity_table_spans_base_rates_and_ppv_falls_with_them():
    res = flagging_analysis(
        _predictions(), flag=["anger"], base_rate=0.02, population=10**6, n_resamples=100
    )
    table = res["sensitivity_table"]
    assert [row["base_rate"] for row in table] == list(BASE_RATES)
    ppvs = [row["ppv"]["value"] for row in table]
    assert all(a > b for a, b in zip(ppvs, ppvs[1:], strict=False))
    for row in table:
        assert row["ppv"]["ci_low"] <= row["ppv"]["value"] <= row["ppv"]["ci_high"]


def test_per_label_flag_rates_and_statement():
    res = flagging_analysis(_predictions(), flag=["anger"], n_resamples=50)
    assert res["per_label"]["neutral"]["flag_rate"]["value"] == pytest.approx(0.1)
    assert res["per_label"]["anger"]["flagged"] is True
    text = res["statement"]
    assert "Barrett et al. 2019" in text and "unsupported" in text


def test_group_false_flag_rates_and_their_ratio():
    df = pd.concat(
        [
            _predictions(group="a", false_pos=45),  # 5% of neutral faces called angry
            _predictions(group="b", false_pos=180),  # 20%
        ],
        ignore_index=True,
    )
    res = flagging_analysis(df, flag=["anger"], display_rate=0.0, n_resamples=300, seed=3)
    rows = {r["group"]: r for r in res["groups"]["group"]["groups"]}
    assert rows["a"]["false_flag_rate"]["value"] == pytest.approx(0.05)
    assert rows["b"]["false_flag_rate"]["value"] == pytest.approx(0.20)
    ratio = res["groups"]["group"]["ratio_max_min"]
    assert ratio["value"] == pytest.approx(4.0)
    assert ratio["ci_low"] > 1.5  # the disparity is well outside noise at n = 1000 per group


def test_small_groups_are_shown_but_not_in_the_ratio():
    df = pd.concat(
        [
            _predictions(group="a"),
            _predictions(group="tiny", n_flag=5, hits=5, n_other=10, false_pos=5),
        ],
        ignore_index=True,
    )
    res = flagging_analysis(df, flag=["anger"], n_resamples=50, min_group_n=30)
    rows = {r["group"]: r for r in res["groups"]["group"]["groups"]}
    assert rows["tiny"]["small"] is True
    assert res["groups"]["group"]["ratio_max_min"] is None  # one eligible group left


def test_same_seed_same_numbers_and_intervals_vary_with_seed():
    a = flagging_analysis(_predictions(), flag=["anger"], n_resamples=100, seed=7)
    b = flagging_analysis(_predictions(), flag=["anger"], n_resamples=100, seed=7)
    c = flagging_analysis(_predictions(), flag=["anger"], n_resamples=100, seed=8)
    assert a == b
    assert a["outcomes"]["ppv"] != c["outcomes"]["ppv"]


def test_subject_clusters_widen_the_interval():
    df = _predictions()
    iid = flagging_analysis(df, flag=["anger"], n_resamples=400, seed=0)
    # Ten people, each contributing all their images: far less independent evidence.
    df["subject_id"] = [f"s{i // 10 if i < 100 else i % 10}" for i in range(len(df))]
    clustered = flagging_analysis(df, flag=["anger"], n_resamples=400, seed=0)
    assert clustered["method"]["cluster"] == "subject_id"

    def width(r):
        return r["rates"]["sensitivity"]["ci_high"] - r["rates"]["sensitivity"]["ci_low"]

    assert width(clustered) > width(iid)


def test_only_clean_ok_rows_of_the_chosen_model_count():
    df = pd.concat([_predictions(model="m"), _predictions(model="other", hits=10)])
    noise = _predictions(hits=0).assign(condition="jpeg:5")
    missed = _predictions().assign(status="no_face", pred=None)
    df = pd.concat([df, noise, missed], ignore_index=True)
    res = flagging_analysis(df, flag=["anger"], model="m", n_resamples=20)
    assert res["rates"]["sensitivity"]["value"] == pytest.approx(0.9)
    assert res["method"]["n_samples"] == 1000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flag": ["rage"]}, "'rage' is not an expression label"),
        ({"flag": ["anger"], "base_rate": 0.0}, "--base-rate: expected a rate between 0 and 1"),
        ({"flag": ["anger"], "population": 0}, "--population: expected a positive count"),
        ({"flag": ["anger"], "display_rate": 1.5}, "--display-rate"),
        ({"flag": ["contempt"]}, "no ok sample has a flagged true label"),
        ({"flag": ["anger"], "model": "nope"}, "no predictions for model 'nope'"),
    ],
)
def test_bad_input_is_one_clear_line(kwargs, message):
    with pytest.raises(EmoauditError, match=message) as info:
        flagging_analysis(_predictions(), n_resamples=10, **kwargs)
    assert "\n" not in str(info.value)


def test_several_models_need_a_choice():
    df = pd.concat([_predictions(model="m1"), _predictions(model="m2")])
    with pytest.raises(EmoauditError) as info:
        flagging_analysis(df, flag=["anger"], n_resamples=10)
    assert str(info.value) == errors.AMBIGUOUS_MODEL.format(where="predictions", models="m1, m2")


def test_outputs_are_json_safe():
    import json

    res = flagging_analysis(
        _predictions(hits=0), flag=["anger"], n_resamples=20, display_rate=0.0
    )  # zero sensitivity: no true hits, PPV 0, per-hit ratio undefined -> null
    text = json.dumps(res, allow_nan=False)
    assert res["outcomes"]["innocent_per_true_hit"]["value"] is None
    assert np.isfinite(json.loads(text)["outcomes"]["ppv"]["value"])


def test_group_rates_are_eligible_by_their_own_denominator():
    """A group of 200 rows with only 5 flagged-label rows is too thin for its sensitivity, and
    a group under the minimum cell size is never printed; nor is the next smallest, which
    with the total would give the tiny one's numbers by subtraction."""
    df = pd.concat(
        [
            _predictions(group="a"),
            _predictions(group="thin", n_flag=5, hits=5, n_other=195, false_pos=10),
            _predictions(group="tiny", n_flag=2, hits=1, n_other=5, false_pos=1),
            _predictions(group="few", n_flag=6, hits=3, n_other=8, false_pos=1),
        ],
        ignore_index=True,
    )
    res = flagging_analysis(df, flag=["anger"], n_resamples=50, min_group_n=30)
    rows = {r["group"]: r for r in res["groups"]["group"]["groups"]}
    assert "tiny" not in rows and "few" not in rows  # 7 rows, and 14 hidden beside them
    assert rows["thin"]["small"] is True and rows["thin"]["n"] == 200
    sens = rows["thin"]["sensitivity"]
    assert sens["value"] == 1.0 and sens["ci_low"] < 0.6  # 5 of 5 is not certainty


def test_no_true_hit_reads_plainly_not_unbounded():
    from emoaudit.analysis.flagging import _per_hit

    assert "unbounded" not in _per_hit(None)
    assert "every flag would fall on an innocent person" in _per_hit(None)
    assert _per_hit(5633.2) == "about 5,633 innocent people would be flagged for every true hit"


def test_requests_are_normalised():
    from emoaudit.analysis.flagging import normalise_request

    a = normalise_request({"flag": ["Anger", "fear"], "model": None, "groups": ["attr_g", "g"]})
    b = normalise_request({"flag": ["FEAR", "angry"], "groups": ["g"]})
    assert a == b
    assert a["groups"] == ["g"] and sorted(a["flag"]) == ["anger", "fear"]
