"""From a kernel's Cost and the machine's base rates to a predicted time on one backend.

    time  = overhead + max(compute, memory) (+ fresh pages, + host<->device transfer)
    limit = max(FLOPs / peak FLOP/s, bytes / peak bandwidth)   (same hardware, no overhead)

What "compute" and "memory" mean depends on how a backend runs a kernel, so each backend
family has its own pricing below, written from reading that backend's code:

- python: an interpreter. Bytes do not matter; every element costs the interpreter's
  per-element price: a C builtin mapped over a list (`builtin`), a Python function called per
  element (`frame`), an arithmetic operation inside interpreted code (`op`), a comprehension
  step (`loop`), a C loop that allocates nothing (`iter`), a multiply-add in `sum(map(mul, ...))`
  (`madd`). The table PYTHON_WORK says which of these each kernel does per element.
- numpy: each kernel is one or more NumPy calls ("passes"); each pass pays the call overhead and
  moves its arrays through the cache level their size fits in, unless its inner loop is slower
  than that: exp (vectorised transcendental), select (a data-dependent branch per element),
  scalar (a loop the compiler could not vectorise: k scalar operations per element), BLAS
  (matmul). NUMPY_PASSES lists the passes of the kernels that are more than one plain pass.
- a compiled host backend (Cython): a kernel it compiles itself is one pass at the host's rates
  (FMA peak x its threads, for a matmul times the fraction of the peak BLAS reaches on one core,
  half the peak for lone adds and multiplies; a vectorised exp and divide; the copy bandwidth;
  an OpenMP fork-join per parallel region); one it hands to NumPy is priced as NumPy.
- numba_cuda: a launch per kernel, then the device's FLOP/s and bandwidth; data entering or
  leaving the device crosses the host link.

Everything that is not a measured rate here is a count read off the backend's source; keep the
tables in step with backends/python.py and backends/numpy.py.
"""
import math
from dataclasses import dataclass, field

from tinygrad_nm.napkin import fmt

# --- what the pure-Python backend does per element ---------------------------------------------
_BUILTIN = {"builtin": 1}            # list(map(operator.add, a, b)), map(math.tanh, a)
_SCALAR_OPERAND = {"loop": 1, "op": 1}  # [fn(x, b) for x in a]
PYTHON_WORK = {
    **{k: _BUILTIN for k in ("add", "sub", "mul", "neg", "abs", "tanh", "lt", "le", "gt", "ge", "eq", "ne",
                             "astype", "assign", "from_numpy", "to_numpy")},
    "div": {"frame": 1, "op": 1},            # _div: try x / y
    "pow": {"frame": 1, "op": 3},            # _pow: try x ** y, isinstance check
    "exp": {"frame": 1, "op": 2},            # lambda: compare, math.exp
    "log": {"frame": 1, "op": 2},
    "sqrt": {"frame": 1, "op": 2},
    "atanh": {"frame": 1, "op": 3},
    "sign": {"frame": 1, "op": 4},
    "sigmoid": {"frame": 1, "op": 5},        # compare, negate, exp, add, divide
    "relu": {"frame": 1, "op": 1.5},         # compare; negatives also compute 0 * x
    "relu_backward": {"loop": 1, "op": 1},
    "sigmoid_backward": {"loop": 1, "op": 3},
    "tanh_backward": {"loop": 1, "op": 2},
    "where": {"loop": 1, "op": 1},
    "matmul": {"madd": 1},                   # per multiply-add: sum(map(mul, row, column))
    "sum": {"iter": 1},                      # math.fsum over each run
    "max": {"iter": 1, "loop": 1, "op": 1},  # builtin max, then a NaN scan in a generator
    "expand": {"loop": 1},
    "permute": {"loop": 2},                  # build the gather offsets, then gather
    "getitem": {"loop": 2},
    "setitem": {"loop": 1, "op": 2},
    "index_add": {"loop": 1, "op": 2},
    "softmax": {"loop": 2, "op": 3, "iter": 2},
    "log_softmax": {"loop": 2, "op": 3, "iter": 2},
    "softmax_backward": {"loop": 1, "op": 2, "builtin": 1, "iter": 1},
    "log_softmax_backward": {"loop": 1, "op": 3, "iter": 1},
    "cross_entropy": {"loop": 2, "op": 3, "iter": 2, "builtin": 1},
    "cross_entropy_backward": {"loop": 1, "op": 1},
    "reshape": {}, "item": {},
    "copy": {}, "full": {},                  # list copies: priced as memory below
}

# --- the NumPy backend's kernels as NumPy calls ---------------------------------------------------
# (kind, arrays read, arrays written[, scalar operations per element]), arrays in units of the
# kernel's elements x itemsize (a bool array is 1/4 of a float32 one). Kernels not listed are one
# pass moving their compulsory bytes.
NUMPY_PASSES = {
    # e = exp(-|a|); where(a >= 0, 1 / (1 + e), e / (1 + e))
    "sigmoid": [("stream", 1, 1), ("stream", 1, 1), ("exp", 1, 1), ("stream", 1, 1), ("stream", 1, 1),
                ("stream", 1, 1), ("stream", 2, 1), ("stream", 1, 0.25), ("select", 2.25, 1)],
    "relu": [("scalar", 1, 1, 3)],                    # np.maximum(a, 0): compare, NaN test, pick; not SIMD
    "relu_backward": [("stream", 1, 0.25), ("select", 1.25, 1)],  # where(x > 0, g, 0)
    "sigmoid_backward": [("stream", 2, 1), ("stream", 1, 1), ("stream", 2, 1)],  # g * y * (1 - y)
    "tanh_backward": [("stream", 1, 1), ("stream", 1, 1), ("stream", 2, 1)],     # g * (1 - y * y)
    "sum": [("scalar", 1, 0, 1)],                     # pairwise summation: scalar adds
    "max": [("stream", 1, 0)],                        # a SIMD max: memory speed
    "softmax": [("stream", 1, 0), ("stream", 1, 1), ("exp", 1, 1), ("scalar", 1, 0, 1), ("stream", 1, 1)],
    "log_softmax": [("stream", 1, 0), ("stream", 1, 1), ("exp", 1, 1), ("scalar", 1, 0, 1), ("stream", 1, 1)],
    "softmax_backward": [("stream", 2, 1), ("scalar", 1, 0, 1), ("stream", 1, 1), ("stream", 2, 1)],
    "log_softmax_backward": [("scalar", 1, 0, 1), ("exp", 1, 1), ("stream", 1, 1), ("stream", 2, 1)],
    "cross_entropy": [("stream", 1, 0), ("stream", 1, 1), ("exp", 1, 1), ("scalar", 1, 0, 1), ("stream", 1, 1),
                      ("exp", 1, 1)],
    "cross_entropy_backward": [("stream", 1, 1), ("stream", 1, 1)],
    "reshape": [], "permute": [], "expand": [], "item": [],  # views and scalars: the call only
}
_TRANSCENDENTAL_KERNELS = ("exp", "log", "tanh", "atanh")


@dataclass
class Prediction:
    seconds: float
    limit_seconds: float
    overhead_s: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    extra_s: float = 0.0        # fresh pages, host<->device transfer
    bound: str = ""             # what the time is mostly spent on
    terms: list = field(default_factory=list)   # the arithmetic, as text pieces
    limit_terms: list = field(default_factory=list)

    def arithmetic(self):
        return " + ".join(self.terms) if self.terms else "0"


def bandwidth(curve, ws_bytes):
    """Copy bandwidth for a working set of ws_bytes, interpolated on log(bytes) between measured points."""
    if ws_bytes <= curve[0][0]:
        return curve[0][1]
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if ws_bytes <= x1:
            f = (math.log(ws_bytes) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
    return curve[-1][1]


def host_limit(cost, rates, dtype):
    """The roofline limit on the host CPU: every core at the FMA peak, memory at the copy bandwidth."""
    host = rates["host"]
    peak = host["fma_flops_per_core"].get(dtype, host["fma_flops_per_core"]["float32"]) * host["cores"]
    bw = bandwidth(host["bandwidth"], cost.bytes) if cost.bytes else math.inf
    compute, memory = cost.limit_flops / peak, cost.bytes / bw
    terms = [f"{fmt.flops(cost.limit_flops)} / {fmt.flop_rate(peak)} peak" if compute >= memory
             else f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(bw)}"]
    return max(compute, memory), terms


def predict(cost, backend, rates, dtype="float32", scalar_args=False):
    """The Prediction for one call of a kernel with this Cost on `backend` (a name)."""
    if dtype not in ("float32", "float64"):
        dtype = "float64" if dtype == "int64" else "float32"
    if backend == "python":
        return _python(cost, rates, dtype)
    if backend == "numpy":
        return _numpy(cost, rates, dtype, scalar_args)
    if backend == "numba_cuda":
        return _gpu(cost, rates, dtype)
    return _compiled(cost, backend, rates, dtype, scalar_args)


# --- the interpreter ------------------------------------------------------------------------
def _python(cost, rates, dtype):
    r = rates.section("python")
    work = PYTHON_WORK.get(cost.kernel, {"loop": 1, "op": 1})
    if cost.kernel in ("add", "sub", "mul", "lt", "le", "gt", "ge", "eq", "ne") and len(cost.shapes) == 1:
        work = _SCALAR_OPERAND
    per_element = sum(r[f"{k}_s"] * n for k, n in work.items())
    compute = cost.elements * per_element
    memory = 0.0
    if cost.kernel in ("copy", "full"):  # a list copy: 8-byte pointers, read and written
        memory = 16 * cost.elements / bandwidth(rates["host"]["bandwidth"], 16 * cost.elements)
    overhead = r["call_s"]
    limit, limit_terms = host_limit(cost, rates, dtype)
    what = " + ".join(f"{n:g} {k}" if n != 1 else k for k, n in work.items())
    unit = "multiply-adds" if cost.kernel == "matmul" else "elements"
    terms = []
    if compute:
        terms.append(f"{fmt.count(cost.elements)} {unit} x {per_element * 1e9:.3g} ns ({what})")
    if memory:
        terms.append(f"{fmt.nbytes(16 * cost.elements)} of list pointers")
    terms.append(f"{fmt.seconds(overhead)} call")
    return Prediction(overhead + compute + memory, limit, overhead, compute, memory, 0.0,
                      "interpreter" if compute > overhead else "overhead", terms, limit_terms)


# --- NumPy -------------------------------------------------------------------------------------
def _numpy(cost, rates, dtype, scalar_args):
    r, host = rates.section("numpy"), rates["host"]
    call = r.get("scalar_call_s", r["call_s"]) if scalar_args else r["call_s"]
    limit, limit_terms = host_limit(cost, rates, dtype)
    if cost.kernel == "matmul":
        blas = r["blas_flops"].get(dtype, r["blas_flops"]["float32"])
        compute = cost.flops / blas
        return Prediction(call + compute, limit, call, compute, 0.0, 0.0,
                          "compute" if compute > call else "overhead",
                          [f"{fmt.flops(cost.flops)} / {fmt.flop_rate(blas)} (BLAS)", f"{fmt.seconds(call)} call"],
                          limit_terms)
    passes = NUMPY_PASSES.get(cost.kernel)
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


# --- a compiled host backend (Cython) ---------------------------------------------------------
# What backends/cython.py compiles itself (kernels/*.pxd); everything else it takes from the numpy
# backend and is priced as such. Used when the module cannot be loaded to look (see _native_kernel).
CYTHON_NATIVE = ("matmul", "relu", "sigmoid", "tanh", "relu_backward", "sigmoid_backward", "tanh_backward",
                 "softmax", "log_softmax", "softmax_backward", "log_softmax_backward", "cross_entropy",
                 "cross_entropy_backward")
# The native kernels that run on every thread: kernel -> (fewest elements for which they do, the
# parallel regions per call), from kernels/_native.pyx (SERIAL_MATMUL), _activations.pxd (CHUNK) and
# _softmax.pxd (PARALLEL_MIN). relu and the backward activations stay on one thread (memory-bound:
# one core already moves data as fast as memory does).
PARALLEL_KERNELS = {
    "matmul": (64 ** 3, 1),  # elements = multiply-adds; one thread team packs b, then does the tiles
    **{k: (32768 + 1, 1) for k in ("sigmoid", "tanh")},
    **{k: (32768, 1) for k in ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
                               "cross_entropy", "cross_entropy_backward")},
}


# Where a compiled kernel computes differently from the textbook formula in costs.py:
# (kernel, dtype) -> (FLOPs, transcendentals, divides) per element. Cython's float32 tanh is
# Eigen's rational fit (kernels/_mathfn.pxd): two short polynomials and a divide, no exp.
COMPILED_WORK = {("tanh", "float32"): (16, 0, 1)}


def _native_kernel(backend, kernel):
    """Does `backend` compile `kernel` itself, rather than hand it to NumPy? Read off the module:
    a kernel it defines itself is native; one it re-exports from the numpy backend is not."""
    from tinygrad_nm import backends
    module = backends._try_load(backend) if backend in backends._MODULES else None
    if module is None:
        return backend == "cython" and kernel in CYTHON_NATIVE
    fn = getattr(module, kernel, None)
    return getattr(fn, "__module__", None) == module.__name__


def _compiled(cost, backend, rates, dtype, scalar_args):
    if scalar_args or not _native_kernel(backend, cost.kernel):
        return _numpy(cost, rates, dtype, scalar_args)
    host, r = rates["host"], rates.section(backend)
    call = r["native_call_s"]
    min_elements, regions = PARALLEL_KERNELS.get(cost.kernel, (math.inf, 0))
    parallel = r["threads"] > 1 and cost.elements >= min_elements
    threads = r["threads"] if parallel else 1
    wake = regions * host["fork_join_s"] if parallel else 0.0
    limit, limit_terms = host_limit(cost, rates, dtype)
    peak = host["fma_flops_per_core"].get(dtype, host["fma_flops_per_core"]["float32"]) * threads
    # a multiply-add is two FLOPs in one instruction: matmul can reach the FMA peak; a lone add or
    # multiply takes the same instruction slot for one FLOP, so elementwise code gets half of it
    flops_rate = peak if cost.kernel == "matmul" else peak / 2
    if cost.kernel == "matmul":  # a tuned matmul gets as close to the peak as BLAS does on one core
        per_core = host["fma_flops_per_core"]["float32"]
        flops_rate *= min(1.0, rates.section("numpy").get("blas_flops_1thread", per_core) / per_core)
    lanes = (2 if dtype == "float64" else 1) / threads  # half the lanes in float64
    exp_s, div_s = host["vexp_s"] * lanes, host["vdiv_s"] * lanes
    flops, transcendentals, divides = cost.flops, cost.transcendentals, cost.divides
    if (cost.kernel, dtype) in COMPILED_WORK:
        flops, transcendentals, divides = (w * cost.elements for w in COMPILED_WORK[(cost.kernel, dtype)])
    compute = (flops - divides) / flops_rate + transcendentals * exp_s + divides * div_s
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
    if wake:
        terms.append(f"{regions} parallel region{'s' * (regions > 1)} x {fmt.seconds(host['fork_join_s'])}")
    terms.append(f"{fmt.seconds(call)} call")
    seconds = call + wake + max(compute, memory) + fresh
    bound = "overhead" if call + wake >= max(compute, memory) else ("compute" if compute >= memory else "memory")
    return Prediction(seconds, limit, call + wake, compute, memory, fresh, bound, terms, limit_terms)


# --- the GPU ------------------------------------------------------------------------------------
def _gpu(cost, rates, dtype):
    r = rates.section("numba_cuda")
    call = r["call_s"]
    compute = cost.limit_flops / r["fma_flops"]
    memory = cost.bytes / r["bandwidth"] if cost.bytes else 0.0
    transfer = 0.0
    if cost.kernel == "from_numpy":
        transfer = cost.out_bytes / r["h2d_bytes_per_s"]
    elif cost.kernel in ("to_numpy", "item"):
        transfer = cost.bytes / 2 / r["d2h_bytes_per_s"]
    limit_compute = cost.limit_flops / r["fma_flops"]
    limit = max(limit_compute, memory) + transfer
    terms = [f"{fmt.flops(cost.limit_flops)} / {fmt.flop_rate(r['fma_flops'])}" if compute >= memory
             else f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(r['bandwidth'])}"]
    if transfer:
        terms.append(f"transfer {fmt.seconds(transfer)}")
    terms.append(f"{fmt.seconds(call)} launch")
    seconds = call + max(compute, memory) + transfer
    bound = "transfer" if transfer > max(compute, memory, call) else (
        "overhead" if call >= max(compute, memory) else ("compute" if compute >= memory else "memory"))
    limit_terms = [f"{fmt.flops(cost.limit_flops)} / {fmt.flop_rate(r['fma_flops'])} peak" if limit_compute >= memory
                   else f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(r['bandwidth'])}"]
    return Prediction(seconds, limit, call, compute, memory, transfer, bound, terms, limit_terms)
