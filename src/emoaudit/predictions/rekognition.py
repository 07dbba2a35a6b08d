"""AWS Rekognition DetectFaces responses: `FaceDetails[].Emotions[{Type, Confidence}]`.

Input: a folder with one response JSON per image (`happy/01.jpg.json` -> sample `happy/01.jpg`),
or JSON Lines with the image's key (`image`, `path`, `sample_id`, ...) beside `FaceDetails` or a
`response` object. DetectFaces returns emotions only with `Attributes=["ALL"]`. Confidence is
0-100 per emotion; it is divided by 100 and read as a probability (the nine values sum to ~100;
the six with a canonical name, the prob_ columns, must sum to ~1 on their own: join.py).
BoundingBox is in fractions of the image; with several faces the join picks the one matching
the dataset's face box, else the largest, and states which rule was used.
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

NAME = "rekognition"
DESCRIPTION = "AWS Rekognition DetectFaces JSON (folder of responses, or JSONL)"
LABELS = ("HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "UNKNOWN", "FEAR")
PROBABILITIES = True
NOTES = (
    "Rekognition has no neutral or contempt label: samples labelled so are unmapped_label. Its "
    "CALM, CONFUSED and UNKNOWN outputs have no canonical counterpart and are kept as 'calm', "
    "'confused', 'unknown' (wrong against any label). Confidence/100 is read as a probability; "
    "calibration reads the six canonical emotions only, so it applies only when they alone sum "
    "to 1 (within 0.05) on every face: where CALM, CONFUSED or UNKNOWN hold more, the scores "
    "are kept as score_ columns and not calibrated."
)
NO_FACE_DETAILS = "{where}: no FaceDetails list (expected a DetectFaces response)"
NO_EMOTIONS = "{where}: face {index} has no Emotions (call DetectFaces with Attributes=['ALL'])"


def read(path: Path) -> Iterator[Record | Problem]:
    return read_json_records(path, record)


def record(doc: Any, *, key: str, where: str) -> Record | Problem:
    response = doc.get("response", doc) if isinstance(doc, dict) else doc
    details = response.get("FaceDetails") if isinstance(response, dict) else None
    if not isinstance(details, list):
        return Problem(where, NO_FACE_DETAILS.format(where=where))
    faces = []
    for index, detail in enumerate(details):
        face = _face(detail, where=where, index=index)
        if isinstance(face, Problem):
            return face
        if isinstance(face, str):  # a NaN or inf score: the image is bad_output
            return Record(key=key, where=where, faces=[], bad=face)
        faces.append(face)
    return Record(key=key, where=where, faces=faces)


def _face(detail: Any, *, where: str, index: int) -> Face | Problem | str:
    emotions = detail.get("Emotions") if isinstance(detail, dict) else None
    if not isinstance(emotions, list) or not emotions:
        return Problem(where, NO_EMOTIONS.format(where=where, index=index))
    face = Face(box_units="ratio")
    for item in emotions:
        label = item.get("Type") if isinstance(item, dict) else None
        raw = item.get("Confidence") if isinstance(item, dict) else None
        value = score_value(raw, where=where, label=str(label)) if isinstance(label, str) else None
        if value is None:
            return Problem(where, BAD_SCORE.format(where=where, label=label, value=str(item)[:40]))
        if isinstance(value, Problem | str):
            return value
        face.scores[label] = value / 100.0
    box = detail.get("BoundingBox")
    if isinstance(box, dict):
        left, top = number(box.get("Left")), number(box.get("Top"))
        width, height = number(box.get("Width")), number(box.get("Height"))
        if None not in (left, top, width, height):
            face.box = (left, top, left + width, top + height)
    return face
