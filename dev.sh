#!/usr/bin/env bash
# The two commands of the README. Each one first sets everything up: a virtual
# environment in .venv, the package with its native kernels, its dependencies.
#
#   bash dev.sh train   # the main job: the walkthrough, digits, the napkin table
#   bash dev.sh test    # the whole test suite on every backend this machine can run, the
#                       # docs built strictly, and every install path smoke-tested
#   bash dev.sh docs    # the documentation into site/ (`bash dev.sh docs serve`: live preview)
#
# Setup is skipped when nothing it depends on changed since the last run.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=.venv
PY="$VENV/bin/python"
took() { echo "   ($((SECONDS - step_start)) s)"; step_start=$SECONDS; }  # each step's wall time
step_start=$SECONDS

setup() {  # one environment for both commands: the package, its native kernels, every extra
    if [ ! -x "$PY" ]; then
        echo "== creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp
    stamp="$(cat pyproject.toml setup.py kernels/*.pyx kernels/*.pxd kernels/*.pxi kernels/*.h 2>/dev/null | sha1sum | cut -c1-16)"
    if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]; then
        echo "== installing tinygrad_nm and its dependencies (builds the native kernels; a few minutes)"
        "$PY" -m pip install -q --upgrade pip
        "$PY" -m pip install -q -e ".[test]"
        echo "$stamp" > "$VENV/.installed"
    fi
}

case "${1:-}" in
    train)
        setup
        shift
        echo "== 1/3 the walkthrough's programs 1-8 (scalar loops, then matrices)"
        "$PY" -m tinygrad_nm.examples.walkthrough
        echo "== 2/3 its next step: handwritten digits with an MLP"
        "$VENV/bin/tinygrad-nm" train --task digits "$@"
        echo "== 3/3 napkin math: predicted vs measured kernel times on every backend here"
        "$VENV/bin/tinygrad-nm" bench --quick
        ;;
    test)
        setup
        took
        shift
        backends=$("$PY" -c 'import tinygrad_nm as t; print(",".join(t.available_backends()))')
        # The two suites run side by side (each is one Python process, mostly on one core); the
        # simulator's output is shown when both are done. -k: the backend-agnostic tests that take
        # no `backend` run in the first; slow ones (long training runs) would take minutes of
        # simulated threads.
        echo "== 1/4 the test suite on every backend here: $backends (and the walkthrough notebook, executed);"
        echo "        alongside it, the same suite on numba_cuda in Numba's CUDA simulator (no GPU needed)"
        sim_dir=$(mktemp -d) sim=""
        trap 'kill "$sim" 2>/dev/null || true; rm -rf "$sim_dir"' EXIT
        NUMBA_ENABLE_CUDASIM=1 TINYGRAD_NM_TEST_BACKENDS=numba_cuda "$PY" -m pytest tests -k numba_cuda \
            -m "not slow" --basetemp="$sim_dir/tmp" "$@" > "$sim_dir/log" 2>&1 &
        sim=$!
        main_rc=0 sim_rc=0
        "$PY" -m pytest tests "$@" || main_rc=$?
        wait "$sim" || sim_rc=$?
        echo "== the numba_cuda suite in the CUDA simulator:"
        cat "$sim_dir/log"
        [ "$main_rc" = 0 ] && [ "$sim_rc" = 0 ] || { echo "FAILED: the suite (exit $main_rc), the simulator's (exit $sim_rc)"; exit 1; }
        took
        echo "== 2/4 the benchmark suite, quick, each benchmark run once untimed (keeps it working)"
        "$PY" -m pytest bench --quick --benchmark-disable -q
        took
        echo "== 3/4 the documentation, strict: a warning (a broken docstring reference) fails the build"
        site=$(mktemp -d)
        "$VENV/bin/mkdocs" build --strict --quiet --site-dir "$site"
        rm -rf "$site"
        echo "PASS docs: mkdocs build --strict"
        took
        echo "== 4/4 install paths: wheel, sdist, pip install ., editable, no C compiler; each in a fresh venv"
        bash .ci/install_paths.sh
        took
        echo "== all passed in $SECONDS s"
        ;;
    docs)
        setup
        if [ "${2:-}" = serve ]; then exec "$VENV/bin/mkdocs" serve; fi
        "$VENV/bin/mkdocs" build --strict
        echo "documentation: site/index.html"
        ;;
    *)
        echo "usage: bash dev.sh train [train args...] | bash dev.sh test [pytest args...] | bash dev.sh docs [serve]" >&2
        exit 2
        ;;
esac
