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


TINY_LABELS = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def tiny_onnx(
    path: Path, *, weights_file: str | None = None, seed: int = 0, nan: bool = False
) -> Path:
    """An NCHW 3x8x8 -> 7 logits graph (global average pool, then a seeded linear map).

    With `weights_file` the weights are saved as ONNX external data in that file, named
    relative to the model (as onnx.save writes it). `nan`: one weight is NaN, so every output
    row holds NaN (a broken export).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(3, len(TINY_LABELS))).astype(np.float32) * 20
    if nan:
        weights[0, 0] = np.nan
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(TINY_LABELS)])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if weights_file is None:
        onnx.save(model, path)
    else:
        onnx.save(model, path, save_as_external_data=True, location=weights_file,
                  size_threshold=0)  # fmt: skip
    return path


def tiny_spec(path: Path, *, labels: list[str] | None = None, extra: str = "") -> Path:
    """A spec for tiny_onnx: NCHW rgb 8x8, logits in `labels` order (default TINY_LABELS)."""
    names = ", ".join(f'"{name}"' for name in labels or TINY_LABELS)
    path.write_text(
        f'[input]\nheight = 8\nwidth = 8\nlayout = "NCHW"\n{extra}\n'
        f'[output]\nlabels = [{names}]\nkind = "logits"\n'
    )
    return path


def write_manifest(root: Path, n: int, *, attributes: dict[str, list[str]] | None = None) -> Path:
    """`n` gray 48x48 face crops (face_rows pixels) as PNGs and a manifest.csv listing them,
    with one extra column per `attributes` entry (values cycled over the rows)."""
    from PIL import Image

    attributes = attributes or {}
    root.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["path", "label", *attributes])]
    for i, (code, pixels, _) in enumerate(face_rows(n)):
        face = np.asarray([int(v) for v in pixels.split()], dtype=np.uint8).reshape(48, 48)
        Image.fromarray(face).save(root / f"face{i}.png")
        label = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")[int(code)]
        extra = [values[i % len(values)] for values in attributes.values()]
        lines.append(",".join([f"face{i}.png", label, *extra]))
    path = root / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
