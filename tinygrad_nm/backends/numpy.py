"""The NumPy backend: the default, and the reference the other backends are tested against.

Buffers are NumPy arrays, or NumPy scalars for results that have no axes left (`x * y` on 0-d
data): NumPy computes on its scalars about five times faster than on 0-d arrays, and the
walkthrough's scalar loops live on them. An element read, `w[i]`, is a 0-d view of w (it must see
and make writes to w, as in PyTorch); the arithmetic kernels take it as a scalar. Every kernel is
one or two NumPy calls (kernels.py); the convolution's pieces are in numpy_conv.py.
"""
import operator

import numpy as np

from tinygrad_nm.backends.numpy_pool import PASSES as _POOL_PASSES, max_pool2d, max_pool2d_backward  # noqa: F401
from tinygrad_nm.backends import conv_compose, strided
from tinygrad_nm.backends.numpy_conv import col2im, conv_input_grad, im2col, recycle  # noqa: F401

NAME = "numpy"


# --- pricing: the NumPy calls ("passes") each kernel below makes (napkin's array_calls family) ---
# (kind, arrays read, arrays written[, scalar operations per element[, kind of call]]), arrays in
# units of the kernel's elements x itemsize (a bool array is 1/4 of a float32 one; 0: a call on a
# row's worth of data, or none). The kind of call (ufunc unless said) sets its fixed cost:
# reduce (np.add.reduce, np.maximum.reduce with axes), index (fancy), where, view (.reshape, .transpose),
# broadcast (np.broadcast_to), array (np.array, np.arange, np.full, np.zeros, .copy()), scalar (an
# operator on NumPy scalars). Kernels not listed are one ufunc pass moving their compulsory bytes.
_ROW_CALL = ("stream", 0, 0, 1)                   # a call on one value per row (a log, a pick)
_LOG_SOFTMAX = [("stream", 1, 0, 1, "reduce"), ("stream", 1, 1), ("exp", 1, 1), ("scalar", 1, 0, 1, "reduce"),
                _ROW_CALL, ("stream", 1, 1)]      # max, subtract, exp, sum, log, subtract
_PASSES = {
    # e = exp(-|a|); where(a >= 0, 1 / (1 + e), e / (1 + e))
    "sigmoid": [("stream", 1, 1), ("stream", 1, 1), ("exp", 1, 1), ("stream", 1, 1), ("stream", 1, 1),
                ("stream", 1, 1), ("stream", 2, 1), ("stream", 1, 0.25), ("select", 2.25, 1, 1, "where")],
    "relu": [("scalar", 1, 1, 3)],                    # np.maximum(a, 0): compare, NaN test, pick; not SIMD
    "relu_backward": [("stream", 1, 0.25), ("stream", 0.25, 1), ("stream", 2, 1)],  # x > 0, -mask, g & mask
    "sigmoid_backward": [("stream", 2, 1), ("stream", 1, 1), ("stream", 2, 1)],  # g * y * (1 - y)
    "tanh_backward": [("stream", 1, 1), ("stream", 1, 1), ("stream", 2, 1)],     # g * (1 - y * y)
    "tanh": [("tanh", None, None)],  # one ufunc, at NumPy's own tanh rate (tanh_s), not exp's
    "sum": [("scalar", 1, 0, 1, "reduce")],           # pairwise summation: scalar adds
    "max": [("stream", 1, 0, 1, "reduce")],           # a SIMD max: memory speed
    "softmax": [("stream", 1, 0, 1, "reduce"), ("stream", 1, 1), ("exp", 1, 1), ("scalar", 1, 0, 1, "reduce"),
                ("stream", 1, 1)],
    "log_softmax": _LOG_SOFTMAX,
    "softmax_backward": [("stream", 2, 1), ("scalar", 1, 0, 1, "reduce"), ("stream", 1, 1), ("stream", 2, 1)],
    "log_softmax_backward": [("scalar", 1, 0, 1, "reduce"), ("exp", 1, 1), ("stream", 1, 1), ("stream", 2, 1)],
    # log_softmax; arange, pick each row's label, sum, divide by -n, asarray; exp(logp) kept for backward
    "cross_entropy": _LOG_SOFTMAX + [(*_ROW_CALL, "array"), (*_ROW_CALL, "index"), (*_ROW_CALL, "reduce"),
                                     (*_ROW_CALL, "scalar"), (*_ROW_CALL, "array"), ("exp", 1, 1)],
    # copy, arange, out[rows, labels] -= 1 (a fancy read, a subtract, a fancy write), g / n, out *= that
    "cross_entropy_backward": [("stream", 1, 1, 1, "array"), (*_ROW_CALL, "array"), (*_ROW_CALL, "index"), _ROW_CALL,
                               (*_ROW_CALL, "index"), (*_ROW_CALL, "scalar"), ("stream", 1, 1)],
    "reshape": [(*_ROW_CALL, "view")], "permute": [(*_ROW_CALL, "view")], "expand": [(*_ROW_CALL, "broadcast")],
    "item": [(*_ROW_CALL, "scalar")],                 # views and scalars: the call only
    "full": [("stream", 0, 1, 1, "array")], "copy": [("stream", 1, 1, 1, "array")],
    "from_numpy": [("stream", 1, 1, 1, "array")], "to_numpy": [("stream", 1, 1, 1, "array")],
    # im2col: the padded image (np.zeros, then x copied in; priced as if every conv pads) and one copy
    # of a strided view that reads each image element up to kh * kw times (from cache); col2im: a
    # zero fill, then kh * kw strided adds, each reading its share of the columns and
    # read-modify-writing an image-sized block (about the columns' size in all)
    "im2col": [("stream", 0, 0.15, 1, "array"), ("stream", 0.11, 0.11), ("stream", 1, 1)],
    "col2im": [("stream", 0, 0.15), ("stream", 2, 1)],
    "axpy": [("stream", 1, 1), ("stream", 2, 1)],      # t = alpha * x; a += t (momentum: a *= beta; a += x)
    **_POOL_PASSES,                                    # max_pool2d and its backward: numpy_pool.py
}


def _window_rows(cost):
    """The contiguous runs im2col / col2im loop over: one per output row of each window tap, ow
    elements long (ow taken as the image's width: exact for stride 1 and 'same' padding). At the
    widths small images have (4-28) the per-run cost, not the bytes, is most of their time."""
    image = cost.shapes[0] if cost.kernel == "im2col" else cost.shapes[-1]
    return cost.elements / image[-1] if image[-1] else 0.0


def _conv_columns(cost):
    """(column-matrix entries, window rows per pass, passes over the columns) of the composed conv2d
    (conv_compose.py): forward, im2col written then read by the matmul; backward, the forward's
    columns read again (kept for it: no second im2col), and for dx the columns' gradient written,
    then read by col2im's strided adds, which also update the image (about the columns' size again)."""
    x, w = cost.shapes[0], cost.shapes[1]
    if cost.kernel in ("conv2d", "conv2d_act"):
        entries = cost.elements * x[1] / (w[0] * w[1])  # multiply-adds * G / O
        return entries, entries / x[3] if x[3] else 0.0, 2
    g = cost.shapes[2]
    once = g[0] * g[1] * g[2] * g[3] * w[1] * w[2] * w[3]
    entries = once * x[1] / (w[0] * w[1])
    dx = cost.elements > once
    return entries, (entries / g[3] if dx else 0.0), 1 + (4 if dx else 0)


_CONVS = ("conv2d", "conv2d_backward", "conv2d_act", "conv2d_act_backward")  # composed: conv_compose.py


PRICING = {"family": "array_calls", "passes": _PASSES,
           "runs": {"im2col": _window_rows, "col2im": _window_rows,  # kernel -> its strided runs (napkin: run_s)
                    # the forward's rows are im2col's; the backward's (made only for dx) col2im's strided adds
                    **{k: (lambda c: _conv_columns(c)[1], "im2col") for k in ("conv2d", "conv2d_act")},
                    **{k: (lambda c: _conv_columns(c)[1], "col2im") for k in ("conv2d_backward", "conv2d_act_backward")},
                    # sum / max (a ufunc's reduce): one inner loop per run of the trailing reduced (or kept) block
                    **{k: (lambda c: c.runs, "reduce") for k in ("sum", "max")},
                    "max_pool2d": (lambda c: c.runs, "im2col")},  # its tap-major copy: window rows, as im2col
           # the composed conv2d's column matrix, moved through memory beside its BLAS calls
           "column_bytes": {k: (lambda c: _conv_columns(c)[0] * _conv_columns(c)[2] * c.itemsize)
                            for k in _CONVS},
           # and the NumPy calls it makes beside its BLAS call (conv_compose.py): forward, im2col's padded
           # image (np.zeros, x copied in), the bias added over the output, the permute to NCHW;
           # backward, the gradient's permuted copy, the second product, db's sum
           "composed_calls": {"conv2d": ("array", "ufunc", "ufunc", "view"), "conv2d_backward": ("array", "matmul", "reduce"),
                              # conv2d_act: then the activation's call; its backward: the activation's backward first
                              "conv2d_act": ("array", "ufunc", "ufunc", "view", "ufunc"),
                              "conv2d_act_backward": ("ufunc", "array", "matmul", "reduce")},
           "composed_loops": dict.fromkeys(_CONVS, conv_compose.row_loops),
           # an array and a Python number: NumPy converts the number before the loop (a dearer call)
           "scalar_operand": ("add", "sub", "mul", "div", "pow", "lt", "le", "gt", "ge", "eq", "ne"),
           # a BLAS call (linear_act: then the bias and activation calls; conv2d, conv2d_backward: their
           # matmuls, then the column matrix's traffic and window rows, column_bytes and runs)
           "blas": ("matmul", "linear_act", *_CONVS),
           # ... whose product's second operand is a transposed view: linear_act's x @ w.T
           "blas_transposed": ("linear_act",),
           # results' layouts (napkin's locality walk): the composed convs return (O, N, oh, ow) permuted to NCHW
           # (rows of oh * ow); a ufunc's result takes its operands' layout if they share one (order 'K')
           "layout": {"permuted": dict.fromkeys(("conv2d", "conv2d_act"), lambda shape: shape[2] * shape[3]),
                      "follows": ("unary", "binary", "relu_backward", "sigmoid_backward", "tanh_backward"),
                      "first": ("relu_backward",)}}  # its result is written into x's mask


def unavailable_reason():
    return None


# --- storage ------------------------------------------------------------------------------
def from_numpy(array, dtype):
    return np.array(array, dtype=dtype.np_type, copy=True)


def to_numpy(a):
    return np.array(a)


def item(a):
    return a.item()


def full(shape, value, dtype):
    out = np.full(shape, value, dtype=dtype.np_type)
    return out[()] if shape == () else out  # 0-d: a NumPy scalar, like every other 0-d result here


def astype(a, dtype):
    return np.asarray(a).astype(dtype.np_type)


def copy(a, row_major=False):
    return np.array(a, copy=True, order="C" if row_major else "K")


def writable(a):
    return np.array(a) if isinstance(a, np.generic) else a


def is_contiguous(a):
    return type(a) is not np.ndarray or a.flags.c_contiguous


def same_storage(a, b):
    return type(b) is np.ndarray and b.base is not None and (b.base is a or b.base is getattr(a, "base", a))


def overlap(a, b):
    """strided.overlap of two arrays over the same memory owner (in bytes), else None."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return None  # a NumPy scalar owns its value
    if (a if a.base is None else a.base) is not (b if b.base is None else b.base) or not np.may_share_memory(a, b):
        return None  # (the pointers below cost microseconds: only for views that may overlap)
    return strided.overlap(_extent(a), _extent(b))


def _extent(a):
    return a.__array_interface__["data"][0], a.shape, a.strides, a.itemsize


def assign(a, value):
    if type(a) is np.ndarray and a.flags.writeable:
        np.copyto(a, value, casting="unsafe")
        return a
    # a NumPy scalar or a read-only view is immutable: a new buffer of a's shape and dtype
    out, value = np.empty(np.shape(a), dtype=a.dtype), np.asarray(value)
    np.copyto(out, value.reshape(()) if value.size == 1 else value, casting="unsafe")
    return out[()]


where = np.where


def matmul(a, b):
    # A broadcast operand (a zero stride, e.g. the gradient of a sum) sends np.matmul to its slow
    # non-BLAS loop; a contiguous copy costs one pass and keeps BLAS.
    if 0 in a.strides:
        a = np.ascontiguousarray(a)
    if 0 in b.strides:
        b = np.ascontiguousarray(b)
    return np.matmul(a, b)

# --- elementwise ----------------------------------------------------------------------------
# Python's operators rather than ufunc calls: on NumPy scalars `a * b` takes ~0.15 us where
# np.multiply(a, b) takes ~1.5 us, and on arrays they are the same call.
neg, abs = operator.neg, operator.abs
exp, log, sqrt, sign, tanh, atanh, sin, cos = np.exp, np.log, np.sqrt, np.sign, np.tanh, np.arctanh, np.sin, np.cos
log2, log1p, expm1, floor, ceil, trunc = np.log2, np.log1p, np.expm1, np.floor, np.ceil, np.trunc
round = np.rint  # halves to even, as PyTorch (np.round too, with a slower Python-level wrapper)
pow, _nd = operator.pow, np.ndarray


def _elements_as_scalars(op):
    """op, with a 0-d view (the element `w[i]` reads) taken as its NumPy scalar: an operator on a 0-d
    array goes through the ufunc machinery (~1.5 us), on a scalar it does not (~0.1 us)."""
    def kernel(a, b):
        return op(a[()] if type(a) is _nd and not a.shape else a, b[()] if type(b) is _nd and not b.shape else b)
    return kernel


add, sub, mul, div = map(_elements_as_scalars, (operator.add, operator.sub, operator.mul, operator.truediv))
lt, le, gt, ge, eq, ne = operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne


def sigmoid(a):
    # exp of a negative number only: 1/(1+e^-a) for a >= 0, e^a/(1+e^a) otherwise
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def relu(a):
    return np.maximum(a, 0).astype(a.dtype, copy=False)


def relu_backward(x, g):
    # g where x > 0, else +0 (as np.where(x > 0, g, 0), bit for bit: NaN and -0 included), without a
    # branch per element: g's bits AND a mask of all ones (kept) or zeros. np.where branches, and on
    # activations of random sign it mispredicts half the time: 5.3 against 1.0 ms on 64x32x26x26.
    if type(g) is np.ndarray and type(x) is np.ndarray and g.dtype.kind == "f":
        bits = np.dtype(f"i{g.dtype.itemsize}")
        keep = np.negative(np.greater(x, 0).view(np.int8), dtype=bits)  # True (1) -> -1: every bit set
        out = keep if type(keep) is np.ndarray and keep.shape == g.shape else None  # the mask takes the result
        return np.bitwise_and(g.view(bits), keep, out=out).view(g.dtype)
    return np.where(x > 0, g, 0).astype(g.dtype, copy=False)


def sigmoid_backward(y, g):
    return g * y * (1 - y)


def tanh_backward(y, g):
    return g * (1 - y * y)


# --- reductions -----------------------------------------------------------------------------
def sum(a, axes, keepdims):  # the ufunc's reduce: np.sum's Python wrapper cost ~3 us a call
    return np.add.reduce(a, axis=axes, keepdims=keepdims)


def max(a, axes, keepdims):
    return np.maximum.reduce(a, axis=axes, keepdims=keepdims)


# --- movement -------------------------------------------------------------------------------
def reshape(a, shape):  # the method: np.reshape's Python wrapper costs ~0.9 us more a call
    return a.reshape(shape)


def permute(a, axes):  # the same for np.transpose (~0.5 us)
    return a.transpose(axes)


expand = np.broadcast_to


def getitem(a, index):
    return a[(*index, ...)]  # the Ellipsis: all-int keys give a 0-d view of a, not a detached NumPy scalar


def setitem(a, index, value):
    a[index] = value


def index_add(acc, index, g):
    for i in index:
        if type(i) is np.ndarray:
            acc = acc if type(acc) is np.ndarray and acc.flags.writeable else np.array(acc)
            np.add.at(acc, index, g)  # repeated indices must accumulate
            return acc
    try:
        acc[index] += g
    except (TypeError, ValueError):  # a NumPy scalar or a read-only view: storage of its own
        acc = np.array(acc)
        acc[index] += g
    return acc


# --- softmax family -------------------------------------------------------------------------
def _along(ufunc, a, axis):
    """ufunc.reduce over `axis`, kept. The ufuncs' reduce, as `sum` and `max` above (np.sum/np.max's
    wrappers add ~1.3 us). Many short rows (a classifier's 10 classes over a batch) go through a
    transposed copy: reduced in place NumPy runs an inner loop per row (~50 ns each for max), over
    the copy's rows one vector loop does it (128x10: max 6.6 to 2.3 us, sum 3.5 to 2.1)."""
    if a.ndim == 2 and axis in (1, -1) and a.shape[1] <= 16 and a.shape[0] >= 64:
        return ufunc.reduce(np.ascontiguousarray(a.T), axis=0)[:, None]
    return ufunc.reduce(a, axis=axis, keepdims=True)


def softmax(a, axis):
    e = np.exp(a - _along(np.maximum, a, axis))
    return e / _along(np.add, e, axis)


def log_softmax(a, axis):
    shifted = a - _along(np.maximum, a, axis)
    return shifted - np.log(_along(np.add, np.exp(shifted), axis))


def softmax_backward(y, g, axis):
    return y * (g - _along(np.add, g * y, axis))


def log_softmax_backward(y, g, axis):
    return g - np.exp(y) * _along(np.add, g, axis)


def cross_entropy(logits, labels):
    logp = log_softmax(logits, 1)
    loss = logp[np.arange(len(labels)), labels].sum() / -len(labels)  # np.mean: ~3 us more, Python code
    return np.asarray(loss, dtype=logits.dtype), np.exp(logp)


def cross_entropy_backward(probs, labels, g):
    out = probs.copy()
    out[np.arange(len(labels)), labels] -= 1
    out *= g / len(labels)
    return out


# --- conv: im2col / col2im, composed with matmul (numpy_conv.py) -------------------------------
conv2d, _composed_backward, conv2d_act, conv2d_act_backward = conv_compose.kernels(__name__, recycle)


def conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad):
    """conv_compose's, but dx made a few samples at a time (numpy_conv.conv_input_grad)."""
    _, dw, db = _composed_backward(x, w, g, stride, dilation, padding, groups, False, bias_grad)
    dx = conv_input_grad(w, g, x.shape, stride, dilation, padding, groups, matmul) if input_grad else None
    return dx, dw, db


# --- linear layer and activation: the same three calls the unfused ops make -------------------
def linear_act(x, w, b, act):
    out = matmul(x, permute(w, (1, 0)))
    return _ACTIVATION[act](out if b is None else add(out, b))


_ACTIVATION = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, None: lambda z: z}  # None: F.linear


def axpy(a, alpha, x, beta=1.0):
    """a = beta * a + alpha * x in a's storage: a *= beta, t = alpha * x (x itself if alpha is 1), a += t."""
    t = x if alpha == 1 and x.dtype == a.dtype else np.multiply(x, alpha, dtype=a.dtype)
    if type(a) is np.ndarray and a.flags.writeable and t.shape == a.shape:
        np.add(np.multiply(a, beta, out=a) if beta != 1 else a, t, out=a)  # PyTorch's mul_, add_ roundings
        return a
    return ((a * beta if beta != 1 else a) + t).astype(a.dtype, copy=False)  # a scalar or read-only view: new
