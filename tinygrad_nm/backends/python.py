"""The pure-Python backend: a flat list of Python numbers plus a shape, no NumPy when computing.

Floats are Python floats, so every float dtype computes in double precision
(a float32 or float16 tensor here is labelled so but carries doubles, rounded to
its dtype where data enters, from_numpy, and leaves, to_numpy). Integers are
Python ints, booleans Python bools. Layout is row-major: element (i, j) of an
(M, N) buffer is `data[i * N + j]`. Buffers, views (`a[1]`, `a.t()` share a's list)
and the kernels that move, index and write elements are in python_storage.py; a
kernel here reads any of them through `.data` and returns a new buffer.

Speed comes from keeping loops inside C where CPython allows: `map` over
`math` functions, list comprehensions over `zip`, and slices. Matmul takes the
columns of B once as strided slices (`B[j::N]`) and forms each output as
`sum(map(mul, row, column))`, which beats a hand-written triple loop.

NumPy appears only in `from_numpy`/`to_numpy`, the border where host data
enters and leaves. The per-element math where Python's floats would raise or
differ from IEEE 754 (and NumPy, PyTorch) lives in python_math.py.
"""
import builtins
import math
import operator
from itertools import repeat

from tinygrad_nm.backends import conv_compose, python_math as pymath
from tinygrad_nm.backends.python_pool import WORK as _POOL_WORK, max_pool2d, max_pool2d_backward  # noqa: F401
from tinygrad_nm.backends.python_storage import (  # noqa: F401 (storage and movement kernels, served from here)
    PyBuffer, assign, astype, caster as _caster, contiguous_permute, copy, expand, from_numpy, full, getitem,
    index_add, is_contiguous, item, overlap, same_storage, permute, reshape, setitem, to_numpy, writable, _size, _write)
from tinygrad_nm.backends.strided import broadcast_shapes
from tinygrad_nm.backends.windows import matrix_shape, sources

NAME = "python"
_nan = math.nan
# this module defines kernels called sum and max: keep the builtins at hand
_bsum, _bmax = builtins.sum, builtins.max


# --- pricing: what this backend does per element, read off the kernels below (napkin's interpreter family)
_BUILTIN = {"builtin": 1}            # list(map(operator.add, a, b)), map(math.tanh, a)
_SCALAR_OPERAND = {"loop": 1, "op": 1}  # a kernel with one scalar operand: [fn(x, b) for x in a]
_WORK = {
    **dict.fromkeys(("add", "sub", "mul", "neg", "abs", "lt", "le", "gt", "ge", "eq", "ne", "astype",
                     "assign", "from_numpy", "to_numpy"), _BUILTIN),
    "tanh": {"builtin": 1, "libm_tanh": 1},  # map(math.tanh, a): the builtin's call, then libm's tanh
    "div": {"frame": 1, "op": 1}, "pow": {"frame": 1, "op": 3},  # _div: try x / y; _pow: try x ** y, a check
    # compare, call (and the math function's own work: libm_*)
    "exp": {"frame": 1, "op": 2, "libm_exp": 1}, "log": {"frame": 1, "op": 2, "libm_log": 1},
    "sqrt": {"frame": 1, "op": 2}, "atanh": {"frame": 1, "op": 3, "libm_log": 1}, "sign": {"frame": 1, "op": 4},
    # x - x == 0 guard, then math.sin
    "sin": {"frame": 1, "op": 3, "libm_sin": 1}, "cos": {"frame": 1, "op": 3, "libm_sin": 1},
    "log2": {"frame": 1, "op": 2, "libm_log": 1}, "log1p": {"frame": 1, "op": 2, "libm_log": 1},
    "expm1": {"frame": 1, "op": 2, "libm_exp": 1},
    # x - x == 0 guard, math.floor (an int), float(), the `or` for a zero result
    **dict.fromkeys(("floor", "ceil", "trunc", "round"), {"frame": 1, "op": 4}),
    "sigmoid": {"frame": 1, "op": 5, "libm_exp": 1},  # compare, negate, exp, add, divide
    "relu": {"frame": 1, "op": 1.5},         # compare; negatives also test x == x (nan stays nan)
    "relu_backward": {"loop": 1, "op": 1}, "sigmoid_backward": {"loop": 1, "op": 3},
    "tanh_backward": {"loop": 1, "op": 2}, "where": {"loop": 1, "op": 1},
    "matmul": {"madd": 1}, "linear_act": {"madd": 1},  # sum(map(mul, row, column)); linear_act: then the epilogue
    "axpy": {"loop": 1, "op": 2},            # [y + alpha * v for y, v in zip(a, x)]
    "sum": {"iter": 1},                      # math.fsum over each run (python_math.fsum)
    "max": {"iter": 1, "loop": 1, "op": 1},  # builtin max, then a NaN scan in a generator
    # permute and a basic getitem make views: the gather (offsets, then elements) runs when a kernel reads one
    "expand": {"loop": 1}, "permute": {"loop": 2}, "getitem": {"loop": 2},
    "setitem": {"loop": 1, "op": 2}, "index_add": {"loop": 1, "op": 2},
    "softmax": {"loop": 2, "op": 3, "iter": 2}, "log_softmax": {"loop": 2, "op": 3, "iter": 2},
    "softmax_backward": {"loop": 1, "op": 2, "builtin": 1, "iter": 1}, "log_softmax_backward": {"loop": 1, "op": 3, "iter": 1},
    "cross_entropy": {"loop": 2, "op": 3, "iter": 2, "builtin": 1}, "cross_entropy_backward": {"loop": 1, "op": 1},
    "reshape": {}, "item": {}, "copy": {}, "full": {},  # no per-element work (copies: pointer traffic)
    "im2col": {"loop": 2, "op": 2},  # windows.sources builds each source position, then the gather
    "col2im": {"loop": 2, "op": 3},  # the same positions, then a test and an add per entry
}
# _reduce: a permute first unless the reduced axes are trailing, per output a slice and a call; matmul: per output a map and a sum
PRICING = {"family": "interpreter", "work": {**_WORK, **_POOL_WORK}, "moves_reduced_axes": ("sum", "max"),
           "per_output": {**dict.fromkeys(("sum", "max"), {"loop": 1, "frame": 2, "builtin": 1}),
                          "matmul": {"output": 1}, "linear_act": {"output": 1}},
           # the convs run this backend's im2col, matmul, col2im, ... one by one (conv_compose)
           "composed": dict.fromkeys(("conv2d", "conv2d_backward", "conv2d_act", "conv2d_act_backward"), conv_compose.parts),
           "scalar_operand": dict.fromkeys(("add", "sub", "mul", "lt", "le", "gt", "ge", "eq", "ne"), _SCALAR_OPERAND)}


def unavailable_reason(): return None  # always available: plain Python


def _elementwise(fn, a, b, dtype=None):
    """out[i] = fn(a[i], b[i]) with broadcasting; either of a, b may be a Python scalar."""
    if not isinstance(b, PyBuffer):
        return PyBuffer([fn(x, b) for x in a.data], a.shape, dtype or a.dtype)
    if not isinstance(a, PyBuffer):
        return PyBuffer([fn(a, y) for y in b.data], b.shape, dtype or b.dtype)
    if a.shape != b.shape:
        shape = broadcast_shapes(a.shape, b.shape)
        a, b = expand(a, shape), expand(b, shape)
    return PyBuffer(list(map(fn, a.data, b.data)), a.shape, dtype or a.dtype)


def add(a, b): return _elementwise(operator.add, a, b)
def sub(a, b): return _elementwise(operator.sub, a, b)
def mul(a, b): return _elementwise(operator.mul, a, b)
def div(a, b): return _elementwise(pymath.div, a, b)
def pow(a, b):
    if type(b) is float and b == 0.5 and a.dtype.is_float:
        return sqrt(a)  # as NumPy and PyTorch do for this scalar: (-inf) ** 0.5 is nan, not C's inf
    out = _elementwise(pymath.power, a, b)
    if not out.dtype.is_float and any(type(v) is float for v in out.data):  # 2 ** -1 in an int tensor
        raise ValueError("Integers to negative integer powers are not allowed.")
    return out


def _compare(fn):
    from tinygrad_nm.dtypes import bool_
    return lambda a, b: _elementwise(fn, a, b, bool_)


lt, le, gt, ge, eq, ne = map(_compare, (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne))


def where(cond, a, b):
    dtype = a.dtype if isinstance(a, PyBuffer) else b.dtype
    shapes = [x.shape for x in (cond, a, b) if isinstance(x, PyBuffer)]
    shape = broadcast_shapes(*shapes)
    c = expand(cond, shape).data
    av = expand(a, shape).data if isinstance(a, PyBuffer) else repeat(a)
    bv = expand(b, shape).data if isinstance(b, PyBuffer) else repeat(b)
    return PyBuffer([x if k else y for k, x, y in zip(c, av, bv)], shape, dtype)


# --- unary ------------------------------------------------------------------------------------
def _unary(fn, a):
    return PyBuffer(list(map(fn, a.data)), a.shape, a.dtype)


def neg(a): return _unary(operator.neg, a)
def exp(a): return _unary(lambda x: math.exp(x) if x < 709.78 else pymath.exp_large(x), a)
def log(a): return _unary(pymath.log, a)
def sqrt(a): return _unary(lambda x: math.sqrt(x) if x >= 0 else _nan, a)
def abs(a): return _unary(operator.abs, a)
def sign(a): return _unary(lambda x: (x > 0) - (x < 0) if x == x else x, a)
def tanh(a): return _unary(math.tanh, a)
def atanh(a): return _unary(pymath.atanh, a)
def sin(a): return _unary(pymath.sin, a)
def cos(a): return _unary(pymath.cos, a)
def log2(a): return _unary(pymath.log2, a)
def log1p(a): return _unary(pymath.log1p, a)
def expm1(a): return _unary(pymath.expm1, a)
def floor(a): return _unary(pymath.floor, a)
def ceil(a): return _unary(pymath.ceil, a)
def trunc(a): return _unary(pymath.trunc, a)
def round(a): return _unary(pymath.round_even, a)
def sigmoid(a): return _unary(pymath.sigmoid, a)
def relu(a):
    zero = _caster(a.dtype)(0)
    return _unary(lambda x: x if x > 0 else (zero if x == x else x), a)  # nan stays nan
def relu_backward(x, g): return PyBuffer([v if k > 0 else 0.0 for k, v in zip(x.data, g.data)], g.shape, g.dtype)
def sigmoid_backward(y, g): return PyBuffer([v * s * (1.0 - s) for s, v in zip(y.data, g.data)], g.shape, g.dtype)
def tanh_backward(y, g): return PyBuffer([v * (1.0 - t * t) for t, v in zip(y.data, g.data)], g.shape, g.dtype)


# --- matmul -----------------------------------------------------------------------------------
def matmul(a, b):
    if len(a.shape) == 3:  # a batch: one product per pair of matrices, one after another
        (count, m, k), n = a.shape, b.shape[2]
        A, B, out = a.data, b.data, []  # read once: a view's data is gathered on each read
        for p in range(count):
            out.extend(matmul(PyBuffer(A[p * m * k:(p + 1) * m * k], (m, k), a.dtype),
                              PyBuffer(B[p * k * n:(p + 1) * k * n], (k, n), b.dtype)).data)
        return PyBuffer(out, (count, m, n), a.dtype)
    (m, k), (_, n) = a.shape, b.shape
    A, B, mul_ = a.data, b.data, operator.mul
    columns = [B[j::n] for j in range(n)]  # each a contiguous list: the inner loop runs in C
    out = []
    if k == 0:  # empty sums: zeros
        return full((m, n), 0, a.dtype)
    for i in range(0, m * k, k):
        row = A[i:i + k]
        out.extend([_bsum(map(mul_, row, col)) for col in columns])
    if not a.dtype.is_float:
        out = [int(x) for x in out]
    return PyBuffer(out, (m, n), a.dtype)


# --- reductions -------------------------------------------------------------------------------
def _reduce(fn, a, axes, keepdims):
    """Move the reduced axes last, then fold each contiguous run of them with `fn`."""
    kept = [ax for ax in range(len(a.shape)) if ax not in axes]
    moved = permute(a, kept + list(axes)).data
    run = _size([a.shape[ax] for ax in axes])
    out = [fn(moved[i:i + run]) for i in range(0, len(moved), run)] if run else [fn([])] * _size([a.shape[k] for k in kept])
    if keepdims:
        shape = tuple(1 if ax in axes else d for ax, d in enumerate(a.shape))
    else:
        shape = tuple(a.shape[ax] for ax in kept)
    return PyBuffer(out, shape, a.dtype)


def sum(a, axes, keepdims):
    return _reduce(pymath.fsum if a.dtype.is_float else _bsum, a, axes, keepdims)


def max(a, axes, keepdims):
    return _reduce(pymath.nanmax, a, axes, keepdims)


# --- softmax family: each row along `axis` handled by a Python function -----------------------
def _rows(fn, axis, *bufs):
    """Apply fn(row_a, row_b, ...) -> row to every row along `axis`, keeping the layout."""
    ndim = len(bufs[0].shape)
    order = [ax for ax in range(ndim) if ax != axis] + [axis]
    inverse = [order.index(ax) for ax in range(ndim)]
    moved = [permute(b, order) for b in bufs]
    rows = [m.data for m in moved]  # read once: a view's data is gathered on each read
    n = bufs[0].shape[axis]
    out = []
    for i in range(0, len(rows[0]), n):
        out.extend(fn(*[r[i:i + n] for r in rows]))
    return contiguous_permute(PyBuffer(out, moved[0].shape, bufs[0].dtype), inverse)


def softmax(a, axis):
    return _rows(pymath.softmax_row, axis, a)


def log_softmax(a, axis):
    return _rows(pymath.log_softmax_row, axis, a)


def softmax_backward(y, g, axis):
    def row(ys, gs):
        dot = pymath.fsum(list(map(operator.mul, ys, gs)))
        return [yi * (gi - dot) for yi, gi in zip(ys, gs)]
    return _rows(row, axis, y, g)


def log_softmax_backward(y, g, axis):
    def row(ys, gs):
        total = pymath.fsum(gs)
        return [gi - math.exp(yi) * total for yi, gi in zip(ys, gs)]
    return _rows(row, axis, y, g)


def cross_entropy(logits, labels):
    n, c = logits.shape
    data, probs, total = logits.data, [], 0.0
    for r, label in enumerate(labels.data):
        logp = pymath.log_softmax_row(data[r * c:(r + 1) * c])
        total -= logp[label]
        probs.extend(map(math.exp, logp))
    return PyBuffer([total / n if n else _nan], (), logits.dtype), PyBuffer(probs, (n, c), logits.dtype)


def cross_entropy_backward(probs, labels, g):
    n, c = probs.shape
    scale = g.data[0] / n if n else 0.0  # an empty batch: nothing to scale
    out = [p * scale for p in probs.data]
    for r, label in enumerate(labels.data):
        out[r * c + label] -= scale
    return PyBuffer(out, probs.shape, probs.dtype)


# --- conv: im2col / col2im through windows.sources (the image position of every column entry) ---
def im2col(a, kernel, stride, dilation, padding):
    data, zero = a.data, 0.0 if a.dtype.is_float else 0
    return PyBuffer([data[i] if i >= 0 else zero for i in sources(a.shape, kernel, stride, dilation, padding)],
                    matrix_shape(a.shape, kernel, stride, dilation, padding), a.dtype)


def col2im(cols, shape, kernel, stride, dilation, padding):
    image = [0.0 if cols.dtype.is_float else 0] * _size(shape)
    for i, v in zip(sources(shape, kernel, stride, dilation, padding), cols.data):
        if i >= 0:
            image[i] += v
    return PyBuffer(image, tuple(shape), cols.dtype)


conv2d, conv2d_backward, conv2d_act, conv2d_act_backward = conv_compose.kernels(__name__)  # im2col, matmul, col2im


# --- fused: a Linear layer and its activation, an optimizer's step ------------------------------
def linear_act(x, w, b, act):
    """act(x @ w.T + b) as this backend's own matmul, add and activation (nothing to fuse here)."""
    out = matmul(x, permute(w, (1, 0)))
    return {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, None: lambda z: z}[act](out if b is None else add(out, b))


def axpy(a, alpha, x, beta=1.0):
    """a = beta * a + alpha * x, written into a's list."""
    _write(a, [beta * y + alpha * v for y, v in zip(a.data, x.data)])  # a may be a view: write into its base
    return a
