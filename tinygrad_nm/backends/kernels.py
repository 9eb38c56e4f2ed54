"""The kernel set every backend implements: one flat function per primitive.

This file is documentation you can import: `KERNELS` lists the names, and the
`Backend` protocol below gives each kernel's signature and the loop it computes.
A backend is a module with `NAME`, `unavailable_reason()` and these functions.

Conventions the layers above guarantee, so kernels need not check them:
- A *buffer* is the backend's own storage object. It exposes `.shape` (a tuple);
  everything else about it is private to the backend.
- Binary kernels get operands of the same dtype (ops.py casts first, following
  PyTorch's promotion rule). Either operand, never both, may be a Python scalar
  (int or float); the result has the tensor operand's dtype.
- Shapes broadcast as in NumPy. `axes` are non-negative and sorted, never empty.
- `index` is a tuple with one entry per indexed axis: an int in range, a slice,
  or a 1-D int64 buffer of the same backend (at most one of those).
Kernels never mutate their inputs, except `assign`, `setitem` and `index_add`, whose job it is.
"""
from typing import Protocol

UNARY = ("neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "atanh")
BINARY = ("add", "sub", "mul", "div", "pow")
COMPARE = ("lt", "le", "gt", "ge", "eq", "ne")
ACTIVATION_BACKWARD = ("relu_backward", "sigmoid_backward", "tanh_backward")
REDUCE = ("sum", "max")
MOVEMENT = ("reshape", "permute", "expand", "getitem", "setitem", "index_add")
SOFTMAX = ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
           "cross_entropy", "cross_entropy_backward")
STORAGE = ("from_numpy", "to_numpy", "item", "full", "astype", "copy", "assign", "where", "matmul")
KERNELS = UNARY + BINARY + COMPARE + ACTIVATION_BACKWARD + REDUCE + MOVEMENT + SOFTMAX + STORAGE


class Backend(Protocol):
    NAME: str

    def unavailable_reason(self) -> "str | None":
        """None when this backend can run here; otherwise why not and how to fix it."""

    # --- storage -----------------------------------------------------------------------
    def from_numpy(self, array, dtype):
        """A new buffer holding a copy of the host NumPy `array`, stored as `dtype` (a DType)."""

    def to_numpy(self, a):
        """A host NumPy array with the buffer's values (the only way data leaves a device)."""

    def item(self, a):
        """The single element of a one-element buffer as a Python int/float/bool."""

    def full(self, shape, value, dtype):
        """out[...] = value, a new buffer of `shape`."""

    def astype(self, a, dtype):
        """out[i] = dtype(a[i])."""

    def copy(self, a):
        """out[i] = a[i], new storage."""

    def writable(self, a):
        """`a`, or a copy of it, in storage that can be shared and written in place (NumPy hands
        back immutable scalars for 0-d results). Called before `.data`/`detach()` share a buffer.
        A storage helper rather than a compute kernel: not in KERNELS, never traced."""

    def assign(self, a, value):
        """a[...] = value in a's own storage (value: buffer broadcastable to a, or scalar).
        Returns the buffer now holding the result: `a` itself, or a new one if `a` is immutable."""

    def where(self, cond, a, b):
        """out[i] = a[i] if cond[i] else b[i] (cond: bool buffer; a, b: buffers or scalars)."""

    def matmul(self, a, b):
        """(M, K) @ (K, N): out[i, j] = sum_k a[i, k] * b[k, j]. Both 2-D, same dtype."""

    # --- elementwise: out[i] = f(a[i]) for each name in UNARY ---------------------------
    def exp(self, a): """out[i] = e ** a[i] (likewise neg, log, sqrt, abs, sign, tanh, atanh)."""
    def sigmoid(self, a): """out[i] = 1 / (1 + exp(-a[i])), stable for large |a|."""
    def relu(self, a): """out[i] = max(a[i], 0)."""
    def relu_backward(self, x, g): """out[i] = g[i] if x[i] > 0 else 0."""
    def sigmoid_backward(self, y, g): """out[i] = g[i] * y[i] * (1 - y[i]), y = sigmoid(x)."""
    def tanh_backward(self, y, g): """out[i] = g[i] * (1 - y[i] ** 2), y = tanh(x)."""

    # --- binary with broadcasting: out[i] = a[i] OP b[i] for BINARY and COMPARE ---------
    def add(self, a, b): """out = a + b (likewise sub, mul, div, pow; lt, le, gt, ge, eq, ne give bool)."""

    # --- reductions ---------------------------------------------------------------------
    def sum(self, a, axes, keepdims):
        """out[j] = sum of a[i] over the `axes` (kept as size 1 when keepdims)."""

    def max(self, a, axes, keepdims):
        """out[j] = max of a[i] over the `axes`."""

    # --- movement -----------------------------------------------------------------------
    def reshape(self, a, shape): """Same elements in row-major order, new shape."""
    def permute(self, a, axes): """out.shape[i] = a.shape[axes[i]] (transpose for 2-D)."""
    def expand(self, a, shape): """Broadcast a to `shape` (may share storage; never written)."""
    def getitem(self, a, index): """out = a[index] (NumPy basic indexing plus one int array)."""
    def setitem(self, a, index, value): """a[index] = value, in a's storage."""
    def index_add(self, acc, index, g):
        """acc[index] += g in acc's storage (repeated indices accumulate): indexing's gradient.
        Returns the buffer now holding the result: `acc`, or a new one if acc is immutable."""

    # --- softmax family (axis: non-negative int) ------------------------------------------
    def softmax(self, a, axis): """out = exp(a - max) / sum(exp(a - max)) along axis."""
    def log_softmax(self, a, axis): """out = a - max - log(sum(exp(a - max))) along axis."""
    def softmax_backward(self, y, g, axis): """out = y * (g - sum(g * y, axis))."""
    def log_softmax_backward(self, y, g, axis): """out = g - exp(y) * sum(g, axis)."""

    def cross_entropy(self, logits, labels):
        """Fused: logits (N, C), labels int64 (N,). Returns (loss, probs): the mean over rows of
        -log_softmax(logits)[n, labels[n]] as a 0-d buffer, and softmax(logits) for backward."""

    def cross_entropy_backward(self, probs, labels, g):
        """out[n, c] = g * (probs[n, c] - (c == labels[n])) / N, g the loss's 0-d gradient buffer."""
