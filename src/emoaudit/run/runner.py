"""The local audit runner: stream samples in chunks, infer, cache shards, merge predictions.

Stages overlap: a background thread reads, hashes, decodes and crops chunk k+1 (decoding fans out
to a thread pool) while the main thread runs ONNX Runtime on chunk k and another thread writes
shards. Memory is bounded by a few chunks whatever the dataset size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoaudit.run.cache import shard_key, shard_path, write_table_atomic
from emoaudit.run.chunks import (
    Chunk,
    FaceSettings,
    all_precropped,
    batched,
    decode_chunk,
    read_chunk,
)

PREDICTIONS = "predictions.parquet"
CACHE_DIR = ".cache/shards"


@dataclass
class RunPlan:
    """Everything that decides which rows a run produces (and so its cache keys)."""

    dataset: str  # dataset format name (also the `dataset` column)
    samples: Callable[[], Iterator[Any]]  # fresh iterator over Samples, in dataset order
    models: list[Any]  # LoadedModel objects
    model_refs: list[tuple[str, Path | None]] = field(default_factory=list)  # to reload elsewhere
    conditions: list[str] = field(default_factory=lambda: ["clean"])
    faces: FaceSettings = field(default_factory=FaceSettings)
    seed: int = 0
    chunk_size: int = 512
    batch_size: int = 256
    workers: int = max(1, os.cpu_count() or 1)


@dataclass
class RunOutcome:
    predictions: Path
    n_samples: int
    n_rows: int
    n_shards_cached: int
    n_shards_computed: int
    dataset_digest: str


def _keys(plan: RunPlan, chunk: Chunk) -> list[tuple[Any, str, str]]:
    faces_key = plan.faces.key(all_precropped(chunk.samples))
    return [
        (
            model,
            condition,
            shard_key(
                chunk_digest=chunk.digest,
                model_sha256=model.sha256,
                input_spec=model.info.input.as_dict(),
                condition=condition,
                seed=plan.seed,
                faces=faces_key,
            ),
        )
        for model in plan.models
        for condition in plan.conditions
    ]


def _prepare(plan: RunPlan, cache: Path, index: int, samples: list, pool: ThreadPoolExecutor):
    chunk = read_chunk(index, samples)
    keys = _keys(plan, chunk)
    missing = [k for k in keys if not shard_path(cache, k[2]).exists()]
    if missing:
        decode_chunk(chunk, faces=plan.faces, pool=pool)
    return chunk, keys, missing


def run_plan(
    plan: RunPlan, out: Path, *, on_progress: Callable[[int], None] | None = None
) -> RunOutcome:
    """Run (or resume) the plan and write OUT/predictions.parquet atomically."""
    cache = prepare_cache(out)
    ordered: list[Path] = []
    digests: list[str] = []
    n_samples = cached = computed = 0
    pending: list[Future] = []
    with (
        ThreadPoolExecutor(plan.workers, thread_name_prefix="decode") as pool,
        ThreadPoolExecutor(1, thread_name_prefix="prefetch") as prefetch,
        ThreadPoolExecutor(1, thread_name_prefix="write") as writer,
    ):
        chunks = enumerate(batched(plan.samples(), plan.chunk_size))
        nxt = _submit_next(prefetch, plan, cache, chunks, pool)
        while (ready := nxt.result()) is not None:
            chunk, keys, missing = ready
            nxt = _submit_next(prefetch, plan, cache, chunks, pool)
            digests.append(chunk.digest)
            for model, condition, key in keys:
                path = shard_path(cache, key)
                ordered.append(path)
                if (model, condition, key) not in missing:
                    cached += 1
                    continue
                from emoaudit.run.predict import shard_table

                table = shard_table(
                    chunk,
                    model=model,
                    condition=condition,
                    seed=plan.seed,
                    dataset=plan.dataset,
                    batch_size=plan.batch_size,
                )
                pending.append(writer.submit(write_table_atomic, path, table))
                computed += 1
            pending = _drain(pending, keep=4)
            n_samples += len(chunk.samples)
            if on_progress:
                on_progress(len(chunk.samples))
        _drain(pending, keep=0)
    from emoaudit.run.merge import merge_shards

    target = out / PREDICTIONS
    n_rows = merge_shards(ordered, target)
    from emoaudit.run.cache import stable_digest

    return RunOutcome(
        predictions=target,
        n_samples=n_samples,
        n_rows=n_rows,
        n_shards_cached=cached,
        n_shards_computed=computed,
        dataset_digest=stable_digest(digests),
    )


def prepare_cache(out: Path) -> Path:
    """Create the shard cache and remove temp files a killed run left behind."""
    cache = out / CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob("*/.tmp-*"):
        stale.unlink(missing_ok=True)
    return cache


def _submit_next(prefetch, plan, cache, chunks, pool) -> Future:
    """Read the next chunk in the prefetch thread (it owns the sample iterator)."""

    def task():
        try:
            index, samples = next(chunks)
        except StopIteration:
            return None
        return _prepare(plan, cache, index, samples, pool)

    return prefetch.submit(task)


def _drain(pending: list[Future], *, keep: int) -> list[Future]:
    """Wait for shard writes beyond `keep` outstanding, re-raising any write error."""
    while len(pending) > keep:
        pending.pop(0).result()
    return pending
