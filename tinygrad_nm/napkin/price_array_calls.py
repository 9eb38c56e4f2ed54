"""Pricing family `array_calls`: a backend whose kernels are NumPy calls.

Each kernel is one or more NumPy calls ("passes"); each pass pays the call overhead and moves its
arrays through the cache level their size fits in, unless its inner loop is slower than that:
exp (vectorised transcendental), select (a data-dependent branch per element), scalar (a loop the
compiler could not vectorise: k scalar operations per element), BLAS (matmul). The backend's
PRICING["passes"] lists the passes of its kernels that are more than one plain pass.
"""
import numpy as np

from tinygrad_nm.napkin import fmt
from tinygrad_nm.napkin.roofline import Prediction, bandwidth, host_limit

FAMILY = "array_calls"
DEFAULT_RATES = {"call_s": 0.7e-6, "scalar_call_s": 0.15e-6,
                 "blas_flops": {"float32": 210e9, "float64": 105e9},  # machine notes: fp32 1024, 2 threads
                 "blas_flops_1thread": 110e9,  # machine notes: 1 thread
                 "exp_s": {"float32": 1.5e-9, "float64": 3e-9}, "select_s": 4.5e-9}


def price(cost, pricing, rates, dtype, scalar_args=False):
    r, host = rates.section(FAMILY), rates["host"]
    call = r.get("scalar_call_s", r["call_s"]) if scalar_args else r["call_s"]
    limit, limit_terms = host_limit(cost, rates, dtype)
    if cost.kernel in pricing.get("blas", ("matmul",)):
        return _blas(cost, r, host, call, dtype, limit, limit_terms)
    passes = pricing["passes"].get(cost.kernel)
    n = cost.elements
    itemsize = cost.itemsize
    if passes is None:  # one pass moving the compulsory bytes
        kind = "exp" if cost.transcendentals else "stream"
        reps = max(1, round(cost.transcendentals / n)) if cost.transcendentals and n else 1
        passes = [(kind, None, None)] * reps
    if not passes:
        return Prediction(call, limit, call, bound="overhead", terms=[f"{fmt.seconds(call)} call (a view)"],
                          limit_terms=limit_terms)
    compute = memory = 0.0
    traffic_total, inner, written_total, written_big = 0.0, {}, 0.0, 0.0
    for kind, reads, writes, *ops in passes:
        if reads is None:  # the kernel's own compulsory traffic, spread over its passes
            traffic, written = cost.bytes / len(passes), cost.out_bytes / len(passes)
        else:
            traffic, written = (reads + writes) * n * itemsize, writes * n * itemsize
        mem = traffic / bandwidth(host["bandwidth"], traffic) if traffic else 0.0
        loop = _numpy_inner_loop(kind, n, r, host, dtype, ops[0] if ops else 1)
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
    overhead = call * len(passes)
    terms = []
    if memory:
        terms.append(f"{fmt.nbytes(traffic_total)} / {fmt.bandwidth(traffic_total / memory)}")
    for kind, t in inner.items():
        terms.append(f"{kind} {fmt.seconds(t)}")
    if fresh:
        terms.append(f"fresh pages {fmt.seconds(fresh)}")
    label = f"{len(passes)} NumPy calls" if len(passes) > 1 else "call"
    terms.append(f"{fmt.seconds(overhead)} {label}")
    seconds = overhead + compute + memory + fresh
    bound = max((("overhead", overhead), ("compute", compute), ("memory", memory + fresh)), key=lambda kv: kv[1])[0]
    return Prediction(seconds, limit, overhead, compute, memory, fresh, bound, terms, limit_terms)


def _blas(cost, r, host, call, dtype, limit, limit_terms):
    """A matmul (or a kernel built on one: PRICING["blas"]): its multiply-adds at BLAS's rate; what
    a fused kernel adds after it (linear_act: the bias and the activation) as NumPy passes over
    the output - a bias add and an activation, each reading and writing it, exps at NumPy's rate."""
    blas = r["blas_flops"].get(dtype, r["blas_flops"]["float32"])
    matmul_flops = 2 * cost.elements
    compute = matmul_flops / blas
    terms = [f"{fmt.flops(matmul_flops)} / {fmt.flop_rate(blas)} (BLAS)"]
    calls, memory = 1, 0.0
    if cost.flops > matmul_flops:  # an epilogue: two more NumPy calls over the output
        calls = 3
        traffic = 4 * cost.out_bytes
        memory = traffic / bandwidth(host["bandwidth"], traffic)
        exp = cost.transcendentals * r["exp_s"].get(dtype, r["exp_s"]["float32"])
        compute += exp
        terms.append(f"{fmt.nbytes(traffic)} / {fmt.bandwidth(traffic / memory)}")
        if exp:
            terms.append(f"exp {fmt.seconds(exp)}")
    overhead = calls * call
    terms.append(f"{fmt.seconds(overhead)} {calls} NumPy calls" if calls > 1 else f"{fmt.seconds(call)} call")
    return Prediction(overhead + compute + memory, limit, overhead, compute, memory, 0.0,
                      "compute" if compute > overhead else "overhead", terms, limit_terms)


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
    if kind == "select":
        return n * r["select_s"]
    if kind == "scalar":
        return n * ops / host["scalar_flops"]
    return 0.0



def calibrate(be, quick, log, best_time, empty_call, blas_threads):
    repeat = 5 if quick else 9
    r = {"call_s": empty_call(be, repeat=repeat)}
    x0, y0 = np.float32(1.5), np.float32(2.0)  # NumPy scalars: the walkthrough's scalar loops run on these
    r["scalar_call_s"] = best_time(lambda: be.mul(x0, y0), 2000, repeat)
    rng = np.random.default_rng(0)
    blas = {}
    for dtype, n in (("float32", 1024), ("float64", 512 if quick else 1024)):
        a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
        blas[dtype] = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 3 if quick else 5)
    r["blas_flops"] = blas
    try:  # one thread: how close a tuned matmul comes to one core's FMA peak (used for compiled matmuls)
        from threadpoolctl import threadpool_limits
        n = 1024
        a, b = rng.random((n, n)).astype(np.float32), rng.random((n, n)).astype(np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            r["blas_flops_1thread"] = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 3 if quick else 5)
        # BLAS on all its threads is never slower than on one on an idle machine; when it measured so,
        # another process held a core and stalled the threads' barriers: keep the undisturbed figure
        blas["float32"] = max(blas["float32"], r["blas_flops_1thread"])
    except ImportError:
        pass
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
    log(f"  {be.NAME}: empty call {r['call_s'] * 1e6:.2f} us ({r['scalar_call_s'] * 1e6:.2f} on NumPy scalars); matmul {blas['float32'] / 1e9:.0f} GFLOP/s float32, "
        f"{blas['float64'] / 1e9:.0f} float64 (BLAS threads: {blas_threads()}), "
        f"{r.get('blas_flops_1thread', float('nan')) / 1e9:.0f} on one thread; exp {exp_s['float32'] * 1e9:.2f} ns "
        f"per element; where on a random mask {r['select_s'] * 1e9:.2f} ns per element")
    return r


