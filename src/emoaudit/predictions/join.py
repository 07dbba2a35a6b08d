"""Join a file of saved outputs to the dataset and write predictions.parquet without inference.

The accounting is the inference runner's: every sample of the dataset gets a row; a sample with
no output gets status `no_output` and a reason naming the file; an output whose system found no
face gives `no_face`. Outputs that match no sample, second outputs for one sample and malformed
records are counted and reported with file and line (run.json `predictions_import`, carried
into results.json provenance and the report). The rows follow the predictions.parquet contract
(DESIGN.md) plus `output_at` (file:line), `n_faces` and `face_rule`, so every analysis runs
unchanged.

Memory: the outputs are read as a stream and kept as one record per image (about 1 KB with
seven scores: 92 MB for 100,000 measured), then the dataset is streamed in chunks that are
written as shards and merged, so neither the file's text nor the dataset is ever held whole.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoaudit.data.base import BAD_OUTPUT, NO_FACE, OK, UNMAPPED_LABEL, Sample
from emoaudit.errors import MISSING_PATH, DataError, one_line
from emoaudit.predictions.base import (
    NOT_EVERY_LABEL,
    NOT_PROBABILITIES,
    REPEATED_LABEL,
    Face,
    Problem,
    Record,
    distribution_faults,
    normalise_key,
    not_probabilities,
)
from emoaudit.taxonomy import canonical, canonical_order, output_label

NO_OUTPUT = "no_output"  # status: the file has no output for this sample
NO_OUTPUT_REASON = "{sample}: no output for this sample in {file}"
SYSTEM_NO_FACE = "{where}: the system found no face in this image"
UNMATCHED = "{where}: output for '{key}' matches no sample of the dataset"
DUPLICATE = "{where}: another output for '{key}' (first at {first}); the first is kept"
WITHOUT = "{where} (the labels with a canonical name, without {apart})"
PROBLEMS_SHOWN = 20  # messages kept in run.json; the counts cover every one
CHECK_BATCH = 4096  # scored records checked as distributions at once (numpy, not per record)
OUTPUT_AT = "output_at"  # column: FILE:LINE of a row's output; only imported rows have one
BOX_MATCH_IOU = 0.3  # a system's face box this close to the dataset's box is the same face
IMPORT_DIR = ".cache/imported"
NO_OUTPUTS_IN_FILE = (
    "{file}: no outputs in it ({malformed} malformed records){first}; nothing was audited"
)
NONE_USABLE = (
    "{file}: none of its {records} outputs can be scored for a sample of {data} ({matched} "
    "matched, {bad} bad outputs){first}; nothing was audited"
)


@dataclass
class ImportOutcome:
    predictions: Path
    n_samples: int
    n_rows: int
    dataset_digest: str
    accounting: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Index:
    """The outputs by normalised key, with every problem met while reading them."""

    records: dict[str, Record] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    suffixes: dict[str, str | None] | None = None  # built on the first sample not found exactly
    n_scored: int = 0  # records with scores: those the probability check read
    n_not_probabilities: int = 0
    first_not_probability: str | None = None
    # records awaiting the distribution check: (where, scores) per face, as _queue_probabilities
    unchecked: list[list[tuple[str, dict[str, float]]]] = field(default_factory=list)

    def by_suffix(self, key: str) -> Record | None:
        """The output whose key ends with `/key` (an absolute path from another machine, an
        s3:// URI), when exactly one does."""
        if self.suffixes is None:
            self.suffixes = {}
            for full in self.records:
                parts = full.split("/")
                for i in range(1, len(parts)):
                    tail = "/".join(parts[i:])
                    seen = self.suffixes.get(tail, full)
                    self.suffixes[tail] = full if seen == full else None  # None: ambiguous
        full = self.suffixes.get(key)
        return self.records.pop(full, None) if full else None

    def problem(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(message)


def file_sha256(path: Path) -> str:
    """sha256 of the file, or of each file's path and sha256 in a folder of responses."""
    if path.is_dir():
        from emoaudit.run.cache import stable_digest

        files = sorted(p for p in path.rglob("*") if p.is_file())
        return stable_digest([[p.relative_to(path).as_posix(), file_sha256(p)] for p in files])
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_index(module: Any, path: Path) -> _Index:
    index = _Index()
    for item in module.read(path):
        if isinstance(item, Problem):
            index.problem("malformed", item.message)
            continue
        clash = _repeated_label(item)
        if clash:
            index.problem("malformed", clash)
            continue
        index.counts["records"] += 1
        if item.bad:
            index.problem("bad_output", item.bad)
        else:
            _queue_probabilities(index, item)
        key = normalise_key(item.key)
        first = index.records.get(key)
        if first is not None:
            message = DUPLICATE.format(where=item.where, key=key, first=first.where)
            index.problem("duplicate", message)
            continue
        index.records[key] = item
    _check_probabilities(index)
    return index


def _queue_probabilities(index: _Index, record: Record) -> None:
    """Queue a scored record for _check_probabilities, which checks CHECK_BATCH at a time: each
    face's scores, and again those with a canonical name alone, the prob_ columns the import
    would write (Rekognition's nine emotions can sum to 1 while its six canonical ones, CALM
    apart, sum to 0.7: the predictions contract refuses such prob_ columns)."""
    entries: list[tuple[str, dict[str, float]]] = []
    for face in record.faces:
        if not face.scores:
            continue
        entries.append((record.where, face.scores))
        named = {raw: v for raw, v in face.scores.items() if canonical(raw)}
        if named and len(named) < len(face.scores):
            apart = ", ".join(output_label(raw) for raw in face.scores if raw not in named)
            entries.append((WITHOUT.format(where=record.where, apart=apart), named))
    if not entries:
        return
    index.n_scored += 1
    index.unchecked.append(entries)
    if len(index.unchecked) >= CHECK_BATCH:
        _check_probabilities(index)


def _check_probabilities(index: _Index) -> None:
    """Count the queued records whose scores are not a distribution (outside [0, 1], or not
    summing to 1 within base.SUM_TOLERANCE; a record is counted once, whichever of its faces
    fails): one such record means the file's scores cannot be calibrated as they stand, and ECE
    or Brier of logits would be numbers about nothing. The test is base.distribution_faults,
    the one the predictions contract applies to the table this import writes."""
    queued, index.unchecked = index.unchecked, []
    rows = [(i, scores) for i, entries in enumerate(queued) for _, scores in entries]
    if not rows:
        return
    labels = dict.fromkeys(label for _, scores in rows for label in scores)
    column = {label: k for k, label in enumerate(labels)}
    proba = np.full((len(rows), len(column)), np.nan)  # a label a face has no score for: NaN
    for row, (_, scores) in enumerate(rows):
        for label, value in scores.items():
            proba[row, column[label]] = value
    bad = distribution_faults(proba).bad
    if not bad.any():
        return
    records = sorted({rows[row][0] for row in np.flatnonzero(bad).tolist()})
    index.n_not_probabilities += len(records)
    if index.first_not_probability is None:
        reasons = (not_probabilities(scores, where=where) for where, scores in queued[records[0]])
        index.first_not_probability = next((why for why in reasons if why), None)


def probability_check(module: Any, index: _Index, labels: list[str]) -> tuple[bool, str | None]:
    """(whether the scores are written as prob_ columns, why not in words): only when the format
    can give probabilities, every label the system emits has a score (partial scores, a file
    with `pred` and a happy column, cannot be calibrated) and every scored record is a
    probability distribution. The reason goes to run.json and the report's banner."""
    if not module.PROBABILITIES or index.n_scored == 0:
        return False, None
    missing = [label for label in labels if label not in scored_labels(index)]
    if missing:
        return False, NOT_EVERY_LABEL.format(missing=", ".join(missing))
    if index.n_not_probabilities:
        why = NOT_PROBABILITIES.format(
            n=index.n_not_probabilities, total=index.n_scored, first=index.first_not_probability
        )
        return False, why
    return True, None


def _repeated_label(record: Record) -> str | None:
    for face in record.faces:
        seen: dict[str, str] = {}
        for raw in face.scores:
            name = output_label(raw)
            if name in seen:
                return REPEATED_LABEL.format(
                    where=record.where, labels=f"'{seen[name]}' and '{raw}'", canonical=name
                )
            seen[name] = raw
    return None


def model_labels(module: Any, index: _Index) -> list[str]:
    """Canonical labels the system can emit: the format's fixed set, else those in the file."""
    raw: set[str] = set(module.LABELS or ())
    if module.LABELS is None:
        for record in index.records.values():
            for face in record.faces:
                raw.update(face.scores)
                if face.pred:
                    raw.add(face.pred)
    return canonical_order([c for r in raw if (c := canonical(r))])


def scored_labels(index: _Index) -> set[str]:
    return {
        c for r in index.records.values() for f in r.faces for s in f.scores if (c := canonical(s))
    }


def sample_keys(sample: Sample, root: Path) -> list[str]:
    """Ways a file may name this sample: its id, its path (as given, relative to the dataset
    root), each also without its extension (`01.json` written for `01.jpg`)."""
    keys = [sample.sample_id]
    if sample.path:
        path = Path(sample.path)
        keys.append(str(path))
        keys.append(str(path.absolute()))
        for base in (root, root.absolute()):
            try:
                keys.append(path.relative_to(base).as_posix())
            except ValueError:
                pass
    keys = [normalise_key(k) for k in keys]
    stems = [k.rsplit(".", 1)[0] for k in keys if "." in k.rsplit("/", 1)[-1]]
    return list(dict.fromkeys([*keys, *stems]))


def import_predictions(
    samples: Iterator[Sample],
    *,
    file: Path,
    fmt: str,
    model_name: str,
    dataset: str,
    data_root: Path,
    out: Path,
    chunk_size: int = 4096,
    on_progress: Callable[[int], None] | None = None,
) -> ImportOutcome:
    """Write OUT/predictions.parquet from `file` joined to `samples`; return the accounting."""
    from emoaudit.predictions import PREDICTION_FORMATS
    from emoaudit.run.cache import stable_digest, write_table_atomic
    from emoaudit.run.chunks import batched
    from emoaudit.run.merge import merge_shards

    module = PREDICTION_FORMATS.get(fmt)
    if not file.exists():
        raise DataError(MISSING_PATH.format(path=file))
    index = read_index(module, file)
    sha = file_sha256(file)
    labels = model_labels(module, index)
    probabilities, not_probabilities_why = probability_check(module, index, labels)
    shards = out / IMPORT_DIR
    shutil.rmtree(shards, ignore_errors=True)
    paths: list[Path] = []
    digests: list[str] = []
    rules: Counter = Counter()
    preds: Counter = Counter()
    n_samples = matched = n_to_score = n_answered = 0
    ctx = {"file": file, "model": model_name, "sha": sha, "labels": labels, "dataset": dataset,
           "probabilities": probabilities}  # fmt: skip
    for i, chunk in enumerate(batched(samples, chunk_size)):
        rows = []
        for sample in chunk:
            record = _take(index, sample, data_root)
            matched += record is not None
            n_to_score += sample.status == OK
            n_answered += sample.status == OK and record is not None and not record.bad
            rows.append(_row(sample, record, ctx=ctx, rules=rules, preds=preds))
        digests.append(stable_digest([_sample_fingerprint(s) for s in chunk]))
        path = shards / f"{i:06d}.parquet"
        write_table_atomic(path, _table(chunk, rows, ctx=ctx))
        paths.append(path)
        n_samples += len(chunk)
        if on_progress:
            on_progress(len(chunk))
    target = out / "predictions.parquet"
    n_rows = merge_shards(paths, target) if paths else 0
    shutil.rmtree(shards, ignore_errors=True)
    for key, record in index.records.items():
        index.problem("unmatched", UNMATCHED.format(where=record.where, key=key))
    if n_to_score and not n_answered:
        raise DataError(_nothing_usable(index, file=file, data=data_root, matched=matched))
    accounting = {
        "file": str(file.resolve()),
        "format": fmt,
        "sha256": sha,
        "model": model_name,
        "labels": labels,
        "probabilities": probabilities,
        "probabilities_reason": not_probabilities_why,
        "notes": not_probabilities_why or module.NOTES,
        "n_records": index.counts["records"],
        "n_matched": matched,
        "n_samples_without_output": n_samples - matched,
        "n_outputs_without_sample": index.counts["unmatched"],
        "n_duplicates": index.counts["duplicate"],
        "n_malformed": index.counts["malformed"],
        "n_bad_outputs": index.counts["bad_output"],
        "n_not_probabilities": index.n_not_probabilities,
        "face_rule": dict(sorted(rules.items())),
        "non_canonical_predictions": dict(sorted(preds.items())),
        "problems": index.problems,
    }
    return ImportOutcome(
        predictions=target,
        n_samples=n_samples,
        n_rows=n_rows,
        dataset_digest=stable_digest(digests),
        accounting=accounting,
    )


def _nothing_usable(index: _Index, *, file: Path, data: Path, matched: int) -> str:
    """The one line for a file that gave no sample a usable output (header only, every record
    malformed or NaN, or keys that match nothing): an audit of no outputs is not an audit."""
    first = f"; first problem: {index.problems[0]}" if index.problems else ""
    if not index.counts["records"]:
        message = NO_OUTPUTS_IN_FILE.format(
            file=file, malformed=index.counts["malformed"], first=first
        )
    else:
        message = NONE_USABLE.format(
            file=file, records=index.counts["records"], data=data, matched=matched,
            bad=index.counts["bad_output"], first=first,
        )  # fmt: skip
    return one_line(message)


def _sample_fingerprint(sample: Sample) -> list[Any]:
    """What the join read of a sample (no image bytes are read: nothing is inferred here)."""
    return [sample.sample_id, sample.path, sample.raw_label, sample.label, sample.status]


def _take(index: _Index, sample: Sample, root: Path) -> Record | None:
    keys = sample_keys(sample, root)
    for key in keys:
        record = index.records.pop(key, None)
        if record is not None:
            return record
    for key in keys:  # then by the end of the output's key: /data/x/happy/01.jpg, s3://b/...
        if not key.startswith("/"):
            record = index.by_suffix(key)
            if record is not None:
                return record
    return None


def _row(
    sample: Sample, record: Record | None, *, ctx: dict, rules: Counter, preds: Counter
) -> dict[str, Any]:
    """status, reason, pred, scores and face columns of one sample's row."""
    from emoaudit.run.predict import LABEL_NOT_EMITTED

    row: dict[str, Any] = {"status": sample.status, "reason": sample.reason, "pred": None}
    if record is not None:
        row[OUTPUT_AT] = record.where
        row["n_faces"] = len(record.faces)
    if sample.status != OK:
        return row
    if record is None:
        reason = NO_OUTPUT_REASON.format(sample=sample.sample_id, file=ctx["file"])
        return {**row, "status": NO_OUTPUT, "reason": reason}
    if record.bad:
        return {**row, "status": BAD_OUTPUT, "reason": record.bad}
    if not record.faces:
        return {**row, "status": NO_FACE, "reason": SYSTEM_NO_FACE.format(where=record.where)}
    face, rule = choose_face(record.faces, sample)
    rules[rule] += 1
    row["face_rule"] = rule
    row.update(face.extra)
    for raw, value in face.scores.items():
        name = output_label(raw)
        prob = canonical(raw) and ctx["probabilities"]
        row[f"prob_{name}" if prob else f"score_{name}"] = value
    pred = output_label(face.pred) if face.pred else None
    if pred is None and face.scores:
        pred = output_label(max(face.scores, key=face.scores.__getitem__))
    row["pred"] = pred
    if pred is not None and canonical(pred) is None:
        preds[pred] += 1
    if sample.label is not None and sample.label not in ctx["labels"]:
        row["status"] = UNMAPPED_LABEL
        row["reason"] = LABEL_NOT_EMITTED.format(
            sample=sample.sample_id, label=sample.label, model=ctx["model"]
        )
    return row


def choose_face(faces: list[Face], sample: Sample) -> tuple[Face, str]:
    """One face per image: the only one; else the one matching the dataset's face box
    (IoU >= BOX_MATCH_IOU); else the largest. The rule used is returned and recorded."""
    if len(faces) == 1:
        return faces[0], "only"
    if sample.face_box is not None:
        size = _image_size(sample) if any(f.box_units == "ratio" for f in faces) else (1, 1)
        if size is not None:
            ious = [_iou(_pixels(f, size), sample.face_box) for f in faces]
            best = max(range(len(faces)), key=ious.__getitem__)
            if ious[best] >= BOX_MATCH_IOU:
                return faces[best], "box_match"
    return max(faces, key=Face.area), "largest"


def _pixels(face: Face, size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    if face.box is None:
        return None
    if face.box_units != "ratio":
        return face.box
    w, h = size
    x0, y0, x1, y1 = face.box
    return (x0 * w, y0 * h, x1 * w, y1 * h)


def _iou(a: tuple | None, b: tuple | None) -> float:
    if a is None or b is None:
        return 0.0
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _image_size(sample: Sample) -> tuple[int, int] | None:
    """(width, height) from decoded pixels or the image header; None if it cannot be read."""
    if sample.pixels is not None:
        return int(sample.pixels.shape[1]), int(sample.pixels.shape[0])
    if not sample.path:
        return None
    try:
        from PIL import Image

        with Image.open(sample.path) as img:
            return img.size
    except (OSError, ValueError):
        return None


def _table(chunk: list[Sample], rows: list[dict[str, Any]], *, ctx: dict) -> Any:
    """The chunk's rows in the predictions.parquet layout (see run/predict.py _table)."""
    import pyarrow as pa

    from emoaudit.run.predict import _side_columns, utf8_texts

    n = len(chunk)
    cols: dict[str, Any] = {
        "sample_id": utf8_texts([s.sample_id for s in chunk]),
        "subject_id": utf8_texts([s.subject_id for s in chunk]),
        "dataset": [ctx["dataset"]] * n,
        "split": utf8_texts([s.split for s in chunk]),
        "path": utf8_texts([s.path for s in chunk]),
        "model": [ctx["model"]] * n,
        "model_sha256": [ctx["sha"]] * n,
        "condition": ["clean"] * n,
        "status": [r["status"] for r in rows],
        "reason": utf8_texts([r["reason"] for r in rows]),
        "raw_label": utf8_texts([s.raw_label for s in chunk]),
        "label": [s.label for s in chunk],
        "pred": [r["pred"] for r in rows],
    }
    fixed = set(cols)
    extra = sorted({k for r in rows for k in r} - fixed)
    for name in extra:
        cols[name] = utf8_texts([r.get(name) for r in rows])
    for label in ctx["labels"] if ctx["probabilities"] else ():
        cols.setdefault(f"prob_{label}", [None] * n)  # a label the system can emit has its column
    if any(s.clip_id is not None for s in chunk):
        cols["clip_id"] = utf8_texts([s.clip_id for s in chunk])
        cols["time_s"] = [s.time_s for s in chunk]
    cols.update(_side_columns(chunk))
    return pa.table(cols)
