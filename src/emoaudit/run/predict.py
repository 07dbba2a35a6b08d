"""Model inference on a prepared chunk, producing the prediction rows of one shard.

Rows follow the predictions.parquet contract in DESIGN.md: every sample of the chunk gets a row
for the (model, condition), whatever its status, so nothing is silently dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoaudit.data.base import BAD_OUTPUT, MODEL_ERROR, NO_FACE, OK, UNMAPPED_LABEL
from emoaudit.errors import utf8_text
from emoaudit.run.chunks import Chunk, decode_slice, variant_crops
from emoaudit.run.protocols import face_settings, input_spec, is_face_protocol, is_protocol

LABEL_NOT_EMITTED = "{sample}: label '{label}' is not in the label set of model '{model}'"
NON_FINITE_OUTPUT = "{sample}: model '{model}' output non-finite values (NaN or inf); not scored"
PROTOCOL_NO_FACE = "{sample}: no face found under {condition}"


def _perturbed(face: np.ndarray, *, condition: str, sample_id: str, seed: int) -> np.ndarray:
    if condition == "clean":
        return face
    from emoaudit.data.images import gray_to_rgb
    from emoaudit.perturb.conditions import apply_condition

    # A gray crop is perturbed in colour (a mask or sunglasses may add colour an RGB model sees)
    return apply_condition(gray_to_rgb(face), condition, sample_id=sample_id, seed=seed)


def infer(model: Any, faces: list[np.ndarray], *, batch_size: int, spec: Any = None) -> np.ndarray:
    """Probabilities (n, n_labels) in the model's label order, in fixed-size batches; `spec`
    replaces the model's InputSpec (a preprocessing protocol)."""
    from emoaudit.models.preprocess import prepare_batch

    n_labels = len(model.info.labels)
    if not faces:
        return np.zeros((0, n_labels), dtype=np.float32)
    parts = []
    for start in range(0, len(faces), batch_size):
        x = prepare_batch(faces[start : start + batch_size], spec or model.info.input)
        parts.append(model.predict_proba(x))
    return np.concatenate(parts, axis=0)


def chunk_tables(
    chunk: Chunk,
    *,
    work: list[tuple[Any, str]],
    seed: int,
    dataset: str,
    batch_size: int,
) -> list[Any]:
    """One pyarrow Table per (model, condition) in `work`, in that order."""
    probs, ran = part_probabilities(
        chunk, 0, len(chunk.samples), work=work, seed=seed, batch_size=batch_size
    )
    return tables(chunk, work=work, probs=probs, ran=ran, dataset=dataset)


def part_probabilities(
    chunk: Chunk,
    lo: int,
    hi: int,
    *,
    work: list[tuple[Any, str]],
    seed: int,
    batch_size: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Probabilities of samples lo:hi for each (model, condition), and which of them ran.

    A chunk not decoded yet (pre-cropped faces; photos are decoded and cropped beforehand by
    decode_chunk) is decoded one batch at a time, and every (model, condition) infers that
    batch before the next is decoded. Decoding a whole chunk first is a long run of short
    GIL-releasing calls (one per image, ~15 ms for 512 faces) during which the other worker,
    back from ONNX Runtime, keeps losing the race for the GIL; batch by batch the run is one
    batch long, and only one batch of decoded faces is held at a time. Parts of one chunk touch
    different samples, so they may run in parallel; the batches depend only on `lo` when it is a
    multiple of `batch_size`, so any such split gives the rows of the whole chunk at once.
    """
    probs = [np.full((hi - lo, len(m.info.labels)), np.nan, dtype=np.float64) for m, _ in work]
    ran = np.zeros(hi - lo, dtype=bool)
    for start in range(lo, hi, batch_size):
        stop = min(hi, start + batch_size)
        faces = chunk.faces[start:stop] if chunk.decoded else decode_slice(chunk, start, stop)
        idx = [j for j, face in enumerate(faces) if face is not None]
        rows = np.asarray(idx, dtype=np.int64) + (start - lo)
        ran[rows] = True
        found = _protocol_faces_of_batch(chunk, faces, start=start, work=work)
        perturbed: dict[str, list[np.ndarray]] = {}  # condition -> the batch under it
        for (model, condition), out in zip(work, probs, strict=True):
            if is_protocol(condition):  # may find faces the default missed: runs on its own
                _protocol_batch(
                    found.get(condition, faces), offset=start - lo, model=model,
                    condition=condition, out=out, batch_size=batch_size,
                )  # fmt: skip
                continue
            if not idx:
                continue
            if condition not in perturbed:  # once for every model: the same seeded faces
                perturbed[condition] = [
                    _perturbed(
                        faces[j], condition=condition,
                        sample_id=chunk.samples[start + j].sample_id, seed=seed,
                    )
                    for j in idx
                ]  # fmt: skip
            batch = perturbed[condition]
            if hasattr(model, "predict_faces"):
                samples = [chunk.samples[start + j] for j in idx]
                out[rows] = _predict_faces(model, batch, samples=samples, chunk=chunk,
                                           condition=condition)  # fmt: skip
            else:
                out[rows] = infer(model, batch, batch_size=batch_size)
    return probs, ran


def _predict_faces(
    model: Any, faces: list[np.ndarray], *, samples: list, chunk: Chunk, condition: str
) -> np.ndarray:
    """Models that take the face crops themselves (Python objects, HTTP APIs: models/
    python_model.py, models/http_json.py) and may fail per face: a reason (status model_error)
    or a (status, reason) pair per failed face goes to chunk.failures; their rows stay NaN."""
    probs, errors = model.predict_faces(faces, samples=samples, condition=condition)
    for j, reason in errors.items():
        chunk.failures[(model.info.name, condition, samples[j].sample_id)] = reason
    return probs


def _protocol_faces_of_batch(
    chunk: Chunk, faces: list[np.ndarray | None], *, start: int, work: list[tuple[Any, str]]
) -> dict[str, list[np.ndarray | None]]:
    """The batch's faces under each face protocol in `work`: photos were cropped with the chunk
    (decode_chunk); given crops, decoded per batch, are searched here, once for every model."""
    settings = {}
    for _, condition in work:
        if is_protocol(condition):
            # the runner sets face_variants with its detector; blazeface is the CLI default
            face = chunk.face_variants.get(condition) or face_settings(
                condition, detector="blazeface"
            )
            if face is not None:
                settings[condition] = face
    found = {
        c: chunk.variants[c][start : start + len(faces)] for c in settings if c in chunk.variants
    }
    rest = {c: s for c, s in settings.items() if c not in found}
    if rest:
        found.update(variant_crops(faces, rest))
    return found


def _protocol_batch(
    found: list[np.ndarray | None],
    *,
    offset: int,
    model: Any,
    condition: str,
    out: np.ndarray,
    batch_size: int,
) -> None:
    """One batch under a protocol (run/protocols.py): the model's input spec as the protocol
    sets it, on the faces as the protocol finds them (a face protocol's misses stay NaN and
    become no_face in the table)."""
    idx = [j for j, f in enumerate(found) if f is not None]
    if idx:
        spec = input_spec(model.info.input, condition)
        batch = [found[j] for j in idx]
        out[np.asarray(idx) + offset] = infer(model, batch, batch_size=batch_size, spec=spec)


def tables(
    chunk: Chunk,
    *,
    work: list[tuple[Any, str]],
    probs: list[np.ndarray],
    ran: np.ndarray,
    dataset: str,
) -> list[Any]:
    """The shards' tables from the whole chunk's probabilities; frees the chunk's file bytes."""
    chunk.content = []  # bytes are no longer needed; keep memory bounded
    return [
        _table(chunk, model=model, condition=condition, probs=p, ran=ran, dataset=dataset)
        for (model, condition), p in zip(work, probs, strict=True)
    ]


def _table(
    chunk: Chunk, *, model: Any, condition: str, probs: np.ndarray, ran: np.ndarray, dataset: str
) -> Any:
    """The shard's rows: every sample of the chunk, whatever its status."""
    import pyarrow as pa

    samples = chunk.samples
    statuses = [s.status for s in samples]
    reasons = [s.reason for s in samples]
    labels = model.info.labels
    if is_face_protocol(condition):
        ran = _protocol_faces(chunk, condition, probs, statuses, reasons)
    for i, s in enumerate(samples):
        if statuses[i] == OK and s.label is not None and s.label not in labels:
            statuses[i] = UNMAPPED_LABEL
            reasons[i] = LABEL_NOT_EMITTED.format(
                sample=s.sample_id, label=s.label, model=model.info.name
            )
    scored = ran.copy()
    for i, s in enumerate(samples):
        failed = chunk.failures.get((model.info.name, condition, s.sample_id))
        if failed is not None:
            scored[i] = False
            if statuses[i] in (OK, UNMAPPED_LABEL):  # a reason, or (status, reason)
                pair = failed if isinstance(failed, tuple) else (MODEL_ERROR, failed)
                statuses[i], reasons[i] = pair
    preds: list[str | None] = [None] * len(samples)
    probs = _drop_non_finite(probs, scored, statuses, reasons, samples=samples, model=model)
    run_idx = np.flatnonzero(scored & np.isfinite(probs).all(axis=1))
    if len(run_idx):
        top = np.argmax(probs[run_idx], axis=1)
        for i, k in zip(run_idx.tolist(), top.tolist(), strict=True):
            preds[i] = labels[k]

    n = len(samples)
    cols: dict[str, Any] = {
        "sample_id": utf8_texts([s.sample_id for s in samples]),
        "subject_id": utf8_texts([s.subject_id for s in samples]),
        "dataset": [dataset] * n,
        "split": utf8_texts([s.split for s in samples]),
        "path": utf8_texts([s.path for s in samples]),
        "model": [model.info.name] * n,
        "model_sha256": [model.sha256] * n,
        "condition": [condition] * n,
        "status": statuses,
        "reason": utf8_texts(reasons),
        "raw_label": utf8_texts([s.raw_label for s in samples]),
        "label": [s.label for s in samples],
        "pred": preds,
    }
    for k, name in enumerate(labels):
        cols[f"prob_{name}"] = probs[:, k]
    if any(s.clip_id is not None for s in samples):
        cols["clip_id"] = utf8_texts([s.clip_id for s in samples])
        cols["time_s"] = [s.time_s for s in samples]
    cols.update(_side_columns(samples))
    return pa.table(cols)


def utf8_texts(values: list) -> list:
    """Text columns as valid UTF-8 (errors.utf8_text): ids, paths and reasons carry file names,
    and one name that is not UTF-8 made pyarrow refuse the whole shard."""
    if all(not isinstance(v, str) or v.isascii() for v in values):
        return values
    return [utf8_text(v) if isinstance(v, str) else v for v in values]


def _drop_non_finite(
    probs: np.ndarray, ran: np.ndarray, statuses: list, reasons: list, *, samples: list, model: Any
) -> np.ndarray:
    """Rows whose outputs hold NaN or inf become `bad_output` with null probabilities.

    argmax reads NaN as the largest value, so a model emitting NaN looked like one predicting
    its first label with certainty (64/64 "anger", status ok, in a probe): such rows must never
    be scored, and their garbage must not reach the probability columns either.
    """
    bad = np.flatnonzero(ran & ~np.isfinite(probs).all(axis=1))
    if not len(bad):
        return probs
    probs = probs.copy()
    probs[bad] = np.nan
    for i in bad.tolist():
        statuses[i] = BAD_OUTPUT
        reasons[i] = NON_FINITE_OUTPUT.format(sample=samples[i].sample_id, model=model.info.name)
    return probs


def _protocol_faces(
    chunk: Chunk, condition: str, probs: np.ndarray, statuses: list, reasons: list
) -> np.ndarray:
    """Under a face protocol a face is found or missed by the protocol's own detection: rows
    with probabilities are ok (even where the default detector missed), rows without are
    no_face. Other statuses (unreadable, bad_input, unmapped labels) stay as they are."""
    found = np.isfinite(probs).all(axis=1)
    for i, s in enumerate(chunk.samples):
        if statuses[i] not in (OK, NO_FACE):
            continue
        if found[i]:
            statuses[i], reasons[i] = OK, ""
        else:
            statuses[i] = NO_FACE
            reasons[i] = PROTOCOL_NO_FACE.format(sample=s.sample_id, condition=condition)
    return found


def _side_columns(samples: list) -> dict[str, Any]:
    """attr_*, votes_*, target_* columns; a key missing for a sample is null, never dropped."""
    out: dict[str, Any] = {}
    for field, prefix in (("attributes", "attr_"), ("votes", "votes_"), ("targets", "target_")):
        keys = sorted({k for s in samples for k in getattr(s, field)})
        for key in keys:
            values = [getattr(s, field).get(key) for s in samples]
            out[prefix + utf8_text(key)] = utf8_texts(values)  # some come from file names
    return out
