#!/usr/bin/env bash
# Create .venv (if needed) and install the observatory with its test extras, pinned in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "observatory needs Python >= 3.11; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
            "$PYTHON" -m venv "$VENV"
        else
            echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
fi
# Reinstall only when the pins or the compiled sources (setup.py, observatory/**/*.c) changed
# since the last install, or the built extension is missing; pip builds it in place.
stamp="$VENV/.installed-$(cat pyproject.toml setup.py $(find observatory -name '*.c' | sort) | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || ! compgen -G "observatory/sources/_lineproto*.so" >/dev/null \
    || ! compgen -G "observatory/warehouse/_group*.so" >/dev/null; then
    # the C extensions are compiled at install: a C compiler and Python's headers
    include="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    if ! command -v cc >/dev/null 2>&1 || [ ! -f "$include/Python.h" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc libc6-dev python3-dev
        else
            echo "observatory compiles a C extension: install gcc and Python's headers (apt-get install gcc python3-dev)" >&2
            exit 1
        fi
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[${EXTRAS:-test}]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
