"""Photos and a built BlazeFace for the detector tests; boxes live in face_boxes.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


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
