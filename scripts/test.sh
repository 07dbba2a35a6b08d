#!/usr/bin/env bash
# Fresh machine -> the full test suite: venv, test dependencies, model zoo, lint, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/emoaudit models build
.venv/bin/ruff check src tests benchmarks tools
.venv/bin/python -m pytest -q "$@"
