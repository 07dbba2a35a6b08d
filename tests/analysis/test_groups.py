"""Disaggregation against fairlearn's MetricFrame, small cells, disparity and directional tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from emoaudit.analysis import metrics as M
from emoaudit.analysis.bootstrap import BootstrapSpec
from emoaudit.analysis.groups import disaggregate

LABELS = ["neutral", "happy", "anger", "disgust"]


def _run(t, p, g, names, **kw):
    return disaggregate(
        true_idx=t,
        pred_idx=p,
        labels=LABELS,
        group=g,
        group_names=names,
        spec=BootstrapSpec(n_resamples=kw.pop("n_resamples", 50)),
        **kw,
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 4), st.integers(20, 150))
def test_per_group_metrics_match_fairlearn_metricframe(seed, n_groups, n):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, n)
    p = np.where(rng.random(n) < 0.5, t, rng.integers(0, 4, n))
    g = rng.integers(0, n_groups, n)
    g[:2] = 0
    t[g == 0] = 2  # a single-class group
    names = [f"g{i}" for i in range(n_groups)]
    out = _run(t, p, g, names, min_group_n=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = MetricFrame(
            metrics={
                "accuracy": accuracy_score,
                "balanced_accuracy": balanced_accuracy_score,
                "f1_macro": lambda a, b: f1_score(a, b, average="macro", zero_division=0),
            },
            y_true=t,
            y_pred=p,
            sensitive_features=np.array(names)[g],
        )
    by_group = mf.by_group
    for row in out["groups"]:
        if row["n"] == 0:
            continue
        for metric in ("accuracy", "balanced_accuracy", "f1_macro"):
            assert row["metrics"][metric]["value"] == pytest.approx(
                by_group.loc[row["group"], metric], abs=1e-9
            )
    present = [r["group"] for r in out["groups"] if r["n"] > 0]
    if len(present) >= 2:
        diff = out["disparity"]["accuracy"]["difference"]["value"]
        assert diff == pytest.approx(mf.difference()["accuracy"], abs=1e-9)
        assert out["disparity"]["accuracy"]["ratio"]["value"] == pytest.approx(
            mf.ratio()["accuracy"], abs=1e-9
        )


def test_small_cells_are_shown_flagged_and_left_out_of_disparity():
    rng = np.random.default_rng(0)
    n = 400
    t = rng.integers(0, 4, n)
    g = np.r_[np.zeros(10, int), rng.integers(1, 3, n - 10)]
    p = np.where(g == 0, (t + 1) % 4, t)  # the tiny group is always wrong
    out = _run(t, p, g, ["tiny", "a", "b"], min_group_n=30)
    tiny = out["groups"][0]
    assert tiny["small"] and tiny["n"] == 10 and tiny["metrics"]["accuracy"]["value"] == 0.0
    assert out["excluded_from_disparity"] == ["tiny"]
    assert out["disparity"]["accuracy"]["difference"]["value"] == 0.0


def test_directional_errors_find_calm_faces_read_as_hostile_in_one_group():
    rng = np.random.default_rng(1)
    n = 3000
    t = rng.integers(0, 2, n)  # neutral or happy faces only
    g = rng.integers(0, 2, n)
    hostile = (g == 1) & (rng.random(n) < 0.3)
    p = np.where(hostile, 2, t)  # group 1: 30% read as anger
    out = _run(t, p, g, ["x", "y"], n_resamples=200)
    de = out["directional_errors"]
    rate = de["by_true_label"]["neutral"]["y"]["anger"]
    assert rate["ci_low"] < 0.3 < rate["ci_high"]
    sig = [x for x in de["tests"] if x["p_holm"] < 0.05]
    assert {(x["true"], x["pred"]) for x in sig} == {("neutral", "anger"), ("happy", "anger")}
    assert "holm" in de["correction"]
    calm = de["calm_read_as_hostile"]
    assert calm["by_group"]["x"]["value"] == 0.0
    assert calm["disparity"]["difference"]["ci_low"] > 0.2


def test_group_ece_is_the_ece_of_the_group_rows():
    rng = np.random.default_rng(2)
    n = 600
    t = rng.integers(0, 4, n)
    proba = rng.dirichlet(np.ones(4), n)
    p = proba.argmax(1)
    g = rng.integers(0, 2, n)
    edges = M.bin_edges(proba.max(1))
    out = _run(t, p, g, ["a", "b"], proba=proba, proba_true_idx=t, edges=edges)
    for k, row in enumerate(out["groups"]):
        m = g == k
        assert row["metrics"]["ece"]["value"] == pytest.approx(
            M.ece_from_bins(M.binned_features(t[m], proba[m], edges).sums()), abs=1e-12
        )
        # the lower end is extended to max(0, min(low, 2 x ECE - high)): never above the ECE
        ece = row["metrics"]["ece"]
        assert 0 <= ece["ci_low"] <= ece["value"] <= ece["ci_high"]


def test_ece_bias_note_corrects_towards_the_truth_in_a_small_calibrated_group():
    # Perfectly calibrated rows: the true ECE is 0, binned ECE of 25 rows is well above it, and
    # the resamples sit above the estimate again. The bias note is the bootstrap's estimate of
    # that excess; the interval's lower end, max(0, min(low, 2 x ECE - high)), reaches below the
    # bias-corrected estimate (the percentile interval's own lower end did not).
    rng = np.random.default_rng(5)
    n = 2000
    proba = rng.dirichlet(np.ones(4) * 0.5, n)
    p = proba.argmax(1)
    t = np.where(rng.random(n) < proba.max(1), p, (p + rng.integers(1, 4, n)) % 4)
    g = np.r_[np.zeros(25, int), np.ones(n - 25, int)]
    edges = M.bin_edges(proba.max(1))
    out = _run(
        t,
        p,
        g,
        ["small", "big"],
        proba=proba,
        proba_true_idx=t,
        edges=edges,
        n_resamples=400,
        min_group_n=1,
    )
    small, big = out["groups"]
    ece, bias = small["metrics"]["ece"], small["ece_bootstrap_bias"]
    assert bias > 0.03 and 0 <= ece["ci_low"] <= ece["value"] - bias
    assert abs(ece["value"] - bias) < ece["value"]  # corrected estimate nearer the true 0
    assert 0 < big["ece_bootstrap_bias"] < bias  # less bias in the big group


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=4, max_size=4), st.booleans())
def test_vectorised_fisher_exact_matches_scipy(cells, symmetric):
    from scipy.stats import fisher_exact

    from emoaudit.analysis.groups import fisher_exact_two_sided

    a, b, c, d = cells
    if symmetric:  # equal margins: exact ties between tables on either side of the mode
        c, d = b, a
    tables = np.array([[a, b, c, d], [a * 40, b * 40, c * 40 + 1, d * 40]])
    ours = fisher_exact_two_sided(tables)
    for row, p in zip(tables, ours, strict=True):
        assert p == pytest.approx(fisher_exact(row.reshape(2, 2)).pvalue, rel=1e-9, abs=1e-15)


def test_a_detector_that_misses_one_group_shows_in_who_it_fails():
    """Groups used to be formed from scored rows only, so missed faces never showed. Now each
    group has end-to-end accuracy and its detection rate, and detection is tested."""
    from synth import table

    from emoaudit.analysis.summary import analyze

    rng = np.random.default_rng(0)
    n = 1200
    group = np.where(np.arange(n) % 2 == 0, "A", "B")
    missed = rng.random(n) < np.where(group == "B", 0.3, 0.05)
    label = rng.choice(["happy", "sad", "neutral"], n)
    pred = np.where(rng.random(n) < 0.7, label, "anger")
    df = table(
        label,
        np.where(missed, None, pred),
        status=np.where(missed, "no_face", "ok"),
        attr_skin=group,
    )
    res = analyze(df, n_resamples=100)["results"][0]
    g = res["groups"]["skin"]
    det = g["tests"]["detection_rate"]
    assert det["rejected"] and det["worse"] == ["B"]
    assert not g["finding"]["worse"]  # accuracy on faces found does not differ
    rows = {r["group"]: r["metrics"] for r in g["groups"]}
    assert rows["B"]["end_to_end_accuracy"]["value"] < rows["A"]["end_to_end_accuracy"]["value"]
    assert rows["B"]["detection_rate"]["ci_high"] < rows["A"]["detection_rate"]["ci_low"]


def test_id_like_columns_are_not_grouped_and_small_cells_never_shown():
    from synth import predictions

    from emoaudit.analysis.summary import analyze

    df = predictions(600)
    df["attr_person"] = [f"u{i:05d}" for i in range(len(df))]
    res = analyze(df, n_resamples=20)["results"][0]
    assert "person" not in res["groups"]
    named = analyze(df, n_resamples=20, groups=["person"])["results"][0]
    assert "person" not in named["groups"]
    assert named["groups_suppressed"]["person"]["n_rows"] == named["data"]["n_evaluated"]


def _protected(hide, sizes, names, min_cell=10):
    """No hidden group can be isolated by subtraction: in the whole grouping and in each value
    of each attribute of an intersection, the hidden groups are none, or two or more holding
    min_cell rows together (groups of missing values aside)."""
    from emoaudit.analysis.groups import INTERSECTION, MISSING

    parts = [n.split(INTERSECTION) for n in names]
    sets = [np.ones(len(names), dtype=bool)]
    for j in range(len(parts[0]) if len({len(p) for p in parts}) == 1 else 0):
        level = np.array([p[j] for p in parts], dtype=object)
        sets += [level == v for v in set(level)] if len(parts[0]) > 1 else []
    known = np.array([MISSING not in p for p in parts])
    for members in sets:
        hidden = hide & members
        if (hidden & known).any() and (members & ~hide).any():  # a set all hidden shows nothing
            assert hidden.sum() >= 2 and sizes[hidden].sum() >= min_cell
    assert (hide | (sizes >= min_cell)).all()  # every small group is hidden


def test_a_lone_small_group_takes_the_next_smallest_with_it():
    from emoaudit.analysis.groups import hidden_groups

    sizes = np.array([40, 41, 3, 100])
    hide = hidden_groups(sizes, ["a", "b", "c", "d"])
    assert hide.tolist() == [True, False, True, False]  # c, and a: else total - a - b - d = c


def test_intersections_are_protected_within_each_margin():
    """83 women shown with 40 + 40 of them in two shown intersections gave the 3 in F&C."""
    from emoaudit.analysis.groups import hidden_groups

    names = ["F&A", "F&B", "F&C", "M&A", "M&B", "M&C"]
    sizes = np.array([40, 40, 3, 50, 55, 60])
    hide = hidden_groups(sizes, names)
    assert hide[2] and hide.sum() >= 3
    _protected(hide, sizes, names)


def test_missing_values_do_not_blank_a_real_group():
    from emoaudit.analysis.groups import MISSING, hidden_groups

    hide = hidden_groups(np.array([100, 120, 3]), ["a", "b", MISSING])
    assert hide.tolist() == [False, False, True]


def test_complementary_suppression_holds_on_random_tables():
    from emoaudit.analysis.groups import hidden_groups

    rng = np.random.default_rng(0)
    for _ in range(300):
        width = rng.integers(1, 3)
        levels = [list("abcd")[: rng.integers(2, 5)] for _ in range(width)]
        names = ["&".join(p) for p in np.array(np.meshgrid(*levels)).reshape(width, -1).T]
        sizes = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 60], size=len(names))
        keep = sizes > 0
        names = [n for n, k in zip(names, keep, strict=True) if k]
        sizes = sizes[keep]
        if not names:
            continue
        _protected(hidden_groups(sizes, names), sizes, names)


# --- what the directional table and the calm-as-hostile words rest on, by simulation --------


def _bound(runs: int, alpha: float = 0.05) -> float:
    """The nominal level plus three Monte Carlo standard errors."""
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)


def _two_label_subjects(rng, *, n_subjects=25, per=10, base=0.2, sd=1.5, lift=0.0):
    """Neutral and angry faces, 2 groups of subjects with `per` images each; each subject's
    error rate has a random effect (sd on the logit scale); `lift` raises group a's neutral
    faces read as angry (on the logit scale)."""
    subject = np.repeat(np.arange(2 * n_subjects), per)
    g = (subject >= n_subjects).astype(np.int64)
    t = rng.integers(0, 2, len(subject))
    logit = np.log(base / (1 - base)) + rng.normal(0, sd, 2 * n_subjects)[subject]
    logit = logit + lift * ((g == 0) & (t == 0))
    wrong = rng.random(len(subject)) < 1 / (1 + np.exp(-logit))
    return t, np.where(wrong, 1 - t, t), g, subject


def _directional(t, p, g, clusters):
    from emoaudit.analysis.bootstrap import Resampled
    from emoaudit.analysis.groups import directional_errors

    feats = M.confusion_features(t, p, 2).split_by(g, 2)
    res = Resampled(feats, spec=BootstrapSpec(n_resamples=2), strata=t, clusters=clusters)
    return directional_errors(
        res,
        labels=["neutral", "anger"],
        group=g,
        group_names=["a", "b"],
        eligible=np.array([True, True]),
        true_idx=t,
        pred_idx=p,
        clusters=clusters,
    )


def test_directional_p_and_calm_words_with_subjects_hold_their_level():
    """No group difference, 2 x 25 subjects x 10 images, a subject effect of sd 1.5 on the
    logit of an error: a directional p is below .05 in at most 5% + 3 MCSE of runs, and the
    calm-as-hostile words claim a difference as rarely. Measured in 600 runs: 4.6% and 5.3%;
    Fisher's test and the unclustered score test, which treat the images as independent, gave
    18.5% and 19.3% (300 runs)."""
    rng = np.random.default_rng(21)
    runs, raw, calm = 120, 0.0, 0
    for _ in range(runs):
        t, p, g, subject = _two_label_subjects(rng)
        de = _directional(t, p, g, subject)
        assert de["test"].startswith("score test") and "subjects as clusters" in de["test"]
        mine = [x for x in de["tests"] if x["group"] == "a"]  # b's are the same two tests
        raw += np.mean([x["p_value"] < 0.05 for x in mine])
        words = de["calm_read_as_hostile"]["test"]["text"]
        calm += not words.startswith("no evidence")
    assert raw / runs <= _bound(runs)
    assert calm / runs <= _bound(runs)


def test_directional_test_is_fisher_for_independent_images():
    rng = np.random.default_rng(22)
    t, p, g, subject = _two_label_subjects(rng, n_subjects=200, per=1)
    for clusters in (None, subject):  # one image a subject: independent images
        de = _directional(t, p, g, clusters)
        assert de["test"].startswith("Fisher exact")
        assert "calm_read_as_hostile" in de and de["calm_read_as_hostile"]["test"]["n_clusters"]


def test_calm_read_as_hostile_words_false_finding_rate_and_power():
    """3 groups x 300 calm faces, 5% read as hostile in each: the words claim a difference in
    at most 5% + 3 MCSE of runs (measured 5.4% in 2,000). One group at 12% is named as higher in
    80% or more (measured 90%; at 10%, 62%)."""
    from emoaudit.analysis.groups import calm_hostile_test

    def words(rates, seed, runs):
        rng = np.random.default_rng(seed)
        g = np.repeat(np.arange(3), 300)
        out = []
        for _ in range(runs):
            test = calm_hostile_test(
                hostile=rng.random(len(g)) < np.repeat(rates, 300),
                group=g,
                group_names=["a", "b", "c"],
                clusters=None,
                alpha=0.05,
                what="the share of neutral/happy faces called anger",
            )
            out.append(test["text"])
        return out

    runs = 300
    null = words([0.05] * 3, 23, runs)
    assert sum(not w.startswith("no evidence") for w in null) / runs <= _bound(runs)
    assert "this data could detect a gap of" in null[0]
    power = words([0.12, 0.05, 0.05], 24, 150)
    assert sum("differs between groups (p = " in w and "higher for a" in w for w in power) >= 120


def test_calm_disparity_numbers_stay_descriptive_beside_their_test():
    rng = np.random.default_rng(25)
    n = 1200
    t = rng.integers(0, 2, n)  # neutral or happy only
    g = rng.integers(0, 2, n)
    p = np.where(rng.random(n) < 0.05, 2, t)  # 5% read as anger in both groups
    calm = _run(t, p, g, ["x", "y"])["directional_errors"]["calm_read_as_hostile"]
    assert calm["disparity"]["difference"]["ci_low"] >= 0  # never below 0: not a verdict
    assert calm["test"]["family_size"] == 1 and calm["test"]["groups"] == ["x", "y"]
    assert calm["test"]["text"].startswith(
        "no evidence that the share of neutral/happy faces called anger/disgust differs"
    )


def test_a_large_directional_gap_with_subjects_survives_a_large_holm_family():
    """4 groups, 7 labels, 800 subjects of 5 photos: the subject permutation's p cannot go below
    1/2,001, and Holm over the table's 168 tests needs 0.05/168, so a confusion made 67% of the
    time in one group against 5% elsewhere was never reported; the chi-square p now stands
    where no permutation is as extreme."""
    from emoaudit.analysis.bootstrap import BootstrapSpec
    from emoaudit.analysis.groups import disaggregate

    rng = np.random.default_rng(0)
    K, G, S, per = 7, 4, 800, 5
    subject = np.repeat(np.arange(S), per)
    group = np.repeat(rng.integers(0, G, S), per)
    true = rng.integers(0, K, S * per)
    pred = true.copy()
    wrong = rng.random(S * per) < 0.3
    pred[wrong] = rng.integers(0, K, wrong.sum())
    pred[(group == 0) & (true == 1) & (rng.random(S * per) < 0.6)] = 0
    out = disaggregate(
        true_idx=true, pred_idx=pred, labels=[f"l{i}" for i in range(K)], group=group,
        group_names=list("abcd"), spec=BootstrapSpec(n_resamples=50, seed=0),
        clusters=subject.astype(object), min_group_n=30,
    )  # fmt: skip
    tests = out["directional_errors"]["tests"]
    assert len(tests) > 126
    top = min(tests, key=lambda t: t["p_value"])
    assert (top["group"], top["true"], top["pred"]) == ("a", "l1", "l0")
    assert top["reject_at_alpha"]
