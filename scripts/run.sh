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
# (re)install when the venv is new or the project's build inputs changed since the last install:
# the install compiles the media path with mypyc (about a minute), so it is not repeated per start
stamp=.venv/.dsm-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
    || [ -n "$(find runtime/sip runtime/media runtime/native_modules.py -name '*.py' -newer "$stamp" 2>/dev/null)" ]; then
    .venv/bin/python -m pip install -q -e . >/dev/null 2>&1 || .venv/bin/python -m pip install -e .
    touch "$stamp"
fi
case " $* " in
    *" --sip "* | *" --sip="*) ;;
    *) set -- --sip 127.0.0.1:5070 "$@" ;;
esac
exec .venv/bin/dsm serve "$@"
