"""Error rates of the group verdicts, measured by simulation (more runs than the CI tests).

Prints, per null design, how often a group is named worse or better when no group differs
(target <= 5%), and the power to name a 10-point accuracy gap at 500 faces per group (target
>= 80%). Results go in docs/statistics.md. Run: python benchmarks/group_tests.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "analysis"))
from test_group_tests import NULL_CASES, _named, _simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(20261130)
    start = time.perf_counter()
    print("| design | images | subjects (group per subject) | subjects (group varies) |")
    print("|---|---|---|---|")
    for label, probs, n in NULL_CASES:
        cells = []
        for subjects, within in ((False, False), (True, False), (True, True)):
            named = 0
            for _ in range(args.runs):
                g, s, hit = _simulate(
                    rng, probs=probs, n=n, accuracy=0.6, subjects=subjects, within=within
                )
                t = _named(g, s, hit, len(probs))
                named += bool(t["worse"] or t["better"])
            cells.append(f"{named / args.runs:.1%}")
        print(f"| {label}, n={n} | " + " | ".join(cells) + " |")
    for G in (2, 4, 9):
        right = 0
        for _ in range(args.runs // 2):
            g, s, hit = _simulate(
                rng, probs=[1 / G] * G, n=500 * G, accuracy=0.7, subjects=False, effect=0.1
            )
            right += _named(g, s, hit, G)["worse"] == ["g0"]
        print(f"power, {G} groups x 500, 70% vs 60%: {right / (args.runs // 2):.1%}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
