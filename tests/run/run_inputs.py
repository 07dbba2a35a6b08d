"""Inputs for runner tests: a FER2013 csv of real face pixels and a folder of real photos.

Pixels come from the public-domain photos shipped by scikit-image (astronaut) and matplotlib
(Grace Hopper), so the models see faces, not noise; accuracy on them proves nothing and no test
asserts it. What is asserted is accounting, caching and resume behaviour.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return {"astronaut": data.astronaut(), "hopper": hopper}


def face_rows(n: int, *, seed: int = 0) -> list[list[str]]:
    """`n` FER2013 rows: jittered 48x48 gray crops of the astronaut's face, labels cycling."""
    import cv2

    gray = cv2.cvtColor(photos()["astronaut"], cv2.COLOR_RGB2GRAY)
    rng = np.random.default_rng(seed)
    rows = []
    usages = ("Training", "PublicTest", "PrivateTest")
    for i in range(n):
        dx, dy = rng.integers(-12, 12, 2)
        crop = gray[60 + 12 + dy : 190 + dy, 165 + 12 + dx : 290 + dx]
        face = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
        face = np.clip(face.astype(int) + int(rng.integers(-30, 30)), 0, 255)
        rows.append([str(i % 7), " ".join(map(str, face.ravel())), usages[i % 3]])
    return rows


def write_fer_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(rows)
    return path
