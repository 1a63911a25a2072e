#!/usr/bin/env bash
# Set up the virtualenv if needed and run the main job: serve the examples on loopback with
# the embedded default configuration — SIP on 127.0.0.1:5070, control endpoint 127.0.0.1:5040.
# Arguments go to `dsm serve`; SIP stays on 127.0.0.1:5070 unless they give --sip
# (e.g. `bash scripts/run.sh --watch`, `bash scripts/run.sh --sip 127.0.0.1:5080`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
fi
.venv/bin/python -m pip install -q -e . >/dev/null 2>&1 || .venv/bin/python -m pip install -e .
case " $* " in
    *" --sip "* | *" --sip="*) ;;
    *) set -- --sip 127.0.0.1:5070 "$@" ;;
esac
exec .venv/bin/dsm serve "$@"
