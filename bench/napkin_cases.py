"""Which backends and sizes the napkin benchmarks run, in quick and full mode (shared by test_napkin_*.py)."""

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings

QUICK = settings.bench_mode == "quick"  # conftest sets it from --quick/--full before collection
GPU = ("numba_cuda",)


def _cuda_simulated():
    try:
        from numba import config
        return bool(getattr(config, "ENABLE_CUDASIM", 0))
    except ImportError:
        return False


def benchmarkable_backends():
    """Available backends whose timings mean something (not the CUDA simulator), or those named in
    TINYGRAD_NM_BENCH_BACKENDS (comma-separated; `tinygrad-nm bench --backend` sets it)."""
    return (tnm.backends.checked(settings.bench_backends)
            or [b for b in tnm.available_backends() if not (b in GPU and _cuda_simulated())])


BACKENDS = benchmarkable_backends()


def kind(backend):
    """python (the interpreter), host (compiled code on the CPU) or gpu: each gets its own sizes."""
    return "python" if backend == "python" else ("gpu" if backend in GPU else "host")


def cases(table):
    """[(backend, size)] for a {kind: sizes} table, over every benchmarkable backend."""
    return [(b, n) for b in BACKENDS for n in table[kind(b)]]
