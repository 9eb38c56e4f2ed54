"""Measure the machine's base rates with micro-benchmarks of primitives (`tinygrad-nm calibrate`).

Every rate is the best of several short timings: on a shared machine the fastest run is the
one least disturbed by others, and it is the same statistic the benchmark table compares
against. None of these primitives is a benchmark the model is later asked to predict: they are
a copy, an FMA loop, BLAS calls of small and one large square matrices, one exp, one select, an
empty call per backend and each kind of NumPy call on 1-element arrays, the interpreter's
per-element costs, and the framework's own cost per call on 1x1 tensors (calibrate_framework.py); the
kernels are priced from them in model.py.
"""
import math
import os
import time

import numpy as np

from tinygrad_nm import backends
from tinygrad_nm.napkin import (calibrate_framework, drift, native, price_array_calls, price_compiled,
                                price_interpreter, rates as rates_mod)
from tinygrad_nm.napkin.model import FAMILIES
from tinygrad_nm.napkin.timing import best_time, best_times_alternated  # (the calibrations' clock)


def _calls_for(fn, target_s):
    """How many calls of fn fill about target_s (at least 1)."""
    once = best_time(fn, 1, 2)
    return max(1, int(target_s / max(once, 1e-9)))


# --- the host CPU ----------------------------------------------------------------------------
def stream_bandwidth(repeat):
    """[[working set, B/s]]: a streaming pass's bandwidth by working set (source + destination), from
    L1/L2 out to DRAM on typical CPUs; many short timings of each, the best (the undisturbed one).
    The faster of np.copyto and a ufunc's pass (np.multiply into `out`), timed in turn: from DRAM the
    ufunc's loop, which is how elementwise kernels stream, ran 1.15-1.4x faster than copyto's memcpy
    here (48-128 MiB), while in cache copyto's smaller per-call cost wins."""
    curve = []
    for ws in (64 << 10, 1 << 20, 4 << 20, 16 << 20, 48 << 20, 128 << 20):
        src = np.ones(ws // 2 // 4, np.float32)
        dst = np.empty_like(src)
        calls = _calls_for(lambda: np.copyto(dst, src), 1e-3)
        copy, ufunc = best_times_alternated((lambda: np.copyto(dst, src), lambda: np.multiply(src, 1.0, out=dst)),
                                            calls, 3 * repeat)
        curve.append([ws, ws / min(copy, ufunc)])
    return curve


def measure_host(quick, log):
    host = {"cores": backends.available_cores(), "mmap_threshold": rates_mod.MMAP_THRESHOLD}
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

    host["bandwidth"] = curve = stream_bandwidth(repeat)

    host["cold_read"] = _cold_read_curve(repeat)
    log("  reading from further out (per byte, beyond a back-to-back copy): " + ", ".join(
        f"after {_fmt_bytes(d)} {s * 1e12:.1f} ps" for d, s in host["cold_read"]))

    # fresh pages: a new array above glibc's mmap threshold is mapped afresh on every allocation
    big = np.ones((rates_mod.MMAP_THRESHOLD * 2) // 4, np.float32)
    out = np.empty_like(big)
    t_reuse = best_time(lambda: np.copyto(out, big), 1, 2 * repeat)
    t_fresh = best_time(lambda: big.copy(), 1, 2 * repeat)
    host["fresh_page_s_per_byte"] = max(t_fresh - t_reuse, 0.0) / big.nbytes
    log(f"  fresh pages: a new {_fmt_bytes(big.nbytes)} array costs {(t_fresh - t_reuse) * 1e3:.1f} ms more to "
        f"write than a reused one ({host['fresh_page_s_per_byte'] * 1e9 * 1e3:.0f} ns per KB)")

    # the curve again after the other probes, the best of the two: on a shared machine bandwidth comes
    # and goes for longer than one pass takes (its 16 MiB point read 9-18 GB/s within 30 minutes)
    host["bandwidth"] = curve = [[ws, max(a, b)] for (ws, a), (_, b) in zip(curve, stream_bandwidth(repeat))]
    log("  streaming bandwidth (read + write): "
        + ", ".join(f"{_fmt_bytes(ws)} {bw / 1e9:.0f} GB/s" for ws, bw in curve))
    return host


def _cold_read_curve(repeat, copy_bytes=256 << 10):
    """[[distance, s per byte]]: a copy of `copy_bytes` timed right after a copy of `distance` bytes
    of other data (read + write, as a kernel's traffic counts them), less the same copy timed again
    at once (its data now in cache), per byte copied; the two alternate, so that a disturbance hits
    both alike, and each is the fastest of many. Where in the cache hierarchy the data was left, as a
    kernel sees it in a program (locality.py); non-decreasing (a disturbed timing must not bend it
    down), never 0 (the curve is interpolated on log-log axes)."""
    src = np.ones(copy_bytes // 4, np.float32)
    dst = np.empty_like(src)
    other = np.ones((64 << 20) // 8, np.float32)
    other_dst = np.empty_like(other)
    curve = []
    for distance in (256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20):
        n = distance // 8
        cold = warm = math.inf
        for _ in range(10 * repeat):
            np.copyto(other_dst[:n], other[:n])
            start = time.perf_counter()
            np.copyto(dst, src)
            middle = time.perf_counter()
            np.copyto(dst, src)
            cold, warm = min(cold, middle - start), min(warm, time.perf_counter() - middle)
        per_byte = max((cold - warm) / copy_bytes, 1e-15, curve[-1][1] if curve else 0.0)
        curve.append([distance, per_byte])
    return curve


def _in_program(be, repeat=31, evict=True):
    """in_program(fn): fn's time between pieces of a program's other work, as a kernel runs in a
    training step, less the time of that work alone: three Tensor ops on one element of backend
    `be`, and (`evict`) a pass over 2 MiB (the other kernels' data: the core's L1 and L2 no longer
    hold what fn left there, as in a step, where a small kernel measured 2-3x its time in a loop).
    The best of many short timings of each, the two alternated (best_times_alternated)."""
    import tinygrad_nm as tnm
    x = tnm.Tensor(np.ones(1, np.float32), backend=be.NAME)
    other = np.ones(1 << 18, np.float32)  # 1 MiB read, 1 MiB written
    written = np.empty_like(other)

    def work():
        if evict:
            np.multiply(other, 1.0001, out=written)
        (x * 1.0001 + 1.0) * 2.0

    def in_program(fn):
        calls = max(1, _calls_for(lambda: (work(), fn()), 2e-4))

        def both():
            work()
            fn()
        alone, together = best_times_alternated((work, both), calls, repeat)
        return max(together - alone, 0.0)
    return in_program


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


def measure(quick=False, log=print):
    """Measure every base rate this machine has a primitive for; returns the rates dict (not yet saved)."""
    start = time.perf_counter()
    log(f"calibrating napkin rates ({'quick' if quick else 'full'}) on {rates_mod.fingerprint()['host']}:")
    data = {"measured_at": rates_mod.stamp(), "quick": bool(quick), "host": measure_host(quick, log),
            "blas": _blas_info()}
    again = []  # (section, measure it again): the rates that take a fraction of a second to measure
    for name in backends.available_backends():  # each pricing family calibrated on its first backend
        be = backends.load(name)
        family = FAMILIES.get((getattr(be, "PRICING", None) or {}).get("family"))
        if family is None or family.FAMILY in data:
            continue
        measured = family.calibrate(be, quick, log, best_time, empty_call, *calibration_extras(family, be, quick))
        if measured:
            data[family.FAMILY] = measured
        if family is price_interpreter:
            again.append((family.FAMILY, lambda be=be: price_interpreter.calibrate(be, quick, _quiet, best_time,
                                                                                  empty_call)))
        if family is price_array_calls:  # the framework's own cost, around the cheapest kernels there are
            data["framework"] = calibrate_framework.measure(be, log)
            again.append(("framework", lambda be=be: calibrate_framework.measure(be, _quiet)))
    # A slow stretch of a shared machine lasts a second or more: it can cover the whole of a measurement
    # that takes 0.1 s (the interpreter's rates read 1.7x slow so, in two bench runs of ten). Two more
    # looks at those, seconds after the first, each rate the fastest of the three.
    for _ in range(2):
        for section, measure_again in again:
            data[section] = _fastest(data[section], measure_again())
    if "framework" in data:  # op_s: the median of the merged table, not the least of three medians
        calibrate_framework.with_median(data["framework"])
    log("  again, each the fastest of three looks: " + "; ".join(
        f"{section} " + ", ".join(f"{k} {v * 1e9:.1f} ns" for k, v in data[section].items() if k.endswith("_s"))
        for section, _ in again))
    data["reference"] = drift.reference()  # the machine's speed now, for the bench to compare against
    data["seconds"] = round(time.perf_counter() - start, 2)
    log(f"calibrated in {data['seconds']:.1f} s")
    return data


def _quiet(line):
    pass


def _fastest(first, second):
    """Two measurements of the same rates, each number the smaller (each dict merged so, key by key)."""
    out = dict(first)
    for key, value in second.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = _fastest(old, value)
        elif isinstance(value, (int, float)) and isinstance(old, (int, float)):
            out[key] = min(old, value)
    return out


def calibration_extras(family, be, quick):
    """What a family's calibrate() takes beyond (be, quick, log, best_time, empty_call)."""
    if family is price_array_calls:
        return _blas_threads, _in_program(be, 15 if quick else 31)
    if family is price_compiled:
        return _in_program(be, 15 if quick else 31), _in_program(be, 15 if quick else 31, evict=False), \
            tiny_step_calls(be)
    return ()


def tiny_step_calls(be):
    """[(kernel, args)] of one training step of a tiny CNN on backend `be`, after a first step (the
    momentum buffers exist): conv with and without batch norm, relu, max pool, linear layers with
    tanh and sigmoid, cross-entropy, SGD with momentum: every kind of kernel call a small model's
    step makes, at sizes where the calls, not the loops, take the time."""
    import tinygrad_nm as tnm
    from tinygrad_nm import functional as F, nn, optim
    from tinygrad_nm.napkin import trace
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, generator=rng), nn.ReLU(),  # conv2d_act (fused)
                          nn.Conv2d(2, 2, 3, padding=1, generator=rng), nn.BatchNorm2d(2), nn.ReLU(),  # conv2d
                          nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8, 8, generator=rng), nn.Tanh(), nn.Linear(8, 8, generator=rng), nn.Sigmoid(),
                          nn.Linear(8, 3, generator=rng)).to(be.NAME)
    x = tnm.Tensor(rng.standard_normal((2, 1, 4, 4)).astype(np.float32), backend=be.NAME)
    y = tnm.Tensor(np.array([0, 2]), backend=be.NAME)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    step()
    with trace.recording() as calls:
        step()
    return [(name, args) for name, args, _out in calls]


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
