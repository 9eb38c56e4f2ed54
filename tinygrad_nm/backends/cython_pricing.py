"""The Cython backend's pricing facts for napkin (its compiled_host family), read from the loaded
compiled module: which kernels it runs natively, from which size each runs on every thread (the
module's own thresholds), its instruction set and the matmul's blocks."""
from tinygrad_nm.backends import cython_pool, numpy as _numpy
from tinygrad_nm.backends.kernels import KERNELS


_CONVS = ("conv2d", "conv2d_backward", "conv2d_act", "conv2d_act_backward")  # the fused kernels (cython_conv.py)


def _native_kernels(backend, *helpers):
    """The kernels the backend module (its globals, `backend`) or its `helpers` modules define: the
    rest are NumPy's."""
    own = (backend["__name__"], *(m.__name__ for m in helpers))
    return tuple(k for k in KERNELS if getattr(backend.get(k), "__module__", None) in own)


def _conv_rows(cost):
    """The window rows the fused conv2d copies (im2col: one per output row of each channel's taps)
    and, in the backward, copies again and adds back for dx (col2im). Forward: N * oh * C * kh * kw =
    multiply-adds * G / (O * ow), ow taken as the image's width (exact for 'same' padding, as
    numpy's im2col runs); backward: g's shape gives N * oh exactly."""
    x, w = cost.shapes[0], cost.shapes[1]
    taps = x[1] * w[2] * w[3]  # C * kh * kw
    if cost.kernel in ("conv2d", "conv2d_act"):
        return cost.elements * taps / (w[0] * w[1] * w[2] * w[3] * x[3]) if x[3] else 0.0
    g = cost.shapes[2]
    once = g[0] * g[2] * taps
    return once * (2 if cost.elements > g[0] * g[1] * g[2] * g[3] * w[1] * w[2] * w[3] else 1)


def _parallel_from(_native):
    """kernel -> (fewest elements - multiply-adds for matmul - for which it runs on every thread,
    parallel regions per call), the compiled module's own thresholds. relu and the backward
    activations stay on one thread (memory-bound)."""
    if _native is None:
        return {}
    rows_min = _native.PARALLEL_MIN_ROWS
    return {"matmul": (_native.SERIAL_MATMUL, 1), "linear_act": (_native.SERIAL_MATMUL, 1),
            # conv2d: the samples on the threads (any conv big enough to price is); one job per call
            **{k: (_native.SERIAL_MATMUL, 1) for k in _CONVS},
            **{k: (_native.PARALLEL_MIN_ELEMENTWISE + 1, 1) for k in ("sigmoid", "tanh")},
            **{k: (rows_min, 1) for k in ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
                                          "cross_entropy", "cross_entropy_backward")}}


def _module_facts(_native):
    """What the loaded compiled module is: its instruction set, vector width, the matmul's blocks."""
    if _native is None:
        return {}
    return {"isa": _native.ISA,                        # the instruction set of the loaded module
            "vector_bytes": _native.VECTOR_BYTES,
            "openmp": _native.OPENMP,
            "matmul_blocks": _native.MATMUL_BLOCKS,    # MR, NR (register block), KC, MC, NC, per dtype
            "cache_bytes": _native.CACHE_BYTES,        # L1, L2, L3 as read at import: they set the blocks
            "thin_matmul_n": _native.THIN_MATMUL_N}    # at most this many columns: dot products, no packing


def pricing(_native, backend, threads, matmul_threads, *helpers):
    """The backend's PRICING: `_native` its loaded compiled module (None if not built), `backend` its
    globals, `threads()` and `matmul_threads()` its thread counts, `helpers` the modules holding
    more of its native kernels' Python side (cython_conv)."""
    return {
        "family": "compiled_host",
        "native": _native_kernels(backend, *helpers) if _native is not None else (),
        "parallel": _parallel_from(_native),
        # where a compiled kernel computes differently from the table's formula: (kernel, dtype) ->
        # (FLOPs, transcendentals, divides) per element. float32 tanh is Eigen's rational fit
        # (kernels/_mathfn.pxd): two short polynomials and a divide, no exp.
        "compiled_work": {("tanh", "float32"): (16, 0, 1),
                          **(cython_pool.compiled_work(_native.VECTOR_BYTES) if _native is not None else {})},
        # priced at the matmul's rate (linear_act: plus its epilogue; conv2d: its im2col tiles stay in
        # L2, only x, w and y cross memory)
        "matmul_kernels": ("matmul", "linear_act", *_CONVS),  # conv2d_act: the activation in the epilogue
        # one row at a time (kernels/_softmax.pxd): at a classifier head's few columns each row's setup
        # is the time, priced per row as calibrated on such rows
        "row_kernels": ("cross_entropy", "cross_entropy_backward"),
        "threads": threads,
        "matmul_threads": matmul_threads,
        "delegate": _numpy.PRICING,  # everything else is the numpy backend's own function
        # im2col / col2im: a C loop per short row, as NumPy's (its own run_s); the fused conv2d runs
        # im2col over every tile (backward: again, and col2im when dx is wanted), at im2col's run_s
        "runs": {"im2col": _numpy.PRICING["runs"]["im2col"], "col2im": _numpy.PRICING["runs"]["col2im"],
                 **{k: (_conv_rows, "im2col") for k in _CONVS}},
        "batched_matmul": "delegate",  # a batched matmul too (cython.matmul hands it to NumPy)
        **_module_facts(_native),
    }
