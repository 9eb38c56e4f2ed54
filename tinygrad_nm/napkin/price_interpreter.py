"""Pricing family `interpreter`: a backend whose kernels run as CPython code.

Bytes do not matter; every element costs the interpreter's per-element price: a C builtin mapped
over a list (`builtin`), a Python function called per element (`frame`), an arithmetic operation
inside interpreted code (`op`), a comprehension step (`loop`), a C loop that allocates nothing
(`iter`), a multiply-add in `sum(map(mul, ...))` (`madd`), and a C math function's own work
(`libm_tanh`, `libm_exp`, ...: tanh takes twice exp's time). The backend's PRICING["work"] says
which of these each of its kernels does per element (it is read off that backend's code).
"""
import math
import operator

import numpy as np

from tinygrad_nm.napkin import fmt
from tinygrad_nm.napkin.roofline import Prediction, bandwidth, host_limit
from tinygrad_nm.napkin.timing import best_times_alternated

FAMILY = "interpreter"
DEFAULT_RATES = {"call_s": 0.7e-6, "madd_s": 28e-9,  # machine notes: CPython ~28 ns per multiply-add
                 "output_s": 150e-9,  # per output of sum(map(mul, row, column)): the map, the sum call
                 "builtin_s": 35e-9, "frame_s": 45e-9, "op_s": 10e-9, "loop_s": 25e-9, "iter_s": 8e-9,
                 # the C math function's own time per element, beyond the call that maps it
                 "libm_tanh_s": 15e-9, "libm_exp_s": 7e-9, "libm_log_s": 20e-9, "libm_sin_s": 7e-9}
LIBM = {"tanh": math.tanh, "exp": math.exp, "log": math.log, "sin": math.sin}
_GENERIC = {"loop": 1, "op": 1}


def price(cost, pricing, rates, dtype, scalar_args=False):
    r = rates.section(FAMILY)

    def seconds(steps):  # one element's work, {kind of step: how many}, at this machine's rates
        return sum(r[f"{k}_s"] * n for k, n in steps.items())
    composed = pricing.get("composed", {}).get(cost.kernel)
    if composed is not None:  # the backend's own kernels called one by one: each part at its own work
        parts = composed(cost)
        compute = sum(n * seconds(pricing["work"].get(k, _GENERIC)) + m * seconds(pricing["per_output"].get(k, {}))
                      for k, n, m in parts)
        what = ", ".join(f"{k} {fmt.count(n)}" + (f" ({fmt.count(m)} out)" if m else "") for k, n, m in parts)
        terms = [f"{what}: {fmt.seconds(compute)}"]
        per_element = outputs = moving = 0
    else:
        work = pricing["work"].get(cost.kernel, _GENERIC)
        if len(cost.shapes) == 1 and cost.kernel in pricing["scalar_operand"]:  # [fn(x, b) for x in a]
            work = pricing["scalar_operand"][cost.kernel]
        per_element = seconds(work)
        compute = cost.elements * per_element
        moving = cost.moved if cost.kernel in pricing.get("moves_reduced_axes", ()) else 0
        if moving:  # the reduced axes are first permuted last: a permute's work per element
            compute += moving * seconds(pricing["work"].get("permute", _GENERIC))
        outputs = cost.out_bytes / cost.itemsize if cost.kernel in pricing.get("per_output", {}) else 0
        if outputs:  # work per output element (a reduction: a slice and a call; matmul: a map and a sum)
            compute += outputs * seconds(pricing["per_output"][cost.kernel])
        what = " + ".join(f"{n:g} {k}" if n != 1 else k for k, n in work.items())
        unit = "multiply-adds" if cost.kernel == "matmul" else "elements"
        terms = [f"{fmt.count(cost.elements)} {unit} x {per_element * 1e9:.3g} ns ({what})"] if compute else []
    memory = 0.0
    if cost.kernel in ("copy", "full"):  # a list copy: 8-byte pointers, read and written
        memory = 16 * cost.elements / bandwidth(rates["host"]["bandwidth"], 16 * cost.elements)
    overhead = r["call_s"]
    limit, limit_terms = host_limit(cost, rates, dtype)
    if moving:
        terms.append(f"{fmt.count(moving)} elements permuted first")
    if outputs:
        terms.append(f"{fmt.count(outputs)} outputs")
    if memory:
        terms.append(f"{fmt.nbytes(16 * cost.elements)} of list pointers")
    terms.append(f"{fmt.seconds(overhead)} call")
    return Prediction(overhead + compute + memory, limit, overhead, compute, memory, 0.0,
                      "interpreter" if compute > overhead else "overhead", terms, limit_terms)


def calibrate(be, quick, log, best_time, empty_call):
    repeat = 5 if quick else 9
    rng = np.random.default_rng(0)
    # float32 values, as the default dtype's tensors hold (math.fsum is 3x faster on them than on doubles)
    xs = rng.random(4096).astype(np.float32).tolist()
    ys = (rng.random(4096) + 0.5).astype(np.float32).tolist()
    n = len(xs)
    mul, add = operator.mul, operator.add
    rows = [rng.random(256).tolist() for _ in range(16)]

    def identity(x):
        return x

    def madd(x):
        return x * 1.5 + 0.5

    r = {"call_s": empty_call(be, repeat=repeat)}
    # sum(map(mul, row, col)) per output: 256 long (16 x 16 outputs) and 16 long (64 x 64 outputs);
    # t / outputs = output_s + length * madd_s at both lengths gives the two
    short = [rng.random(16).tolist() for _ in range(64)]
    per_long = best_time(lambda: [sum(map(mul, row, col)) for row in rows for col in rows], 1, repeat) / (16 * 16)
    per_short = best_time(lambda: [sum(map(mul, row, col)) for row in short for col in short], 1, repeat) / (64 * 64)
    r["madd_s"] = max((per_long - per_short) / (256 - 16), per_long / 256 / 2)
    # a difference of two timings can vanish on a loaded machine: each is floored at a plausible least
    r["output_s"] = max(per_short - 16 * r["madd_s"], r["madd_s"])  # at least one multiply-add's time
    r["builtin_s"] = best_time(lambda: list(map(add, xs, ys)), 1, repeat) / n
    r["frame_s"] = best_time(lambda: list(map(identity, xs)), 1, repeat) / n
    r["op_s"] = max(best_time(lambda: list(map(madd, xs)), 1, repeat) / n - r["frame_s"], r["frame_s"] / 4) / 2
    r["loop_s"] = best_time(lambda: [x for x, y in zip(xs, ys)], 1, repeat) / n
    r["iter_s"] = best_time(lambda: math.fsum(xs), 1, repeat) / n
    # each math function mapped, less a one-argument builtin mapped (operator.neg), timed in turn;
    # on normally distributed values, as activations see (tanh of |x| > 0.55 takes a slower path)
    normal = rng.standard_normal(4096).tolist()
    positive = [abs(v) + 0.5 for v in normal]
    fns = [lambda: list(map(operator.neg, normal))] + [
        (lambda f=f, xs=positive if name == "log" else normal: list(map(f, xs))) for name, f in LIBM.items()]
    neg, *times = best_times_alternated(fns, 1, 3 * repeat)
    for name, t in zip(LIBM, times):
        r[f"libm_{name}_s"] = max(t - neg, 0.0) / n
    log("  python: " + ", ".join(f"{k[:-2]} {v * 1e9:.1f} ns" for k, v in r.items() if k != "call_s")
        + f"; empty call {r['call_s'] * 1e6:.2f} us")
    return r


