#!/usr/bin/env bash
# Set up the virtualenv if needed and run the main job: the examples, served with an
# embedded default configuration (`dsm serve`), or with an argument a simulated call.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
fi
.venv/bin/python -m pip install -q -e . >/dev/null
exec .venv/bin/dsm run "${1:-examples/pin}"
