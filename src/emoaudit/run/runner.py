"""The local audit runner: stream samples in chunks, infer, cache shards, merge predictions.

Stages overlap: a reader thread streams samples and reads and hashes chunk k+1 (its digest decides
what is cached) while worker threads, one per core, take parts of chunk k through decoding,
preprocessing and ONNX Runtime, and a writer thread turns finished chunks into shards (a chunk of
photos goes to one worker whole, its face detection spread over a pool). Memory is bounded by a
few chunks whatever the dataset size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoaudit.run.cache import out_lock, shard_key, shard_path, write_table_atomic
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
DUPLICATE_ID = (
    "{sample}: duplicate sample id (samples {first} and {again} of the dataset); "
    "this one is kept as '{renamed}' and not scored"
)


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
    batch_size: int = 16
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
    chunk.face_variants = plan.faces.variant_map()  # face protocols (run/protocols.py)
    return [
        (
            model,
            condition,
            shard_key(
                chunk_digest=chunk.digest,
                model_name=model.info.name,
                model_sha256=model.sha256,
                input_spec=_spec_key(model.info),
                output=output_key(model.info),
                condition=condition,
                seed=plan.seed,
                # a face protocol detects even on given crops: its detector is in the key
                faces=plan.faces.key(False) if condition in chunk.face_variants else faces_key,
            ),
        )
        for model in plan.models
        for condition in plan.conditions
    ]


def output_key(info: Any) -> dict:
    """What the rows of a shard read from the model besides its bytes and input: the name they
    carry, which label each output is, and whether a softmax is applied. Reversing the labels of
    a spec changes every prediction, so it must change the key."""
    return {
        "name": info.name,
        "labels": list(info.labels),
        "kind": "probs" if info.outputs_probabilities else "logits",
    }


def unique_sample_ids(samples: Iterable[Any]) -> Iterator[Any]:
    """Every sample, with ids made unique: a repeat of an id already seen is renamed
    ``<id>#2``, ``<id>#3``, ... in dataset order and becomes `bad_input`, with a reason naming
    both occurrences.

    Ids key every analysis that pairs rows (compare, robustness, agreement); with a duplicate,
    a join silently dropped or multiplied rows. The repeat is not scored, because two rows for
    one id are either the same image counted twice or two images that cannot be told apart;
    it stays in the table (nothing is dropped) and is counted under its status.
    """
    from emoaudit.data.base import BAD_INPUT

    first: dict[str, int] = {}
    repeats: dict[str, int] = {}
    for number, sample in enumerate(samples, 1):
        sid = sample.sample_id
        if sid not in first:
            first[sid] = number
            yield sample
            continue
        k = repeats.get(sid, 1)
        while (renamed := f"{sid}#{k + 1}") in first:
            k += 1
        repeats[sid] = k + 1
        first[renamed] = number
        sample.reason = DUPLICATE_ID.format(
            sample=sid, first=first[sid], again=number, renamed=renamed
        )
        sample.status = BAD_INPUT
        sample.sample_id = renamed
        yield sample


def _spec_key(info: Any) -> dict:
    """The input spec plus any output selection (ModelInfo.output_key) for the cache key."""
    extra = info.output_key() if hasattr(info, "output_key") else {}
    return {**info.input.as_dict(), **extra}


def _prepare(plan: RunPlan, cache: Path, index: int, samples: list):
    """Reader thread: bytes and digest of a chunk, and which of its shards are missing."""
    chunk = read_chunk(index, samples)
    keys = _keys(plan, chunk)
    missing = [k for k in keys if not _complete(shard_path(cache, k[2]))]
    return chunk, keys, missing


RETRY_SUFFIX = ".retry"


def _complete(path: Path) -> bool:
    """A shard is reused unless missing or marked for retry (some rows failed in the model,
    e.g. an API request that ran out of retries: the next run asks again for those rows)."""
    return path.exists() and not path.with_suffix(RETRY_SUFFIX).exists()


def _compute(
    plan: RunPlan, cache: Path, chunk: Chunk, missing: list, photos: ThreadPoolExecutor
) -> None:
    """Worker thread, a chunk with photos (pre-cropped chunks go in parts: _submit_parts)."""
    compute_shards(
        chunk, missing, cache=cache, faces=plan.faces, seed=plan.seed, dataset=plan.dataset,
        batch_size=plan.batch_size, pool=photos,
    )  # fmt: skip


def compute_shards(
    chunk: Chunk,
    todo: list[tuple[Any, str, str]],
    *,
    cache: Path,
    faces: FaceSettings,
    seed: int,
    dataset: str,
    batch_size: int,
    pool: ThreadPoolExecutor | None = None,
) -> None:
    """Decode a whole chunk, infer and write each (model, condition, key) shard in `todo`.

    Shared by the local runner (chunks of photos) and Ray actors (every chunk). Photos are
    decoded and cropped first, the face detection spread over `pool` so a small photo set uses
    every core; pre-cropped faces are decoded batch by batch inside chunk_tables.
    """
    from emoaudit.run.predict import chunk_tables

    if not all_precropped(chunk.samples):
        decode_chunk(chunk, faces=faces, pool=pool)
    tables = chunk_tables(
        chunk, work=_work(todo), seed=seed, dataset=dataset, batch_size=batch_size
    )
    _write(cache, todo, tables)


def _submit_parts(
    plan: RunPlan, cache: Path, chunk: Chunk, missing: list, *, pool: ThreadPoolExecutor,
    writer: ThreadPoolExecutor,
) -> Future:  # fmt: skip
    """Pre-cropped faces: the chunk goes to the workers in parts, and the writer thread turns
    the parts' probabilities into shards.

    With whole chunks per worker, the last chunk ran on one core while the others idled, and
    a worker waited for pyarrow's first import before its next chunk; parts of PART_SIZE keep
    every core inferring to the end and the writes off the workers. ONNX Runtime sessions are
    shared (their run() is thread-safe), one thread per worker.
    """
    from emoaudit.run.predict import part_probabilities

    work, n = _work(missing), len(chunk.samples)
    size = max(1, PART_SIZE // plan.batch_size) * plan.batch_size  # whole batches: same rows
    parts = [
        pool.submit(
            part_probabilities, chunk, lo, min(n, lo + size), work=work, seed=plan.seed,
            batch_size=plan.batch_size,
        )
        for lo in range(0, n, size)
    ]  # fmt: skip
    return writer.submit(_write_parts, plan, cache, chunk, missing, parts)


PART_SIZE = 128  # about this many faces per worker task (rounded to whole batches)


def _write_parts(plan: RunPlan, cache: Path, chunk: Chunk, missing: list, parts: list) -> None:
    import numpy as np

    from emoaudit.run.predict import tables

    done = [part.result() for part in parts]
    probs = [np.concatenate([p[k] for p, _ in done]) for k in range(len(missing))]
    ran = np.concatenate([r for _, r in done])
    _write(cache, missing, tables(chunk, work=_work(missing), probs=probs, ran=ran,
                                  dataset=plan.dataset))  # fmt: skip


def _work(missing: list) -> list[tuple[Any, str]]:
    return [(model, condition) for model, condition, _ in missing]


def _write(cache: Path, missing: list, tables: list) -> None:
    from emoaudit.data.base import MODEL_ERROR

    for (_, _, key), table in zip(missing, tables, strict=True):
        path = shard_path(cache, key)
        marker = path.with_suffix(RETRY_SUFFIX)
        failed = MODEL_ERROR in set(table.column("status").to_pylist())
        if failed:
            path.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        write_table_atomic(path, table)
        if not failed:
            marker.unlink(missing_ok=True)


def session_threads(workers: int) -> int:
    """ONNX Runtime threads per session so that workers x threads fills the cores once."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@contextmanager
def quiet_thread_pools():
    """One thread each for OpenBLAS and OpenCV while ONNX Runtime owns the cores.

    Their worker threads busy-wait after each call and took up to a third of the CPU from ONNX
    Runtime in a measured run (human-emotion: 826 -> 1,196 images/s with this limit).
    """
    import cv2
    from threadpoolctl import threadpool_limits

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        cv2.setNumThreads(before)


def run_plan(
    plan: RunPlan,
    out: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    wait: bool = False,
) -> RunOutcome:
    """Run (or resume) the plan and write OUT/predictions.parquet atomically.

    OUT is held exclusively (cache.out_lock) for the whole run: another run refuses, or waits
    with `wait`, so the start-up clean-up below never meets a live run's temp files.
    """
    with out_lock(out, wait=wait), quiet_thread_pools():
        return _run_plan(plan, out, on_progress=on_progress)


def _run_plan(plan: RunPlan, out: Path, *, on_progress: Callable[[int], None] | None) -> RunOutcome:
    cache = prepare_cache(out)
    ordered: list[Path] = []
    digests: list[str] = []
    n_samples = cached = computed = 0
    running: deque[tuple[Future, int]] = deque()
    report = on_progress or (lambda n: None)
    workers = max(1, plan.workers)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="read") as reader,
        ThreadPoolExecutor(workers, thread_name_prefix="infer") as pool,
        ThreadPoolExecutor(workers, thread_name_prefix="faces") as photos,
        ThreadPoolExecutor(1, thread_name_prefix="write") as writer,
    ):
        writer.submit(warm_imports)  # overlaps the first chunk's reading and inference
        chunks = enumerate(batched(unique_sample_ids(plan.samples()), plan.chunk_size))
        nxt = _submit_next(reader, plan, cache, chunks)
        while (ready := nxt.result()) is not None:
            chunk, keys, missing = ready
            nxt = _submit_next(reader, plan, cache, chunks)
            digests.append(chunk.digest)
            ordered.extend(shard_path(cache, key) for _, _, key in keys)
            cached += len(keys) - len(missing)
            computed += len(missing)
            n_samples += len(chunk.samples)
            if missing and all_precropped(chunk.samples):
                future = _submit_parts(plan, cache, chunk, missing, pool=pool, writer=writer)
                running.append((future, len(chunk)))
            elif missing:
                future = pool.submit(_compute, plan, cache, chunk, missing, photos)
                running.append((future, len(chunk)))
            else:
                report(len(chunk))
            while len(running) > 2 * workers:  # bounded memory: a few chunks in flight
                future, n = running.popleft()
                future.result()
                report(n)
        while running:
            future, n = running.popleft()
            future.result()
            report(n)
    return finish(
        out, ordered, digests=digests, n_samples=n_samples, cached=cached, computed=computed
    )


def warm_imports() -> None:
    """Import what the shard writer needs while the first chunks are read and inferred.

    pyarrow imports pandas the first time it converts a Python list (~0.35 s here); done by the
    first worker to finish a chunk, it held the import lock while the other worker waited.
    """
    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401

        pa.array([0])
    finally:
        sys.setswitchinterval(interval)


def finish(
    out: Path,
    ordered: list[Path],
    *,
    digests: list[str],
    n_samples: int,
    cached: int,
    computed: int,
) -> RunOutcome:
    """Merge the shards in dataset order into OUT/predictions.parquet (any executor)."""
    from emoaudit.run.cache import stable_digest
    from emoaudit.run.merge import merge_shards

    target = out / PREDICTIONS
    n_rows = merge_shards(ordered, target) if ordered else 0  # no samples: caller reports it
    return RunOutcome(
        predictions=target,
        n_samples=n_samples,
        n_rows=n_rows,
        n_shards_cached=cached,
        n_shards_computed=computed,
        dataset_digest=stable_digest(digests),
    )


def prepare_cache(out: Path) -> Path:
    """Create the shard cache and remove temp files a killed run left behind.

    Called with OUT locked (cache.out_lock): no other live run can own a temp file here.
    """
    cache = out / CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob("*/.tmp-*"):
        stale.unlink(missing_ok=True)
    return cache


def _submit_next(reader, plan, cache, chunks) -> Future:
    """Read the next chunk in the reader thread (it alone owns the sample iterator)."""

    def task():
        try:
            index, samples = next(chunks)
        except StopIteration:
            return None
        return _prepare(plan, cache, index, samples)

    return reader.submit(task)
