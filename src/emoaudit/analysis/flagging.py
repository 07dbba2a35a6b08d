"""What a deployment that flags people by their expression would do, granting its premise.

Vendors of "suspicious emotion" detection claim that a displayed expression reveals intent. That
premise is not supported by the evidence (Barrett et al. 2019), and emoaudit never flags anyone.
This analysis takes the premise at its best and asks what the audited model would do to a
screened population: how many flags, how many of them innocent people, and whether some groups
would be flagged more than others. The derivation is in docs/flagging.md; in short:

- A *target* (a person the deployment means to find) is assumed to display a flagged expression
  whenever screened (the vendor's best case), so the model flags a target with probability equal
  to its recall on flagged expressions: ``sensitivity = P(pred in F | true label in F)``.
- An *ordinary person* displays a flagged expression with probability ``d`` (the display rate; by
  default the share of flagged labels in the audited data) and a non-flagged one otherwise, so
  ``false_flag_rate = d * sensitivity + (1 - d) * P(pred in F | true label not in F)``. An
  ordinary angry face that is flagged counts as a false flag: the expression was read correctly,
  the inference about the person was not.

Every output carries a bootstrap interval over the audited samples (clustered by subject when
the data has subjects), so the uncertainty of the model's rates flows into every number. A rate
of x in n is united with its Clopper-Pearson interval; every output that moves with ``q`` (the
false-flag rate, expected flags, innocent people flagged, PPV, innocent per true hit, in the
outcomes, the sensitivity table and per group) is united with its values at the Clopper-Pearson
bounds of ``q``, ``s`` and ``d`` held at their estimates: with a stated, realistic display rate
the false-flag rate is about ``q``, often a handful of misread rows that a bootstrap cannot move.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoaudit import errors
from emoaudit.analysis.bootstrap import (
    exact_binomial_interval,
    expanded_confidence,
    proportion_interval,
)
from emoaudit.analysis.group_tests import finding, settle, verdict_words
from emoaudit.analysis.groups import MIN_CELL, hidden_groups
from emoaudit.errors import EmoauditError
from emoaudit.taxonomy import CANONICAL, canonical, canonical_order

BASE_RATES: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
CITATION = (
    "Barrett, L. F., Adolphs, R., Marsella, S., Martinez, A. M., & Pollak, S. D. (2019). "
    "Emotional expressions reconsidered: challenges to inferring emotion from human facial "
    "movements. Psychological Science in the Public Interest, 20(1), 1-68."
)
_CHUNK = 64  # resamples per weight block: bounds memory at _CHUNK x n_clusters
# The outcomes that move with q (other expressions read as flagged): their intervals also span
# the outcome at the Clopper-Pearson bounds of q (true hits and missed targets follow s alone).
Q_OUTCOMES = ("expected_flags", "innocent_flagged", "ppv", "innocent_per_true_hit")
EXACT_PART = (
    "rates of x in n: united with Clopper-Pearson; false_flag_rate (overall and per group) and "
    "the outcomes that move with q (expected_flags, innocent_flagged, ppv, "
    "innocent_per_true_hit, here and in the sensitivity table): united with their values at "
    "the Clopper-Pearson bounds of q (other expressions read as flagged, b of nN), s and d at "
    "their estimates"
)


def deployment_outcomes(
    *,
    sensitivity: Any,
    false_flag_rate: Any,
    base_rate: float,
    population: float,
) -> dict[str, Any]:
    """Bayes' rule on a screened population; works on scalars or arrays of bootstrap draws."""
    sens = np.asarray(sensitivity, dtype=float)
    ffr = np.asarray(false_flag_rate, dtype=float)
    true_hits = population * base_rate * sens
    innocent = population * (1.0 - base_rate) * ffr
    flags = true_hits + innocent
    with np.errstate(divide="ignore", invalid="ignore"):
        ppv = np.where(flags > 0, true_hits / flags, np.nan)
        per_hit = np.where(true_hits > 0, innocent / true_hits, np.inf)
    return {
        "expected_flags": flags,
        "true_hits": true_hits,
        "missed_targets": population * base_rate * (1.0 - sens),
        "innocent_flagged": innocent,
        "ppv": ppv,
        "innocent_per_true_hit": per_hit,
    }


def flagging_analysis(
    df: Any,
    *,
    flag: list[str],
    base_rate: float = 1e-4,
    population: int = 1_000_000,
    display_rate: float | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    model: str | None = None,
    groups: list[str] | None = None,
    min_group_n: int = 30,
    assume_sensitivity: float | None = None,
) -> dict[str, Any]:
    """Flagging outcomes with intervals for one model's clean predictions (see module doc).

    `assume_sensitivity` replaces the measured recall on flagged expressions with a stated figure
    (a vendor's claim, or the only option when the data hold no flagged expression, as in the
    demo); the false-flag side is still measured.
    """
    flagged = _flag_labels(flag)
    _check_number("base-rate", base_rate, 0.0 < base_rate < 1.0, "a rate between 0 and 1")
    _check_number("population", population, population >= 1, "a positive count")
    if display_rate is not None:
        ok = 0.0 <= display_rate <= 1.0
        _check_number("display-rate", display_rate, ok, "a share between 0 and 1")
    if assume_sensitivity is not None:
        ok = 0.0 < assume_sensitivity <= 1.0
        _check_number("assume-sensitivity", assume_sensitivity, ok, "a rate in (0, 1]")
    rows, model_name = _select_rows(df, model)
    where = f"model '{model_name}'"
    labels = rows["label"].astype(str).to_numpy()
    is_flag_label = np.isin(labels, flagged)
    is_flag_pred = np.isin(rows["pred"].astype(str).to_numpy(), flagged)
    if not is_flag_label.any() and assume_sensitivity is None:
        raise EmoauditError(
            errors.FLAG_NOT_IN_DATA.format(where=where, which="flagged", what="sensitivity")
        )
    if is_flag_label.all():
        raise EmoauditError(
            errors.FLAG_NOT_IN_DATA.format(
                where=where, which="non-flagged", what="the false-positive rate"
            )
        )
    present = canonical_order([lab for lab in set(labels) if lab in CANONICAL])
    attrs = _group_columns(rows, groups)
    tally = _Tally()
    tally.add("a", is_flag_label & is_flag_pred)
    tally.add("nF", is_flag_label)
    tally.add("b", ~is_flag_label & is_flag_pred)
    tally.add("nN", ~is_flag_label)
    preds = rows["pred"].astype(str).to_numpy()
    for lab in present:
        tally.add(f"n:{lab}", labels == lab)
        tally.add(f"flag:{lab}", (labels == lab) & is_flag_pred)
        tally.add(f"hit:{lab}", (labels == lab) & (preds == lab))
    group_values: dict[str, list[str]] = {}
    for attr in attrs:
        values = rows[attr]
        kept = sorted({str(v) for v in values.dropna().unique()})
        group_values[attr] = kept
        as_str = values.astype(str).to_numpy()
        notna = values.notna().to_numpy()
        for g in kept:
            member = notna & (as_str == g)
            tally.add(f"{attr}={g}:a", member & is_flag_label & is_flag_pred)
            tally.add(f"{attr}={g}:nF", member & is_flag_label)
            tally.add(f"{attr}={g}:b", member & ~is_flag_label & is_flag_pred)
            tally.add(f"{attr}={g}:nN", member & ~is_flag_label)
    clusters = _clusters(rows)
    point, draws = tally.bootstrap(clusters, n_resamples=n_resamples, seed=seed)
    # Resampling few subjects gives intervals that are too narrow: read them at the expanded
    # level, as bootstrap.Resampled does (exact Clopper-Pearson parts keep the nominal one).
    level = confidence
    if _has_subjects(rows):
        level = expanded_confidence(confidence, len(np.unique(clusters)))
    ci = _Interval(confidence, percentile_level=level)

    def rates(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            sens = t["a"] / t["nF"]
            if assume_sensitivity is not None:
                sens = np.full_like(np.asarray(t["a"], dtype=float), assume_sensitivity)
            fpr = t["b"] / t["nN"]
            d = t["nF"] / (t["nF"] + t["nN"]) if display_rate is None else display_rate
            return {"sens": sens, "fpr": fpr, "d": np.asarray(d, dtype=float) + 0 * sens}

    r0, rb = rates(point), rates(draws)
    ffr0 = r0["d"] * r0["sens"] + (1 - r0["d"]) * r0["fpr"]
    ffrb = rb["d"] * rb["sens"] + (1 - rb["d"]) * rb["fpr"]
    # the false-flag rate at the Clopper-Pearson bounds of q, s and d at their estimates
    ffr_at = _ffr_at_q_bounds(point["b"], point["nN"], r0["sens"], r0["d"], confidence)
    n_ok = len(rows)
    out0 = deployment_outcomes(
        sensitivity=r0["sens"], false_flag_rate=ffr0, base_rate=base_rate, population=population
    )
    outb = deployment_outcomes(
        sensitivity=rb["sens"], false_flag_rate=ffrb, base_rate=base_rate, population=population
    )
    out_at = _outcomes_at(r0["sens"], ffr_at, base_rate, population)
    perfect0 = deployment_outcomes(
        sensitivity=1.0, false_flag_rate=r0["d"], base_rate=base_rate, population=population
    )
    perfectb = deployment_outcomes(
        sensitivity=np.ones_like(rb["d"]),
        false_flag_rate=rb["d"],
        base_rate=base_rate,
        population=population,
    )
    result: dict[str, Any] = {
        "model": model_name,
        "datasets": sorted(str(v) for v in rows["dataset"].dropna().unique())
        if "dataset" in rows
        else [],
        "condition": "clean",
        "flag": flagged,
        "assumptions": {
            "base_rate": base_rate,
            "population": int(population),
            "display_rate": ci.of(r0["d"], rb["d"], n_ok),
            "display_rate_source": "dataset label distribution" if display_rate is None else "user",
            "sensitivity_source": "measured" if assume_sensitivity is None else "assumed",
            "target_model": (
                "best case for the vendor: every target displays a flagged expression when "
                "screened, so the model flags a target at its recall on flagged expressions"
            ),
            "ordinary_model": (
                "an ordinary person displays a flagged expression with the display rate and a "
                "non-flagged one otherwise; any flag of an ordinary person is a false flag"
            ),
        },
        "method": {
            "bootstrap": "percentile",
            "n_resamples": int(n_resamples),
            "seed": int(seed),
            "confidence": confidence,
            "cluster": "subject_id" if _has_subjects(rows) else None,
            "n_samples": n_ok,
            "exact_part": EXACT_PART,
        },
        "rates": {
            "sensitivity": (
                ci.rate(point["a"], point["nF"], r0["sens"], rb["sens"])
                if assume_sensitivity is None
                else ci.of(r0["sens"], rb["sens"], int(point["nF"]))
            ),
            "nonflagged_false_positive_rate": ci.rate(
                point["b"], point["nN"], r0["fpr"], rb["fpr"]
            ),
            "false_flag_rate": ci.of(ffr0, ffrb, n_ok, at=ffr_at),
        },
        "per_label": {
            lab: {
                "flagged": lab in flagged,
                "flag_rate": ci.rate(
                    point[f"flag:{lab}"],
                    point[f"n:{lab}"],
                    *_ratio(point, draws, f"flag:{lab}", f"n:{lab}"),
                ),
                "recall": ci.rate(
                    point[f"hit:{lab}"],
                    point[f"n:{lab}"],
                    *_ratio(point, draws, f"hit:{lab}", f"n:{lab}"),
                ),
            }
            for lab in present
        },
        "outcomes": {k: ci.of(out0[k], outb[k], n_ok, at=out_at[k]) for k in out0},
        "perfect_reader": {
            k: ci.of(perfect0[k], perfectb[k], n_ok) for k in ("ppv", "innocent_per_true_hit")
        },
        "sensitivity_table": _sensitivity_table(r0, rb, ffr0, ffrb, ffr_at, population, ci, n_ok),
        "groups": _group_rates(point, draws, group_values, r0, rb, ci=ci, min_group_n=min_group_n),
    }
    for name, block in group_difference_tests(
        _shown_codes(rows, point, group_values),
        is_flag_label=is_flag_label,
        is_flag_pred=is_flag_pred,
        clusters=_test_clusters(rows),
        alpha=1 - confidence,
        min_group_n=min_group_n,
    ).items():
        result["groups"][name].update(block)
    result["statement"] = plain_statement(result)
    return result


def plain_statement(result: dict[str, Any]) -> str:
    """The assumptions and the headline in words a non-statistician can check and quote."""
    a = result["assumptions"]
    o = result["outcomes"]
    r = result["rates"]
    flags = ", ".join(result["flag"])
    ppv = o["ppv"]
    per_hit = o["innocent_per_true_hit"]
    perfect = result["perfect_reader"]["ppv"]
    return (
        f"Suppose model '{result['model']}' screened {a['population']:,} people and flagged "
        f"anyone whose face it reads as {flags}, to find people who make up "
        f"{_pct(a['base_rate'])} of them. We grant the premise its best case: every person "
        f"sought shows a flagged expression, so the model catches them at its "
        f"{a.get('sensitivity_source', 'measured')} "
        f"sensitivity of {_pct_iv(r['sensitivity'])}; ordinary people show a flagged expression "
        f"{_pct(a['display_rate']['value'])} of the time ({a['display_rate_source']}), and the "
        f"model flags ordinary people at {_pct_iv(r['false_flag_rate'])}. It would then raise "
        f"about {o['expected_flags']['value']:,.0f} flags "
        f"({o['expected_flags']['ci_low']:,.0f} to {o['expected_flags']['ci_high']:,.0f}); only "
        f"{_pct_iv(ppv)} of flagged people would be among those sought, and "
        f"{_per_hit(per_hit['value'])}. Even a "
        f"model that read every expression perfectly would be right about a flagged person only "
        f"{_pct(perfect['value'])} of the time, because ordinary people show these expressions "
        "too. And the premise itself is unsupported: facial movements do not reliably reveal "
        "emotional states, let alone intent, across people and situations (Barrett et al. 2019). "
        "These numbers are an upper bound on what such a deployment could achieve, not an "
        "estimate of what it would."
    )


def _ffr_at_q_bounds(b: Any, n: Any, sens: Any, d: Any, confidence: float) -> list[np.ndarray]:
    """``d * s + (1 - d) * q`` at the two Clopper-Pearson bounds of q = b / n (NaN when n is
    0), s and d at their estimates. The false-flag rate rises with q."""
    q_lo, q_hi = exact_binomial_interval(b, n, confidence)
    return [np.asarray(d * sens + (1 - d) * q, dtype=float) for q in (q_lo, q_hi)]


def _outcomes_at(
    sens: Any, ffr_at: list[np.ndarray], base_rate: float, population: float
) -> dict[str, list[np.ndarray]]:
    """Each outcome at the false-flag rates of :func:`_ffr_at_q_bounds` (``[]`` for those that
    do not move with q). PPV and innocent per hit fall and rise the other way; the interval
    takes the min and max, so the direction does not matter."""
    at = [
        deployment_outcomes(
            sensitivity=sens, false_flag_rate=f, base_rate=base_rate, population=population
        )
        for f in ffr_at
    ]
    return {k: [o[k] for o in at] if k in Q_OUTCOMES else [] for k in at[0]}


class _Interval:
    """Percentile intervals from bootstrap draws; the point estimate is the full-sample value.
    ``at``: values of the statistic at the ends of an exact interval of what drives it; the
    interval runs from the least to the greatest of them and the percentile ends, so it does not
    matter whether the statistic rises or falls with its driver."""

    def __init__(self, confidence: float, *, percentile_level: float | None = None) -> None:
        self.confidence = confidence  # the exact (Clopper-Pearson) parts' level
        level = confidence if percentile_level is None else percentile_level
        self.q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)

    def of(self, value: Any, draws: Any, n: int, at: Any = ()) -> dict[str, Any]:
        v = float(np.asarray(value, dtype=float).reshape(-1)[0])
        d = np.asarray(draws, dtype=float).reshape(-1)
        d = d[np.isfinite(d)]
        lo, hi = np.nan, np.nan
        if np.isfinite(v) and d.size:
            lo, hi = np.percentile(d, self.q)
        ends = np.asarray([np.asarray(x, dtype=float).reshape(-1)[0] for x in at], dtype=float)
        ends = ends[np.isfinite(ends)]
        if np.isfinite(v) and ends.size:
            lo, hi = np.fmin(lo, ends.min()), np.fmax(hi, ends.max())
        return {"value": _clean(v), "ci_low": _clean(lo), "ci_high": _clean(hi), "n": int(n)}

    def rate(self, x: float, n: float, value: Any, draws: Any) -> dict[str, Any]:
        """A rate of x in n: the bootstrap interval united with Clopper-Pearson's, so 0 of 12
        flagged is never reported as a certain 0%."""
        out = self.of(value, draws, int(n))
        if out["value"] is None or n <= 0:
            return out
        lo, hi = proportion_interval(x, n, out["ci_low"], out["ci_high"], self.confidence)
        out["ci_low"], out["ci_high"] = _clean(lo), _clean(hi)
        return out


def _clean(x: float) -> float | None:
    """JSON has no NaN or inf: an undefined value becomes null (results.json forbids NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None


class _Tally:
    """Named 0/1 row indicators summed per cluster, then per bootstrap resample of clusters."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.columns: list[np.ndarray] = []

    def add(self, name: str, indicator: np.ndarray) -> None:
        self.names.append(name)
        self.columns.append(indicator.astype(np.float64))

    def bootstrap(
        self, clusters: np.ndarray, *, n_resamples: int, seed: int
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        x = np.column_stack(self.columns)
        _, inverse = np.unique(clusters, return_inverse=True)
        per_cluster = np.zeros((inverse.max() + 1, x.shape[1]))
        np.add.at(per_cluster, inverse, x)
        k = per_cluster.shape[0]
        rng = np.random.default_rng(seed)
        blocks = []
        for start in range(0, n_resamples, _CHUNK):
            size = min(_CHUNK, n_resamples - start)
            weights = rng.multinomial(k, np.full(k, 1.0 / k), size=size)
            blocks.append(weights @ per_cluster)
        sums = np.vstack(blocks) if blocks else np.zeros((0, x.shape[1]))
        total = per_cluster.sum(axis=0)
        point = {n: total[i] for i, n in enumerate(self.names)}
        draws = {n: sums[:, i] for i, n in enumerate(self.names)}
        return point, draws


def _ratio(point: dict, draws: dict, num: str, den: str) -> tuple[float, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = point[num] / point[den] if point[den] else np.nan
        return p, draws[num] / draws[den]


def _sensitivity_table(r0, rb, ffr0, ffrb, ffr_at, population, ci, n) -> list[dict[str, Any]]:
    rows = []
    for rate in BASE_RATES:
        o0 = deployment_outcomes(
            sensitivity=r0["sens"], false_flag_rate=ffr0, base_rate=rate, population=population
        )
        ob = deployment_outcomes(
            sensitivity=rb["sens"], false_flag_rate=ffrb, base_rate=rate, population=population
        )
        at = _outcomes_at(r0["sens"], ffr_at, rate, population)
        rows.append({"base_rate": rate, **{k: ci.of(o0[k], ob[k], n, at=at[k]) for k in o0}})
    return rows


def _group_rates(point, draws, group_values, r0, rb, *, ci, min_group_n) -> dict[str, Any]:
    """Ordinary-person false-flag rate per group, all groups sharing one display rate.

    The display rate is shared because the dataset's per-group label mix reflects how it was
    collected, not how often people of a group show an expression; what differs between groups
    is then the model alone.
    """
    out: dict[str, Any] = {}
    for attr, values in group_values.items():
        rows, eligible0, eligibleb = [], [], []
        hide = _hidden(point, attr, values)
        for g, hidden in zip(values, hide, strict=False):
            if hidden:  # privacy: under MIN_CELL, or derivable from the rest by subtraction
                continue
            key = f"{attr}={g}"
            with np.errstate(divide="ignore", invalid="ignore"):
                s0 = point[f"{key}:a"] / point[f"{key}:nF"] if point[f"{key}:nF"] else np.nan
                f0 = point[f"{key}:b"] / point[f"{key}:nN"] if point[f"{key}:nN"] else np.nan
                sb = draws[f"{key}:a"] / draws[f"{key}:nF"]
                fb = draws[f"{key}:b"] / draws[f"{key}:nN"]
            ffr0 = r0["d"] * s0 + (1 - r0["d"]) * f0
            ffrb = rb["d"] * sb + (1 - rb["d"]) * fb
            ffr_at = _ffr_at_q_bounds(
                point[f"{key}:b"], point[f"{key}:nN"], s0, r0["d"], ci.confidence
            )
            n = int(point[f"{key}:nF"] + point[f"{key}:nN"])
            # each rate is eligible by the rows it is taken over, not by the group's size
            n_flag, n_other = point[f"{key}:nF"], point[f"{key}:nN"]
            small = bool(n_flag < min_group_n or n_other < min_group_n)
            rows.append(
                {
                    "group": g,
                    "n": n,
                    "n_flagged_label": int(n_flag),
                    "n_other_label": int(n_other),
                    "small": small,
                    "false_flag_rate": ci.of(ffr0, ffrb, n, at=ffr_at),
                    "sensitivity": ci.rate(point[f"{key}:a"], n_flag, s0, sb),
                }
            )
            if not small and np.isfinite(ffr0):
                eligible0.append(ffr0)
                eligibleb.append(ffrb)
        ratio = None
        if len(eligible0) >= 2:
            e0, eb = np.array(eligible0), np.vstack(eligibleb)
            with np.errstate(divide="ignore", invalid="ignore"):
                r_point = e0.max() / e0.min() if e0.min() > 0 else np.inf
                r_draws = np.nanmax(eb, axis=0) / np.nanmin(eb, axis=0)
            n_total = sum(row["n"] for row in rows if not row["small"])
            ratio = ci.of(r_point, r_draws, n_total)
        out[attr.removeprefix("attr_")] = {
            "groups": rows,
            "ratio_max_min": ratio,
            "min_group_n": min_group_n,
            "eligibility": "a group is compared when it has min_group_n rows of flagged and of "
            f"non-flagged labels each; groups under {MIN_CELL} rows are not shown, nor groups "
            "whose numbers would follow from the others by subtraction",
        }
    return out


# What each group test compares, in words: the two rates the false-flag rate is made of.
RATE_WORDS = {
    "false_positive_rate": "the rate at which other expressions are read as flagged",
    "sensitivity": "the rate at which flagged expressions are caught (sensitivity)",
}
RATE_SHORT = {
    "false_positive_rate": "other expressions read as flagged",
    "sensitivity": "flagged expressions caught",
}


def group_difference_tests(
    groups: dict[str, tuple[np.ndarray, list[str]]],
    *,
    is_flag_label: np.ndarray,
    is_flag_pred: np.ndarray,
    clusters: np.ndarray | None,
    alpha: float,
    min_group_n: int,
) -> dict[str, dict[str, Any]]:
    """The tests behind any words about groups being flagged differently.

    ``groups``: per attribute, a group code per row (-1: not shown) and the names shown. A
    group's false-flag rate is d * s_g + (1 - d) * q_g with one shared d, so it differs between
    groups only where q (flags among rows whose label is not flagged) or s (flags among rows whose
    label is) does. Per attribute, each is tested with group_tests.score_test (``clusters``:
    subjects), over the groups with min_group_n rows of that rate's own denominator. Every test
    of one flagging result is one Holm family; a group is named only as group_tests.verdict
    allows. Returns per attribute {"tests", "finding"}: the words, None without two groups to
    compare. The max/min ratio is not tested: it is 1 or more in every resample, so its interval
    can never show "no difference"; it stays a descriptive number."""
    family: list[dict[str, Any]] = []
    out: dict[str, dict[str, Any]] = {}
    for attr, (code, shown) in groups.items():
        tests: dict[str, Any] = {}
        for key, among in (("false_positive_rate", ~is_flag_label), ("sensitivity", is_flag_label)):
            sel = among & (code >= 0)
            eligible = np.bincount(code[sel], minlength=len(shown)) >= min_group_n
            if eligible.sum() < 2:
                continue
            take = sel & eligible[np.maximum(code, 0)]
            tests[key] = finding(
                metric=f"flag_{key}",
                y=is_flag_pred[take].astype(np.float64),
                group=(np.cumsum(eligible) - 1)[code[take]],
                group_names=[g for g, e in zip(shown, eligible, strict=True) if e],
                clusters=None if clusters is None else clusters[take],
                higher_is_better=False,  # read: flagged more often
            )
            family.append(tests[key])
        out[attr.removeprefix("attr_")] = {"tests": tests}
    settle(family, alpha=alpha)
    for block in out.values():
        for key, t in block["tests"].items():
            t["text"] = rate_sentence(key, t)
        block["finding"] = group_finding(block["tests"])
    return out


def _shown_codes(
    rows: Any, point: dict[str, Any], group_values: dict[str, list[str]]
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per attribute a group code per row over the groups _group_rates shows (-1: not shown)."""
    out = {}
    for attr, values in group_values.items():
        hide = _hidden(point, attr, values)
        shown = [g for g, hidden in zip(values, hide, strict=False) if not hidden]
        as_str = rows[attr].astype(str).to_numpy()
        notna = rows[attr].notna().to_numpy()
        code = np.full(len(rows), -1, dtype=np.int64)
        for i, g in enumerate(shown):
            code[notna & (as_str == g)] = i
        out[attr] = (code, shown)
    return out


def _p(t: dict[str, Any]) -> str:
    p = t.get("p_holm")
    return "n/a" if p is None else f"{p:.3g}"


def _direction(t: dict[str, Any]) -> str:
    named = [("higher", t.get("worse") or []), ("lower", t.get("better") or [])]
    return " and ".join(f"{w} for {', '.join(g)}" for w, g in named if g)


def rate_sentence(key: str, t: dict[str, Any]) -> str:
    """The only words about one rate's difference between groups: what its test backs."""
    return verdict_words(t, RATE_WORDS[key])


def group_finding(tests: dict[str, Any]) -> str | None:
    """One attribute's words on groups and flags; None when no two groups could be compared."""
    if not tests:
        return None
    if not any(t.get("rejected") for t in tests.values()):
        parts = "; ".join(f"{_p(t)} for {RATE_SHORT[k]}" for k, t in tests.items())
        text = f"no evidence that the false-flag rate differs between groups (Holm p = {parts})"
        mdd = tests.get("false_positive_rate", {}).get("min_detectable_difference")
        if mdd is not None:
            text += (
                f"; this data could detect a gap of {100 * mdd:.2g} points or more in "
                f"{RATE_WORDS['false_positive_rate']}"
            )
        return text + "."
    clauses = []
    for key, t in tests.items():
        what = RATE_WORDS[key]
        if t.get("rejected") and (t.get("worse") or t.get("better")):
            clauses.append(f"{what} is {_direction(t)} (Holm p = {_p(t)})")
        elif t.get("rejected"):
            clauses.append(
                f"{what} differs (Holm p = {_p(t)}), but no single group differs from the rest "
                "after correction"
            )
        else:
            clauses.append(f"no evidence that {what} differs (Holm p = {_p(t)})")
    return "groups are flagged differently: " + "; ".join(clauses) + "."


def _test_clusters(rows: Any) -> np.ndarray | None:
    """Subjects as the tests' clusters when one has several rows; else rows are independent."""
    if not _has_subjects(rows):
        return None
    clusters = _clusters(rows)
    _, counts = np.unique(clusters, return_counts=True)
    return clusters if (counts > 1).any() else None


def _hidden(point: dict, attr: str, values: list[str]) -> np.ndarray:
    """Groups of `attr` not to show (groups.hidden_groups): rows whose attribute is missing are
    in no group, so they join the rule as a group that is never shown; without it the race
    groups added up to 197 of 200 and the missing 3 followed by subtraction."""
    sizes = [point[f"{attr}={g}:nF"] + point[f"{attr}={g}:nN"] for g in values]
    missing = point["nF"] + point["nN"] - sum(sizes)
    names, forced = list(values), [False] * len(values)
    if missing > 0:
        sizes, names, forced = [*sizes, missing], [*names, "(missing)"], [*forced, True]
    return hidden_groups(np.asarray(sizes), names, hidden=forced)


def _flag_labels(flag: list[str]) -> list[str]:
    if not flag:
        raise EmoauditError(errors.UNKNOWN_FLAG_LABEL.format(label="", known=", ".join(CANONICAL)))
    out = []
    for raw in flag:
        lab = canonical(raw)
        if lab is None:
            raise EmoauditError(
                errors.UNKNOWN_FLAG_LABEL.format(label=raw, known=", ".join(CANONICAL))
            )
        out.append(lab)
    return canonical_order(out)


def _check_number(name: str, value: float, ok: bool, expected: str) -> None:
    if not ok:
        raise EmoauditError(
            errors.BAD_FLAG_NUMBER.format(name=name, expected=expected, value=value)
        )


def _select_rows(df: Any, model: str | None) -> tuple[Any, str]:
    """Clean, scored rows of one model: a missed face raises no flag, the vendor's best case."""
    models = sorted(str(m) for m in df["model"].dropna().unique())
    where = "predictions"
    if model is None:
        if len(models) != 1:
            raise EmoauditError(
                errors.AMBIGUOUS_MODEL.format(where=where, models=", ".join(models))
            )
        model = models[0]
    elif model not in models:
        raise EmoauditError(
            errors.UNKNOWN_MODEL.format(where=where, model=model, models=", ".join(models))
        )
    keep = (df["model"] == model) & (df["status"] == "ok")
    keep &= df["label"].notna() & df["pred"].notna()
    if "condition" in df:
        keep &= df["condition"] == "clean"
    return df.loc[keep].reset_index(drop=True), model


def _group_columns(rows: Any, groups: list[str] | None) -> list[str]:
    attrs = [c for c in rows.columns if c.startswith("attr_")]
    if groups is None:
        return attrs
    wanted = [g if g.startswith("attr_") else f"attr_{g}" for g in groups]
    return [a for a in wanted if a in attrs]


def _has_subjects(rows: Any) -> bool:
    return "subject_id" in rows and bool(rows["subject_id"].notna().any())


def _clusters(rows: Any) -> np.ndarray:
    """Subject ids where known (images of one person are not independent), else one per row."""
    if not _has_subjects(rows):
        return np.arange(len(rows))
    subj = rows["subject_id"]
    own = "\x00row:" + rows.index.astype(str)
    return np.where(subj.notna(), "s:" + subj.astype(str), own).astype(str)


def _pct(x: float | None) -> str:
    if x is None:
        return "n/a"
    x = 100 * x
    if x == 0 or x >= 1:
        return f"{x:.1f}%"
    return f"{x:.2g}%"


def _pct_iv(iv: dict[str, Any]) -> str:
    if iv["value"] is None:
        return "n/a"
    return f"{_pct(iv['value'])} ({_pct(iv['ci_low'])} to {_pct(iv['ci_high'])})"


def _per_hit(x: float | None) -> str:
    """Innocent people per true hit; with no true hit expected, every flag is a false one."""
    if x is None:
        return "no person sought would be caught, so every flag would fall on an innocent person"
    n = f"{x:,.0f}" if x >= 10 else f"{x:.1f}"
    return f"about {n} innocent people would be flagged for every true hit"


REQUEST_KEYS = ("flag", "base_rate", "population", "display_rate", "model", "groups")


def normalise_request(request: dict[str, Any]) -> dict[str, Any]:
    """One spelling per flagging request, so `--flag Anger`, `angry` and `anger` are one analysis.

    Labels become canonical names in canonical order; groups lose their `attr_` prefix and
    repeats; keys left at their default (None) are dropped. Unknown labels raise the usual
    one-line error.
    """
    out = {k: v for k, v in request.items() if v is not None}
    out["flag"] = _flag_labels(list(request.get("flag") or []))
    if out.get("groups"):
        names = [g.removeprefix("attr_") for g in out["groups"]]
        out["groups"] = list(dict.fromkeys(names))
    else:
        out.pop("groups", None)
    for key in ("base_rate", "display_rate", "assume_sensitivity"):
        if key in out:
            out[key] = float(out[key])
    if "population" in out:
        out["population"] = int(out["population"])
    return out
