"""Pricing family `compiled_host`: a backend that compiles some kernels itself (Cython).

A kernel it compiles is one pass at the host's rates: FMA peak x its threads (for a matmul times
the fraction of the peak BLAS reaches on one core; half the peak for lone adds and multiplies),
a vectorised exp and divide, the streaming bandwidth, an OpenMP fork-join per parallel region. What it
hands to another backend is priced as that backend's family. The backend's PRICING says which
kernels it compiles (`native`), from which size each runs on every thread (`parallel`: kernel ->
(fewest elements, parallel regions per call), read from the compiled module's own thresholds),
where a compiled kernel's arithmetic differs from the textbook formula (`compiled_work`), how many
threads it uses (`threads()`), and whom it delegates the rest to (`delegate`, that backend's PRICING).
"""
import math

import numpy as np

from tinygrad_nm.backends import own_threads
from tinygrad_nm.backends.costs import batch_count
from tinygrad_nm.napkin import fmt, price_array_calls
from tinygrad_nm.napkin.roofline import Prediction, bandwidth, host_limit
from tinygrad_nm.napkin.price_array_calls import _fresh_bytes

FAMILY = "compiled_host"
# a row kernel's calibration width (PRICING["row_kernels"]): a classifier head's classes. Its rows are
# priced at the per-row time measured there; columns past it by the element model.
ROW_WIDTH = 10
NARROW_N = 10  # and a classifier head's products, x @ W.T with W (10, K): their own measured curve
HOST_MEMORY = True  # its kernels read host memory: operands from far in a trace cost more (locality.py)
DEFAULT_RATES = {"call_s": 0.7e-6, "native_call_s": 1.5e-6,
                 "run_s": {"im2col": 5e-9, "col2im": 5e-9}}  # per contiguous run: price_array_calls.strided_runs


def price(cost, pricing, rates, dtype, scalar_args=False, run=0):
    batched_elsewhere = batch_count(cost) > 1 and pricing.get("batched_matmul") == "delegate"
    if scalar_args or cost.kernel not in pricing["native"] or batched_elsewhere:
        return price_array_calls.price(cost, pricing["delegate"], rates, dtype, scalar_args, run)
    host, r = rates["host"], rates.section(FAMILY)
    call = r.get("call_by_kernel", {}).get(cost.kernel, r["native_call_s"])
    min_elements, regions = pricing["parallel"].get(cost.kernel, (math.inf, 0))
    team = pricing["threads"]()
    parallel = team > 1 and cost.elements >= min_elements
    threads = team if parallel else 1
    wake = regions * host["fork_join_s"] if parallel else 0.0
    limit, limit_terms = host_limit(cost, rates, dtype)
    peak = host["fma_flops_per_core"].get(dtype, host["fma_flops_per_core"]["float32"]) * threads
    # a multiply-add is two FLOPs in one instruction: matmul can reach the FMA peak; a lone add or
    # multiply takes the same instruction slot for one FLOP, so elementwise code gets half of it
    matmul = cost.kernel in pricing.get("matmul_kernels", ("matmul",))  # matmul, and one with an epilogue
    flops_rate = peak if matmul else peak / 2
    if matmul:  # as close to the peak as its own matmul came on one core (BLAS's, for an older rates file)
        per_core = host["fma_flops_per_core"]["float32"]
        conv = cost.kernel.replace("_act", "")  # conv2d_act(_backward): the convolution's own rate
        one_thread = r.get("conv_flops_1thread", {}).get(conv) or r.get("matmul_flops_1thread") or \
            rates.section(price_array_calls.FAMILY).get("blas_flops_1thread", per_core)
        flops_rate *= min(1.0, one_thread / per_core)
    lanes = (2 if dtype == "float64" else 1) / threads  # half the lanes in float64
    exp_s, div_s = host["vexp_s"] * lanes, host["vdiv_s"] * lanes
    flops, transcendentals, divides = cost.flops, cost.transcendentals, cost.divides
    if (cost.kernel, dtype) in pricing["compiled_work"]:
        flops, transcendentals, divides = (w * cost.elements for w in pricing["compiled_work"][(cost.kernel, dtype)])
    compute = (flops - divides) / flops_rate + transcendentals * exp_s + divides * div_s
    # a product up to 512^3: its measured time at this size, on the threads the curve was measured
    # on (two threads scale a mid-size product less than twofold; a file without that: one thread)
    measured_here = cost.kernel in ("matmul", "linear_act") and dtype == "float32" \
        and (team == r["matmul_curve_threads"] if "matmul_curve_threads" in r else threads == 1)
    curve = r.get("matmul_curve") if measured_here else None
    # a classifier head's products, 10 columns (the kernel's narrow path) or 10 deep (its input
    # gradient, g @ W): each shape off its own curve, measured at training sizes
    head = None
    if measured_here:
        head = r.get("matmul_narrow_curve") if _narrow(cost, pricing) else \
            r.get("matmul_short_k_curve") if _short_k(cost, pricing) else None
    if head:
        compute = price_array_calls.curve_time(2 * cost.elements, head) - call
    elif curve and cost.elements * 2 < curve[-1][0]:
        compute = max(compute, price_array_calls.curve_time(2 * cost.elements, curve) - call)
    row_s = r.get("row_s", {}).get(cost.kernel) \
        if cost.kernel in pricing.get("row_kernels", ()) and len(cost.shapes[0]) == 2 else None
    if row_s is not None:  # rows of a classifier's head: each row's own loop
        rows, width = cost.shapes[0]
        compute = rows * row_s + compute * max(0, width - ROW_WIDTH) / max(width, 1)
    memory = cost.bytes / bandwidth(host["bandwidth"], cost.bytes) if cost.bytes else 0.0
    fresh = _fresh_bytes(cost.out_bytes, cost.out_bytes if cost.out_bytes >= host["mmap_threshold"] else 0.0,
                         host) * host["fresh_page_s_per_byte"]
    if compute >= memory:
        terms = [f"{fmt.flops(flops)} / {fmt.flop_rate(flops_rate)} ({threads} thread{'s' * (threads > 1)})"]
        if transcendentals:
            terms.append(f"{fmt.count(transcendentals)} exp x {exp_s * 1e9:.3g} ns")
        if divides:
            terms.append(f"{fmt.count(divides)} divides x {div_s * 1e9:.3g} ns")
    else:
        terms = [f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(cost.bytes / memory)}"]
    if fresh:
        terms.append(f"fresh pages {fmt.seconds(fresh)}")
    runs, run_time = price_array_calls.strided_runs(cost, pricing, r)  # a loop per short row: its setup
    if runs:
        terms.append(f"{fmt.count(runs)} runs x {fmt.seconds(run_time / runs)}")
    if row_s is not None:
        terms.insert(0, f"{fmt.count(cost.shapes[0][0])} rows x {fmt.seconds(row_s)}")
    if wake:
        terms.append(f"{regions} parallel region{'s' * (regions > 1)} x {fmt.seconds(host['fork_join_s'])}")
    terms.append(f"{fmt.seconds(call)} call")
    seconds = call + wake + max(compute, memory) + fresh + run_time
    fixed = call + wake + run_time
    bound = "overhead" if fixed >= max(compute, memory) else ("compute" if compute >= memory else "memory")
    return Prediction(seconds, limit, fixed, compute, memory, fresh, bound, terms, limit_terms)



def _narrow(cost, pricing):
    """A product with more columns than the dot-product path takes and at most one vector of them
    (kernels/tnm_narrow_body.h): a classifier head, x @ W.T with W (10, K)."""
    if len(cost.shapes) < 2 or len(cost.shapes[0]) != 2:
        return False
    return _narrow_columns(cost.shapes[1][0] if cost.kernel == "linear_act" else cost.shapes[1][-1], pricing)


def _short_k(cost, pricing):
    """A matmul as deep as a classifier head has classes (at most one vector), both sides wider: the
    head's input gradient, g (B, 10) @ W (10, K). The blocked kernel's packing and stores are its time."""
    if cost.kernel != "matmul" or len(cost.shapes) < 2 or len(cost.shapes[0]) != 2:
        return False
    m, k = cost.shapes[0]
    return _narrow_columns(k, pricing) and not _narrow_columns(min(m, cost.shapes[1][-1]), pricing)


def _narrow_columns(n, pricing):
    return bool(pricing.get("vector_bytes")) and pricing.get("thin_matmul_n", 0) < n <= pricing["vector_bytes"] // 4


def _narrow_curve(be, rng, best_time, repeat, short_k=False):
    """[[FLOPs, seconds]] of the backend's float32 matmul with NARROW_N columns (a classifier head)
    at training sizes, 32 x 64 to 512 x 784 rows by depth, on its threads; with `short_k`, NARROW_N
    deep instead (the head's input gradient, rows by columns); [] where NARROW_N is not narrow there
    (wider than its vectors)."""
    from tinygrad_nm import dtypes
    if not _narrow_columns(NARROW_N, be.PRICING):
        return []
    curve = []
    for m, k in ((32, 64), (128, 256), (128, 784), (512, 784)):
        shapes = ((m, NARROW_N), (NARROW_N, k)) if short_k else ((m, k), (k, NARROW_N))
        a, b = (be.from_numpy(rng.random(s).astype(np.float32), dtypes.float32) for s in shapes)
        curve.append([2 * m * k * NARROW_N, best_time(lambda: be.matmul(a, b), 20, repeat)])
    for i in range(1, len(curve)):
        curve[i][1] = max(curve[i][1], curve[i - 1][1])
    return curve


def calibrate(be, quick, log, best_time, empty_call, in_program, in_loop, step_calls):
    """A compiled host backend (Cython): an empty call of a kernel it delegates to NumPy (add) and of
    one it compiles itself (relu), the latter in a program (`in_program`: between other work, as a
    training step calls it); each compiled kernel's call among `step_calls` (`call_by_kernel`,
    `in_loop`: between other Python work, its data left in cache, where it lies being
    locality.py's part); its matmul on square matrices up to 512, on its threads (`matmul_curve`:
    packing and the call, not the FMA rate, are most of a small product's time, and two threads
    scale a mid-size one well under twofold; timed in a loop: with its operands evicted, as
    `in_program` leaves them, a product of a training step measured half that time)."""
    from tinygrad_nm import dtypes
    r = {"call_s": empty_call(be)}
    x = be.from_numpy(np.ones(1, np.float32), dtypes.float32)
    r["native_call_s"] = in_program(lambda: be.relu(x))
    r["call_by_kernel"] = _call_costs(be, in_loop, step_calls)
    r["row_s"] = _row_costs(be, in_loop, step_calls)
    r["run_s"] = price_array_calls.run_costs(be, best_time, 5 if quick else 9)
    rng, curve = np.random.default_rng(0), []
    for n in price_array_calls.BLAS_CURVE_SIZES:  # 4 .. 512
        a, b = (be.from_numpy(rng.random((n, n)).astype(np.float32), dtypes.float32) for _ in range(2))
        curve.append([2 * n ** 3, best_time(lambda: be.matmul(a, b), 50 if n <= 64 else 5 if n <= 256 else 2, 9)])
    for i in range(1, len(curve)):  # time grows with the work; a disturbed timing must not bend the curve down
        curve[i][1] = max(curve[i][1], curve[i - 1][1])
    r["matmul_curve"], r["matmul_curve_threads"] = curve, be.PRICING["threads"]()
    r["matmul_narrow_curve"] = _narrow_curve(be, rng, best_time, 5 if quick else 9)
    r["matmul_short_k_curve"] = _narrow_curve(be, rng, best_time, 5 if quick else 9, short_k=True)
    r["matmul_flops_1thread"] = _one_thread_rate(be, rng, best_time, 5 if quick else 9)
    r["conv_flops_1thread"] = _conv_rates(be, rng, best_time, 5 if quick else 9, r)
    log(f"  {be.NAME}: empty call {r['call_s'] * 1e6:.2f} us, of a compiled kernel {r['native_call_s'] * 1e6:.2f} us; "
        "per strided run: " + ", ".join(f"{k} {v * 1e9:.1f} ns" for k, v in r["run_s"].items())
        + f"; matmuls on {r['matmul_curve_threads']} threads: "
        + ", ".join(f"{round((f / 2) ** (1 / 3))} {t * 1e6:.3g} us" for f, t in curve)
        + (f"; 512^3 on one thread {r['matmul_flops_1thread'] / 1e9:.0f} GFLOP/s" if r["matmul_flops_1thread"] else "")
        + "".join(f"; {k} {v / 1e9:.0f} GFLOP/s" for k, v in r["conv_flops_1thread"].items())
        + "; per call of each compiled kernel, between Python work: "
        + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in r["call_by_kernel"].items())
        + "".join(f"; {k} per row of {ROW_WIDTH} {v * 1e9:.0f} ns" for k, v in r["row_s"].items())
        + "".join(f"; products {what}: " + ", ".join(f"{f / 2e6:.2g} M multiply-adds {t * 1e6:.3g} us" for f, t in c)
                  for what, c in ((f"with {NARROW_N} columns", r["matmul_narrow_curve"]),
                                  (f"{NARROW_N} deep", r["matmul_short_k_curve"])) if c))
    return r


def _call_costs(be, in_loop, step_calls):
    """{kernel: seconds} for each kernel the backend compiles among `step_calls` (the (kernel, args)
    of one training step of a tiny CNN: primitives.tiny_step_calls), each replayed with its own
    arguments between other Python work (`in_loop`: a few Tensor ops): its call through the
    backend's Python side (argument checks, the output's allocation, the labels' conversion) at a
    size where its loops take next to nothing. One empty call (native_call_s) is not all of it:
    cross_entropy's wrapper took 4x relu's. (Timed with a 2 MiB pass between as well, as
    native_call_s is, the SGD step's back-to-back axpy calls were priced at twice what they took:
    bench/README.md.)"""
    compiled, first = set(be.PRICING["native"]), {}
    for name, args in step_calls:
        if name in compiled:
            first.setdefault(name, args)
    return {name: in_loop(lambda fn=getattr(be, name), args=args: fn(*args)) for name, args in first.items()}


def _row_costs(be, in_loop, step_calls):
    """{kernel: seconds per row} of each row kernel the backend declares (PRICING["row_kernels"]:
    cross-entropy and its backward, one row at a time) at a classifier's training sizes: the kernel
    on 8 and on 128 rows of ROW_WIDTH, timed as call_by_kernel is, the difference over 120 rows. At
    10 columns a row's setup, not its elements, is the time: a 128 x 10 cross-entropy took 8-16 us
    where the element model said 1.3 us (bench/README.md)."""
    from tinygrad_nm import dtypes
    template = {name: args for name, args in step_calls}
    rng, out = np.random.default_rng(0), {}
    for name in be.PRICING.get("row_kernels", ()):
        if name not in template:
            continue
        times = []
        for rows in (8, 128):
            logits = rng.standard_normal((rows, ROW_WIDTH)).astype(np.float32)
            first = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True) if name.endswith("backward") else logits
            labels = be.from_numpy(rng.integers(0, ROW_WIDTH, rows), dtypes.int64)
            args = (be.from_numpy(first, dtypes.float32), labels, *template[name][2:])
            times.append(in_loop(lambda fn=getattr(be, name), args=args: fn(*args)))
        out[name] = max((times[1] - times[0]) / 120, 0.0)
    return out


def _one_thread_rate(be, rng, best_time, repeat):
    """FLOP/s of the backend's own float32 matmul at 512^3 on one thread (its set_num_threads), or
    None where it has no thread setting: how close its kernel comes to one core's FMA peak, which
    need not be how close BLAS comes (on a Zen 5, 78% against OpenBLAS's 43%)."""
    from tinygrad_nm import dtypes
    if not hasattr(be, "set_num_threads"):
        return None
    n = 512
    a, b = (be.from_numpy(rng.random((n, n)).astype(np.float32), dtypes.float32) for _ in range(2))
    with own_threads(be, 1):
        return 2 * n ** 3 / best_time(lambda: be.matmul(a, b), 1, repeat)


def _conv_rates(be, rng, best_time, repeat, r):
    """{kernel: FLOP/s} of the backend's own conv2d and conv2d_backward (dx too), where it compiles
    them, on one thread at x (8, 16, 8, 8), w (32, 16, 3, 3), 'same' padding, less their call and
    window rows (priced apart): a convolution's tiles and short rows keep it further from the peak
    than its matmul at 512^3 (on a Zen 5 about a third of that rate)."""
    from tinygrad_nm import dtypes
    from tinygrad_nm.backends.kernels import kernel_cost
    pricing = getattr(be, "PRICING", {})
    names = [k for k in ("conv2d", "conv2d_backward") if k in pricing.get("native", ())]
    if not names or not hasattr(be, "set_num_threads"):
        return {}
    x, w, g = (be.from_numpy(rng.standard_normal(s).astype(np.float32), dtypes.float32)
               for s in ((8, 16, 8, 8), (32, 16, 3, 3), (8, 32, 8, 8)))
    b = be.from_numpy(np.zeros(32, np.float32), dtypes.float32)
    geometry = ((1, 1), (1, 1), ((1, 1), (1, 1)), 1)
    args = {"conv2d": (x, w, b, *geometry), "conv2d_backward": (x, w, g, *geometry, True, True)}
    rates = {}
    with own_threads(be, 1):
        for name in names:
            t = best_time(lambda: getattr(be, name)(*args[name]), 1, 6 * repeat)  # ~0.1 ms each: many, the fastest
            cost = kernel_cost(name, args[name])
            _, rows = price_array_calls.strided_runs(cost, pricing, r)
            rates[name] = cost.flops / max(t - r["native_call_s"] - rows, t / 10)
    return rates
