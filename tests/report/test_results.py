"""build_results: recomputed from predictions alone, quietly."""

from __future__ import annotations

import warnings

from report_fixtures import make_predictions

from emoaudit.analysis.results import build_results


def test_empty_bootstrap_slices_do_not_leak_numpy_warnings(tmp_path):
    # 80 samples over three genders leave some calm-face cells empty: all-NaN bootstrap slices
    make_predictions(seed=0, n=80).to_parquet(tmp_path / "predictions.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        results = build_results(tmp_path, n_resamples=20, seed=0)
    assert results["results"]
    assert (tmp_path / "results.json").exists()
