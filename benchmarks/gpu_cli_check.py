"""The command line on the GPU: `emoaudit audit --device DEVICE` against the same audit on CPU.

gpu_bench.py measures the runner from Python; this runs the CLI a user would type, on the same
generated faces, once per device, and compares the two predictions tables row for row (every row
present, same predicted label, largest probability difference) and what run.json says ran.
Usage: python benchmarks/gpu_cli_check.py --device cuda --n 2000 --json OUT/cli-check.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import make_faces  # noqa: E402  (benchmarks/ is not a package)


def audit(data: Path, out: Path, *, model: str, device: str) -> dict:
    cmd = [sys.executable, "-m", "emoaudit", "audit", str(data), "--model", model]
    cmd += ["--out", str(out), "--device", device, "--resamples", "200", "-q"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"gpu_cli_check: {' '.join(cmd)} exited {done.returncode}: {done.stderr}")
    run = json.loads((out / "run.json").read_text())
    return {"seconds": round(seconds, 2), "device": run.get("device"), "stderr": done.stderr[-400:]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--model", default="fer-mini-xception")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-gpu-cli-"))
    make_faces(tmp / "data", args.n)
    runs = {
        dev: audit(tmp / "data", tmp / dev, model=args.model, device=dev)
        for dev in dict.fromkeys([args.device, "cpu"])
    }
    tables = {dev: pq.read_table(tmp / dev / "predictions.parquet").to_pandas() for dev in runs}
    dev, cpu = tables[args.device], tables["cpu"]
    key = ["sample_id", "model", "condition"]
    merged = dev.merge(cpu, on=key, suffixes=("_dev", "_cpu"), how="outer", indicator=True)
    prob_cols = [
        c[: -len("_dev")] for c in merged.columns if c.startswith("prob_") and c.endswith("_dev")
    ]
    diff = np.abs(
        merged[[f"{c}_dev" for c in prob_cols]].to_numpy(float)
        - merged[[f"{c}_cpu" for c in prob_cols]].to_numpy(float)
    )
    report = {
        "model": args.model,
        "n": args.n,
        "rows": {d: len(t) for d, t in tables.items()},
        "rows_in_both": int((merged["_merge"] == "both").sum()),
        "same_predicted_label": float((merged["pred_dev"] == merged["pred_cpu"]).mean()),
        "max_abs_prob_diff": float(np.nanmax(diff)) if diff.size else None,
        "runs": runs,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
