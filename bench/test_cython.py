"""The cython backend against the numpy backend (issues 3 and 11): every ratio is taken in one run.

- matmul, fp32 256/512/1024/2048 and fp64 1024 (256/512 and fp64 512 with --quick): GFLOP/s of
  the compiled kernel and of NumPy's matmul (OpenBLAS) on the same thread count, the fraction of
  this machine's FMA peak (napkin's compiled FMA loop, measured in the same run), and the
  kernel timed right after NumPy calls (a matmul and an elementwise exp) against timed alone;
- each instruction-set variant's fp32 matmul (1024; 512 with --quick) beside NumPy's;
- relu, sigmoid and tanh, forward + backward kernels on 4M float32 elements;
- an MLP training step, 784-256-10, batch 128, built from Tensor ops: x @ W1 + b1, relu,
  @ W2 + b2, F.cross_entropy, backward, an SGD update under no_grad ("ops"); and as a user writes
  it, nn.Sequential and optim.SGD ("nn": the fused linear_act and axpy kernels).

Each comparison is one pytest-benchmark group with a `numpy` and a `cython` entry. The
`cython` entry also times both sides interleaved (blocks of calls, numpy then cython, repeated;
the fastest call of each side counts: these machines are shared and noisy, the fastest call
is the least disturbed one) and stores the ratio in its extra_info. Thread counts: the native
kernels use cy.num_threads() (TINYGRAD_NM_NUM_THREADS, default every usable core), NumPy's BLAS
the same count, all the time: no pauses between the sides, no thread limits switched on and
off - the two thread pools share the cores as they would in a user's program.
"""
import os
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings
from tinygrad_nm import Tensor
from tinygrad_nm import functional as F
from tinygrad_nm.backends import numpy as npb
from tinygrad_nm.benchmarks.cases import classifier_step
from pairing import best as _best, fma_peak as _fma_peak

cy = pytest.importorskip("tinygrad_nm.backends.cython")
if cy.unavailable_reason():
    pytest.skip(f"cython backend not available: {cy.unavailable_reason()}", allow_module_level=True)
_native = cy._native

QUICK = settings.bench_mode == "quick"
THREADS = cy.num_threads()
ROUNDS = 5 if QUICK else 15  # interleaved blocks


def _fastest(fn, calls):
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _times(fn, calls, cpu=None):
    """Wall time of each call; `cpu`, a list, receives each call's process CPU time (all threads)."""
    out = []
    for _ in range(calls):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
    return out


def interleaved(numpy_fn, cython_fn, rounds=ROUNDS, calls=3, medians=None, cpu=None):
    """Fastest call of each side over `rounds` blocks of `calls` calls, numpy's block first, no
    pause between them: OpenBLAS's threads are still spinning when the native kernel starts.
    `medians`, a dict, receives each side's median call too (how a side fares when the machine
    is busy: the fastest call is the least disturbed one, the median the typical one); `cpu`, a
    dict, each side's median process CPU time per call (every thread's: the work the call cost,
    whatever the other processes on the machine did to its wall time). Linux adds a running
    worker's time to the process's only at a scheduler tick (4 ms) or a switch, so for calls of
    a few ms or less on two threads the figure is mostly the calling thread's."""
    t_np, t_cy, c_np, c_cy = [], [], [], []
    with cy.blas_limited(THREADS):
        for _ in range(rounds):
            t_np += _times(numpy_fn, calls, c_np)
            t_cy += _times(cython_fn, calls, c_cy)
    if medians is not None:
        medians.update(numpy=float(np.median(t_np)), cython=float(np.median(t_cy)))
    if cpu is not None:
        cpu.update(numpy=float(np.median(c_np)), cython=float(np.median(c_cy)))
    return min(t_np), min(t_cy)


def after_numpy(fn, noise, rounds=ROUNDS, calls=3):
    """(fastest call of fn alone, fastest call of fn made right after NumPy's `noise` calls).
    "Alone" starts after a pause longer than OpenBLAS's idle spin (~0.1 s after its last call):
    timed straight after the previous round's NumPy calls, it was not alone (it read 0.95-0.99 of
    itself where the fight halved the kernel; bench/README.md, "Cython backend")."""
    alone = after = float("inf")
    with cy.blas_limited(THREADS):
        for _ in range(rounds):
            time.sleep(0.15)
            alone = min(alone, _fastest(fn, calls))
            for _ in range(calls):
                noise()
                start = time.perf_counter()
                fn()
                after = min(after, time.perf_counter() - start)
    return alone, after


def machine_info():
    blas = [{k: p.get(k) for k in ("internal_api", "num_threads", "architecture", "version")}
            for p in threadpool_info() if p.get("user_api") == "blas"]
    return {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "native_threads": THREADS,
            "blas_threads": THREADS, "blas": blas, "isa": _native.ISA, "openmp": bool(_native.OPENMP),
            "vector_bytes": _native.VECTOR_BYTES, "load_average": os.getloadavg()}


@pytest.fixture(scope="module")
def fma_peak():
    """{dtype: one core's FLOP/s in a compiled FMA loop} (pairing.fma_peak), or {} without a C compiler."""
    return _fma_peak()


# --- matmul -------------------------------------------------------------------------------------
MATMUL_CASES = ([("float32", 256), ("float32", 512), ("float64", 512)] if QUICK else
                [("float32", 256), ("float32", 512), ("float32", 1024), ("float32", 2048), ("float64", 1024)])
TARGETS = {("float32", 256): 0.8, ("float32", 512): 1.0, ("float32", 1024): 1.0, ("float32", 2048): 1.0,
           ("float64", 1024): 0.9, ("float64", 512): 0.9}  # issue 11: cython / numpy GFLOP/s


def square(dtype, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)


def calls_for(n):
    return max(1, min(10, int(3e8 // n ** 3)))  # ~0.1 s of calls per block at the small sizes


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("dtype,n", MATMUL_CASES, ids=[f"{d}-{n}" for d, n in MATMUL_CASES])
def test_matmul(benchmark, fma_peak, dtype, n, backend):
    a, b = square(dtype, n)
    flops = 2 * n ** 3
    benchmark.group = f"cython: matmul {dtype} {n}^3"
    be = npb if backend == "numpy" else cy
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bound = (1e-5 if dtype == "float32" else 1e-12) * (np.abs(a64) @ np.abs(b64))
    assert (np.abs(cy.matmul(a, b) - a64 @ b64) <= bound).all()
    with cy.blas_limited(THREADS):
        benchmark.pedantic(be.matmul, (a, b), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    info = dict(machine_info(), backend=backend, size=f"{n}x{n}x{n}", dtype=dtype,
                gflops=_best(benchmark) and flops / _best(benchmark) / 1e9)
    if backend == "cython" and not benchmark.disabled:  # --benchmark-disable: run once, time nothing
        calls = calls_for(n)
        med, cpu = {}, {}
        t_np, t_cy = interleaved(lambda: npb.matmul(a, b), lambda: cy.matmul(a, b), calls=calls, medians=med,
                                 cpu=cpu)
        x = np.random.default_rng(1).standard_normal(1 << 18).astype(np.float32)
        alone, after = after_numpy(lambda: cy.matmul(a, b), lambda: (npb.matmul(a, b), np.exp(x)), calls=calls)
        peak = fma_peak.get(dtype)
        info.update(cython_gflops=flops / t_cy / 1e9, numpy_gflops=flops / t_np / 1e9, ratio_vs_numpy=t_np / t_cy,
                    cython_median_gflops=flops / med["cython"] / 1e9, numpy_median_gflops=flops / med["numpy"] / 1e9,
                    median_ratio_vs_numpy=med["numpy"] / med["cython"], cpu_ratio_vs_numpy=cpu["numpy"] / cpu["cython"],
                    target=TARGETS[(dtype, n)], after_numpy_vs_alone=alone / after,
                    fma_peak_per_core_gflops=peak and peak / 1e9,
                    fraction_of_peak=peak and flops / t_cy / (THREADS * peak),
                    numpy_fraction_of_peak=peak and flops / t_np / (THREADS * peak))
        nan = float("nan")
        print(f"\nmatmul {dtype} {n}^3, {THREADS} threads, {_native.ISA}: cython {info['cython_gflops']:.0f} GFLOP/s, "
              f"numpy {info['numpy_gflops']:.0f} -> {info['ratio_vs_numpy']:.2f}x (target {TARGETS[(dtype, n)]}); "
              f"medians {info['cython_median_gflops']:.0f} vs {info['numpy_median_gflops']:.0f} -> "
              f"{info['median_ratio_vs_numpy']:.2f}x; CPU time (median) {info['cpu_ratio_vs_numpy']:.2f}x; "
              f"of the FMA peak ({THREADS} x {(peak or nan) / 1e9:.0f}): cython "
              f"{(info['fraction_of_peak'] or nan) * 100:.0f}%, numpy {(info['numpy_fraction_of_peak'] or nan) * 100:.0f}%;"
              f" right after numpy calls {info['after_numpy_vs_alone']:.2f} of alone; load {os.getloadavg()[0]:.1f}")
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("isa", cy.ISAS)
def test_matmul_isa(benchmark, fma_peak, isa):
    """Each instruction-set variant's fp32 matmul (what TINYGRAD_NM_ISA=<isa> selects) beside NumPy's."""
    import importlib
    if not _native.cpu_supports(isa):
        pytest.skip(f"this CPU does not support {isa}")
    module = importlib.import_module(f"tinygrad_nm._native_{isa}")
    n = 512 if QUICK else 1024
    a, b = square("float32", n)
    out = np.empty((n, n), np.float32)
    threads = cy.matmul_threads()
    benchmark.group = f"cython: matmul float32 {n}^3 per instruction set"
    with cy.blas_limited(THREADS):
        benchmark.pedantic(module.matmul, (a, b, out, threads), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    info = dict(machine_info(), variant=isa, gflops=_best(benchmark) and 2 * n ** 3 / _best(benchmark) / 1e9)
    if not benchmark.disabled:
        t_np, t_cy = interleaved(lambda: npb.matmul(a, b), lambda: module.matmul(a, b, out, threads), calls=calls_for(n))
        peak = fma_peak.get("float32")
        info.update(cython_gflops=2 * n ** 3 / t_cy / 1e9, numpy_gflops=2 * n ** 3 / t_np / 1e9,
                    ratio_vs_numpy=t_np / t_cy, fraction_of_peak=peak and 2 * n ** 3 / t_cy / (THREADS * peak))
        print(f"\nmatmul float32 {n}^3 {isa}: {info['cython_gflops']:.0f} GFLOP/s, numpy {info['numpy_gflops']:.0f}"
              f" -> {info['ratio_vs_numpy']:.2f}x")
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("n", [512] if QUICK else [512, 1024])
def test_matmul_after_numpy_shared_pool(benchmark, n):
    """The thread-fight fix on its own: the native fp32 matmul's calls made right after NumPy
    calls (a matmul and an exp), with OpenBLAS on its own threads (spinning ~0.1 s after each
    call) and then with OpenBLAS on the native pool (share_threads_with_blas), blocks of each
    alternating in one run; and NumPy's own matmul in both modes."""
    if cy.share_threads_with_blas() is None:
        pytest.skip("no OpenBLAS with a threading callback here, or no pool")
    a, b = square("float32", n)
    x = np.random.default_rng(1).standard_normal(1 << 18).astype(np.float32)
    benchmark.group = f"cython: matmul fp32 {n}^3 after NumPy calls, OpenBLAS's threads vs the shared pool"
    benchmark.pedantic(cy.matmul, (a, b), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if benchmark.disabled:
        return
    calls, flops = calls_for(n), 2 * n ** 3
    t = {(mode, side): [] for mode in ("own", "shared") for side in ("cython", "numpy")}
    try:
        for _ in range(ROUNDS):
            for mode in ("own", "shared"):
                cy.share_threads_with_blas(mode == "shared")
                for _ in range(calls):
                    npb.matmul(a, b)
                    np.exp(x)
                    t[(mode, "cython")] += _times(lambda: cy.matmul(a, b), 1)
                    t[(mode, "numpy")] += _times(lambda: npb.matmul(a, b), 1)
    finally:
        cy.share_threads_with_blas(False)
        cy._blas_shared = None  # as at import: nothing decided yet (the next pool use shares again)
    info = {f"{side}_{mode}_{stat}_gflops": flops / f(v) / 1e9 for (mode, side), v in t.items()
            for stat, f in (("fastest", min), ("median", np.median))}
    benchmark.extra_info.update(machine_info(), **info)
    print(f"\nmatmul fp32 {n}^3 right after NumPy calls, GFLOP/s fastest/median: cython "
          f"{info['cython_own_fastest_gflops']:.0f}/{info['cython_own_median_gflops']:.0f} with OpenBLAS's own threads, "
          f"{info['cython_shared_fastest_gflops']:.0f}/{info['cython_shared_median_gflops']:.0f} on the shared pool; "
          f"numpy {info['numpy_own_fastest_gflops']:.0f}/{info['numpy_own_median_gflops']:.0f} and "
          f"{info['numpy_shared_fastest_gflops']:.0f}/{info['numpy_shared_median_gflops']:.0f}; load {os.getloadavg()[0]:.1f}")


def _fastest_cpu(fn, calls):
    """Fastest call by this thread's CPU time: a one-thread kernel's cost with the time the OS gave
    other processes left out (this machine is shared; wall-clock times of long calls are not)."""
    best = float("inf")
    for _ in range(calls):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best


ONE_THREAD_CASES = {  # name -> (a, b) as (shape, transposed?) pairs
    "256^3": ((256, 256), (256, 256)), "512^3": ((512, 512), (512, 512)), "1024^3": ((1024, 1024), (1024, 1024)),
    "x @ W1 (128x784 @ 784x256)": ((128, 784), (784, 256)),
    "x.T @ g1 (784x128 @ 128x256)": ((784, 128), (128, 256)),
    "g1 @ W1.T (128x256 @ 256x784)": ((128, 256), (256, 784)),
}


@pytest.mark.parametrize("case", list(ONE_THREAD_CASES))
def test_matmul_one_thread_cpu_time(benchmark, case):
    """fp32, both sides on one thread, timed by thread CPU time: the kernels against each other
    without the scheduler's noise. The MLP step's shapes use the layouts the step gives them
    (x.T and W1.T are transposed views)."""
    rng = np.random.default_rng(2)
    sa, sb = ONE_THREAD_CASES[case]
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    if case.startswith("x.T"):
        a = rng.standard_normal(sa[::-1]).astype(np.float32).T
    if case.startswith("g1 @ W1.T"):
        b = rng.standard_normal(sb[::-1]).astype(np.float32).T
    flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
    benchmark.group = f"cython: matmul fp32 one thread, CPU time: {case}"
    before = cy.num_threads()
    try:
        cy.set_num_threads(1)
        with cy.blas_limited(1):
            benchmark.pedantic(cy.matmul, (a, b), rounds=ROUNDS, iterations=1, warmup_rounds=1)
            if not benchmark.disabled:
                calls = max(3, min(50, int(3e9 // flops)))
                t_np = t_cy = float("inf")
                for _ in range(ROUNDS):
                    t_np = min(t_np, _fastest_cpu(lambda: npb.matmul(a, b), calls))
                    t_cy = min(t_cy, _fastest_cpu(lambda: cy.matmul(a, b), calls))
                benchmark.extra_info.update(machine_info(), cython_gflops=flops / t_cy / 1e9,
                                            numpy_gflops=flops / t_np / 1e9, ratio_vs_numpy=t_np / t_cy)
                print(f"\none thread, CPU time, {case}: cython {flops / t_cy / 1e9:.0f} GFLOP/s, numpy "
                      f"{flops / t_np / 1e9:.0f} -> {t_np / t_cy:.2f}x")
    finally:
        cy.set_num_threads(before)


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
    with cy.blas_limited(THREADS):
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


def make_mlp_model_step(backend, batch=128, sizes=(784, 256, 10), lr=0.01, seed=0):
    """The same step as a user writes it: nn.Sequential(Linear, ReLU, Linear) (its Linear + ReLU
    runs as one linear_act kernel) and optim.SGD (its update one axpy kernel per parameter)."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((batch, sizes[0])), dtype="float32", backend=backend)
    labels = Tensor(rng.integers(0, sizes[2], batch), backend=backend)
    net = tnm.nn.Sequential(tnm.nn.Linear(sizes[0], sizes[1], backend=backend, generator=rng), tnm.nn.ReLU(),
                            tnm.nn.Linear(sizes[1], sizes[2], backend=backend, generator=rng))
    opt = tnm.optim.SGD(net.parameters(), lr=lr)

    return classifier_step(net, opt, x, labels), tuple(net.parameters())


@pytest.mark.parametrize("style", ["ops", "nn"])
@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_mlp_training_step(benchmark, backend, style):
    benchmark.group = f"cython: MLP step 784-256-10, batch 128, {style}"
    make = make_mlp_step if style == "ops" else make_mlp_model_step
    step, params = make(backend)
    ref_step, ref_params = make("numpy")
    for _ in range(3):  # the same training on both backends: the losses agree
        assert abs(step().item() - ref_step().item()) < 1e-4
    with cy.blas_limited(THREADS):
        benchmark.pedantic(step, rounds=10 * ROUNDS, iterations=1, warmup_rounds=2)
    info = dict(machine_info(), backend=backend, best_seconds=_best(benchmark))
    if backend == "cython" and not benchmark.disabled:  # --benchmark-disable: run once, time nothing
        t_np, t_cy = interleaved(ref_step, step, rounds=4 * ROUNDS, calls=5)
        info.update(interleaved_numpy_ms=t_np * 1e3, interleaved_cython_ms=t_cy * 1e3, ratio_vs_numpy=t_np / t_cy)
        print(f"\nMLP step 784-256-10 batch 128 ({style}): cython {t_cy * 1e3:.3f} ms, numpy {t_np * 1e3:.3f} ms "
              f"-> {t_np / t_cy:.2f}x")
    benchmark.extra_info.update(info)
