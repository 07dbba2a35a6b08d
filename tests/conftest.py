"""Session fixtures shared across the test suite.

`zoo_home` builds the model zoo once per session into a temporary EMOAUDIT_HOME, so tests never
read or write the user's cache. Pinned artifacts already downloaded in the user's cache (or in
$EMOAUDIT_HOME) are copied in first, which keeps the build at a few seconds; their sha256 is
checked again by the zoo, so a copied file cannot make a test pass that a fresh download would fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def _cached_artifact_dirs() -> list[Path]:
    import platformdirs

    dirs = [Path(platformdirs.user_cache_dir("emoaudit")) / "artifacts"]
    if os.environ.get("EMOAUDIT_HOME"):
        dirs.insert(0, Path(os.environ["EMOAUDIT_HOME"]) / "artifacts")
    return [d for d in dirs if d.is_dir()]


@pytest.fixture(scope="session")
def zoo_home(tmp_path_factory) -> Path:
    """An EMOAUDIT_HOME with every buildable built-in model; EMOAUDIT_HOME points at it."""
    from emoaudit.models import zoo

    home = tmp_path_factory.mktemp("emoaudit_home")
    (home / "artifacts").mkdir()
    for art in zoo.ARTIFACTS.values():
        for folder in _cached_artifact_dirs():
            src = folder / art.filename
            if src.is_file() and not (home / "artifacts" / art.filename).exists():
                shutil.copyfile(src, home / "artifacts" / art.filename)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOAUDIT_HOME", str(home))
        results = zoo.build(log=lambda msg: None)
        failed = {n: r.reason for n, r in results.items() if r.status == "failed"}
        if failed:
            pytest.fail(f"zoo build failed: {failed}")
        yield home


@pytest.fixture(scope="session")
def built(zoo_home):
    """Skip a test whose model could not be built here (npm missing), with the zoo's reason."""
    from emoaudit.models import zoo

    def need(name: str) -> Path:
        status = zoo.available()[name]
        if status.state != "built":
            pytest.skip(f"{name}: {status}")
        return zoo.model_path(name)

    return need
