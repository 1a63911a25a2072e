#!/usr/bin/env bash
# Set up the virtualenv if needed and run the main job: serve the examples on loopback
# with the embedded default configuration (`dsm serve`; control endpoint 127.0.0.1:5040).
# Extra arguments go to `dsm serve` (e.g. --watch, --control 127.0.0.1:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
fi
.venv/bin/python -m pip install -q -e . >/dev/null 2>&1 || .venv/bin/python -m pip install -e .
exec .venv/bin/dsm serve "$@"
