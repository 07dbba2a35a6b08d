"""Label-order sanity check: would some relabelling of a model's outputs fit the data far better?

Mis-ordered output labels are the most common silent failure in expression recognition: a model
trained on alphabetical class folders (angry, disgust, fear, happy, neutral, sad, surprise) read
with FER2013's csv codes (... sad, surprise, neutral) is wrong on every class it confuses, yet
runs and reports a plausible-looking number (onnx/models#62; OpenFace-3.0#15). On labelled data
the confusion matrix shows it: the best one-to-one reassignment of predicted labels to true
labels (linear_sum_assignment, maximising the matched count) scores far above the diagonal.

A correctly ordered model with real skill has its largest counts on the diagonal, so the best
assignment is the identity or close to it. A weak one can still have a column that holds more
of another label's faces than its own (most fear read as surprise); a one-to-one relabelling
uses it by moving 'fear' somewhere else, where nothing is gained. Mis-ordered labels move
whole columns, so each cycle of the relabelling is kept only if at least two of its columns
gain clearly and few lose (`credible_relabelling`). On small samples random confusion can
still make some permutation win by chance (the maximum is taken over 5,040 orders of 7
labels), so a permutation is reported only when it also holds out of sample: it is fitted on
one random half of the rows and scored on the other (both ways, five seeded splits), and that
held-out gain must exceed half the threshold. Measured by simulation
(tests/analysis/test_label_order.py): under 1% false alarms for correctly ordered 7-class
models at 30% accuracy or more from 50 samples on, and on FER2013's label mix with its usual
confusions at 40-70% accuracy (100 and 500 samples). Models at 25-35% accuracy with strong
one-way confusions are reported about 3% of the time at 100 samples and under 1% at 500; a
model near chance (about 15%) can still be reported, which is itself worth a look. A sad/neutral
swap in a 60% model is caught 78% of the time at 200 samples and 93% at 500.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GAIN_THRESHOLD = 0.10  # accuracy points (as a fraction) a permutation must add to be reported
MIN_N = 50  # scored samples below which the check is not run: too noisy to mean anything
SPLITS = 5  # seeded random halvings for the held-out gain
COLUMN_GAIN = 0.025  # share of all samples a moved output column must add to count as moved
SUSPECT = (
    "model '{model}' on {dataset}: relabelling its outputs ({remap}) would raise accuracy from "
    "{acc:.1%} to {best:.1%}; check the order of its output labels"
)
TOO_FEW = "fewer than {min_n} scored samples: label order not checked"


def best_permutation(
    counts: np.ndarray, fixed: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """For each predicted column, the true row it is best read as, and that permuted accuracy.

    `counts` is the confusion matrix (rows true, columns predicted) over one label list.
    Labels marked `fixed` keep their place: an imported system's `calm` or Vision's `none` is
    not one of its labels in some order, so no relabelling may turn it into another.
    """
    from scipy.optimize import linear_sum_assignment

    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    weights = counts.copy()
    if fixed is not None and fixed.any():
        forbid = -(total + 1.0)  # worse than any assignment of real counts
        weights[:, fixed] = forbid
        weights[fixed, :] = forbid
        weights[fixed, fixed] = 0.0
    rows, cols = linear_sum_assignment(weights, maximize=True)
    reads_as = np.empty(counts.shape[1], dtype=np.int64)
    reads_as[cols] = rows
    best = counts[rows, cols].sum() / total if total else float("nan")
    return reads_as, float(best)


def credible_relabelling(
    counts: np.ndarray, reads_as: np.ndarray, *, column_gain: float = COLUMN_GAIN
) -> np.ndarray:
    """`reads_as` with each of its cycles that does not look like mis-ordered labels put back.

    A relabelling is a set of cycles (a swap is a cycle of two). Mis-ordered labels move whole
    columns: nearly every moved output column holds more faces of the label it would be read as
    than of its own. A correctly ordered model that calls most fear faces 'surprise' fills one
    column; a one-to-one relabelling can only use it by sending 'fear' somewhere else, where it
    gains nothing or loses fear's own hits, and chained one-way confusions (fear read as
    surprise, sad as neutral) join into one cycle the same way. A cycle is kept only if at
    least two of its columns each gain more than `column_gain` of all samples and those
    columns outnumber twice the columns that lose more than half of that.
    """
    counts = np.asarray(counts, dtype=np.float64)
    reads_as = np.asarray(reads_as)
    cols = np.arange(len(reads_as))
    gain = (counts[reads_as, cols] - counts[cols, cols]) / max(counts.sum(), 1.0)
    kept = reads_as.copy()
    seen = reads_as == cols
    for start in cols:
        cycle = []
        j = start
        while not seen[j]:
            seen[j] = True
            cycle.append(j)
            j = reads_as[j]
        gains = gain[cycle]
        wins, losses = (gains > column_gain).sum(), (gains < -column_gain / 2).sum()
        if cycle and not (wins >= 2 and wins > 2 * losses):
            kept[cycle] = cycle
    return kept


def heldout_gain(
    counts: np.ndarray, *, fixed: np.ndarray | None = None, splits: int = SPLITS, seed: int = 0
) -> float:
    """Mean accuracy gain of the best permutation fitted on one half, scored on the other.

    Halves split every confusion cell binomially (each row a fair coin), with a fixed seed so
    the same table always gives the same answer. Near zero or below for a correctly ordered
    model; close to the full gain when the labels really are mis-ordered.
    """
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts, dtype=np.int64)
    gains = []
    for _ in range(splits):
        half = rng.binomial(counts, 0.5)
        for fit, test in ((half, counts - half), (counts - half, half)):
            total = test.sum()
            if not total:
                continue
            reads_as = credible_relabelling(fit, best_permutation(fit, fixed)[0])
            cols = np.arange(test.shape[1])
            gains.append((test[reads_as, cols].sum() - np.trace(test)) / total)
    return float(np.mean(gains)) if gains else float("nan")


def label_order_check(
    counts: np.ndarray,
    labels: list[str],
    *,
    threshold: float = GAIN_THRESHOLD,
    min_n: int = MIN_N,
) -> dict[str, Any]:
    """The check for one result: accuracy as predicted, the best permuted accuracy, the gain,
    whether it exceeds `threshold`, and which predicted labels would be read as which."""
    counts = np.asarray(counts, dtype=np.float64)
    n = int(counts.sum())
    out: dict[str, Any] = {"n": n, "threshold": threshold, "min_n": min_n, "checked": n >= min_n}
    if n < min_n:
        out.update(suspect=False, note=TOO_FEW.format(min_n=min_n))
        return out
    from emoaudit.taxonomy import CANONICAL

    fixed = np.array([label not in CANONICAL for label in labels], dtype=bool)
    reads_as = credible_relabelling(counts, best_permutation(counts, fixed)[0])
    best = float(counts[reads_as, np.arange(len(labels))].sum() / n)
    acc = float(np.trace(counts) / n)
    remap = {labels[j]: labels[i] for j, i in enumerate(reads_as.tolist()) if i != j}
    held = heldout_gain(counts, fixed=fixed) if best - acc > threshold else None
    out.update(
        accuracy=acc,
        best_permuted_accuracy=best,
        gain=best - acc,
        heldout_gain=held,
        suspect=bool(held is not None and held > threshold / 2),
        remap=remap,
    )
    return out


def suspect_lines(results: dict[str, Any]) -> list[str]:
    """One console line per clean-condition result whose label order looks wrong."""
    lines = []
    for r in results.get("results") or []:
        check = r.get("label_order_check") or {}
        if r.get("condition") != "clean" or not check.get("suspect"):
            continue
        remap = ", ".join(f"{p} as {t}" for p, t in check["remap"].items())
        lines.append(
            SUSPECT.format(
                model=r.get("model"), dataset=r.get("dataset"), remap=remap,
                acc=check["accuracy"], best=check["best_permuted_accuracy"],
            )
        )  # fmt: skip
    return lines
