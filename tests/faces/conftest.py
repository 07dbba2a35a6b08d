"""Real public-domain photos and the measured face regions the detectors are checked against.

Hand-measured face boxes (x0, y0, x1, y1), cheek to cheek and hairline/hat brim to chin, read off
a 10 px grid drawn over each photo:
- skimage.data.astronaut() (512x512): (180, 75, 265, 178)
- matplotlib grace_hopper.jpg (512 wide, 600 high): (170, 140, 355, 330)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emoaudit.faces.base import Box

ASTRONAUT_FACE = Box(180, 75, 265, 178)
GRACE_FACE = Box(170, 140, 355, 330)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


def scaled(box: Box, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Box:
    return Box(box.x0 * sx + dx, box.y0 * sy + dy, box.x1 * sx + dx, box.y1 * sy + dy)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.astronaut())


@pytest.fixture(scope="session")
def grace() -> np.ndarray:
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="session")
def blazeface_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zoo's BlazeFace ONNX: the built one if present, else built into a temporary home."""
    zoo = pytest.importorskip("emoaudit.models.zoo", reason="model zoo module not available")
    from emoaudit.errors import ModelError

    try:
        return Path(zoo.model_path("blazeface"))
    except ModelError:
        pass
    mp = pytest.MonkeyPatch()
    mp.setenv("EMOAUDIT_HOME", str(tmp_path_factory.mktemp("emoaudit_home")))
    try:
        result = zoo.build(["blazeface"], log=lambda _msg: None)["blazeface"]
        if result.status == "unavailable":
            pytest.skip(f"blazeface cannot be built here: {result.reason}")
        assert result.status in ("built", "reused"), result.reason
        return Path(zoo.model_path("blazeface"))
    finally:
        mp.undo()
