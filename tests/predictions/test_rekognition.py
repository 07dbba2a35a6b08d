"""AWS Rekognition DetectFaces responses (shape from the DetectFaces API reference)."""

from __future__ import annotations

import json

import pytest

from emoaudit.predictions import rekognition
from emoaudit.predictions.base import Problem, Record


def _response(*faces: dict) -> dict:
    return {"FaceDetails": list(faces), "ResponseMetadata": {"HTTPStatusCode": 200}}


def _face(emotions: dict[str, float], box=(0.1, 0.2, 0.3, 0.4)) -> dict:
    left, top, width, height = box
    return {
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "Emotions": [{"Type": t, "Confidence": c} for t, c in emotions.items()],
        "Confidence": 99.9,
    }


def test_folder_of_responses_one_per_image(examples):
    records = list(rekognition.read(examples / "rekognition"))
    assert [r.key for r in records] == ["happy/01.jpg", "sad/02.jpg"]
    happy = records[0].faces[0]
    assert happy.scores["HAPPY"] == pytest.approx(0.968) and happy.scores["CALM"] == 0.012
    assert happy.box == pytest.approx((0.3, 0.2, 0.7, 0.75)) and happy.box_units == "ratio"
    assert len(records[1].faces) == 2


def test_jsonl_with_inline_or_nested_response_and_no_face(examples):
    records = list(rekognition.read(examples / "rekognition.jsonl"))
    assert [r.key for r in records] == ["happy/01.jpg", "sad/02.jpg", "neutral/03.jpg"]
    assert records[1].faces[0].scores == pytest.approx({"CALM": 0.715, "SAD": 0.229})
    assert records[2].faces == []  # DetectFaces found no face


def test_malformed_responses_are_problems_with_their_line(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [
        {"image": "a.jpg", **_response(_face({"HAPPY": 90.0}))},
        {"image": "b.jpg", **_response({"BoundingBox": {}, "Confidence": 99.0})},  # no Emotions
        {"image": "c.jpg", "Faces": []},
        {"FaceDetails": []},  # no key
        {"image": "e.jpg", **_response(_face({"HAPPY": "high"}))},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    items = list(rekognition.read(path))
    assert isinstance(items[0], Record)
    assert [type(i) for i in items[1:]] == [Problem] * 4
    assert items[1].message == rekognition.NO_EMOTIONS.format(where=f"{path}:2", index=0)
    assert items[2].message == rekognition.NO_FACE_DETAILS.format(where=f"{path}:3")
    assert items[3].message.startswith(f"{path}:4: no sample key")
    assert items[4].message.startswith(f"{path}:5: score for 'HAPPY' is not a number")


def test_every_rekognition_type_has_a_canonical_name_or_stays_itself():
    from emoaudit.taxonomy import canonical, output_label

    names = {t: output_label(t) for t in rekognition.LABELS}
    assert names == {
        "HAPPY": "happy", "SAD": "sad", "ANGRY": "anger", "CONFUSED": "confused",
        "DISGUSTED": "disgust", "SURPRISED": "surprise", "CALM": "calm", "UNKNOWN": "unknown",
        "FEAR": "fear",
    }  # fmt: skip
    assert canonical("CALM") is None  # never merged into neutral


def test_an_infinite_confidence_is_a_bad_output(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"image": "a.jpg", "FaceDetails": [{"Emotions": [{"Type": "HAPPY", '
                    '"Confidence": Infinity}]}]}\n')  # fmt: skip
    [record] = rekognition.read(path)
    assert record.bad == f"{path}:1: score for 'HAPPY' is inf" and record.faces == []
