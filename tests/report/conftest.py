"""Session fixtures: results built once through the real analysis (see report_fixtures)."""

from __future__ import annotations

import pytest
from report_fixtures import make_predictions, make_results


@pytest.fixture(scope="session")
def results() -> dict:
    return make_results(make_predictions())


@pytest.fixture(scope="session")
def evil_results() -> dict:
    return make_results(make_predictions(evil=True))
