#!/usr/bin/env bash
# Every way a user installs tinygrad_nm, each into a fresh virtual environment, each followed by
# .ci/smoke_install.py (import, forward and backward on every available backend, the cython
# backend there or saying why not, `tinygrad-nm --version`, `python -m tinygrad_nm --help`; for
# the wheel also `tinygrad-nm bench` on the cases shipped in the package):
#
#   wheel        the wheel `python -m build --wheel` makes from the unpacked sdist (what plain
#                `python -m build` does)
#   sdist        `pip install tinygrad_nm-X.tar.gz`, compiled from the sdist alone
#   pip .        `pip install .` in this tree
#   editable     `pip install -e` of the unpacked sdist
#   no compiler  the sdist with CC=no-such-gcc, then CC=/bin/false: pure Python, the build says a
#                compiler was not found, cython reports itself unavailable and why
#
# To stay quick: the paths run in three lanes at once and share one compiler cache (below), so
# the kernels compile about once per build environment, not once per path; `python -m build`
# runs isolated (so pyproject's build requirements are checked), the other builds use .venv's
# setuptools and Cython (--no-build-isolation); the package installs with --no-deps and its
# dependencies (NumPy, tqdm, matplotlib, ...) come from the project's .venv through a .pth file,
# so no venv downloads or installs them again.
# Prints PASS or FAIL per path; exits 1 if any failed.
#
#   bash .ci/install_paths.sh            (dev.sh test runs it; needs .venv set up by dev.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tinygrad_nm-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DEPS=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
failed=0

pass() { echo "PASS install path: $1 -- $2"; }
fail() { echo "FAIL install path: $1 -- $2"; failed=1; }

fresh_venv() {  # a new venv without pip (the .venv's pip installs into it) that sees .venv's packages
    "$PY" -m venv --without-pip "$WORK/$1"
    local site
    site=$("$WORK/$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$DEPS" > "$site/_tinygrad_nm_ci_deps.pth"
}

pip_into() {  # pip_into VENV ARGS...: install into the venv; the build's output goes to VENV.log
    local venv=$1; shift
    "$PY" -m pip --python "$WORK/$venv/bin/python" install --no-deps --no-input -v "$@" > "$WORK/$venv.log" 2>&1
}

smoke() {  # smoke VENV ARGS...: the smoke test, run from outside the tree
    (cd "$WORK" && "$WORK/$1/bin/python" "$REPO/.ci/smoke_install.py" "${@:2}") 2>&1
}

# the native modules a build must carry: one per instruction set of this architecture (setup.py)
ISAS=$("$PY" -c 'import platform; print("baseline,avx2,avx512" if platform.machine().lower() in ("x86_64", "amd64") else "baseline")')

# Every path that compiles goes through one compiler cache (.ci/cc_cache.py): an object is compiled
# once for all the builds that give the compiler the same flags and the same preprocessed source,
# and a build that wants an object another is compiling waits for it. The no-compiler paths set
# CC themselves.
export TNM_REAL_CC=${CC:-$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("CC") or "cc")')}
export TNM_CC_CACHE=$WORK/cc-cache
export CC="$PY $REPO/.ci/cc_cache.py"

check() {  # check NAME VENV SMOKE_ARGS... after an install that succeeded
    local out
    if out=$(smoke "${@:2}"); then pass "$1" "$out"; else fail "$1" "$out"; fi
}

echo "-- building the sdist (python -m build --sdist), then every path from it or from this tree"
if ! "$PY" -m build --sdist --outdir "$WORK/dist" . > "$WORK/build.log" 2>&1; then
    tail -30 "$WORK/build.log"
    fail "python -m build --sdist" "see the log above"
    exit 1
fi
SDIST=$(ls "$WORK"/dist/*.tar.gz)
# the sdist must carry what building and testing from it needs (setuptools would build without
# a missing .pxd only to fail at the cimport; the tests without their helpers only at import)
missing=""
tar tzf "$SDIST" | sed 's|^[^/]*/||' > "$WORK/sdist.txt"
sources=$(ls kernels/*.pyx kernels/*.pxi kernels/*.pxd kernels/*.h kernels/*.md 2>/dev/null)
for f in $sources tests/conftest.py tests/gradcheck.py README.md LICENSE; do
    grep -qx "$f" "$WORK/sdist.txt" || missing="$missing $f"
done
if [ -n "$missing" ]; then fail "sdist contents" "missing:$missing"; else
    pass "sdist contents" "$(basename "$SDIST") has the $(echo "$sources" | wc -w) kernel sources of kernels/ (.pyx, .pxi, .pxd, .h), tests/conftest.py, tests/gradcheck.py, README"; fi

path_wheel() {
    mkdir -p "$WORK/src-wheel" && tar xzf "$SDIST" -C "$WORK/src-wheel" --strip-components=1
    if ! "$PY" -m build --wheel --outdir "$WORK/dist" "$WORK/src-wheel" > "$WORK/build-wheel.log" 2>&1; then
        tail -30 "$WORK/build-wheel.log"; fail "wheel (python -m build)" "building the wheel failed"; return
    fi
    fresh_venv wheel
    if pip_into wheel "$WORK"/dist/*.whl; then check "wheel (python -m build)" wheel --native "$ISAS" --bench
    else tail -30 "$WORK/wheel.log"; fail "wheel (python -m build)" "pip install failed"; fi
}

path_sdist() {
    fresh_venv sdist
    if pip_into sdist --no-build-isolation "$SDIST"; then check "sdist (pip install $(basename "$SDIST"))" sdist --native "$ISAS"
    else tail -30 "$WORK/sdist.log"; fail "sdist" "pip install failed"; fi
}

path_here() {
    fresh_venv here
    if pip_into here --no-build-isolation "$REPO"; then check "pip install ." here --native "$ISAS"
    else tail -30 "$WORK/here.log"; fail "pip install ." "pip install failed"; fi
}

path_editable() {
    mkdir -p "$WORK/src" && tar xzf "$SDIST" -C "$WORK/src" --strip-components=1
    fresh_venv editable
    if pip_into editable --no-build-isolation -e "$WORK/src"; then
        check "editable (pip install -e)" editable --native "$ISAS" --source "$WORK/src"
    else tail -30 "$WORK/editable.log"; fail "editable" "pip install -e failed"; fi
}

path_no_compiler() {  # path_no_compiler CC
    local cc=$1 venv said
    venv=nocc-$(basename "$cc")
    fresh_venv "$venv"
    if ! CC=$cc pip_into "$venv" --no-build-isolation "$SDIST"; then
        tail -30 "$WORK/$venv.log"; fail "no C compiler (CC=$cc)" "pip install failed"; return
    fi
    said=$(grep -o "tinygrad_nm setup: no [a-z ]*C compiler was found[^.]*" "$WORK/$venv.log" | head -1)
    if [ -z "$said" ]; then
        grep "tinygrad_nm setup" "$WORK/$venv.log"
        fail "no C compiler (CC=$cc)" "the build did not say a compiler was not found"
    else
        check "no C compiler (CC=$cc): the build said '${said#tinygrad_nm setup: }'" "$venv" --native no
    fi
}

# three lanes at once; four builds of the native kernels (wheel, sdist, here, editable), compiled
# about once for the three that build with .venv's Cython and NumPy, once for the isolated wheel
# build unless its Cython and NumPy are the same versions
( path_wheel; path_no_compiler no-such-gcc; exit $failed ) > "$WORK/lane1.out" 2>&1 &
lane1=$!
( path_sdist; path_no_compiler /bin/false; exit $failed ) > "$WORK/lane2.out" 2>&1 &
lane2=$!
( path_here; path_editable; exit $failed ) > "$WORK/lane3.out" 2>&1
lane3=$?
wait $lane1 || failed=1
wait $lane2 || failed=1
[ "$lane3" = 0 ] || failed=1
cat "$WORK/lane1.out" "$WORK/lane2.out" "$WORK/lane3.out"

if [ "$failed" != 0 ]; then echo "install paths: some FAILED (logs above)"; exit 1; fi
echo "install paths: all passed"
