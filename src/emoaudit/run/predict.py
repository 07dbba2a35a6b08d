"""Model inference on a prepared chunk, producing the prediction rows of one shard.

Rows follow the predictions.parquet contract in DESIGN.md: every sample of the chunk gets a row
for the (model, condition), whatever its status, so nothing is silently dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoaudit.data.base import OK, UNMAPPED_LABEL
from emoaudit.run.chunks import Chunk

LABEL_NOT_EMITTED = "{sample}: label '{label}' is not in the label set of model '{model}'"


def _perturbed(face: np.ndarray, *, condition: str, sample_id: str, seed: int) -> np.ndarray:
    if condition == "clean":
        return face
    from emoaudit.data.images import gray_to_rgb
    from emoaudit.perturb.conditions import apply_condition

    # A gray crop is perturbed in colour (a mask or sunglasses may add colour an RGB model sees)
    return apply_condition(gray_to_rgb(face), condition, sample_id=sample_id, seed=seed)


def infer(model: Any, faces: list[np.ndarray], *, batch_size: int) -> np.ndarray:
    """Probabilities (n, n_labels) in the model's label order, in fixed-size batches."""
    from emoaudit.models.preprocess import prepare_batch

    n_labels = len(model.info.labels)
    if not faces:
        return np.zeros((0, n_labels), dtype=np.float32)
    parts = []
    for start in range(0, len(faces), batch_size):
        x = prepare_batch(faces[start : start + batch_size], model.info.input)
        parts.append(model.predict_proba(x))
    return np.concatenate(parts, axis=0)


def shard_table(
    chunk: Chunk, *, model: Any, condition: str, seed: int, dataset: str, batch_size: int
) -> Any:
    """Run the model on the chunk's faces under `condition` and return a pyarrow Table."""
    import pyarrow as pa

    samples = chunk.samples
    statuses = [s.status for s in samples]
    reasons = [s.reason for s in samples]
    labels = model.info.labels
    for i, s in enumerate(samples):
        if statuses[i] == OK and s.label is not None and s.label not in labels:
            statuses[i] = UNMAPPED_LABEL
            reasons[i] = LABEL_NOT_EMITTED.format(
                sample=s.sample_id, label=s.label, model=model.info.name
            )
    run_idx = [i for i, f in enumerate(chunk.faces) if f is not None]
    faces = [
        _perturbed(chunk.faces[i], condition=condition, sample_id=samples[i].sample_id, seed=seed)
        for i in run_idx
    ]
    probs = infer(model, faces, batch_size=batch_size)
    full = np.full((len(samples), len(labels)), np.nan, dtype=np.float64)
    full[run_idx] = probs
    preds: list[str | None] = [None] * len(samples)
    if run_idx:
        top = np.argmax(probs, axis=1)
        for j, i in enumerate(run_idx):
            preds[i] = labels[top[j]]

    n = len(samples)
    cols: dict[str, Any] = {
        "sample_id": [s.sample_id for s in samples],
        "subject_id": [s.subject_id for s in samples],
        "dataset": [dataset] * n,
        "split": [s.split for s in samples],
        "path": [s.path for s in samples],
        "model": [model.info.name] * n,
        "model_sha256": [model.sha256] * n,
        "condition": [condition] * n,
        "status": statuses,
        "reason": reasons,
        "raw_label": [s.raw_label for s in samples],
        "label": [s.label for s in samples],
        "pred": preds,
    }
    for k, name in enumerate(labels):
        cols[f"prob_{name}"] = full[:, k]
    if any(s.clip_id is not None for s in samples):
        cols["clip_id"] = [s.clip_id for s in samples]
        cols["time_s"] = [s.time_s for s in samples]
    cols.update(_side_columns(samples))
    return pa.table(cols)


def _side_columns(samples: list) -> dict[str, Any]:
    """attr_*, votes_*, target_* columns; a key missing for a sample is null, never dropped."""
    out: dict[str, Any] = {}
    for field, prefix in (("attributes", "attr_"), ("votes", "votes_"), ("targets", "target_")):
        keys = sorted({k for s in samples for k in getattr(s, field)})
        for key in keys:
            out[prefix + key] = [getattr(s, field).get(key) for s in samples]
    return out
