"""`--executor ray` throughput on a local Ray instance with 1 CPU versus 2 CPUs, one run.

The same N generated 48x48 JPEG faces (FER2013 folder layout, as in throughput.py) go through
`run_plan_ray` (driver reads and hashes chunks, actors decode, preprocess, infer and write
shards, driver merges) from an empty cache. Each configuration runs in a fresh process with
its own `ray.init(num_cpus=K)`, so one actor (K=1) is compared with two (K=2); Ray's own start-up
is timed separately, and actor start-up (model loading) counts, as it does for a user. The local
executor with 1 and 2 workers runs on the same data for reference. Configurations are interleaved
and repeated (--repeat); the best and the median of each are reported, because other processes
on a small machine move single timings by tens of percent.

RAY_AUTH_MODE=disabled keeps these private instances from writing ~/.ray/auth_token (Ray 2.5x+
does that for every new local `ray.init()`), which would change how later `ray start` clusters
on this machine authenticate.

Usage: python benchmarks/ray_scale.py [--n 20000] [--repeat 3] [--models M1,M2] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import make_faces  # noqa: E402  (benchmarks/ is not a package)

CONFIGS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def child(data: Path, out: Path, *, model: str, executor: str, cpus: int) -> dict:
    """One configuration, in its own process: returns the timing as a dict."""
    from emoaudit.data import DATASETS
    from emoaudit.run.audit import load_models
    from emoaudit.run.runner import RunPlan, run_plan, session_threads

    adapter = DATASETS.get("fer2013-folders")
    plan = RunPlan(
        dataset="fer2013-folders",
        samples=lambda: adapter.iter_samples(data),
        models=load_models([model], None, threads=session_threads(cpus)),
        model_refs=[(model, None)],
        workers=cpus,
    )
    ray_start_s = 0.0
    if executor == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        ray_start_s = time.perf_counter() - t0
    start = time.perf_counter()
    if executor == "ray":
        from emoaudit.run.ray_executor import run_plan_ray

        outcome = run_plan_ray(plan, out)
    else:
        outcome = run_plan(plan, out)
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "executor": executor,
        "cpus": cpus,
        "n_rows": outcome.n_rows,
        "seconds": round(seconds, 2),
        "images_per_s": round(outcome.n_rows / seconds, 1),
        "ray_init_s": round(ray_start_s, 2),
    }


def summarise(rows: list[dict]) -> list[dict]:
    """Best and median images/s per (model, executor, cpus), and the 2-vs-1 CPU ratios."""
    import statistics

    out = []
    keys = sorted({(r["model"], r["executor"], r["cpus"]) for r in rows})
    for model, executor, cpus in keys:
        rates = [
            r["images_per_s"]
            for r in rows
            if (r["model"], r["executor"], r["cpus"]) == (model, executor, cpus)
        ]
        best, median = max(rates), statistics.median(rates)
        out.append(
            {
                "model": model,
                "executor": executor,
                "cpus": cpus,
                "best": best,
                "median": median,
                "runs": len(rates),
            }
        )
    by = {(o["model"], o["executor"], o["cpus"]): o for o in out}
    for o in out:
        one = by.get((o["model"], o["executor"], 1))
        o["vs_1_cpu_best"] = round(o["best"] / one["best"], 2) if one else None
        o["vs_1_cpu_median"] = round(o["median"] / one["median"], 2) if one else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--models", default="fer-mini-xception,faceapi-expression")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data, out, model, executor, cpus = args.child
        print(
            json.dumps(child(Path(data), Path(out), model=model, executor=executor, cpus=int(cpus)))
        )
        return

    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-ray-scale-"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    rows = []
    try:
        make_faces(tmp / "data", args.n)
        for _ in range(args.repeat):
            for model in args.models.split(","):
                for executor, cpus in CONFIGS:
                    out = tmp / f"out-{model}-{executor}-{cpus}"
                    cmd = [sys.executable, __file__, "--child", str(tmp / "data"), str(out)]
                    cmd += [model, executor, str(cpus)]
                    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                    print(json.dumps(rows[-1]), flush=True)
                    shutil.rmtree(out, ignore_errors=True)
        summary = summarise(rows)
        for line in summary:
            print(json.dumps(line))
        report = {"n_images": args.n, "cpu_count": os.cpu_count(), "machine": platform.platform()}
        report |= {"repeat": args.repeat, "summary": summary, "results": rows}
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
