#!/usr/bin/env bash
# Fresh machine -> a finished demo report: venv, dependencies, model zoo, then `emoaudit demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[demo]'
.venv/bin/emoaudit models build
.venv/bin/emoaudit demo "$@"
