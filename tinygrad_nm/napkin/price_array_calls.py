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
default), a reduction with axes through a ufunc's reduce (`reduce`: np.add.reduce), np.matmul
(`matmul`), fancy indexing (`index`), np.where (`where`), .reshape/.transpose (`view`),
np.broadcast_to (`broadcast`), an array made by np.array/np.arange/np.full/np.zeros (`array`), an
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


from tinygrad_nm.napkin import fmt
from tinygrad_nm.napkin.calibrate_array_calls import (BLAS_CURVE_SIZES, calibrate, run_costs,  # noqa: F401
                                                      strided_loop_cost)  # (the family's calibration)
from tinygrad_nm.napkin.roofline import Prediction, bandwidth, host_limit, log_interpolate

FAMILY = "array_calls"
HOST_MEMORY = True  # its kernels read host memory: operands from far in a trace cost more (locality.py)
# a NumPy call's fixed cost by kind (module docstring); defaults measured so on the machine notes' VM
CALL_KINDS = {"ufunc": None, "scalar": None, "number": 0.5e-6, "reduce": 2.0e-6, "matmul": 0.6e-6, "index": 0.6e-6,
              "where": 1.0e-6, "view": 0.4e-6, "broadcast": 2.5e-6, "array": 0.4e-6}  # ufunc: call_s; scalar: scalar_call_s
DEFAULT_RATES = {"call_s": 0.7e-6, "scalar_call_s": 0.15e-6, "calls": {k: v for k, v in CALL_KINDS.items() if v},
                 "blas_flops": {"float32": 210e9, "float64": 105e9},  # machine notes: fp32 1024, 2 threads
                 "blas_flops_1thread": 110e9,  # machine notes: 1 thread
                 # [[FLOPs, seconds], ...]: np.matmul of square float32 matrices, n = 4, 16, ... 512,
                 # then 1024 at the large-size rate (calibrate measured these on an idle notes' VM)
                 "blas_curve": [[2 * n ** 3, t] for n, t in ((4, 0.7e-6), (16, 0.8e-6), (32, 1.4e-6), (64, 4.6e-6),
                                                             (128, 36e-6), (256, 0.16e-3), (512, 1.3e-3),
                                                             (1024, 10.2e-3))],
                 "exp_s": {"float32": 1.5e-9, "float64": 3e-9}, "tanh_s": {"float32": 1.5e-9, "float64": 3e-9},
                 "select_s": 4.5e-9,
                 "run_s": {"im2col": 9e-9, "col2im": 18e-9, "reduce": 15e-9},  # per contiguous run
                 "strided_loop": {"run_s": 2.2e-9, "element_s": 0.15e-9}}  # measured so on the Zen 5 VM


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


def blas_compute(flops, r, dtype, transposed=False):
    """np.matmul's time for `flops` FLOPs beyond its fixed call cost: read off the curve measured on
    small square matmuls (log-log interpolation; the curve's times include the call), above its
    last point FLOPs at the large-size rate. `transposed`: the second operand is a transposed view
    (its own curve, where the calibration measured one)."""
    rate = r["blas_flops"].get(dtype, r["blas_flops"]["float32"])
    curve = (transposed and r.get("blas_curve_nt")) or r.get("blas_curve") or []
    call = call_cost(r, "matmul")
    if not curve or flops >= curve[-1][0]:
        return flops / rate
    if dtype != "float32":  # the curve is float32's: scale by the large-size rates' ratio
        return blas_compute(flops, r, "float32", transposed) * r["blas_flops"]["float32"] / rate
    return max(curve_time(flops, curve) - call, 0.0)


def price(cost, pricing, rates, dtype, scalar_args=False, run=0):
    """`run`: the rows NumPy loops over when the operands' layouts differ (locality.Placement.run)."""
    r, host = rates.section(FAMILY), rates["host"]
    call = r.get("scalar_call_s", r["call_s"]) if scalar_args else r["call_s"]
    limit, limit_terms = host_limit(cost, rates, dtype)
    if cost.kernel in pricing.get("blas", ("matmul",)):
        transposed = cost.kernel in pricing.get("blas_transposed", ())
        return _with_columns(_blas(cost, r, host, dtype, limit, limit_terms, transposed), cost, pricing, r, host)
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
    rows, row_loop = strided_loop(cost, pricing, r, run)
    for i, (kind, reads, writes, *extra) in enumerate(passes):
        ops, call_kind = (extra[0] if extra else 1), (extra[1] if len(extra) > 1 else "ufunc")
        overhead += call if call_kind == "ufunc" else call_cost(r, call_kind)
        kinds[call_kind] = kinds.get(call_kind, 0) + 1
        if reads is None:  # the kernel's own compulsory traffic, spread over its passes
            traffic, written = cost.bytes / len(passes), cost.out_bytes / len(passes)
        else:
            traffic, written = (reads + writes) * n * itemsize, writes * n * itemsize
        mem = traffic / bandwidth(host["bandwidth"], traffic) if traffic else 0.0
        loop = _numpy_inner_loop(kind, n, r, host, dtype, ops)
        if row_loop > loop and i == len(passes) - 1:  # the pass that combines the operands
            kind, loop = f"{fmt.count(rows)} rows' loop", row_loop
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
    `run_s`; `run_s` is one's cost on this family); (0, 0.0) for the rest."""
    count, kind = pricing.get("runs", {}).get(cost.kernel), cost.kernel
    if isinstance(count, tuple):  # (counter, the kernel whose measured run_s prices them): a fused kernel's
        count, kind = count
    runs = count(cost) if count else 0
    return (runs, runs * r.get("run_s", {}).get(kind, 0.0)) if runs > 1 else (0, 0.0)


def strided_loop(cost, pricing, r, run=0):
    """(rows, seconds) of an elementwise call NumPy cannot run as one flat loop: a binary ufunc on a
    broadcast operand (its inner loop ends where the broadcast pattern changes: (N, C, H, W) *
    (1, C, 1, 1) loops over N * C rows of H * W), or on operands whose layouts differ (`run`, the
    permuted one's rows: locality.py). Such a loop is not NumPy's flat SIMD one: each row pays its
    setup and each element the strided loop's rate (`strided_loop`, measured). (0, 0.0) for the rest."""
    rows = broadcast_runs(cost) if cost.kernel in pricing.get("scalar_operand", ()) and len(cost.shapes) == 2 else 0
    if run:
        rows = max(rows, cost.elements / run)
    return (rows, rows_loop_seconds(r, rows, cost.elements)) if rows > 1 else (0, 0.0)


def rows_loop_seconds(r, rows, elements):
    """NumPy's strided loop over `rows` rows of `elements` in all: each row's setup and each
    element at the measured `strided_loop` rates."""
    loop = r.get("strided_loop", DEFAULT_RATES["strided_loop"])
    return rows * loop["run_s"] + elements * loop["element_s"]


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


def _blas(cost, r, host, dtype, limit, limit_terms, transposed=False):
    """A matmul (or a kernel built on one: PRICING["blas"]): its multiply-adds at BLAS's rate at this
    size (blas_compute); what a fused kernel adds after it (linear_act: the bias and the activation)
    as two more NumPy calls over the output, each reading and writing it, exps at NumPy's rate."""
    matmul_flops = 2 * cost.elements
    call = call_cost(r, "matmul")
    compute = blas_compute(matmul_flops, r, dtype, transposed)
    rate = matmul_flops / compute if compute else math.inf
    terms = [f"{fmt.flops(matmul_flops)} / {fmt.flop_rate(rate)} (BLAS at this size{', b transposed' if transposed else ''})"]
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
    if calls:
        terms.append(f"{fmt.seconds(overhead)} for {', '.join(calls)} calls")
    # its NumPy calls that loop over rows (PRICING["composed_loops"]: a broadcast bias add, a permuted
    # copy: NumPy's rows' loop; a sum along rows: a reduction's loops and scalar adds)
    loops = 0.0
    for kind, rows, elements in pricing.get("composed_loops", {}).get(cost.kernel, lambda c: ())(cost):
        if kind == "reduce":
            loops += rows * r.get("run_s", {}).get("reduce", 0.0) + elements / host["scalar_flops"]
        else:
            loops += rows_loop_seconds(r, rows, elements)
    if loops:
        terms.append(f"rows' loops {fmt.seconds(loops)}")
    run_time += loops
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
    if kind in ("exp", "tanh"):  # NumPy's own loop for each (its tanh is not built on its exp)
        rate = r.get(f"{kind}_s") or r["exp_s"]
        return n * rate.get(dtype, rate["float32"])
    if kind == "divide":  # the host's vectorised divide (half the lanes in float64)
        return n * host["vdiv_s"] * (2 if dtype == "float64" else 1)
    if kind == "select":
        return n * r["select_s"]
    if kind == "scalar":
        return n * ops / host["scalar_flops"]
    return 0.0
