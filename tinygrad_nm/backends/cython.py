"""The Cython backend: NumPy arrays for storage, compiled kernels where they pay.

Which kernel runs where
-----------------------
Native code (tinygrad_nm._native_<isa>, compiled from kernels/ by setup.py), for
float32 and float64 arrays:
  matmul                          kernels/tnm_gemm.h: the Goto/BLIS structure (packed panels
                                  sized from the cache sizes, an MR x NR micro-kernel in vector
                                  intrinsics), tiles shared out by kernels/tnm_pool.h's threads;
                                  products with at most 4 columns as dot products (_matmul.pxd)
  relu, sigmoid, tanh and         kernels/_activations.pxd: one read of each input, one
  relu/sigmoid/tanh_backward      write; exp/tanh by vectorisable Cephes formulas (_mathfn.pxd)
  softmax, log_softmax, their     kernels/_softmax.pxd: row by row, each row read once;
  backward, cross_entropy (fused  cross-entropy computes the loss and the probabilities
  softmax + NLL) and its backward in one pass and its gradient in another
  im2col, col2im                  kernels/tnm_conv.h (cython_conv.py), one thread: memory-bound
  max_pool2d and its backward     kernels/tnm_maxpool.h (cython_pool.py), one thread: memory-bound
  conv2d, conv2d_backward,        kernels/tnm_conv_fused.h: im2col a tile of output rows at a time
  conv2d_act and its backward     into the matmul, samples on the matmul's threads (cython_conv.py);
                                  conv2d_act's activation in the matmul's epilogue
NumPy (the numpy backend's own functions, imported below): storage, arithmetic,
comparisons, the other unary functions, reductions, movement and indexing; and
the native kernels' inputs that are not float32/float64 arrays (an int64 matmul,
relu of a NumPy scalar), which NumPy handles exactly as the numpy backend does.

Inputs of any layout work: the native call checks dtypes, layout and shapes before it
writes, and what it refuses takes the general path (float32 with float64 promoted to
float64 as the core does, odd layouts copied C-contiguous, anything else NumPy's).

Instruction sets
----------------
setup.py compiles the kernels once per instruction set (baseline, and on x86-64 also
avx2 and avx512); at import this module loads the best one the CPU supports
(`ISA`). TINYGRAD_NM_ISA=baseline|avx2|avx512 caps the choice, to test or compare the
lower ones; asking for one the CPU lacks makes the backend unavailable, saying why.

Threads
-------
TINYGRAD_NM_NUM_THREADS (default: the cores this process may run on) sets how many
threads matmul, sigmoid, tanh and the softmax family use. relu and the three
backward activations run on one thread: they are memory-bound, and one core
already moves data as fast as memory does. The matmul's threads (kernels/tnm_pool.h)
never wait for each other: a busy process, or OpenBLAS's spinning worker, slows it only by
the core share it takes. When the pool is first used, NumPy's OpenBLAS is handed it too
(share_threads_with_blas), so that no OpenBLAS worker spins beside it after a NumPy call;
TINYGRAD_NM_SHARE_BLAS=0 leaves OpenBLAS its own threads (kernels/README.md, "Threads")."""
import contextlib
import importlib

import numpy as np

from tinygrad_nm.backends import (available_cores, cython_conv, cython_pool, cython_pricing as _cython_pricing,
                                  numpy as _numpy)
from tinygrad_nm.settings import settings
# Everything the compiled module does not replace is the numpy backend's function itself.
from tinygrad_nm.backends.numpy import (  # noqa: F401  (re-exported as this backend's kernels)
    abs, add, assign, astype, atanh, ceil, copy, cos, div, eq, exp, expand, expm1, floor, from_numpy, full, ge,
    getitem, gt, index_add, is_contiguous, item, le, same_storage, log, log1p, log2, lt, max, mul, ne, neg, permute, pow, reshape, round,
    overlap, setitem, sign, sin, sqrt, sub, sum, to_numpy, trunc, where, writable)

NAME = "cython"
THREADS_ENV = "TINYGRAD_NM_NUM_THREADS"  # settings.num_threads
BUILD_HINT = ("build them from the repository root with `pip install -e .` (or `bash dev.sh test`); "
              "that needs Cython and a C compiler (OpenMP-capable, e.g. GCC, to use every core)")

ISA_ENV = "TINYGRAD_NM_ISA"  # settings.isa
ISAS = ("baseline", "avx2", "avx512")  # lowest first: a CPU that runs one runs those before it


def _load_native():
    """(the compiled module for the best instruction set this CPU supports, None), or (None, why
    not). setup.py builds one module per instruction set (kernels/_native_<isa>.pyx); the baseline
    one runs on any CPU of the architecture and asks the CPU what else it supports.
    TINYGRAD_NM_ISA=<isa> caps the choice (to test or compare the lower ones)."""
    raw = settings.isa or ""
    if raw and raw.lower() not in ISAS:
        return None, f"{ISA_ENV}={raw!r} is not one of {', '.join(ISAS)} (unset it to use the best this CPU runs)"
    try:
        base = importlib.import_module("tinygrad_nm._native_baseline")
    except ImportError as e:  # not built (no compiler, installed without Cython, ...)
        return None, f"its compiled kernels (tinygrad_nm._native_baseline) are not built ({e}); {BUILD_HINT}"
    forced = raw.lower()
    if forced and not base.cpu_supports(forced):
        return None, f"{ISA_ENV}={forced}, but this CPU does not support {forced} (unset it, or ask for a lower one)"
    for isa in reversed(ISAS[:ISAS.index(forced) + 1] if forced else ISAS):
        if isa == "baseline":
            return base, None
        if not base.cpu_supports(isa):
            continue
        try:
            return importlib.import_module(f"tinygrad_nm._native_{isa}"), None
        except ImportError as e:  # that variant was left out of the build (the compiler refused its flags)
            if isa == forced:
                return None, f"{ISA_ENV}={forced}, but tinygrad_nm._native_{forced} is not built ({e}); {BUILD_HINT}"


_native, _native_error = _load_native()


def _threads_from_env():
    """(thread count, None) or (None, why the setting is unusable)."""
    try:
        return settings.num_threads or available_cores(), None
    except ValueError as e:
        return None, f"{e}; unset it to use every core"


_num_threads, _threads_error = _threads_from_env()


def unavailable_reason():
    return _native_error if _native is None else _threads_error


def num_threads():
    """The threads the parallel native kernels use (1 if the module was built without OpenMP)."""
    return _num_threads if _native is not None and _native.OPENMP else 1


def matmul_threads():
    """The threads matmul uses: its own pool (POSIX threads, built without OpenMP too). The first
    time that is more than one, NumPy's OpenBLAS is handed the pool too (settings.share_blas)."""
    threads = _num_threads if _native is not None and _native.POOL else 1
    if threads > 1 and _blas_shared is None and settings.share_blas:
        share_threads_with_blas()
    return threads


def set_num_threads(n):
    """Use n threads in the parallel native kernels from now on; returns the setting it replaced
    (to restore it: num_threads() says 1 where the build has no OpenMP, the pool may have more)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    previous, _num_threads = _num_threads, n
    return previous


# the OpenBLAS library whose threading runs on the pool, once shared; "" if there is none to share;
# False once handed back (share_threads_with_blas(False)): the pool's next use leaves it so
_blas_shared = None


def share_threads_with_blas(share=True):
    """Run NumPy's OpenBLAS on the native matmul's thread pool from now on (OpenBLAS 0.3.27+,
    `openblas_set_threads_callback_function`): its own worker threads then stay asleep, so no
    OpenBLAS thread spins on the cores after a NumPy matmul, and NumPy's and the native kernels'
    parallel work take turns on one set of threads. Process-wide; the pool's first multi-threaded
    use does it unless TINYGRAD_NM_SHARE_BLAS=0 (matmul_threads); share=False gives OpenBLAS
    its own threads back. Returns the library's path, or None where there is nothing to share (no OpenBLAS
    with the callback, or no pool)."""
    global _blas_shared
    if not share:
        if _blas_shared:
            _blas_callback_setter(_blas_shared)(None)
        _blas_shared = False
        return None
    if _blas_shared not in (None, False) or _native is None or not _native.OPENBLAS_CALLBACK:
        return _blas_shared or None  # shared already ("" : nothing to share), or no pool to share
    from threadpoolctl import threadpool_info
    for lib in threadpool_info():
        setter = _blas_callback_setter(lib["filepath"]) if lib.get("internal_api") == "openblas" else None
        if setter is not None:
            setter(_native.OPENBLAS_CALLBACK)
            _blas_shared = lib["filepath"]
            return _blas_shared
    _blas_shared = ""  # nothing to share: do not look again
    return None


def _blas_callback_setter(path):
    """OpenBLAS's openblas_set_threads_callback_function in the library at `path`, or None."""
    import ctypes
    handle = ctypes.CDLL(path)
    # NumPy's wheels rename OpenBLAS's symbols (scipy_openblas_..._64_); plain builds do not
    for name in ("scipy_openblas_set_threads_callback_function64_", "openblas_set_threads_callback_function64_",
                 "openblas_set_threads_callback_function"):
        setter = getattr(handle, name, None)
        if setter is not None:
            setter.argtypes = [ctypes.c_void_p]
            setter.restype = None
            return setter
    return None


@contextlib.contextmanager
def blas_limited(limit=1):
    """Keep BLAS (OpenBLAS, MKL) at `limit` threads inside the block. With one, a NumPy matmul run
    inside leaves no BLAS worker spinning on the cores the native kernels' threads want."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


# --- helpers ----------------------------------------------------------------------------------
_F64 = np.dtype(np.float64)
_FLOATS = (np.dtype(np.float32), _F64)


def _is_float_array(a):
    return type(a) is np.ndarray and a.dtype in _FLOATS


def _promoted(*arrays):
    """The arrays as one float dtype (the widest: float64 if any is), or None if any is not a
    float32/float64 array, in which case the caller falls back to NumPy."""
    first, mixed = None, False
    for a in arrays:  # a plain loop: this runs on every call, tiny arrays included
        if type(a) is not np.ndarray or a.dtype not in _FLOATS:
            return None
        if first is None:
            first = a.dtype
        elif a.dtype != first:
            mixed = True
    if mixed:  # float32 with float64: float64, as the core promotes
        return tuple(a.astype(_F64, copy=False) for a in arrays)
    return arrays


# --- matmul -------------------------------------------------------------------------------------
def _whole_elements(m):
    """m, or a contiguous copy if its strides are not whole elements (a view of a packed record array)."""
    (rows, cols), size = m.strides, m.itemsize
    return m if not (rows % size or cols % size) else np.ascontiguousarray(m)


def matmul(a, b):
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:  # the common case: the native call checks
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)  # dtypes and strides before it writes (~1.4 us
        try:                                                      # a call less than checking them here too)
            _native.matmul(a, b, out, matmul_threads())
            return out
        except (TypeError, ValueError):  # then the general path: promote, copy odd strides, or NumPy's
            pass
    if a.ndim == 3:  # a batch: NumPy's one call (the native kernel per product: 1.5-55x slower, bench/README.md)
        return _numpy.matmul(a, b)
    pair = _promoted(a, b)
    if pair is None or a.ndim != 2 or b.ndim != 2:
        return np.matmul(a, b)  # int/bool (NumPy's exact integer matmul) or shapes NumPy explains
    a, b = pair
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                         f"{a.shape[1]} (dim 1 of the first) != {b.shape[0]} (dim 0 of the second)")
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _native.matmul(_whole_elements(a), _whole_elements(b), out, matmul_threads())
    return out


def linear_act(x, w, b, act):
    """act(x @ w.T + b) in one native call: the bias and activation applied to each block of the
    product as the matmul stores it (kernels/tnm_gemm_body.h). Other dtypes: NumPy's three calls."""
    if x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1]:  # the common case first, as matmul
        out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
        try:
            _native.linear_act(x, w.T, b, out, act, matmul_threads())
            return out
        except (TypeError, ValueError):
            pass
    arrays = _promoted(x, w) if b is None else _promoted(x, w, b)
    if arrays is None or x.ndim != 2 or w.ndim != 2 or (b is not None and b.ndim != 1):
        return _numpy.linear_act(x, w, b, act)
    x, w, bias = arrays[0], arrays[1], None if b is None else np.ascontiguousarray(arrays[2])
    out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)  # w.T (K, N): read through its strides, as any operand
    _native.linear_act(_whole_elements(x), _whole_elements(w.T), bias, out, act, matmul_threads())
    return out


def axpy(a, alpha, x, beta=1.0):
    """a = beta * a + alpha * x in one native pass (memory-bound: one thread); other inputs: NumPy's calls."""
    if type(x) is np.ndarray and x.shape == a.shape:
        try:
            _native.axpy(a, alpha, x, beta)  # (it checks a's writability too)
            return a
        except (TypeError, ValueError):  # mixed or integer dtypes, strided views: NumPy's calls
            pass
    return _numpy.axpy(a, alpha, x, beta)


# --- activations --------------------------------------------------------------------------------
def _unary(kernel, fallback, a, threads):
    if not _is_float_array(a):
        return fallback(a)
    out = np.empty(a.shape, dtype=a.dtype)
    kernel(np.ascontiguousarray(a), out, threads)
    return out


def _backward(kernel, fallback, x, g):
    if type(x) is np.ndarray and type(g) is np.ndarray and x.shape == g.shape:  # the common case first
        out = np.empty(x.shape, dtype=x.dtype)
        try:
            kernel(x, g, out, 1)  # memory-bound: one thread is enough
            return out
        except (TypeError, ValueError):  # mixed dtypes, ints, strided views
            pass
    pair = _promoted(x, g)
    if pair is None or x.shape != g.shape:
        return fallback(x, g)  # scalars, ints, or shapes that broadcast: NumPy's rules
    out = np.empty(x.shape, dtype=pair[0].dtype)
    kernel(np.ascontiguousarray(pair[0]), np.ascontiguousarray(pair[1]), out, 1)
    return out


def relu(a):
    return _unary(_native.relu, _numpy.relu, a, 1)  # memory-bound: one thread is enough


def sigmoid(a):
    return _unary(_native.sigmoid, _numpy.sigmoid, a, num_threads())


def tanh(a):
    return _unary(_native.tanh, _numpy.tanh, a, num_threads())


def relu_backward(x, g):
    return _backward(_native.relu_backward, _numpy.relu_backward, x, g)


def sigmoid_backward(y, g):
    return _backward(_native.sigmoid_backward, _numpy.sigmoid_backward, y, g)


def tanh_backward(y, g):
    return _backward(_native.tanh_backward, _numpy.tanh_backward, y, g)


# --- softmax family -------------------------------------------------------------------------------
def _along_axis(kernel, fallback, axis, *arrays):
    """Run a row kernel along `axis`: move that axis last, view the rest as rows, move it back."""
    same = _promoted(*arrays)
    if same is None or arrays[0].ndim == 0 or any(a.shape != arrays[0].shape for a in arrays):
        return fallback(*arrays, axis)
    last = axis == same[0].ndim - 1
    moved = [np.ascontiguousarray(a if last else np.moveaxis(a, axis, -1)) for a in same]
    shape = moved[0].shape
    rows = [m.reshape(-1, shape[-1]) for m in moved]
    out = np.empty(shape, dtype=moved[0].dtype)
    kernel(*rows, out.reshape(-1, shape[-1]), num_threads())
    return out if last else np.ascontiguousarray(np.moveaxis(out, -1, axis))


def softmax(a, axis):
    return _along_axis(_native.softmax, _numpy.softmax, axis, a)


def log_softmax(a, axis):
    return _along_axis(_native.log_softmax, _numpy.log_softmax, axis, a)


def softmax_backward(y, g, axis):
    return _along_axis(_native.softmax_backward, _numpy.softmax_backward, axis, y, g)


def log_softmax_backward(y, g, axis):
    return _along_axis(_native.log_softmax_backward, _numpy.log_softmax_backward, axis, y, g)


def _labels(labels, rows):
    """labels as a contiguous int64 array of `rows` entries, or None (then NumPy handles it)."""
    if type(labels) is not np.ndarray or labels.ndim != 1 or labels.shape[0] != rows \
            or labels.dtype.kind not in "iu":
        return None
    return np.ascontiguousarray(labels, dtype=np.int64)


def cross_entropy(logits, labels):
    lab = _labels(labels, logits.shape[0]) if _is_float_array(logits) and logits.ndim == 2 else None
    if lab is None or logits.shape[0] == 0:
        return _numpy.cross_entropy(logits, labels)  # odd inputs, and the empty batch's nan
    x = np.ascontiguousarray(logits)
    probs = np.empty(x.shape, dtype=x.dtype)
    loss = _native.cross_entropy(x, lab, probs, num_threads())
    return np.asarray(loss, dtype=x.dtype), probs


def cross_entropy_backward(probs, labels, g):
    lab = _labels(labels, probs.shape[0]) if _is_float_array(probs) and probs.ndim == 2 else None
    if lab is None or probs.shape[0] == 0:
        return _numpy.cross_entropy_backward(probs, labels, g)
    p = np.ascontiguousarray(probs)
    out = np.empty(p.shape, dtype=p.dtype)
    _native.cross_entropy_backward(p, lab, float(g) / p.shape[0], out, num_threads())
    return out


im2col, col2im = cython_conv.kernels(_native, _numpy, _is_float_array)  # kernels/tnm_conv.h
max_pool2d, max_pool2d_backward = cython_pool.kernels(_native, _numpy, _is_float_array)  # kernels/tnm_maxpool.h
conv2d, conv2d_backward, conv2d_act, conv2d_act_backward = cython_conv.fused(_native, _numpy, matmul_threads)


# --- pricing (napkin's compiled_host family): the compiled module's facts, cython_pricing.py
PRICING = _cython_pricing.pricing(_native, globals(), num_threads, matmul_threads, cython_conv, cython_pool)
