"""Fixtures for runner tests; the input generators live in run_inputs.py (importable by name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from run_inputs import face_rows, photos, write_fer_csv


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    """40 good rows plus one short row and one unknown code (both kept as bad_input)."""
    rows = face_rows(40)
    rows.append(["3", "1 2 3", "PrivateTest"])
    rows.append(["9", rows[0][1], "PrivateTest"])
    return write_fer_csv(tmp_path / "fer2013.csv", rows)


@pytest.fixture
def photo_folders(tmp_path) -> Path:
    """Generic class folders with real photos, a blank image, a corrupt file and contempt."""
    from PIL import Image

    root = tmp_path / "photos"
    pics = photos()
    for label, name in (("happy", "astronaut"), ("neutral", "hopper")):
        (root / label).mkdir(parents=True)
        Image.fromarray(pics[name]).save(root / label / f"{name}.jpg", quality=95)
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(root / "neutral" / "blank.png")
    (root / "sad").mkdir()
    (root / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "contempt").mkdir()
    Image.fromarray(pics["hopper"]).save(root / "contempt" / "hopper2.png")
    return root
