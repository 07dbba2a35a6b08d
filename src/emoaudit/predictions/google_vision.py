"""Google Cloud Vision face detection: `faceAnnotations[]` with joy, sorrow, anger and surprise
likelihoods (VERY_UNLIKELY .. VERY_LIKELY).

Input: a folder with one response JSON per image (an AnnotateImageResponse, or a batch response
holding one), or JSON Lines with the image's key beside `faceAnnotations` or `responses`. No
`faceAnnotations` means Vision found no face. Likelihoods are ordinal levels, not probabilities,
so no prob_ columns are written: the prediction is the label at the highest level, `none` when
no label reaches POSSIBLE, `ambiguous` when two labels tie at the top. The levels are kept as
`likelihood_<label>` columns (1 = VERY_UNLIKELY .. 5 = VERY_LIKELY, null = UNKNOWN).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoaudit.predictions.base import Face, Problem, Record, number, read_json_records

NAME = "google-vision"
DESCRIPTION = "Google Cloud Vision faceAnnotations likelihoods (folder of responses, or JSONL)"
LABELS = ("joy", "sorrow", "anger", "surprise")
PROBABILITIES = False
NOTES = (
    "Google Cloud Vision gives ordinal likelihoods for four labels (joy, sorrow, anger, "
    "surprise), not probabilities: accuracy, per-class and agreement metrics apply to those four "
    "labels; calibration, log loss, Brier and top-2 accuracy cannot be computed. Samples "
    "labelled neutral, fear, disgust or contempt are unmapped_label. The prediction is the "
    "label at the highest likelihood, 'none' below POSSIBLE, 'ambiguous' on a tie."
)
LEVELS = {"VERY_UNLIKELY": 1, "UNLIKELY": 2, "POSSIBLE": 3, "LIKELY": 4, "VERY_LIKELY": 5}
POSSIBLE = LEVELS["POSSIBLE"]
NO_ANNOTATIONS = "{where}: expected faceAnnotations (a Vision AnnotateImageResponse)"
VISION_ERROR = "{where}: Vision returned an error: {message}"
BAD_LIKELIHOOD = "{where}: face {index}: {field} is '{value}'; expected one of {levels} or UNKNOWN"
MANY_RESPONSES = "{where}: {n} responses for one image; expected one"


def read(path: Path) -> Iterator[Record | Problem]:
    return read_json_records(path, record)


def record(doc: Any, *, key: str, where: str) -> Record | Problem:
    if not isinstance(doc, dict):
        return Problem(where, NO_ANNOTATIONS.format(where=where))
    if "responses" in doc:
        responses = doc["responses"]
        if not isinstance(responses, list) or len(responses) != 1:
            n = len(responses) if isinstance(responses, list) else 0
            return Problem(where, MANY_RESPONSES.format(where=where, n=n))
        doc = responses[0] if isinstance(responses[0], dict) else {}
    if isinstance(doc.get("error"), dict):
        message = str(doc["error"].get("message", ""))[:80]
        return Problem(where, VISION_ERROR.format(where=where, message=message))
    annotations = doc.get("faceAnnotations", [])
    if not isinstance(annotations, list):
        return Problem(where, NO_ANNOTATIONS.format(where=where))
    faces = []
    for index, annotation in enumerate(annotations):
        face = _face(annotation, where=where, index=index)
        if isinstance(face, Problem):
            return face
        faces.append(face)
    return Record(key=key, where=where, faces=faces)


def top_label(levels: dict[str, int | None]) -> str:
    """The label at the highest level; 'none' below POSSIBLE; 'ambiguous' when tied."""
    known = {k: v for k, v in levels.items() if v is not None}
    best = max(known.values(), default=0)
    if best < POSSIBLE:
        return "none"
    top = [k for k, v in known.items() if v == best]
    return top[0] if len(top) == 1 else "ambiguous"


def _face(annotation: Any, *, where: str, index: int) -> Face | Problem:
    if not isinstance(annotation, dict):
        return Problem(where, NO_ANNOTATIONS.format(where=where))
    levels: dict[str, int | None] = {}
    for label in LABELS:
        field = f"{label}Likelihood"
        value = annotation.get(field, "UNKNOWN")
        if value not in LEVELS and value != "UNKNOWN":
            return Problem(
                where,
                BAD_LIKELIHOOD.format(
                    where=where, index=index, field=field, value=str(value)[:30],
                    levels=", ".join(LEVELS),
                ),
            )  # fmt: skip
        levels[label] = LEVELS.get(value)
    from emoaudit.taxonomy import output_label

    face = Face(pred=top_label(levels))
    face.extra = {f"likelihood_{output_label(k)}": v for k, v in levels.items()}
    vertices = (annotation.get("boundingPoly") or {}).get("vertices")
    if isinstance(vertices, list) and vertices:
        xs = [number(v.get("x", 0)) or 0.0 for v in vertices if isinstance(v, dict)]
        ys = [number(v.get("y", 0)) or 0.0 for v in vertices if isinstance(v, dict)]
        if xs and ys:
            face.box = (min(xs), min(ys), max(xs), max(ys))
    return face
