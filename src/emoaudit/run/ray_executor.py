"""Scale-out on Ray Data: the same chunks, keys and shards as the local runner, run by actors.

The driver streams the dataset in the same fixed chunks as the local runner (so sharding is
deterministic and cache keys are identical), skips chunks whose shards exist, and hands the rest
to ``map_batches`` over an actor pool in which each actor loads every ONNX model once. Actors
write shards into the same cache, so a killed driver resumes exactly like a local run, and the
merged table equals the local one row for row.

Workers resolve built-in models from their own zoo (`emoaudit models build` on each node, or
EMOAUDIT_HOME on shared storage) and user models from the given path.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from emoaudit.run.cache import shard_path
from emoaudit.run.chunks import batched, read_chunk
from emoaudit.run.runner import (
    RunOutcome,
    RunPlan,
    _keys,
    compute_shards,
    finish,
    prepare_cache,
    unique_sample_ids,
)

WINDOW_CHUNKS = 64  # chunks handed to Ray at once: bounds driver memory on huge datasets
# ...and at most this many pickled bytes: 64 chunks of photos (file bytes included) could hold
# gigabytes (512 x 200 KB x 64 = 6.5 GB), where 64 chunks of FER faces hold ~60 MB.
WINDOW_BYTES = 256 * 1024 * 1024
NO_MODEL_REFS = "the ray executor needs models given by name or path (RunPlan.model_refs)"


class ChunkWorker:
    """A Ray actor: loads the models once, then turns pickled chunks into written shards."""

    def __init__(self, *, plan_state: dict[str, Any], cache: str) -> None:
        import cv2
        from threadpoolctl import threadpool_limits

        from emoaudit.models.onnx_model import load_model

        # One thread each for OpenCV and BLAS in the actor, as the local runner does: their idle
        # pools busy-wait and took the CPU of the other actors (2 actors on 2 CPUs ran no faster
        # than one).
        cv2.setNumThreads(1)
        threadpool_limits(limits=1)

        threads = plan_state.get("threads")
        self.models = [
            load_model(name, spec_path=spec, threads=threads) for name, spec in plan_state["refs"]
        ]
        self.plan = plan_state
        self.cache = Path(cache)
        self.pool = ThreadPoolExecutor(max(1, plan_state["workers"]))

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        done = []
        for payload in batch["payload"]:
            chunk, todo = pickle.loads(payload)
            compute_shards(
                chunk,
                [(self.models[index], condition, key) for index, condition, key in todo],
                cache=self.cache,
                faces=self.plan["faces"],
                seed=self.plan["seed"],
                dataset=self.plan["dataset"],
                batch_size=self.plan["batch_size"],
                pool=self.pool,
            )
            done.append(len(chunk.samples))
        return {"n_samples": np.asarray(done, dtype=np.int64)}


def run_plan_ray(
    plan: RunPlan,
    out: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    address: str | None = None,
    num_actors: int | None = None,
) -> RunOutcome:
    """Run the plan on Ray (a local instance, or the cluster at `address`)."""
    import ray

    if not plan.model_refs:
        raise ValueError(NO_MODEL_REFS)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    actors = num_actors or max(1, int(ray.available_resources().get("CPU", 1)))
    cache = prepare_cache(out)
    state = {
        "refs": [(name, str(spec) if spec else None) for name, spec in plan.model_refs],
        "faces": plan.faces,
        "seed": plan.seed,
        "dataset": plan.dataset,
        "batch_size": plan.batch_size,
        "workers": 1,
        "threads": 1,
    }
    index_of = {id(m): i for i, m in enumerate(plan.models)}
    ordered: list[Path] = []
    digests: list[str] = []
    window: list[bytes] = []
    n_samples = cached = computed = 0
    for index, samples in enumerate(batched(unique_sample_ids(plan.samples()), plan.chunk_size)):
        chunk = read_chunk(index, samples)
        digests.append(chunk.digest)
        n_samples += len(samples)
        todo = []
        for model, condition, key in _keys(plan, chunk):
            path = shard_path(cache, key)
            ordered.append(path)
            if path.exists():
                cached += 1
            else:
                todo.append((index_of[id(model)], condition, key))
        computed += len(todo)
        if todo:
            window.append(pickle.dumps((chunk, todo), protocol=pickle.HIGHEST_PROTOCOL))
        elif on_progress:
            on_progress(len(samples))
        if window_full(window):
            _run_window(window, state=state, cache=cache, actors=actors, on_progress=on_progress)
            window = []
    _run_window(window, state=state, cache=cache, actors=actors, on_progress=on_progress)
    return finish(
        out, ordered, digests=digests, n_samples=n_samples, cached=cached, computed=computed
    )


def window_full(window: list[bytes]) -> bool:
    """Hand the window to Ray at WINDOW_CHUNKS chunks or WINDOW_BYTES bytes, whichever is first."""
    return len(window) >= WINDOW_CHUNKS or sum(map(len, window)) >= WINDOW_BYTES


def _run_window(
    window: list[bytes],
    *,
    state: dict[str, Any],
    cache: Path,
    actors: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    if not window:
        return
    import ray

    ds = ray.data.from_items([{"payload": p} for p in window], override_num_blocks=len(window))
    results = ds.map_batches(
        ChunkWorker,
        fn_constructor_kwargs={"plan_state": state, "cache": str(cache)},
        batch_size=1,
        batch_format="numpy",
        concurrency=min(actors, len(window)),
        num_cpus=1,
    )
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        if on_progress:
            on_progress(int(batch["n_samples"].sum()))
