"""DeepFace `analyze(actions=["emotion"])` output: a list with one dict per face, each with
`emotion` ({angry, disgust, fear, happy, sad, surprise, neutral} percentages),
`dominant_emotion` and `region` ({x, y, w, h} in pixels).

Input: a folder with one JSON per image (the list analyze() returned, or one face's dict), or
JSON Lines with the image's key (`img_path`, `path`, ...) and `results` (the list) or one face's
fields inline. Percentages are divided by 100 and read as probabilities; `dominant_emotion` is
the prediction when present (it is the argmax of the same numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoaudit.predictions.base import (
    BAD_SCORE,
    Face,
    Problem,
    Record,
    number,
    read_json_records,
    score_value,
)

NAME = "deepface"
DESCRIPTION = "DeepFace analyze() emotion output (folder of JSON, or JSONL)"
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
PROBABILITIES = True
NOTES = (
    "DeepFace emits seven labels (no contempt): samples labelled contempt are unmapped_label. "
    "Percentages/100 are read as probabilities, so calibration applies."
)
NO_EMOTION = "{where}: face {index} has no 'emotion' object (expected analyze() output)"


def read(path: Path) -> Iterator[Record | Problem]:
    return read_json_records(path, record)


def record(doc: Any, *, key: str, where: str) -> Record | Problem:
    if isinstance(doc, dict):
        doc = doc.get("results", [doc] if "emotion" in doc else [])
    faces = []
    for index, item in enumerate(doc if isinstance(doc, list) else [None]):
        face = _face(item, where=where, index=index)
        if isinstance(face, Problem):
            return face
        if isinstance(face, str):  # a NaN or inf score: the image is bad_output
            return Record(key=key, where=where, faces=[], bad=face)
        faces.append(face)
    return Record(key=key, where=where, faces=faces)


def _face(item: Any, *, where: str, index: int) -> Face | Problem | str:
    emotion = item.get("emotion") if isinstance(item, dict) else None
    if not isinstance(emotion, dict) or not emotion:
        return Problem(where, NO_EMOTION.format(where=where, index=index))
    face = Face()
    for label, raw in emotion.items():
        value = score_value(raw, where=where, label=str(label))
        if value is None:
            return Problem(where, BAD_SCORE.format(where=where, label=label, value=str(raw)[:40]))
        if isinstance(value, Problem | str):
            return value
        face.scores[str(label)] = value / 100.0
    if isinstance(item.get("dominant_emotion"), str):
        face.pred = item["dominant_emotion"]
    region = item.get("region")
    if isinstance(region, dict):
        x, y = number(region.get("x")), number(region.get("y"))
        w, h = number(region.get("w")), number(region.get("h"))
        if None not in (x, y, w, h):
            face.box = (x, y, x + w, y + h)
    return face
