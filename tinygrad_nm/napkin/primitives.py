"""Measure the machine's base rates with micro-benchmarks of primitives (`tinygrad-nm calibrate`).

Every rate is the best of several short timings: on a shared machine the fastest run is the
one least disturbed by others, and it is the same statistic the benchmark table compares
against. None of these primitives is a benchmark the model is later asked to predict: they are
a copy, an FMA loop, one large BLAS call, one exp, one select, an empty call per backend, and the
interpreter's per-element costs; the kernels are priced from them in model.py.
"""
import gc
import math
import os
import time

import numpy as np

from tinygrad_nm import backends
from tinygrad_nm.napkin import native, price_array_calls, rates as rates_mod
from tinygrad_nm.napkin.model import FAMILIES


def best_time(fn, number=1, repeat=5):
    """The fastest of `repeat` timings of `number` calls, per call (garbage collection off)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        best = math.inf
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, (time.perf_counter() - start) / number)
        return best
    finally:
        if gc_was:
            gc.enable()


def _calls_for(fn, target_s):
    """How many calls of fn fill about target_s (at least 1)."""
    once = best_time(fn, 1, 2)
    return max(1, int(target_s / max(once, 1e-9)))


# --- the host CPU ----------------------------------------------------------------------------
def measure_host(quick, log):
    host = {"cores": rates_mod._usable_cores(), "mmap_threshold": rates_mod.MMAP_THRESHOLD}
    repeat = 5 if quick else 9
    try:
        lib = native.load(os.path.dirname(rates_mod.cache_path()))
    except (native.NativeUnavailable, OSError) as e:
        log(f"  compiled FMA loop: skipped ({e}); keeping the default peak")
        lib = None
    if lib is not None:
        peaks = {}
        for dtype, fn, lanes in (("float32", lib.fma_f32, lib.fma_lanes_f32()),
                                 ("float64", lib.fma_f64, lib.fma_lanes_f64())):
            iters = 200_000  # ~1 ms per timing: short enough to catch an undisturbed slice
            peaks[dtype] = 2 * lanes * iters / best_time(lambda: fn(iters), 1, repeat * 2)
        host["fma_flops_per_core"] = peaks
        x = np.random.default_rng(0).random(4096, dtype=np.float32)  # 16 KiB: in L1
        reps = 100
        host["scalar_flops"] = x.size * reps / best_time(lambda: lib.scalar_sum(x.ctypes.data, x.size, reps), 1, repeat)
        out = np.empty_like(x)
        host["vexp_s"] = best_time(lambda: lib.vexp_f32(x.ctypes.data, out.ctypes.data, x.size, 20), 1, repeat) \
            / (20 * x.size)
        host["vdiv_s"] = best_time(lambda: lib.vdiv_f32(x.ctypes.data, out.ctypes.data, x.size, 20), 1, repeat) \
            / (20 * x.size)
        log(f"  compiled FMA loop, one core: {peaks['float32'] / 1e9:.0f} GFLOP/s float32, "
            f"{peaks['float64'] / 1e9:.0f} float64; scalar adds {host['scalar_flops'] / 1e9:.1f} GFLOP/s; "
            f"vectorised exp {host['vexp_s'] * 1e9:.2f} ns, divide {host['vdiv_s'] * 1e9:.2f} ns per element")

    try:  # waking the other cores for a parallel region and joining them again
        omp = native.load_omp(os.path.dirname(rates_mod.cache_path()))
        threads = host["cores"]
        omp.fork_join(threads, 10)  # start the thread pool
        # regions back to back, as a loop of kernel calls makes them: the workers are still spinning
        host["fork_join_s"] = best_time(lambda: omp.fork_join(threads, 20), 1, 4 * repeat) / 20

        def after_a_pause():  # the workers have gone to sleep: waking them is the OS's business
            time.sleep(0.02)
            start = time.perf_counter()
            omp.fork_join(threads, 1)
            return time.perf_counter() - start
        host["fork_join_cold_s"] = min(after_a_pause() for _ in range(3))
        log(f"  an empty OpenMP parallel region on {threads} threads: {host['fork_join_s'] * 1e6:.1f} us back to back, "
            f"{host['fork_join_cold_s'] * 1e6:.0f} us after 20 ms idle (threads asleep)")
    except (native.NativeUnavailable, OSError) as e:
        log(f"  OpenMP parallel region: skipped ({e}); keeping the default")

    # copy bandwidth by working set (source + destination): from L1/L2 out to DRAM on typical CPUs
    curve = []
    for ws in (64 << 10, 1 << 20, 4 << 20, 16 << 20, 48 << 20, 128 << 20):
        n = ws // 2 // 4
        src = np.ones(n, np.float32)
        dst = np.empty_like(src)
        calls = _calls_for(lambda: np.copyto(dst, src), 1e-3)
        t = best_time(lambda: np.copyto(dst, src), calls, 3 * repeat)  # short timings, many: the best is undisturbed
        curve.append([ws, ws / t])
    host["bandwidth"] = curve
    log("  copy bandwidth (read + write): " + ", ".join(f"{_fmt_bytes(ws)} {bw / 1e9:.0f} GB/s" for ws, bw in curve))

    # fresh pages: a new array above glibc's mmap threshold is mapped afresh on every allocation
    big = np.ones((rates_mod.MMAP_THRESHOLD * 2) // 4, np.float32)
    out = np.empty_like(big)
    t_reuse = best_time(lambda: np.copyto(out, big), 1, 2 * repeat)
    t_fresh = best_time(lambda: big.copy(), 1, 2 * repeat)
    host["fresh_page_s_per_byte"] = max(t_fresh - t_reuse, 0.0) / big.nbytes
    log(f"  fresh pages: a new {_fmt_bytes(big.nbytes)} array costs {(t_fresh - t_reuse) * 1e3:.1f} ms more to "
        f"write than a reused one ({host['fresh_page_s_per_byte'] * 1e9 * 1e3:.0f} ns per KB)")
    return host


# --- per backend ---------------------------------------------------------------------------------
def empty_call(be, number=2000, repeat=5):
    """An empty kernel call through the backend: add of two 1-element buffers (synchronised on a GPU)."""
    from tinygrad_nm import dtypes
    x = be.from_numpy(np.ones(1, np.float32), dtypes.float32)
    sync = getattr(be, "synchronize", None)
    if sync is None:
        return best_time(lambda: be.add(x, x), number, repeat)

    def call():
        be.add(x, x)
        sync()
    return best_time(call, max(number // 20, 10), repeat)


def measure_framework(be, call_s, log):
    """tinygrad_nm's own cost per kernel call: a chain of multiplies on 1-element tensors, forward and
    backward, timed whole; kernel calls counted with a counting wrapper; the kernels' own empty-call
    cost subtracted. `be`: a backend whose kernels are NumPy calls (the cheapest ones to run)."""
    import tinygrad_nm as tnm
    from tinygrad_nm.napkin import trace

    def chain():
        x = tnm.Tensor(np.ones(1, np.float32), requires_grad=True, backend=be.NAME)
        y = x
        for _ in range(100):
            y = y * 1.0001
        y.backward(tnm.Tensor(np.ones(1, np.float32), backend=be.NAME))

    with trace.counting() as counter:
        chain()
    calls = counter.calls
    t = best_time(chain, 1, 7)
    op_s = max(t / calls - call_s, 0.0)
    log(f"  framework: {calls} kernel calls in a 100-op chain + backward, {op_s * 1e6:.2f} us per call on top of the kernel")
    return {"op_s": op_s}


def measure(quick=False, log=print):
    """Measure every base rate this machine has a primitive for; returns the rates dict (not yet saved)."""
    start = time.perf_counter()
    log(f"calibrating napkin rates ({'quick' if quick else 'full'}) on {rates_mod.fingerprint()['host']}:")
    data = {"measured_at": rates_mod.stamp(), "quick": bool(quick), "host": measure_host(quick, log),
            "blas": _blas_info()}
    for name in backends.available_backends():  # each pricing family calibrated on its first backend
        be = backends.load(name)
        family = FAMILIES.get((getattr(be, "PRICING", None) or {}).get("family"))
        if family is None or family.FAMILY in data:
            continue
        extra = (_blas_threads,) if family is price_array_calls else ()
        measured = family.calibrate(be, quick, log, best_time, empty_call, *extra)
        if measured:
            data[family.FAMILY] = measured
        if family is price_array_calls:
            data["framework"] = measure_framework(be, measured["call_s"], log)
    data["seconds"] = round(time.perf_counter() - start, 2)
    log(f"calibrated in {data['seconds']:.1f} s")
    return data


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
        return [{k: v for k, v in info.items() if k in ("internal_api", "num_threads", "architecture", "version")}
                for info in threadpool_info()]
    except Exception as e:  # threadpoolctl is optional at runtime: record why it is missing
        return [{"error": str(e)}]


def _blas_threads():
    return ", ".join(f"{i.get('internal_api')} {i.get('num_threads')} ({i.get('architecture')})"
                     for i in _blas_info() if "num_threads" in i) or "unknown"


def _fmt_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"
