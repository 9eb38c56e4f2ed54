"""The cython backend's build: one compiled module per instruction set, the one loaded, what it
exports for napkin, and the backend when nothing is built. (The kernels' results are in
test_cython_kernels.py, once per variant.)"""
import importlib
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import backends
from tinygrad_nm.settings import reload

cy = pytest.importorskip("tinygrad_nm.backends.cython")
if cy.unavailable_reason():
    pytest.skip(f"cython backend not available: {cy.unavailable_reason()}", allow_module_level=True)
_native = cy._native


def variant(isa):
    """The compiled module for `isa`; skips where this CPU cannot run it."""
    if not _native.cpu_supports(isa):
        pytest.skip(f"this CPU does not support {isa}")
    return importlib.import_module(f"tinygrad_nm._native_{isa}")


# --- instruction-set variants ---------------------------------------------------------------------
def test_backend_loads_the_best_variant_this_cpu_runs():
    best = [isa for isa in cy.ISAS if _native.cpu_supports(isa)][-1]
    if os.environ.get(cy.ISA_ENV):  # CI forces each in turn: the cap is the forced one
        best = os.environ[cy.ISA_ENV].strip().lower()
    assert _native.ISA == best == cy.PRICING["isa"]


@pytest.mark.parametrize("isa_name", cy.ISAS)
def test_isa_env_forces_a_variant(isa_name):
    """TINYGRAD_NM_ISA=<isa> in a fresh interpreter: the backend loads that module, and a matmul
    through the Tensor API runs on it."""
    variant(isa_name)
    code = ("import numpy as np, tinygrad_nm as tnm\n"
            "from tinygrad_nm.backends import cython as cy\n"
            "a = np.arange(12.0).reshape(3, 4)\n"
            "out = (tnm.Tensor(a, backend='cython') @ tnm.Tensor(a.T, backend='cython')).numpy()\n"
            "assert np.array_equal(out, a @ a.T)\n"
            "print(cy._native.__name__, cy.PRICING['isa'])\n")
    env = dict(os.environ, TINYGRAD_NM_ISA=isa_name.upper())  # any case
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"tinygrad_nm._native_{isa_name}", isa_name]


def test_isa_env_errors(monkeypatch):
    monkeypatch.setenv(cy.ISA_ENV, "sse9")
    reload()  # settings are read from the environment once
    module, why = cy._load_native()
    assert module is None and "TINYGRAD_NM_ISA='sse9'" in why and "baseline, avx2, avx512" in why

    class OldCpu:  # a baseline module on a CPU with nothing more
        ISA = "baseline"

        @staticmethod
        def cpu_supports(isa):
            return isa == "baseline"

    real_import = importlib.import_module
    monkeypatch.setattr(cy.importlib, "import_module",
                        lambda name: OldCpu if name == "tinygrad_nm._native_baseline" else real_import(name))
    monkeypatch.setenv(cy.ISA_ENV, "avx512")
    reload()
    module, why = cy._load_native()
    assert module is None and "this CPU does not support avx512" in why
    monkeypatch.delenv(cy.ISA_ENV)
    reload()
    assert cy._load_native() == (OldCpu, None)  # nothing forced: the best it runs


# Registers and instructions only a variant may use: AVX-512 (zmm, mask registers k0-k7, vector
# registers 16-31, {1toN} broadcasts) in avx512 only; 256-bit AVX (ymm) in avx2 and avx512; FMA
# in avx2 and avx512.
ZMM = re.compile(r"%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|\{1to")
YMM = re.compile(r"%ymm")
FMA = re.compile(r"\tvfn?m(add|sub)")


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump is not installed")
@pytest.mark.skipif(_native.ISA == "baseline" and not _native.cpu_supports("avx2"), reason="not an x86-64 build")
def test_each_variant_uses_only_its_instructions():
    """Disassemble the built modules: the wheel is safe on an older CPU because only the module
    the backend picks for a CPU contains instructions that CPU lacks."""
    found = {}
    for isa in cy.ISAS:
        spec = importlib.util.find_spec(f"tinygrad_nm._native_{isa}")
        assert spec is not None, f"the {isa} variant is not built"
        asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", spec.origin], capture_output=True,
                             text=True, check=True, timeout=300).stdout
        found[isa] = {name: bool(rx.search(asm)) for name, rx in (("zmm", ZMM), ("ymm", YMM), ("fma", FMA))}
    assert found["baseline"] == {"zmm": False, "ymm": False, "fma": False}, found
    assert found["avx2"] == {"zmm": False, "ymm": True, "fma": True}, found
    assert found["avx512"]["zmm"] and found["avx512"]["fma"], found


def test_pricing_comes_from_the_module():
    blocks = _native.MATMUL_BLOCKS
    assert cy.PRICING["matmul_blocks"] is blocks and cy.PRICING["vector_bytes"] == _native.VECTOR_BYTES
    assert cy.PRICING["parallel"]["matmul"] == (_native.SERIAL_MATMUL, 1)
    for dtype, size in (("float32", 4), ("float64", 8)):
        b = blocks[dtype]
        # NR is two vectors; the blocks follow the caches as tnm_gemm_body.h says
        assert b["NR"] == 2 * _native.VECTOR_BYTES // size or _native.VECTOR_BYTES == 16 and b["NR"] == 8
        assert b["KC"] * b["NR"] * size <= _native.CACHE_BYTES["L1"] * 2 // 3 or b["KC"] == 64
        # NC: the B block in half of L2, but never under 512 columns (A is packed once per column group)
        assert b["KC"] * b["NC"] * size <= _native.CACHE_BYTES["L2"] // 2 or b["NC"] == 512
        assert b["NC"] >= 512
        assert b["MC"] % b["MR"] == 0 and b["NC"] % b["NR"] == 0
        # big products: the A micro-panel in at most half of L1 (avx2; a quarter, as KC, elsewhere)
        assert b["KC_BIG"] >= b["KC"] and b["MC_BIG"] % b["MR"] == 0
        assert b["MR"] * b["KC_BIG"] * size <= _native.CACHE_BYTES["L1"] // 2 or b["KC_BIG"] == 64


def test_matmul_from_several_python_threads(rng):
    """Concurrent callers (the GIL is released): one uses the pool, the others run serially."""
    from concurrent.futures import ThreadPoolExecutor
    pairs = [(rng.standard_normal((200 + i, 300)).astype(np.float32), rng.standard_normal((300, 250)).astype(np.float32))
             for i in range(6)]
    with ThreadPoolExecutor(3) as ex:
        outs = list(ex.map(lambda p: cy.matmul(*p), pairs * 3))
    for (a, b), out in zip(pairs * 3, outs):
        np.testing.assert_array_equal(out, cy.matmul(a, b))


# --- the backend when the extension is not built -------------------------------------------------
def test_unavailable_when_not_built(monkeypatch):
    monkeypatch.setattr(cy, "_native", None)
    monkeypatch.setattr(cy, "_native_error", "its compiled kernels (tinygrad_nm._native_baseline) are not "
                        f"built (No module named 'tinygrad_nm._native_baseline'); {cy.BUILD_HINT}")
    monkeypatch.setattr(backends, "_loaded", {})
    monkeypatch.setattr(backends, "_unavailable", {})
    assert "cython" not in tnm.available_backends()
    with pytest.raises(tnm.BackendUnavailableError, match=r"not built.*pip install -e \."):
        backends.load("cython")


def test_unavailable_in_a_process_where_the_module_cannot_import():
    """A real import failure (as after an install without a compiler), in a fresh interpreter."""
    code = """
import sys
class NoNative:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("tinygrad_nm._native_"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, NoNative())
import tinygrad_nm as tnm
assert "cython" not in tnm.available_backends(), tnm.available_backends()
try:
    tnm.set_backend("cython")
except tnm.BackendUnavailableError as e:
    print(e)
else:
    raise SystemExit("no error")
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install -e ." in done.stdout and "C compiler" in done.stdout


def test_bad_thread_count_makes_the_backend_unavailable(monkeypatch):
    for raw in ("zero", "0", "-2", "1.5"):
        monkeypatch.setenv("TINYGRAD_NM_NUM_THREADS", raw)
        reload()  # settings are read from the environment once
        n, why = cy._threads_from_env()
        assert n is None and "TINYGRAD_NM_NUM_THREADS" in why and repr(raw) in why
    monkeypatch.setenv("TINYGRAD_NM_NUM_THREADS", " 3 ")
    reload()
    assert cy._threads_from_env() == (3, None)
    monkeypatch.delenv("TINYGRAD_NM_NUM_THREADS")
    reload()
    assert cy._threads_from_env()[0] >= 1
    with pytest.raises(ValueError):
        cy.set_num_threads(0)


def test_numpy_blas_on_the_shared_pool_stays_correct(rng):
    """After share_threads_with_blas, NumPy's threaded matmuls run on the native pool: results
    as before, from several Python threads at once mixed with native matmuls, and in a forked
    child (whose pool starts afresh)."""
    from concurrent.futures import ThreadPoolExecutor
    shared = cy.share_threads_with_blas()
    if shared is None:
        pytest.skip("no OpenBLAS with a threading callback here, or no pool")
    pairs = [(rng.standard_normal((300 + 7 * i, 400)), rng.standard_normal((400, 350 - 5 * i))) for i in range(6)]
    refs = [np.einsum("ik,kj->ij", a, b) for a, b in pairs]  # not BLAS: an independent reference

    def both(i):
        a, b = pairs[i % 6]
        return (a @ b) if i % 2 else cy.matmul(a.astype(np.float32), b.astype(np.float32))

    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(both, range(24)))
    for i, out in enumerate(outs):
        np.testing.assert_allclose(out, refs[i % 6], rtol=1e-4, atol=1e-3)
    if hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:  # the child: NumPy's BLAS and the native matmul both work, then exit at once
            ok = np.allclose(pairs[0][0] @ pairs[0][1], refs[0]) and np.allclose(
                cy.matmul(*pairs[1]), refs[1])
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    try:  # and handed back: OpenBLAS's own threads again, the same results; then shared again
        cy.share_threads_with_blas(False)
        assert cy._blas_shared is False and cy.matmul_threads() >= 1 and cy._blas_shared is False
        np.testing.assert_allclose(pairs[2][0] @ pairs[2][1], refs[2], rtol=1e-10)
        assert cy.share_threads_with_blas() == shared
        np.testing.assert_allclose(pairs[3][0] @ pairs[3][1], refs[3], rtol=1e-10, atol=1e-9)
    finally:
        cy._blas_shared = None  # as at import: nothing decided yet (the next pool use shares again)


def test_the_pool_takes_numpy_blas_at_its_first_threaded_use():
    """By default the pool's first multi-threaded use hands NumPy's OpenBLAS the pool (no OpenBLAS
    worker left spinning beside our threads); TINYGRAD_NM_SHARE_BLAS=0 (share_blas=False) leaves
    OpenBLAS its own threads."""
    from tinygrad_nm.settings import Context
    if not cy._native.POOL or not cy._native.OPENBLAS_CALLBACK:
        pytest.skip("built without the pool or OpenBLAS's threading callback")
    threads = cy._num_threads
    cy.share_threads_with_blas(False)
    cy._blas_shared = None
    try:
        cy.set_num_threads(2)
        with Context(share_blas=False):
            assert cy.matmul_threads() == 2 and cy._blas_shared is None
        cy.set_num_threads(1)
        assert cy.matmul_threads() == 1 and cy._blas_shared is None  # one thread: nothing to share
        cy.set_num_threads(2)
        cy.matmul_threads()
        assert cy._blas_shared is not None  # decided: the library's path, or "" where it has no callback
        a = np.arange(120.0).reshape(10, 12)
        np.testing.assert_allclose(a @ a.T, np.einsum("ik,jk->ij", a, a))
    finally:
        cy.share_threads_with_blas(False)
        cy._blas_shared = None
        cy.set_num_threads(threads)


def test_own_threads_holds_the_pool_and_restores_its_setting():
    """backends.own_threads(module, n): the backend's own thread setting is n inside the block and
    the exact setting it replaced after (an error inside included); a module without one is left alone."""
    before = cy._num_threads
    with pytest.raises(RuntimeError):
        with backends.own_threads(cy, 1):
            assert cy.matmul_threads() == 1 or not cy._native.POOL
            raise RuntimeError("inside")
    assert cy._num_threads == before
    with backends.own_threads(backends.load("numpy"), 1) as module:
        assert module is backends.load("numpy")
