"""Fixtures for imported predictions: a four-image class-folder dataset matching the sample
files in docs/examples/predictions/ (whose shapes follow each vendor's public response docs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples" / "predictions"
IMAGES = ("happy/01.jpg", "sad/02.jpg", "neutral/03.jpg", "anger/04.jpg")


@pytest.fixture
def dataset(tmp_path) -> Path:
    """happy/01.jpg, sad/02.jpg, neutral/03.jpg, anger/04.jpg: 100x100 seeded noise images."""
    from PIL import Image

    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for name in IMAGES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(root / name)
    return root


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
