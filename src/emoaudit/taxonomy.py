"""Canonical expression labels and explicit mappings from each dataset's and model's vocabulary.

Every label set is mapped by name, never by position, because sorted folder order and csv code
order disagree across datasets (FER2013 folders sort `angry, disgust, fear, happy, neutral, ...`
while its csv codes put neutral last). A raw label that has no canonical counterpart (FER+
`unknown`, AffectNet `none`) maps to ``None`` and is kept with ``status=unmapped_label``.
"""

from __future__ import annotations

CANONICAL: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)

# Spelling variants seen in datasets and model cards, all folded to a canonical name.
SYNONYMS: dict[str, str] = {
    "neutral": "neutral",
    "ne": "neutral",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "ha": "happy",
    "sad": "sad",
    "sadness": "sad",
    "sorrow": "sad",  # Google Cloud Vision sorrowLikelihood
    "sa": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "fe": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "anger": "anger",
    "angry": "anger",
    "an": "anger",
    "contempt": "contempt",
    "contemptuous": "contempt",
}

# Raw labels that are real dataset values but are not expressions; kept, never dropped.
NON_EXPRESSION: frozenset[str] = frozenset(
    {"unknown", "nf", "none", "uncertain", "no-face", "noface", "not_face", "other"}
)


# Labels that vendor systems emit with no canonical counterpart: AWS Rekognition CALM and
# CONFUSED, "unknown" from several, and the values emoaudit gives an ordinal-only output with no
# clear top label (Google Cloud Vision, predictions/google_vision.py). A prediction with one of
# these is kept as that value (counted wrong against any label), never folded into neutral.
NON_CANONICAL_OUTPUTS: frozenset[str] = frozenset(
    {"calm", "confused", "unknown", "none", "ambiguous"}
)


def output_label(raw: str) -> str:
    """A model output label as stored in `pred`: its canonical name, else the lower-cased raw
    name (calm, confused, ...), so it stays visible as its own value instead of merging."""
    return canonical(raw) or raw.strip().lower()


def canonical(raw: str) -> str | None:
    """Map a raw label name to its canonical name, or None when it has no counterpart."""
    return SYNONYMS.get(raw.strip().lower())


def is_known_raw_label(raw: str) -> bool:
    """True for an expression synonym or a recognised non-expression value (unknown, none...)."""
    key = raw.strip().lower()
    return key in SYNONYMS or key in NON_EXPRESSION


def canonical_order(labels: list[str] | tuple[str, ...]) -> list[str]:
    """Sort canonical labels in CANONICAL order (stable column order in tables and reports);
    non-canonical output values (imported `calm`, `confused`) follow, alphabetically."""
    n = len(CANONICAL)
    return sorted(set(labels), key=lambda x: (CANONICAL.index(x), "") if x in CANONICAL else (n, x))


# Vote categories beside the expressions (FER+: "unknown" and "NF", not a face).
VOTE_OTHERS = ("unknown", "nf")


def vote_category(name: str) -> str | None:
    """The vote key for a vote column's suffix: a canonical expression (``happiness`` ->
    ``happy``, as FER+ names its columns), ``unknown`` or ``nf``; None when it is neither, so a
    caller refuses the column instead of silently treating it as a category of its own."""
    key = name.strip().lower()
    return canonical(key) or (key if key in VOTE_OTHERS else None)
