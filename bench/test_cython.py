"""The cython backend against the numpy backend (issue 3): every ratio is taken in one run.

- fp32 matmul 1024x1024x1024: GFLOP/s of the compiled kernel and of NumPy's matmul (OpenBLAS)
  with the same thread count, and the fraction of this machine's FMA peak, measured in the
  same run with a compiled FMA loop (napkin's primitive), per core and on every thread used;
- relu, sigmoid and tanh, forward + backward kernels on 4M float32 elements;
- an MLP training step, 784-256-10, batch 128, built from Tensor ops: x @ W1 + b1, relu,
  @ W2 + b2, F.cross_entropy, backward, an SGD update under no_grad.

Each comparison is one pytest-benchmark group with a `numpy` and a `cython` entry. The
`cython` entry also times both sides interleaved (blocks of calls, numpy then cython, repeated;
the fastest call of each side counts: these machines are shared and noisy, the fastest call
is the least disturbed one) and stores the ratio in its extra_info. Thread counts: the
native kernels use cy.num_threads() (TINYGRAD_NM_NUM_THREADS, default every usable core);
NumPy's BLAS is given the same count while NumPy runs, and 1 while native kernels run; after
NumPy's turn the benchmark waits 0.15 s, until OpenBLAS's threads stop spinning, so the two
thread pools never compete for the cores.
"""
import os
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings
from tinygrad_nm import Tensor
from tinygrad_nm import functional as F
from tinygrad_nm.backends import numpy as npb

cy = pytest.importorskip("tinygrad_nm.backends.cython")
if cy.unavailable_reason():
    pytest.skip(f"cython backend not available: {cy.unavailable_reason()}", allow_module_level=True)
from tinygrad_nm import _native  # noqa: E402

QUICK = settings.bench_mode == "quick"
THREADS = cy.num_threads()
NOTES_PEAK_F32 = {"per_core": 235e9, "all_cores": 470e9}  # machine-notes: Zen 5, AVX-512, 2 cores
ROUNDS = 5 if QUICK else 15  # interleaved blocks


def _best(benchmark):
    """pytest-benchmark's fastest round, or None with --benchmark-disable (nothing timed)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.min if stats is not None else None


def _fastest(fn, calls):
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


BLAS_SPIN_S = 0.15  # OpenBLAS's threads spin ~0.1 s after a multi-threaded call (cython.py's docstring)


def interleaved(numpy_fn, cython_fn, rounds=ROUNDS, calls=3):
    """Fastest call of each side over `rounds` blocks of `calls` calls, numpy's block first. After
    numpy's block the BLAS threads are given time to stop spinning, so the native kernels' threads
    do not share the cores with them (and the libgomp threads' short spin is waited out too)."""
    t_np = t_cy = float("inf")
    for _ in range(rounds):
        with cy.blas_limited(THREADS):
            t_np = min(t_np, _fastest(numpy_fn, calls))
        time.sleep(BLAS_SPIN_S)
        with cy.blas_limited(1):
            t_cy = min(t_cy, _fastest(cython_fn, calls))
        time.sleep(0.01)
    return t_np, t_cy


def machine_info():
    blas = [{k: p.get(k) for k in ("internal_api", "num_threads", "architecture", "version")}
            for p in threadpool_info() if p.get("user_api") == "blas"]
    return {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "native_threads": THREADS,
            "blas_threads_for_numpy": THREADS, "blas_threads_for_cython": 1, "blas": blas,
            "openmp": bool(_native.OPENMP), "vector_bytes": _native.VECTOR_BYTES,
            "load_average": os.getloadavg()}


def fma_peak(threads):
    """(per-core, all `threads`) float32 FLOP/s of a compiled FMA loop, or (None, None) without a
    C compiler. The loop is napkin's primitive; the threads run it at once (ctypes drops the GIL)."""
    from tinygrad_nm.napkin import native, rates
    try:
        lib = native.load(os.path.dirname(rates.cache_path()))
    except (native.NativeUnavailable, OSError):
        return None, None
    iters, lanes = 200_000, lib.fma_lanes_f32()
    flops = 2 * lanes * iters
    one = min(_fastest(lambda: lib.fma_f32(iters), 1) for _ in range(20))

    long = 20 * iters  # ~8 ms: starting the threads must not count

    def together():
        workers = [threading.Thread(target=lib.fma_f32, args=(long,)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    all_threads = min(_fastest(together, 1) for _ in range(5))
    return flops / one, threads * 20 * flops / all_threads


# --- matmul -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def matrices():
    rng = np.random.default_rng(0)
    n = 512 if QUICK else 1024
    return (rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32))


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_matmul_fp32(benchmark, matrices, backend):
    a, b = matrices
    n = a.shape[0]
    flops = 2 * n ** 3
    benchmark.group = f"cython: matmul fp32 {n}^3"
    be = npb if backend == "numpy" else cy
    np.testing.assert_allclose(cy.matmul(a, b), a @ b, rtol=1e-3, atol=1e-3)
    time.sleep(BLAS_SPIN_S)  # earlier tests' BLAS threads stop spinning first
    with cy.blas_limited(THREADS if backend == "numpy" else 1):
        benchmark.pedantic(be.matmul, (a, b), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    info = dict(machine_info(), backend=backend, size=f"{n}x{n}x{n}",
                gflops=_best(benchmark) and flops / _best(benchmark) / 1e9)
    if backend == "cython" and not benchmark.disabled:  # --benchmark-disable: run once, time nothing
        t_np, t_cy = interleaved(lambda: npb.matmul(a, b), lambda: cy.matmul(a, b))
        per_core, all_cores = fma_peak(THREADS)
        info.update(interleaved_cython_gflops=flops / t_cy / 1e9, interleaved_numpy_gflops=flops / t_np / 1e9,
                    ratio_vs_numpy=t_np / t_cy,
                    # the peak: one core's FMA loop times the threads (the FMA loop run on all
                    # threads at once is recorded too; on a busy machine it comes out lower)
                    fma_peak_per_core_gflops=per_core and per_core / 1e9,
                    fma_peak_gflops=per_core and THREADS * per_core / 1e9,
                    fma_peak_all_threads_at_once_gflops=all_cores and all_cores / 1e9,
                    fraction_of_peak=per_core and flops / t_cy / (THREADS * per_core),
                    numpy_fraction_of_peak=per_core and flops / t_np / (THREADS * per_core),
                    fraction_of_notes_peak=flops / t_cy / NOTES_PEAK_F32["all_cores" if THREADS > 1 else "per_core"])
        nan = float("nan")
        print(f"\nmatmul fp32 {n}^3, {THREADS} threads: cython {info['interleaved_cython_gflops']:.1f} GFLOP/s, "
              f"numpy {info['interleaved_numpy_gflops']:.1f} -> {info['ratio_vs_numpy']:.2f}x; FMA peak "
              f"{info['fma_peak_gflops'] or nan:.0f} GFLOP/s ({THREADS} x {info['fma_peak_per_core_gflops'] or nan:.0f}),"
              f" cython at {(info['fraction_of_peak'] or nan) * 100:.0f}% of it, numpy at "
              f"{(info['numpy_fraction_of_peak'] or nan) * 100:.0f}%; load average {os.getloadavg()[0]:.1f}")
    benchmark.extra_info.update(info)


# --- activations: forward + backward kernels on 4M elements ---------------------------------------
ACTIVATIONS = ("relu", "sigmoid", "tanh")


@pytest.fixture(scope="module")
def activation_data():
    rng = np.random.default_rng(1)
    n = (1 << 20) if QUICK else (4 << 20)
    return rng.standard_normal(n).astype(np.float32) * 3, rng.standard_normal(n).astype(np.float32)


def fwd_bwd(be, name, x, g):
    """One activation forward and its backward, as the ops call them (relu's backward takes the
    input, sigmoid's and tanh's the output)."""
    y = getattr(be, name)(x)
    return getattr(be, f"{name}_backward")(x if name == "relu" else y, g)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_backward(benchmark, activation_data, name, backend):
    x, g = activation_data
    be = npb if backend == "numpy" else cy
    benchmark.group = f"cython: {name} forward+backward, {x.size // (1 << 20)}M float32"
    # atol 1e-5: near tanh's saturation the gradient 1 - y*y is ~1e-6, at the level of y's own
    # rounding (float32 tanh within 3.5e-7 of the truth here, NumPy's within 6e-8)
    np.testing.assert_allclose(fwd_bwd(cy, name, x, g), fwd_bwd(npb, name, x, g), rtol=1e-4, atol=1e-5)
    time.sleep(BLAS_SPIN_S)  # earlier tests' BLAS threads stop spinning first
    with cy.blas_limited(THREADS if backend == "numpy" else 1):
        benchmark.pedantic(fwd_bwd, (be, name, x, g), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    info = dict(machine_info(), backend=backend, elements=x.size, best_seconds=_best(benchmark))
    if backend == "cython" and not benchmark.disabled:  # --benchmark-disable: run once, time nothing
        t_np, t_cy = interleaved(lambda: fwd_bwd(npb, name, x, g), lambda: fwd_bwd(cy, name, x, g))
        info.update(interleaved_numpy_ms=t_np * 1e3, interleaved_cython_ms=t_cy * 1e3, ratio_vs_numpy=t_np / t_cy)
        print(f"\n{name} fwd+bwd {x.size} float32: cython {t_cy * 1e3:.2f} ms, numpy {t_np * 1e3:.2f} ms "
              f"-> {t_np / t_cy:.2f}x")
    benchmark.extra_info.update(info)


# --- an MLP training step -------------------------------------------------------------------------
def make_mlp_step(backend, batch=128, sizes=(784, 256, 10), lr=0.01, seed=0):
    """A closure running one SGD step of a 784-256-10 MLP on `backend`, and its parameters."""
    rng = np.random.default_rng(seed)
    f32 = {"dtype": "float32", "backend": backend}
    x = Tensor(rng.standard_normal((batch, sizes[0])), **f32)
    labels = Tensor(rng.integers(0, sizes[2], batch), backend=backend)
    w1 = Tensor(rng.standard_normal(sizes[:2]) * sizes[0] ** -0.5, requires_grad=True, **f32)
    b1 = Tensor(np.zeros(sizes[1]), requires_grad=True, **f32)
    w2 = Tensor(rng.standard_normal(sizes[1:]) * sizes[1] ** -0.5, requires_grad=True, **f32)
    b2 = Tensor(np.zeros(sizes[2]), requires_grad=True, **f32)
    params = (w1, b1, w2, b2)

    def step():
        for p in params:
            p.grad = None
        loss = F.cross_entropy((x @ w1 + b1).relu() @ w2 + b2, labels)
        loss.backward()
        with tnm.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss

    return step, params


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_mlp_training_step(benchmark, backend):
    benchmark.group = "cython: MLP step 784-256-10, batch 128"
    step, params = make_mlp_step(backend)
    ref_step, ref_params = make_mlp_step("numpy")
    for _ in range(3):  # the same training on both backends: the losses agree
        assert abs(step().item() - ref_step().item()) < 1e-4
    time.sleep(BLAS_SPIN_S)  # earlier tests' BLAS threads stop spinning first
    with cy.blas_limited(THREADS if backend == "numpy" else 1):
        benchmark.pedantic(step, rounds=10 * ROUNDS, iterations=1, warmup_rounds=2)
    info = dict(machine_info(), backend=backend, best_seconds=_best(benchmark))
    if backend == "cython" and not benchmark.disabled:  # --benchmark-disable: run once, time nothing
        t_np, t_cy = interleaved(ref_step, step, rounds=4 * ROUNDS, calls=5)
        info.update(interleaved_numpy_ms=t_np * 1e3, interleaved_cython_ms=t_cy * 1e3, ratio_vs_numpy=t_np / t_cy)
        print(f"\nMLP step 784-256-10 batch 128: cython {t_cy * 1e3:.3f} ms, numpy {t_np * 1e3:.3f} ms "
              f"-> {t_np / t_cy:.2f}x")
    benchmark.extra_info.update(info)
