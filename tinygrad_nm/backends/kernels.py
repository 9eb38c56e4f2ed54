"""The kernel table: every primitive kernel a backend implements, in one place.

Each row gives a kernel's name, its family, its call signature, the loop it computes and its
cost formula (FLOPs, transcendentals, divisions, compulsory bytes: costs.py). Everything that
lists kernels derives the list from this table: the backend contract and its completeness test,
napkin's pricing and tracing, the shape-only `meta` backend, the CUDA launch setup. Adding a
kernel means one row here plus its implementation in each backend.

A backend is a module with `NAME`, `unavailable_reason()`, the STORAGE_HELPERS `writable(a)`,
`is_contiguous(a)`, `same_storage(a, b)` and `overlap(a, b)` (not kernels: see below), `PRICING`
(how napkin should price it, or None) and one function per row.

Conventions the layers above guarantee, so kernels need not check them:
- A *buffer* is the backend's own storage object. It exposes `.shape` (a tuple);
  everything else about it is private to the backend.
- Binary kernels get operands of the same dtype (the Tensor layer casts first, following
  PyTorch's promotion rule). Either operand, never both, may be a Python scalar (int or
  float); the result has the tensor operand's dtype.
- Shapes broadcast as in NumPy (strided.py). `axes` are non-negative and sorted, never empty.
- `index` is a tuple with one entry per indexed axis: an int in range (non-negative), a slice
  with a positive step, or a 1-D int64 buffer of the same backend (at most one of those),
  placed as NumPy places it (strided.indexed_shape).

Kernels never mutate their inputs, except `assign`, `setitem`, `index_add` and `axpy` (its first
operand), whose job it is. Views are as in PyTorch: `reshape` (where strides for the new shape
exist: strided.reshape_strides), `permute`, and `getitem` with only ints and slices return
buffers that share the input's storage, so a write through either is seen by the other; the
Tensor layer counts their in-place writes together.

`writable(a)` returns `a`, or a copy of it, in storage that can be shared and written in place
(NumPy hands back immutable scalars for 0-d results); it is called before `.data`/`detach()`
share a buffer, moves no data a kernel would, and is not traced. `is_contiguous(a)` says whether
a's elements lie in row-major order in its storage (Tensor.is_contiguous, contiguous);
`same_storage(a, b)` whether `b`, a reshape of `a`, is a view of a's storage rather than a copy
(Tensor.reshape counts in-place writes together only then; Tensor.view refuses a copy);
`overlap(a, b)` how two buffers' storage meets, "full", "partial" or None, as PyTorch's
get_overlap_status tells it (strided.overlap): an in-place write of b into a partly
overlapping a raises, as in PyTorch, rather than read elements it has already written.
"""
from dataclasses import dataclass
from typing import Callable

from tinygrad_nm.backends import costs as c

FAMILIES = ("creation", "transfer", "unary", "binary", "reduce", "movement", "indexing", "matmul", "fused", "conv", "pool")


@dataclass(frozen=True)
class Kernel:
    name: str
    family: str        # one of FAMILIES
    signature: str     # how the layers above call it
    doc: str           # the loop it computes
    cost: Callable     # cost(name, args, out) -> costs.Cost
    divides: int = 0   # divisions per element (per trip of the inner loop)

    def price(self, args, out=None):
        """The Cost of one call with these arguments (and, when known, its result)."""
        from dataclasses import replace
        cost = self.cost(self.name, args, c.as_buf(out) if out is not None else None)
        # a row without a fixed division count (linear_act: its activation's) keeps the formula's own
        divides = self.divides * cost.elements if self.divides else cost.divides
        return replace(cost, itemsize=c.data_itemsize(self.name, args), divides=divides)


def _k(name, family, signature, doc, cost, divides=0):
    return Kernel(name, family, signature, doc, cost, divides)


# The activations linear_act applies (each is also a unary row of the table, which prices it).
ACTIVATIONS = ("relu", "sigmoid", "tanh")


def _activation_work(act):
    """(FLOPs, transcendentals, divisions) per element of the activation `act` (or of its backward,
    "relu_backward", ...), from its own row; none for None (linear_act without one: F.linear)."""
    if act is None:
        return 0, 0, 0
    cost = TABLE[act].price((c.Buf((1,)),) * (2 if act.endswith("_backward") else 1))
    return cost.flops, cost.transcendentals, cost.divides


_ROWS = [
    # --- creation and transfer -----------------------------------------------------------------
    _k("full", "creation", "full(shape, value, dtype)", "out[...] = value, a new buffer of `shape`", c.fill),
    _k("from_numpy", "transfer", "from_numpy(array, dtype)",
       "a new buffer holding a copy of the host NumPy `array`, stored as `dtype` (a DType)", c.copy),
    _k("to_numpy", "transfer", "to_numpy(a)",
       "a host NumPy array with the buffer's values (the only way data leaves a device)", c.copy),
    _k("item", "transfer", "item(a)", "the single element of a one-element buffer as a Python number", c.read_one),
    # --- elementwise, one input ----------------------------------------------------------------
    _k("neg", "unary", "neg(a)", "out[i] = -a[i]", c.unary()),
    _k("exp", "unary", "exp(a)", "out[i] = e ** a[i]", c.unary(0, 1)),
    _k("log", "unary", "log(a)", "out[i] = ln a[i] (-inf at 0, nan below)", c.unary(0, 1)),
    _k("sqrt", "unary", "sqrt(a)", "out[i] = a[i] ** 0.5 (nan below 0)", c.unary()),
    _k("abs", "unary", "abs(a)", "out[i] = |a[i]|", c.unary()),
    _k("sign", "unary", "sign(a)", "out[i] = -1, 0 or 1 as a[i] is negative, zero or positive (nan stays nan)",
       c.unary()),
    # tanh: (1 - e) / (1 + e), e = exp(-2|x|), with x's sign: five operations and one exp
    _k("tanh", "unary", "tanh(a)", "out[i] = tanh(a[i])", c.unary(5, 1), divides=1),
    _k("atanh", "unary", "atanh(a)", "out[i] = atanh(a[i]) (+-inf at +-1, nan beyond)", c.unary(0, 1)),
    _k("sin", "unary", "sin(a)", "out[i] = sin(a[i]) (nan at +-inf)", c.unary(0, 1)),
    _k("cos", "unary", "cos(a)", "out[i] = cos(a[i]) (nan at +-inf)", c.unary(0, 1)),
    _k("log2", "unary", "log2(a)", "out[i] = log2(a[i]) (-inf at 0, nan below)", c.unary(0, 1)),
    _k("log1p", "unary", "log1p(a)", "out[i] = ln(1 + a[i]), exact for small a (-inf at -1, nan below)",
       c.unary(0, 1)),
    _k("expm1", "unary", "expm1(a)", "out[i] = e ** a[i] - 1, exact for small a", c.unary(0, 1)),
    # the rounding kernels take float buffers only: on integers they are the identity (the Tensor
    # layer hands those back without a call); each keeps -0.0, +-inf and nan, as IEEE 754 does
    _k("floor", "unary", "floor(a)", "out[i] = the largest integer <= a[i], as a float", c.unary()),
    _k("ceil", "unary", "ceil(a)", "out[i] = the smallest integer >= a[i], as a float", c.unary()),
    _k("trunc", "unary", "trunc(a)", "out[i] = a[i] rounded towards zero, as a float", c.unary()),
    _k("round", "unary", "round(a)", "out[i] = a[i] rounded to the nearest integer, halves to even, as a float",
       c.unary()),
    # sigmoid: 1 / (1 + exp(-x)): a negate, an add, a divide and one exp
    _k("sigmoid", "unary", "sigmoid(a)", "out[i] = 1 / (1 + exp(-a[i])), stable for large |a|", c.unary(3, 1),
       divides=1),
    _k("relu", "unary", "relu(a)", "out[i] = max(a[i], 0)", c.unary()),
    _k("astype", "unary", "astype(a, dtype)", "out[i] = dtype(a[i])", c.copy),
    _k("copy", "unary", "copy(a, row_major=False)",
       "out[i] = a[i], new storage: row-major if row_major, else in a's layout where the backend keeps one "
       "(PyTorch's clone)", c.copy),
    # --- elementwise, two inputs (broadcasting) ------------------------------------------------
    _k("add", "binary", "add(a, b)", "out[i] = a[i] + b[i]", c.binary()),
    _k("sub", "binary", "sub(a, b)", "out[i] = a[i] - b[i]", c.binary()),
    _k("mul", "binary", "mul(a, b)", "out[i] = a[i] * b[i]", c.binary()),
    _k("div", "binary", "div(a, b)", "out[i] = a[i] / b[i] (IEEE: x/0 is +-inf, 0/0 nan)", c.binary(), divides=1),
    _k("pow", "binary", "pow(a, b)", "out[i] = a[i] ** b[i]", c.power),
    _k("lt", "binary", "lt(a, b)", "out[i] = a[i] < b[i], a bool buffer", c.binary(out_itemsize=1)),
    _k("le", "binary", "le(a, b)", "out[i] = a[i] <= b[i], a bool buffer", c.binary(out_itemsize=1)),
    _k("gt", "binary", "gt(a, b)", "out[i] = a[i] > b[i], a bool buffer", c.binary(out_itemsize=1)),
    _k("ge", "binary", "ge(a, b)", "out[i] = a[i] >= b[i], a bool buffer", c.binary(out_itemsize=1)),
    _k("eq", "binary", "eq(a, b)", "out[i] = a[i] == b[i], a bool buffer", c.binary(out_itemsize=1)),
    _k("ne", "binary", "ne(a, b)", "out[i] = a[i] != b[i], a bool buffer", c.binary(out_itemsize=1)),
    _k("where", "binary", "where(cond, a, b)",
       "out[i] = a[i] if cond[i] else b[i] (cond: bool buffer; a, b: buffers or scalars)", c.select),
    # --- reductions ----------------------------------------------------------------------------
    _k("sum", "reduce", "sum(a, axes, keepdims)", "out[j] = sum of a[i] over the `axes` (size 1 when keepdims)",
       c.reduction),
    _k("max", "reduce", "max(a, axes, keepdims)", "out[j] = max of a[i] over the `axes` (nan if any is nan)",
       c.reduction),
    # --- movement and indexing -----------------------------------------------------------------
    _k("reshape", "movement", "reshape(a, shape)", "the same elements in row-major order, new shape", c.view),
    _k("permute", "movement", "permute(a, axes)", "out.shape[i] = a.shape[axes[i]] (transpose for 2-D)", c.view),
    _k("expand", "movement", "expand(a, shape)", "a broadcast to `shape` (may share storage; never written)",
       c.view),
    _k("getitem", "indexing", "getitem(a, index)", "out = a[index]", c.gather),
    _k("setitem", "indexing", "setitem(a, index, value)", "a[index] = value, in a's storage", c.scatter),
    _k("index_add", "indexing", "index_add(acc, index, g)",
       "acc[index] += g in acc's storage, repeated indices accumulating (indexing's gradient); returns the "
       "buffer now holding the result: acc, or a new one if acc is immutable", c.scatter_add),
    _k("assign", "indexing", "assign(a, value)",
       "a[...] = value in a's storage (value broadcastable to a, or a scalar); returns the buffer now "
       "holding the result: a, or a new one if a is immutable", c.assign),
    # --- matmul --------------------------------------------------------------------------------
    _k("matmul", "matmul", "matmul(a, b)", "(M, K) @ (K, N): out[i, j] = sum_k a[i, k] * b[k, j]; or a batch, "
       "(B, M, K) @ (B, K, N): out[p, i, j] = sum_k a[p, i, k] * b[p, k, j]", c.matmul),
    # --- fused: one kernel where the ops above would take several passes -----------------------
    _k("relu_backward", "fused", "relu_backward(x, g)", "out[i] = g[i] if x[i] > 0 else 0",
       c.activation_backward(1)),
    _k("sigmoid_backward", "fused", "sigmoid_backward(y, g)", "out[i] = g[i] * y[i] * (1 - y[i]), y = sigmoid(x)",
       c.activation_backward(3)),
    _k("tanh_backward", "fused", "tanh_backward(y, g)", "out[i] = g[i] * (1 - y[i] ** 2), y = tanh(x)",
       c.activation_backward(3)),
    _k("softmax", "fused", "softmax(a, axis)", "out = exp(a - max) / sum(exp(a - max)) along axis",
       c.along_axis(4, 1), divides=1),
    _k("log_softmax", "fused", "log_softmax(a, axis)", "out = (a - max) - log(sum(exp(a - max))) along axis",
       c.along_axis(4, 1, per_row_transcendentals=1)),
    _k("softmax_backward", "fused", "softmax_backward(y, g, axis)", "out = y * (g - sum(g * y, axis))",
       c.along_axis(4, 0, reads=2)),
    _k("log_softmax_backward", "fused", "log_softmax_backward(y, g, axis)", "out = g - exp(y) * sum(g, axis)",
       c.along_axis(3, 1, reads=2)),
    _k("cross_entropy", "fused", "cross_entropy(logits, labels)",
       "logits (N, C), labels int64 (N,): (loss, probs), the mean over rows of "
       "-log_softmax(logits)[n, labels[n]] as a 0-d buffer, and softmax(logits) for backward", c.cross_entropy),
    _k("cross_entropy_backward", "fused", "cross_entropy_backward(probs, labels, g)",
       "out[n, c] = g * (probs[n, c] - (c == labels[n])) / N, g the loss's 0-d gradient buffer",
       c.cross_entropy_backward),
    # --- conv: the column matrix a convolution is one matmul on (conv.py) ------------------------
    _k("im2col", "conv", "im2col(a, kernel, stride, dilation, padding)",
       "a (N, C, H, W) -> columns (C * kh * kw, N * oh * ow): out[(c * kh + i) * kw + j, (n * oh + y) * ow + x] "
       "= a[n, c, y * sh + i * dh - top, x * sw + j * dw - left], 0 in the padding; kernel, stride, dilation "
       "(pairs), padding ((top, bottom), (left, right))", c.im2col),
    _k("col2im", "conv", "col2im(cols, shape, kernel, stride, dilation, padding)",
       "im2col's adjoint: an image of `shape` (N, C, H, W), each element the sum of the column entries "
       "im2col would copy it to (entries in the padding dropped)", c.col2im),
    _k("linear_act", "fused", "linear_act(x, w, b, act)",
       "out = act(x @ w.T + b): x (M, K), w (N, K) as nn.Linear stores it, b (N,) or None, act one of "
       "ACTIVATIONS or None for none (a Linear layer, and its activation, in one kernel; the same values as "
       "matmul, add, act)",
       c.linear_act(_activation_work)),
    _k("axpy", "fused", "axpy(a, alpha, x, beta=1.0)",
       "a[i] = beta * a[i] + alpha * x[i] in a's storage (an optimizer's step, SGD's momentum, `p -= q`: alpha, beta "
       "Python floats); returns the buffer now holding the result: a, or a new one if a is immutable", c.axpy),
    # --- pool: max pooling that keeps each window's argmax for its backward (ops_pool.py) ---------
    _k("max_pool2d", "pool", "max_pool2d(a, kernel, stride, dilation, padding)",
       "a (N, C, H, W) -> (values, indices), both (N, C, oh, ow), over im2col's windows (padding "
       "((top, bottom), (left, right)) only places them; taps outside the image are skipped, as -inf): "
       "values = each window's maximum (a NaN counts as larger than anything, the last NaN wins), "
       "indices = its int64 position r * W + q in the H * W plane, the first of equal maxima; a window "
       "with no value above -inf (the lowest integer) reports that and its first tap at non-negative "
       "coordinates, even one past the image (PyTorch's convention)", c.max_pool2d),
    _k("max_pool2d_backward", "pool", "max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding)",
       "max_pool2d's gradient: an image of `shape` (N, C, H, W) whose element [n, c, r, q] is the sum of "
       "g[n, c, y, x] over the windows (y, x) with indices[n, c, y, x] == r * W + q (overlapping windows add "
       "up; a window with no tap inside the image adds nothing)", c.max_pool2d_backward),
    # --- conv: a whole convolution, forward and backward (conv.py; fused where a backend compiles it) ---
    _k("conv2d", "conv", "conv2d(x, w, b, stride, dilation, padding, groups)",
       "x (N, C, H, W), w (O, C / groups, kh, kw), b (O,) or None -> y (N, O, oh, ow): y[n, o, p, q] = b[o] + "
       "sum over the window of x[n, c, p * sh + i * dh - top, q * sw + j * dw - left] * w[o, c, i, j], c in o's "
       "group, 0 in the padding; stride, dilation (pairs), padding ((top, bottom), (left, right))", c.conv2d),
    _k("conv2d_backward", "conv", "conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad)",
       "(dx, dw, db): conv2d's gradients given g (N, O, oh, ow), the output's; dx is None unless input_grad, "
       "db (g summed over N, oh, ow) None unless bias_grad", c.conv2d_backward),
    # --- fused: a convolution and the activation after it (nn.Sequential's Conv2d + ReLU) ---------
    _k("conv2d_act", "fused", "conv2d_act(x, w, b, stride, dilation, padding, groups, act)",
       "y = act(conv2d(x, w, b, stride, dilation, padding, groups)), act one of ACTIVATIONS (the same values "
       "as conv2d then the activation; where compiled, applied as each tile of y is stored)",
       c.conv2d_act(_activation_work)),
    _k("conv2d_act_backward", "fused",
       "conv2d_act_backward(x, w, y, g, stride, dilation, padding, groups, act, input_grad, bias_grad)",
       "(dx, dw, db) of y = conv2d_act(x, w, b, ..., act) given y and g, y's gradient: conv2d_backward of "
       "act_backward(y, g) (relu's: g where y > 0), the same values as the two kernels",
       c.conv2d_act_backward(_activation_work)),
]

TABLE = {row.name: row for row in _ROWS}
KERNELS = tuple(TABLE)
assert len(KERNELS) == len(_ROWS), "a kernel name appears twice in the table"


def of_family(family):
    """The names of the kernels in `family`, in table order."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; families: {', '.join(FAMILIES)}")
    return tuple(k.name for k in _ROWS if k.family == family)


def kernel_cost(name, args, out=None):
    """The Cost of calling kernel `name` with `args` (and, when known, its result `out`)."""
    try:
        row = TABLE[name]
    except KeyError:
        raise ValueError(f"no kernel {name!r} in the kernel table; kernels: {', '.join(KERNELS)}") from None
    return row.price(args, out)


STORAGE_HELPERS = ("writable", "is_contiguous", "same_storage", "overlap")  # see the module's docstring


def missing_from(module):
    """The kernels of the table and storage helpers that a backend module does not implement."""
    return [name for name in KERNELS + STORAGE_HELPERS if not callable(getattr(module, name, None))]


def describe():
    """The table as text: one line per kernel, grouped by family."""
    lines = []
    for family in FAMILIES:
        lines.append(f"{family}:")
        lines.extend(f"  {TABLE[n].signature:44s} {TABLE[n].doc}" for n in of_family(family))
    return "\n".join(lines)
