#!/usr/bin/env bash
# The two commands of the README. Each one first sets everything up: a virtual
# environment in .venv, the package with its native kernels, its dependencies.
#
#   bash dev.sh train   # the main job: train the walkthrough's networks, show the napkin table
#   bash dev.sh test    # the whole test suite, every backend this machine can run
#
# Setup is skipped when nothing it depends on changed since the last run.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=.venv
PY="$VENV/bin/python"

setup() {  # $1: the pip extras to install
    if [ ! -x "$PY" ]; then
        echo "== creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp
    stamp="$1-$(cat pyproject.toml setup.py kernels/*.pyx kernels/*.pxd 2>/dev/null | sha1sum | cut -c1-16)"
    if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]; then
        echo "== installing tinygrad_nm[$1] (builds the native kernels)"
        "$PY" -m pip install -q --upgrade pip
        "$PY" -m pip install -q -e ".[$1]"
        echo "$stamp" > "$VENV/.installed"
    fi
}

case "${1:-}" in
    train)
        setup digits
        shift
        "$PY" -m tinygrad_nm.examples.walkthrough "$@"
        ;;
    test)
        setup test
        shift
        echo "== test suite on: $("$PY" -c 'import tinygrad_nm as t; print(", ".join(t.available_backends()))')"
        "$PY" -m pytest tests "$@"
        ;;
    *)
        echo "usage: bash dev.sh train|test [args...]" >&2
        exit 2
        ;;
esac
