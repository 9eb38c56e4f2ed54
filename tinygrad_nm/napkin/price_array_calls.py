"""Pricing family `array_calls`: a backend whose kernels are NumPy calls.

Each kernel is one or more NumPy calls ("passes"); each pass pays its call's fixed cost and moves
its arrays through the cache level their size fits in, unless its inner loop is slower than that:
exp (vectorised transcendental), select (a data-dependent branch per element), scalar (a loop the
compiler could not vectorise: k scalar operations per element), divide (a division per element,
at the host's vectorised divide rate), BLAS (matmul). The backend's
PRICING["passes"] lists the passes of its kernels that are more than one plain pass, each as
(inner loop, arrays read, arrays written[, scalar operations per element[, kind of call]]).

A call's fixed cost depends on what NumPy does before its loop starts, so it is measured per kind
of call (on 1-element arrays, `calls` in the rates): a ufunc through an operator (`ufunc`, the
default), a reduction through np.sum/np.max with axes (`reduce`), np.mean (`mean`), np.matmul
(`matmul`), fancy indexing (`index`), np.where (`where`), np.reshape/np.transpose (`view`),
np.broadcast_to (`broadcast`), an array made by np.array/np.arange/np.full (`array`), np.pad
(`pad`: Python code inside NumPy, tens of us), an
operator on NumPy scalars (`scalar`), an operator on an array and a Python number (`number`: NumPy
converts the number first; the backend's PRICING["scalar_operand"] names these kernels). At the
sizes small models train at, these fixed costs are most of a kernel's time. A small matmul runs
far below BLAS's large-size rate: its time is read off a curve measured on square matmuls from
4 to 512 (`blas_curve`), above that FLOPs / the large-size rate. A kernel that walks a strided view
in short contiguous runs (im2col, col2im on small images: rows of 4-28 elements) pays NumPy's
inner-loop setup per run: PRICING["runs"] counts its runs, `run_s` (measured on the kernel at two
shapes of equal size and different row lengths) is the cost of one.
"""
import math
from dataclasses import replace

import numpy as np

from tinygrad_nm.napkin import fmt
from tinygrad_nm.napkin.roofline import Prediction, bandwidth, host_limit, log_interpolate

FAMILY = "array_calls"
# a NumPy call's fixed cost by kind (module docstring); defaults measured so on the machine notes' VM
CALL_KINDS = {"ufunc": None, "scalar": None, "number": 0.5e-6, "reduce": 2.0e-6, "mean": 4.0e-6, "matmul": 0.6e-6, "index": 0.6e-6,
              "where": 1.0e-6, "view": 0.4e-6, "broadcast": 2.5e-6, "array": 0.4e-6, "pad": 20e-6}  # ufunc: call_s; scalar: scalar_call_s
DEFAULT_RATES = {"call_s": 0.7e-6, "scalar_call_s": 0.15e-6, "calls": {k: v for k, v in CALL_KINDS.items() if v},
                 "blas_flops": {"float32": 210e9, "float64": 105e9},  # machine notes: fp32 1024, 2 threads
                 "blas_flops_1thread": 110e9,  # machine notes: 1 thread
                 # [[FLOPs, seconds], ...]: np.matmul of square float32 matrices, n = 4, 16, ... 512,
                 # then 1024 at the large-size rate (calibrate measured these on an idle notes' VM)
                 "blas_curve": [[2 * n ** 3, t] for n, t in ((4, 0.7e-6), (16, 0.8e-6), (32, 1.4e-6), (64, 4.6e-6),
                                                             (128, 36e-6), (256, 0.16e-3), (512, 1.3e-3),
                                                             (1024, 10.2e-3))],
                 "exp_s": {"float32": 1.5e-9, "float64": 3e-9}, "select_s": 4.5e-9,
                 "run_s": {"im2col": 9e-9, "col2im": 18e-9, "broadcast": 8e-9, "reduce": 15e-9}}  # per contiguous run
BLAS_CURVE_SIZES = (4, 16, 32, 64, 128, 256, 512)


def call_cost(r, kind):
    """The fixed cost of one NumPy call of this kind (`ufunc` is the empty call, `call_s`; `scalar`
    an operator on NumPy scalars, `scalar_call_s`)."""
    if kind == "ufunc":
        return r["call_s"]
    if kind == "scalar":
        return r.get("scalar_call_s", r["call_s"])
    return r.get("calls", {}).get(kind, CALL_KINDS[kind])


def curve_time(flops, curve):
    """The time of `flops` FLOPs on a curve of measured [FLOPs, seconds] points (roofline's
    log_interpolate; past the last point, at its rate)."""
    t = log_interpolate(flops, curve)
    return curve[-1][1] * flops / curve[-1][0] if t is None else t


def blas_compute(flops, r, dtype):
    """np.matmul's time for `flops` FLOPs beyond its fixed call cost: read off the curve measured on
    small square matmuls (log-log interpolation; the curve's times include the call), above its
    last point FLOPs at the large-size rate."""
    rate = r["blas_flops"].get(dtype, r["blas_flops"]["float32"])
    call, curve = call_cost(r, "matmul"), r.get("blas_curve") or []
    if not curve or flops >= curve[-1][0]:
        return flops / rate
    if dtype != "float32":  # the curve is float32's: scale by the large-size rates' ratio
        return blas_compute(flops, r, "float32") * r["blas_flops"]["float32"] / rate
    return max(curve_time(flops, curve) - call, 0.0)


def price(cost, pricing, rates, dtype, scalar_args=False):
    r, host = rates.section(FAMILY), rates["host"]
    call = r.get("scalar_call_s", r["call_s"]) if scalar_args else r["call_s"]
    limit, limit_terms = host_limit(cost, rates, dtype)
    if cost.kernel in pricing.get("blas", ("matmul",)):
        return _with_columns(_blas(cost, r, host, dtype, limit, limit_terms), cost, pricing, r, host)
    passes = pricing["passes"].get(cost.kernel)
    n = cost.elements
    itemsize = cost.itemsize
    if passes is None:  # one pass moving the compulsory bytes
        # a division's vector unit takes several cycles per lane: over ~4 bytes a cycle, it limits, not memory
        kind = "exp" if cost.transcendentals else ("divide" if cost.divides >= n > 0 else "stream")
        reps = max(1, round(cost.transcendentals / n)) if cost.transcendentals and n else 1
        number = len(cost.shapes) == 1 and cost.kernel in pricing.get("scalar_operand", ()) and not scalar_args
        passes = [(kind, None, None, 1, "number" if number else "ufunc")] * reps
    if not passes:
        return Prediction(call, limit, call, bound="overhead", terms=[f"{fmt.seconds(call)} call (a view)"],
                          limit_terms=limit_terms)
    compute = memory = overhead = 0.0
    traffic_total, inner, written_total, written_big, kinds = 0.0, {}, 0.0, 0.0, {}
    for kind, reads, writes, *extra in passes:
        ops, call_kind = (extra[0] if extra else 1), (extra[1] if len(extra) > 1 else "ufunc")
        overhead += call if call_kind == "ufunc" else call_cost(r, call_kind)
        kinds[call_kind] = kinds.get(call_kind, 0) + 1
        if reads is None:  # the kernel's own compulsory traffic, spread over its passes
            traffic, written = cost.bytes / len(passes), cost.out_bytes / len(passes)
        else:
            traffic, written = (reads + writes) * n * itemsize, writes * n * itemsize
        mem = traffic / bandwidth(host["bandwidth"], traffic) if traffic else 0.0
        loop = _numpy_inner_loop(kind, n, r, host, dtype, ops)
        if loop:
            inner[kind] = inner.get(kind, 0.0) + loop
        # a pass is as slow as the slower of its memory traffic and its inner loop
        if loop > mem:
            compute += loop
        else:
            memory += mem
            traffic_total += traffic
        written_total += written
        if written >= host["mmap_threshold"]:
            written_big += written
    fresh = _fresh_bytes(written_total, written_big, host) * host["fresh_page_s_per_byte"]
    runs, run_time = strided_runs(cost, pricing, r)
    compute += run_time
    terms = []
    if runs:
        terms.append(f"{fmt.count(runs)} runs x {fmt.seconds(run_time / runs)}")
    if memory:
        terms.append(f"{fmt.nbytes(traffic_total)} / {fmt.bandwidth(traffic_total / memory)}")
    for kind, t in inner.items():
        terms.append(f"{kind} {fmt.seconds(t)}")
    if fresh:
        terms.append(f"fresh pages {fmt.seconds(fresh)}")
    label = ", ".join(f"{k_n} {k}" for k, k_n in kinds.items())
    terms.append(f"{fmt.seconds(overhead)} for {label} call{'s' * (len(passes) > 1)}")
    seconds = overhead + compute + memory + fresh
    bound = max((("overhead", overhead), ("compute", compute), ("memory", memory + fresh)), key=lambda kv: kv[1])[0]
    return Prediction(seconds, limit, overhead, compute, memory, fresh, bound, terms, limit_terms)


def strided_runs(cost, pricing, r):
    """(contiguous runs, their seconds) of a kernel that walks a strided view in short runs
    (PRICING["runs"] counts them, or gives (counter, kernel) to price them at another kernel's
    `run_s`; `run_s` is one's cost on this family), or of a binary ufunc on a
    broadcast operand (its inner loop ends where the broadcast pattern changes: (N, C, H, W) *
    (1, C, 1, 1) runs N * C loops of H * W); (0, 0.0) for the rest."""
    count, kind = pricing.get("runs", {}).get(cost.kernel), cost.kernel
    if isinstance(count, tuple):  # (counter, the kernel whose measured run_s prices them): a fused kernel's
        count, kind = count
    if count is None and cost.kernel in pricing.get("scalar_operand", ()) and len(cost.shapes) == 2:
        count, kind = broadcast_runs, "broadcast"
    runs = count(cost) if count else 0
    return (runs, runs * r.get("run_s", {}).get(kind, 0.0)) if runs > 1 else (0, 0.0)


def broadcast_runs(cost):
    """How many inner loops NumPy runs for a binary op on these two shapes: the trailing axes where
    the same operands are broadcast (stride 0) merge into one loop; a change of pattern ends it."""
    a, b = (tuple(s) for s in cost.shapes)
    if a == b:
        return 1
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    inner, pattern = 1, None
    for x, y in zip(reversed(a), reversed(b)):
        size = max(x, y)
        if size == 1:
            continue
        here = (x == 1, y == 1)
        if pattern is not None and here != pattern:
            break
        pattern, inner = here, inner * size
    total = math.prod(max(x, y) for x, y in zip(a, b))
    return total // inner if inner else 0


def run_costs(be, best_time, repeat):
    """Seconds per contiguous run of `be`'s im2col and col2im: each timed on two images with the same
    number of column entries (so the same bytes) but rows 4 and 16 long (4x the runs); the
    difference over the difference in runs. 3x3 windows, 'same' padding."""
    from tinygrad_nm import dtypes
    window = ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    times, runs = {"im2col": [], "col2im": []}, []
    for shape in ((16, 16, 4, 4), (16, 1, 16, 16)):
        image = be.from_numpy(np.ones(shape, np.float32), dtypes.float32)
        cols = be.im2col(image, *window)
        times["im2col"].append(best_time(lambda: be.im2col(image, *window), 20, repeat))
        times["col2im"].append(best_time(lambda: be.col2im(cols, shape, *window), 20, repeat))
        runs.append(9 * shape[0] * shape[1] * shape[2])  # 9 taps x N x C x oh rows, ow = W long
    return {k: max((t[0] - t[1]) / (runs[0] - runs[1]), 0.0) for k, t in times.items()}


def broadcast_run_cost(be, best_time, repeat):
    """Seconds per inner loop of a broadcast binary op: (N, 16, h, w) * (1, 16, 1, 1) with the same
    16K elements in runs of 4 (N 256) and of 64 (N 16); the difference over the difference in runs."""
    from tinygrad_nm import dtypes
    y = be.from_numpy(np.ones((1, 16, 1, 1), np.float32), dtypes.float32)
    times = []
    for shape in ((256, 16, 2, 2), (16, 16, 8, 8)):
        x = be.from_numpy(np.ones(shape, np.float32), dtypes.float32)
        times.append(best_time(lambda: be.mul(x, y), 20, repeat))
    return max((times[0] - times[1]) / (256 * 16 - 16 * 16), 0.0)


def reduce_run_cost(be, best_time, repeat):
    """Seconds per inner loop of a reduction: the same 16K elements summed along rows of 4 (4096 rows)
    and of 64 (256 rows); the difference over the difference in runs."""
    from tinygrad_nm import dtypes
    times = []
    for shape in ((4096, 4), (256, 64)):
        x = be.from_numpy(np.ones(shape, np.float32), dtypes.float32)
        times.append(best_time(lambda: be.sum(x, (1,), False), 20, repeat))
    return max((times[0] - times[1]) / (4096 - 256), 0.0)


def _blas(cost, r, host, dtype, limit, limit_terms):
    """A matmul (or a kernel built on one: PRICING["blas"]): its multiply-adds at BLAS's rate at this
    size (blas_compute); what a fused kernel adds after it (linear_act: the bias and the activation)
    as two more NumPy calls over the output, each reading and writing it, exps at NumPy's rate."""
    matmul_flops = 2 * cost.elements
    call = call_cost(r, "matmul")
    compute = blas_compute(matmul_flops, r, dtype)
    rate = matmul_flops / compute if compute else math.inf
    terms = [f"{fmt.flops(matmul_flops)} / {fmt.flop_rate(rate)} (BLAS at this size)"]
    memory = 0.0
    if cost.flops > matmul_flops:  # an epilogue: two more NumPy calls over the output
        call += 2 * r["call_s"]
        traffic = 4 * cost.out_bytes
        memory = traffic / bandwidth(host["bandwidth"], traffic)
        exp = cost.transcendentals * r["exp_s"].get(dtype, r["exp_s"]["float32"])
        compute += exp
        terms.append(f"{fmt.nbytes(traffic)} / {fmt.bandwidth(traffic / memory)}")
        if exp:
            terms.append(f"exp {fmt.seconds(exp)}")
    terms.append(f"{fmt.seconds(call)} call" + ("s" if cost.flops > matmul_flops else ""))
    return Prediction(call + compute + memory, limit, call, compute, memory, 0.0,
                      "compute" if compute > call else "overhead", terms, limit_terms)


def _with_columns(p, cost, pricing, r, host):
    """A kernel composed of a BLAS call and im2col / col2im (conv2d on numpy): the column matrix's
    memory traffic (PRICING["column_bytes"]) and its window rows (PRICING["runs"]) after the matmul's time."""
    count = pricing.get("column_bytes", {}).get(cost.kernel)
    if count is None:
        return p
    traffic = count(cost)
    memory = traffic / bandwidth(host["bandwidth"], traffic) if traffic else 0.0
    runs, run_time = strided_runs(cost, pricing, r)
    terms = [f"columns {fmt.nbytes(traffic)} / {fmt.bandwidth(traffic / memory)}"] if memory else []
    if runs:
        terms.append(f"{fmt.count(runs)} runs x {fmt.seconds(run_time / runs)}")
    calls = pricing.get("composed_calls", {}).get(cost.kernel, ())
    overhead = sum(call_cost(r, kind) for kind in calls)
    if calls:  # (the ufunc among them, the bias add, also reads and writes the output)
        out = 2 * cost.out_bytes if "ufunc" in calls else 0.0
        memory += out / bandwidth(host["bandwidth"], out) if out else 0.0
        terms.append(f"{fmt.seconds(overhead)} for {', '.join(calls)} calls")
    return replace(p, seconds=p.seconds + memory + run_time + overhead, memory_s=p.memory_s + memory,
                   compute_s=p.compute_s + run_time, overhead_s=p.overhead_s + overhead,
                   terms=p.terms[:-1] + terms + p.terms[-1:])


def _fresh_bytes(written_total, written_big, host):
    """How many of a call's newly written bytes land on pages the OS has just handed out.

    glibc malloc, steady state: a block >= mmap_threshold (32 MiB) is mapped afresh on every
    allocation; smaller ones come from the heap, which is given back to the OS (trimmed) when more
    than 2 x mmap_threshold lies free at its top, as after a call whose temporaries add up to more
    than that. Either way the pages are faulted in and zeroed again on the next call."""
    if written_total >= 2 * host["mmap_threshold"]:
        return written_total
    return written_big


def _numpy_inner_loop(kind, n, r, host, dtype, ops):
    """Seconds for a pass's inner loop when that, not memory, is what limits it (0 for plain streams)."""
    if kind == "exp":
        return n * r["exp_s"].get(dtype, r["exp_s"]["float32"])
    if kind == "divide":  # the host's vectorised divide (half the lanes in float64)
        return n * host["vdiv_s"] * (2 if dtype == "float64" else 1)
    if kind == "select":
        return n * r["select_s"]
    if kind == "scalar":
        return n * ops / host["scalar_flops"]
    return 0.0



def calibrate(be, quick, log, best_time, empty_call, blas_threads, in_program, in_loop):
    """`in_program(fn)`: fn's time when it runs between pieces of a program's other work, as a kernel
    does in a training step (caches, branch predictors and BLAS's threads are not left as fn left
    them). `in_loop(fn)`: its time between three tiny Tensor ops, as in a tight loop of ops; the
    call kinds and small-BLAS curve measured so (`calls_loop`, `blas_curve_loop`) price the kernels
    of measure_framework's loops, whose time is the framework's less theirs."""
    repeat = 5 if quick else 9
    r = {"call_s": empty_call(be, repeat=repeat)}
    x0, y0 = np.float32(1.5), np.float32(2.0)  # NumPy scalars: the walkthrough's scalar loops run on these
    r["scalar_call_s"] = best_time(lambda: be.mul(x0, y0), 2000, repeat)
    r["calls"], r["calls_loop"] = _call_kinds(in_program), _call_kinds(in_loop)
    rng = np.random.default_rng(0)
    blas = {}
    for dtype, n in (("float32", 1024), ("float64", 512 if quick else 1024)):
        a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
        blas[dtype] = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 9 if quick else 15)
    r["blas_flops"] = blas
    try:  # one thread: how close a tuned matmul comes to one core's FMA peak (used for compiled matmuls)
        from threadpoolctl import threadpool_limits
        n = 1024
        a, b = rng.random((n, n)).astype(np.float32), rng.random((n, n)).astype(np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            r["blas_flops_1thread"] = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 9 if quick else 15)
        # BLAS on all its threads is never slower than on one on an idle machine; when it measured so,
        # another process held a core and stalled the threads' barriers: keep the undisturbed figure
        blas["float32"] = max(blas["float32"], r["blas_flops_1thread"])
    except ImportError:
        pass
    r["blas_curve"] = _small_blas_curve(rng, in_program, blas["float32"], r["calls"]["matmul"])
    r["blas_curve_loop"] = _small_blas_curve(rng, in_loop, blas["float32"], r["calls_loop"]["matmul"])
    exp_s = {}
    for dtype in ("float32", "float64"):
        x = rng.standard_normal(8192).astype(dtype)  # 32-64 KiB: in cache, so exp's own speed shows
        exp_s[dtype] = best_time(lambda: np.exp(x), 50, repeat) / x.size
    r["exp_s"] = exp_s
    # 256K elements: a branch predictor learns the pattern of a short mask repeated call after call
    # (16K elements run 3x faster here), which a mask in real use does not offer
    n = 1 << 18
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    mask = rng.random(n) < 0.5
    r["select_s"] = best_time(lambda: np.where(mask, x, y), 2, repeat) / n
    r["run_s"] = {**run_costs(be, best_time, repeat), "broadcast": broadcast_run_cost(be, best_time, repeat),
                  "reduce": reduce_run_cost(be, best_time, repeat)}
    log(f"  {be.NAME}: empty call {r['call_s'] * 1e6:.2f} us ({r['scalar_call_s'] * 1e6:.2f} on NumPy scalars); "
        + ", ".join(f"{k} {v * 1e6:.2f}" for k, v in r["calls"].items()) + " us; "
        f"matmul {blas['float32'] / 1e9:.0f} GFLOP/s float32, "
        f"{blas['float64'] / 1e9:.0f} float64 (BLAS threads: {blas_threads()}), "
        f"{r.get('blas_flops_1thread', float('nan')) / 1e9:.0f} on one thread; small: "
        + ", ".join(f"{round((f / 2) ** (1 / 3))} {t * 1e6:.3g} us" for f, t in r["blas_curve"][:-1]) +
        f"; exp {exp_s['float32'] * 1e9:.2f} ns "
        f"per element; where on a random mask {r['select_s'] * 1e9:.2f} ns per element; per strided run: "
        + ", ".join(f"{k} {v * 1e9:.1f} ns" for k, v in r["run_s"].items()))
    return r


def _small_blas_curve(rng, timer, rate, call):
    """[[FLOPs, seconds]] of np.matmul on small square matrices, each timed by `timer`, ending on a
    point at the large-size `rate`: where the time goes before BLAS gets going."""
    curve = []
    for n in BLAS_CURVE_SIZES:
        a, b = rng.random((n, n)).astype(np.float32), rng.random((n, n)).astype(np.float32)
        # in a program: between two calls BLAS's worker threads go idle, and waking them is part of
        # a small call's time (on one thread a 64x64x64 matmul takes the same time back to back)
        t = timer(lambda: np.matmul(a, b))
        try:  # as for the large-size rate: all threads are never slower than one on an idle machine
            from threadpoolctl import threadpool_limits
            with threadpool_limits(limits=1, user_api="blas"):
                t = min(t, timer(lambda: np.matmul(a, b)))
        except ImportError:
            pass
        curve.append([2 * n ** 3, t])
    curve.append([2 * 1024 ** 3, 2 * 1024 ** 3 / rate + call])  # joins the large-size rate
    for i in range(1, len(curve)):  # time grows with the work; a disturbed timing must not bend the curve down
        curve[i][1] = max(curve[i][1], curve[i - 1][1])
    return curve


def _call_kinds(in_program):
    """The fixed cost of each kind of NumPy call (CALL_KINDS), each timed on 1-element arrays (a 1x1
    matrix where the call wants axes), so that nothing but the call itself is measured, and in a
    program (between pieces of tinygrad_nm's work), as kernels are called."""
    one, m = np.ones(1, np.float32), np.ones((1, 1), np.float32)
    rows, labels, mask = np.arange(1), np.zeros(1, np.int64), np.ones(1, bool)
    calls = {
        "number": lambda: one * 1.5,
        "reduce": lambda: np.sum(m, axis=(1,), keepdims=True),
        "mean": lambda: np.mean(one),
        "matmul": lambda: np.matmul(m, m),
        "index": lambda: m[rows, labels],
        "where": lambda: np.where(mask, one, 0),
        "view": lambda: np.transpose(m, (1, 0)),
        "broadcast": lambda: np.broadcast_to(one, (1, 1)),
        "array": lambda: np.array(one, copy=True),
        "pad": lambda: np.pad(m, 1),
    }
    return {kind: in_program(fn) for kind, fn in calls.items()}
