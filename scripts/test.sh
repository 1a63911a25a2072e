#!/usr/bin/env bash
# Install everything the test suite needs and run it.
#
# - Debian packages (sipp, MariaDB, Redis, Kamailio, Graphviz, sox) when missing and running as root;
# - a virtualenv in .venv with the project and its test extras (the media path compiled by
#   mypyc when gcc and the Python headers are there: about a minute; DSM_NATIVE_BUILD=0 skips it);
# - then lint (ruff), type check (mypy) and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || need_apt+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
{ command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ]; } || need_apt+=(kamailio)
# a C compiler and the Python headers: setup.py compiles the media path with mypyc (pure Python without)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
PY=${PYTHON:-python3}
"$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    2>/dev/null || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian packages: ${need_apt[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "warning: missing system packages (${need_apt[*]}); run as root to install them" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,bench]'

.venv/bin/ruff check .
.venv/bin/python scripts/typecheck.py
exec .venv/bin/python -m pytest "$@"
