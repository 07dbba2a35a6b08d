"""Where the runner's time goes: CPU time per face of each stage, measured inside a real run.

Wraps the runner's stages (reader, decode, preprocessing, ONNX Runtime, shard write) with
thread CPU clocks during one `run_plan` on N generated FER-style faces (after a first run that
pays the one-time imports), and reads the process's CPU time around it, so the per-face budget in
docs/benchmarks.md can be reproduced. Wall time per stage is printed too: the gap between a
stage's CPU and wall time is time spent waiting for a core or the GIL.

Usage: python benchmarks/stages.py [--n 20000] [--model M] [--format fer2013-folders|fer2013]
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import throughput


def instrument(acc: dict[str, float]) -> None:
    """Replace each stage with a wrapper that adds its thread CPU and wall time to `acc`."""
    import emoaudit.models.onnx_model as onnx_model
    import emoaudit.models.preprocess as preprocess
    import emoaudit.run.predict as predict
    import emoaudit.run.runner as runner

    def wrap(owner, name: str, stage: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                acc[f"{stage} cpu"] += time.thread_time() - cpu
                acc[f"{stage} wall"] += time.perf_counter() - wall

        setattr(owner, name, timed)

    wrap(runner, "_prepare", "reader: read + hash")
    wrap(predict, "part_probabilities", "worker: all")
    wrap(predict, "decode_slice", "worker: decode")
    wrap(predict, "infer", "worker: preprocess + infer")
    wrap(preprocess, "prepare_batch", "worker: preprocess")
    wrap(onnx_model.LoadedModel, "_run", "worker: onnx runtime")
    wrap(runner, "_write_parts", "writer: all (wall includes waiting)")
    wrap(runner, "write_table_atomic", "writer: shard write")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--model", default="fer-mini-xception")
    parser.add_argument(
        "--format", default="fer2013-folders", choices=["fer2013-folders", "fer2013"]
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-stages-"))
    try:
        data = throughput.face_dataset(tmp, args.n, args.format)
        acc: dict[str, float] = collections.defaultdict(float)
        instrument(acc)
        throughput.audit_rate(  # one-time imports first, as throughput.py does
            data, args.model, tmp / "warm", conditions="clean", fmt=args.format
        )
        acc.clear()
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        rate = throughput.audit_rate(
            data, args.model, tmp / "out", conditions="clean", fmt=args.format
        )
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
        print(f"{args.model} on {args.format}: {rate:,.0f} images/s end to end, {args.n} faces")
        cores = os.cpu_count() or 1
        busy = cpu / wall / cores
        print(f"  process CPU {cpu / args.n * 1e6:.1f} us/face, cores busy {busy:.0%}")
        for key in sorted(acc):
            print(f"  {key:36s} {acc[key] / args.n * 1e6:8.1f} us/face")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
