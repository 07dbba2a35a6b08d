"""The fixed set of face crops that the JavaScript references and emoaudit's tests both run.

Crops come from two public-domain photos that ship with scikit-image (astronaut, Eileen Collins)
and matplotlib (grace_hopper.jpg), at fixed boxes (found once with OpenCV's frontal-face Haar
cascade and then written down, so the inputs do not depend on the cascade's version), plus
deterministic variants: off-square crops (to exercise face-api's pad-to-square on both axes and
an odd padding split), flips, a darker copy, gray, a small crop that gets upscaled, a background
patch and two synthetic images. Nothing random except a seeded generator.

Used two ways:
  python tools/js_reference/reference_inputs.py OUT_DIR   writes OUT_DIR/index.json + raw RGB
                                                          uint8 files for reference.js (the
                                                          crops, and the two whole photos for
                                                          the BlazeFace reference)
  tests/models/test_js_reference.py imports reference_inputs() to rebuild the same arrays.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

# (x, y, w, h) from cv2 haarcascade_frontalface_default, scaleFactor 1.1, minNeighbors 5.
FACE_BOXES = {"astronaut": (177, 66, 95, 95), "grace_hopper": (155, 105, 222, 222)}


def load_photo(name: str) -> np.ndarray:
    """RGB uint8 of one of the two bundled public-domain photos."""
    if name == "astronaut":
        import skimage.data

        return np.ascontiguousarray(skimage.data.astronaut()[:, :, :3])
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
            return np.asarray(img.convert("RGB")).copy()
    raise ValueError(f"unknown photo '{name}' (known: astronaut, grace_hopper)")


def _crop(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)])


def _variants(name: str, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    x, y, w, h = FACE_BOXES[name]
    m = w // 5
    face = _crop(image, x - m, y - m, x + w + m, y + h + m)
    gray = np.round(face @ np.array([0.299, 0.587, 0.114])).clip(0, 255).astype(np.uint8)
    return [
        (f"{name}/face", face),
        (f"{name}/tight", _crop(image, x, y, x + w, y + h)),
        (f"{name}/tall", _crop(image, x - m, y - 2 * m, x + w + m, y + h + 3 * m)),
        (f"{name}/wide_odd", _crop(image, x - 2 * m - 1, y - m, x + w + 3 * m, y + h + m)),
        (f"{name}/mirror", np.ascontiguousarray(face[:, ::-1])),
        (f"{name}/dark", (face.astype(np.float64) * 0.55).round().astype(np.uint8)),
        (f"{name}/gray", np.repeat(gray[:, :, None], 3, axis=2)),
        (f"{name}/small", np.ascontiguousarray(face[::4, ::4])),
    ]


def reference_inputs() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8 HxWx3) pairs, always the same arrays in the same order."""
    items: list[tuple[str, np.ndarray]] = []
    for name in ("astronaut", "grace_hopper"):
        items += _variants(name, load_photo(name))
    astronaut = load_photo("astronaut")
    items.append(("astronaut/background", _crop(astronaut, 360, 300, 480, 400)))
    rng = np.random.default_rng(20240611)
    items.append(("synthetic/noise", rng.integers(0, 256, size=(90, 70, 3), dtype=np.uint8)))
    items.append(("synthetic/gray128", np.full((64, 64, 3), 128, dtype=np.uint8)))
    return items


def reference_photos() -> list[tuple[str, np.ndarray]]:
    """The two whole photos, for the BlazeFace reference (the detector sees whole images)."""
    return [(name, load_photo(name)) for name in ("astronaut", "grace_hopper")]


def inputs_digest(items: list[tuple[str, np.ndarray]]) -> str:
    """sha256 over names, shapes and pixels: the JSON records it so tests notice drifted inputs."""
    digest = hashlib.sha256()
    for name, arr in items:
        digest.update(f"{name}:{arr.shape}".encode())
        digest.update(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def write_inputs(out_dir: Path) -> None:
    """Raw row-major RGB uint8 files plus index.json, the format reference.js reads."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index: dict = {}
    for key, prefix, items in (
        ("inputs", "", reference_inputs()),
        ("photos", "photo_", reference_photos()),
    ):
        index["digest" if key == "inputs" else "photos_digest"] = inputs_digest(items)
        index[key] = []
        for i, (name, arr) in enumerate(items):
            file = f"{prefix}{i:02d}.rgb"
            (out_dir / file).write_bytes(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
            index[key].append(
                {"name": name, "file": file, "height": arr.shape[0], "width": arr.shape[1]}
            )
    (out_dir / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/js_reference/reference_inputs.py OUT_DIR")
    write_inputs(Path(sys.argv[1]))
