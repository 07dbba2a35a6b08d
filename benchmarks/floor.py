"""What the per-face floor is made of: the same work run three ways.

throughput.py's floor is the CPU a face the audit spends outside ONNX Runtime (one worker, each
session call answered with zeros). This script measures that floor as it is ("threads, free"),
with the whole process held on one core ("threads, one core": its threads can no longer run at
the same time, so handing the GIL from one to another is a switch on one core, not a wake-up
across cores), and the runner's stages called one after another in one thread ("serial"),
each stage timed on its own. The gap between the first and the last is what running the stages
side by side costs; the stage lines say where the rest goes.

Usage: python benchmarks/floor.py [--n 4000] [--model M] [--format fer2013-folders|fer2013]
       [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import throughput


def zero_outputs(models: list) -> None:
    for model in models:
        n_labels = len(model.info.labels)
        model._run = lambda x, n=n_labels: np.zeros((len(x), n), dtype=np.float32)


def threaded_floor_us(data: Path, name: str, fmt: str, *, cores: set[int] | None) -> float:
    """throughput.py's floor; with `cores`, the run's threads are held on those cores (they
    inherit the affinity of the thread that starts them)."""
    out = Path(tempfile.mkdtemp(prefix="emoaudit-floor-"))
    before = os.sched_getaffinity(0)
    try:
        if cores:
            os.sched_setaffinity(0, cores)
        return throughput.pipeline_floor_us(data, name, out, conditions="clean", fmt=fmt)
    finally:
        os.sched_setaffinity(0, before)
        shutil.rmtree(out, ignore_errors=True)


def serial_stages_us(data: Path, name: str, fmt: str) -> dict[str, float]:
    """CPU a face of each stage, every stage called in turn in this thread."""
    import pyarrow as pa

    from emoaudit.data import DATASETS
    from emoaudit.run.cache import write_table_atomic
    from emoaudit.run.chunks import batched, read_chunk
    from emoaudit.run.merge import merge_shards
    from emoaudit.run.predict import part_probabilities, tables
    from emoaudit.run.runner import quiet_thread_pools

    plan = throughput.audit_plan(data, name, conditions="clean", fmt=fmt, workers=1)
    zero_outputs(plan.models)
    work = [(plan.models[0], "clean")]
    spent: dict[str, float] = defaultdict(float)
    pa.array([0])  # the one-time pandas import, as the runner's warm_imports
    out = Path(tempfile.mkdtemp(prefix="emoaudit-floor-"))
    try:
        with quiet_thread_pools():
            clock = time.process_time()

            def lap(stage: str) -> None:
                nonlocal clock
                now = time.process_time()
                spent[stage] += now - clock
                clock = now

            samples = list(DATASETS.get(fmt).iter_samples(data))
            lap("adapter: list, parse, Sample records")
            shards = []
            for index, part in enumerate(batched(samples, plan.chunk_size)):
                chunk = read_chunk(index, part)
                lap("read + hash (chunk digest)")
                probs, ran = part_probabilities(
                    chunk, 0, len(part), work=work, seed=0, batch_size=plan.batch_size
                )
                lap("decode + preprocess (+ zeros for the model)")
                table = tables(chunk, work=work, probs=probs, ran=ran, dataset=fmt)[0]
                lap("prediction rows (pyarrow table)")
                shards.append(out / f"{index}.parquet")
                write_table_atomic(shards[-1], table)
                lap("shard write")
            merge_shards(shards, out / "predictions.parquet")
            lap("merge into predictions.parquet")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {stage: seconds / len(samples) * 1e6 for stage, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--model", default="fer-mini-xception")
    parser.add_argument(
        "--format", default="fer2013-folders", choices=["fer2013-folders", "fer2013"]
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="emoaudit-floor-data-"))
    try:
        data = throughput.face_dataset(tmp, args.n, args.format)
        one_core = {min(os.sched_getaffinity(0))}
        threaded_floor_us(data, args.model, args.format, cores=None)  # one-time imports
        free, pinned, serial = [], [], []
        for _ in range(args.repeats):  # interleaved: the machine's drift hits all three alike
            free.append(threaded_floor_us(data, args.model, args.format, cores=None))
            pinned.append(threaded_floor_us(data, args.model, args.format, cores=one_core))
            serial.append(serial_stages_us(data, args.model, args.format))
        print(f"{args.model} on {args.format}, {args.n} faces, median of {args.repeats}:")
        print(f"  threads, free      {statistics.median(free):7.1f} us/face  {_range(free)}")
        print(f"  threads, one core  {statistics.median(pinned):7.1f} us/face  {_range(pinned)}")
        totals = [sum(s.values()) for s in serial]
        print(f"  serial             {statistics.median(totals):7.1f} us/face  {_range(totals)}")
        for stage in serial[0]:
            values = [s[stage] for s in serial]
            print(f"    {stage:46s} {statistics.median(values):6.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _range(values: list[float]) -> str:
    return f"({min(values):.0f}-{max(values):.0f})"


if __name__ == "__main__":
    main()
