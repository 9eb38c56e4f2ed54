"""The shape-only backend (PyTorch calls it `meta`): every kernel on shapes and dtypes alone.

A buffer here is a shape and a dtype; no kernel allocates or computes anything. Running real
Tensor code on meta tensors records the exact kernel calls that code makes (forward, backward,
an optimizer step) at no cost, which is how `napkin.estimate` prices a whole step before it runs.
Reading a meta tensor (`to_numpy`, `item`) gives zeros of its shape: values are placeholders,
so code whose control flow depends on values follows the zero path.
"""
import numpy as np

from tinygrad_nm.backends.strided import broadcast_shapes, indexed_shape
from tinygrad_nm.backends.windows import matrix_shape, output_size
from tinygrad_nm.dtypes import bool_, int64

NAME = "meta"
COMPUTES = False  # holds no values: not one of the backends tests and benchmarks run on
PRICING = None    # nothing runs here to be priced: napkin prices what it records for another backend


def unavailable_reason():
    return None


class MetaBuffer:
    """A buffer known only by its shape and dtype (a DType)."""
    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype

    def __repr__(self):
        return f"MetaBuffer(shape={self.shape}, dtype={self.dtype})"


def _like(a, shape=None, dtype=None):
    return MetaBuffer(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def _first(*xs):
    return next(x for x in xs if isinstance(x, MetaBuffer))


def _shape_of(*xs):
    return broadcast_shapes(*[x.shape for x in xs if isinstance(x, MetaBuffer)])


def empty(shape, dtype):
    """A meta buffer of `shape` (what estimate builds example inputs from)."""
    return MetaBuffer(shape, dtype)


# --- creation and transfer --------------------------------------------------------------------
def full(shape, value, dtype): return MetaBuffer(shape, dtype)
def from_numpy(array, dtype): return MetaBuffer(np.shape(array), dtype)
def to_numpy(a): return np.broadcast_to(np.zeros((), a.dtype.np_type), a.shape)  # a view of one zero
def item(a): return a.dtype.np_type(0).item()
def writable(a): return a
def is_contiguous(a): return True  # shapes only: every buffer is row-major
def same_storage(a, b): return True  # shapes only: a reshape is a view
def overlap(a, b): return None  # shapes only: nothing to overlap


# --- elementwise ------------------------------------------------------------------------------
def _unary(a): return _like(a)


neg = exp = log = sqrt = abs = sign = tanh = atanh = sin = cos = sigmoid = relu = _unary
log2 = log1p = expm1 = floor = ceil = trunc = round = _unary


def astype(a, dtype): return _like(a, dtype=dtype)
def copy(a, row_major=False): return _like(a)


def _binary(a, b): return MetaBuffer(_shape_of(a, b), _first(a, b).dtype)


add = sub = mul = div = pow = _binary


def _compare(a, b): return MetaBuffer(_shape_of(a, b), bool_)


lt = le = gt = ge = eq = ne = _compare


def where(cond, a, b):
    values = [x for x in (a, b) if isinstance(x, MetaBuffer)]
    return MetaBuffer(_shape_of(cond, a, b), values[0].dtype if values else cond.dtype)


# --- reductions -------------------------------------------------------------------------------
def sum(a, axes, keepdims):
    shape = tuple(1 if i in axes else d for i, d in enumerate(a.shape)) if keepdims else \
        tuple(d for i, d in enumerate(a.shape) if i not in axes)
    return _like(a, shape)


max = sum


# --- movement and indexing --------------------------------------------------------------------
def reshape(a, shape): return _like(a, shape)
def permute(a, axes): return _like(a, tuple(a.shape[ax] for ax in axes))
def expand(a, shape): return _like(a, shape)
def getitem(a, index): return _like(a, indexed_shape(a.shape, index))
def setitem(a, index, value): return None
def index_add(acc, index, g): return acc
def assign(a, value): return a


# --- matmul and fused kernels -----------------------------------------------------------------
def matmul(a, b): return _like(a, tuple(a.shape[:-1]) + (b.shape[-1],))


def relu_backward(x, g): return _like(g)


sigmoid_backward = tanh_backward = relu_backward


def softmax(a, axis): return _like(a)


log_softmax = softmax


def softmax_backward(y, g, axis): return _like(g)


log_softmax_backward = softmax_backward


def cross_entropy(logits, labels): return _like(logits, ()), _like(logits)
def cross_entropy_backward(probs, labels, g): return _like(probs)


# --- conv ---------------------------------------------------------------------------------------
def im2col(a, kernel, stride, dilation, padding): return _like(a, matrix_shape(a.shape, kernel, stride, dilation, padding))
def col2im(cols, shape, kernel, stride, dilation, padding): return _like(cols, tuple(shape))


def conv2d(x, w, b, stride, dilation, padding, groups):
    return _like(x, (x.shape[0], w.shape[0], *output_size(x.shape, w.shape[2:], stride, dilation, padding)))


def conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad):
    return _like(x) if input_grad else None, _like(w), _like(w, (w.shape[0],)) if bias_grad else None


def conv2d_act(x, w, b, stride, dilation, padding, groups, act): return conv2d(x, w, b, stride, dilation, padding, groups)


def conv2d_act_backward(x, w, y, g, stride, dilation, padding, groups, act, input_grad, bias_grad):
    return conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad)


# --- fused: a Linear layer's activation, an optimizer's step --------------------------------------
def linear_act(x, w, b, act): return _like(x, (x.shape[0], w.shape[0]))
def axpy(a, alpha, x, beta=1.0): return a


# --- pool ---------------------------------------------------------------------------------------
def max_pool2d(a, kernel, stride, dilation, padding):
    out = (*a.shape[:2], *output_size(a.shape, kernel, stride, dilation, padding))
    return _like(a, out), MetaBuffer(out, int64)


def max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding): return _like(g, tuple(shape))
