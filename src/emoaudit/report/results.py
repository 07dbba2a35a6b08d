"""results.json: the analysis of a predictions table, wrapped with full provenance.

Provenance is recorded once at the top (artifact sha256s, dataset digest, package versions,
command line) so that anyone holding the file can tell exactly what produced each number.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from emoaudit.run.cache import write_text_atomic

SCHEMA_VERSION = "1.0"
RESULTS = "results.json"
RUN_INFO = "run.json"
PACKAGES = (
    "emoaudit",
    "numpy",
    "scipy",
    "onnxruntime",
    "onnx",
    "pyarrow",
    "scikit-learn",
    "pandas",
)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(run_info: dict[str, Any]) -> dict[str, Any]:
    """Run facts (from the runner) plus the environment that computes the results now."""
    return {
        **run_info,
        "analysed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "analysis_command": " ".join(["emoaudit", *sys.argv[1:]]),
        "packages": package_versions(),
        "platform": platform.platform(),
    }


def load_predictions(out_dir: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(out_dir / "predictions.parquet").to_pandas()


def build_results(
    out_dir: Path,
    *,
    groups: list[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_group_n: int = 30,
) -> dict[str, Any]:
    """Recompute results.json from OUT/predictions.parquet alone (no model is run)."""
    from emoaudit.analysis.summary import analyze

    df = load_predictions(out_dir)
    run_info_path = out_dir / RUN_INFO
    run_info = json.loads(run_info_path.read_text()) if run_info_path.exists() else {}
    analysis = analyze(
        df,
        groups=groups,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        min_group_n=min_group_n,
    )
    results = {
        "schema_version": SCHEMA_VERSION,
        "provenance": provenance(run_info),
        **analysis,
    }
    write_text_atomic(out_dir / RESULTS, json.dumps(results, indent=2, allow_nan=False))
    return results
