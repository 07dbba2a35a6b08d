"""`emoaudit demo`: the whole pipeline on public-domain photos that ship inside Python packages.

It exists so a new user sees a complete report minutes after set-up, with nothing downloaded but
registry packages. A handful of photos proves nothing about any model, and the report says so at
the top; the labels are the emoaudit authors' reading of each photo's displayed expression,
recorded as such in the manifest.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emoaudit.errors import EmoauditError

DEMO_NEEDS = (
    "the demo needs scikit-image and matplotlib (their photos): pip install 'emoaudit[demo]'"
)
NO_MODELS = "no built-in model is built; run `emoaudit models build` first"
# The demo photos show no flagged expression, so sensitivity cannot be measured on them: the demo
# grants a vendor-style claim of 90% and assumes 5% of ordinary people show anger, disgust or fear
# at a given moment; the false-flag side is measured. Both assumptions are printed in the report.
DEMO_FLAG = {
    "flag": ["anger", "disgust", "fear"],
    "base_rate": 1e-4,
    "population": 1_000_000,
    "assume_sensitivity": 0.9,
    "display_rate": 0.05,
}

# (file name, source, displayed expression as read by the emoaudit authors, description)
PHOTOS = (
    ("astronaut.png", "skimage.data.astronaut", "happy", "Eileen Collins, NASA portrait"),
    ("grace_hopper.jpg", "matplotlib sample_data", "neutral", "Grace Hopper, US Navy portrait"),
    ("cameraman.png", "skimage.data.camera", "neutral", "a photographer with a camera"),
)


def _photo(source: str):
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EmoauditError(DEMO_NEEDS) from exc
    if source == "skimage.data.astronaut":
        return data.astronaut()
    if source == "skimage.data.camera":
        return data.camera()
    import matplotlib.cbook
    import numpy as np
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def write_demo_manifest(folder: Path) -> Path:
    """Write the photos and a manifest (path,label) into `folder`; return the manifest.

    No other column: every extra manifest column is a grouping, and one photo per group would be
    a per-person result.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, source, label, _description in PHOTOS:
        path = folder / name
        if not path.exists():
            Image.fromarray(_photo(source)).save(path)
        rows.append({"path": name, "label": label})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return manifest


CLOSING = (
    "This was a demonstration on three photos, not evidence about any model. Audit real data "
    "with e.g.: emoaudit audit fer2013.csv --model fer-mini-xception --out out/"
)
ACTIVATE = "In a new shell, activate the environment first: source {activate}"


def closing_hint(prefix: str | None = None, base_prefix: str | None = None) -> str:
    """The demo's last words: what to run next, and how to make `emoaudit` found in a new
    shell (set-up installs it into a virtual environment that a new shell has not activated)."""
    import sys

    prefix = prefix or sys.prefix
    base_prefix = base_prefix or sys.base_prefix
    if prefix == base_prefix:
        return CLOSING
    activate = Path(prefix) / ("Scripts/activate" if sys.platform == "win32" else "bin/activate")
    return f"{CLOSING}\n{ACTIVATE.format(activate=activate)}"


def built_models() -> list[str]:
    from emoaudit.models.zoo import available

    names = ("fer-mini-xception", "human-emotion", "faceapi-expression")
    status = available()
    return [n for n in names if n in status and status[n].state == "built"]


def run_demo(
    out: Path,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    on_start: Callable[[str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Audit the demo photos with every built model under the standard conditions."""
    from emoaudit.analysis.results import add_flagging_request
    from emoaudit.run.audit import AuditRequest, run_audit

    models = built_models()
    if not models:
        raise EmoauditError(NO_MODELS)
    manifest = write_demo_manifest(out / "photos")
    req = AuditRequest(
        data=manifest,
        out=out,
        models=models,
        fmt="manifest",
        conditions="standard",
        seed=seed,
        n_resamples=n_resamples,
        provenance_extra={"demo": True, "photos": [p[1] for p in PHOTOS]},
    )
    for model in models:
        add_flagging_request(out, {**DEMO_FLAG, "model": model})
    return run_audit(req, on_start=on_start, on_progress=on_progress, on_stage=on_stage)
