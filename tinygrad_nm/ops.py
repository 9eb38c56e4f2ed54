"""Every differentiable op, forward and backward side by side, written against the kernel set.

`forward(ctx, be, a, [b], *params)` receives the buffers of one or two input
tensors (either may be a Python number instead) and returns a buffer, keeping
in `ctx._saved` what backward will need; `ctx` is the output tensor being made.
`backward(ctx, be, g)` receives the gradient of the output and returns the pair
(gradient for a, gradient for b), each of its input's shape, None where there is
nothing to compute; the walk ignores gradients for numbers and for tensors that
do not require grad. The input tensors are `ctx._a` and `ctx._b` (None for a
number or an absent b). A binary op whose operands had different shapes is
recorded as its `broadcasting` variant, which sums each gradient back to its
input's shape (`unbroadcast`).
`be` is the backend module (or napkin's timing wrapper around it); no op here
knows which backend it is.
"""
from tinygrad_nm import backends
from tinygrad_nm.autograd import Op, needs_grad, note_crossing


# --- binary ---------------------------------------------------------------------------------
class Add(Op):
    def forward(ctx, be, a, b):
        return be.add(a, b)

    def backward(ctx, be, g):
        return g, g


class Sub(Op):
    def forward(ctx, be, a, b):
        return be.sub(a, b)

    def backward(ctx, be, g):
        return g, (be.neg(g) if needs_grad(ctx._b) else None)


class Mul(Op):
    saves = ("a", "b")
    def forward(ctx, be, a, b):
        ctx._saved = (a, b)
        return be.mul(a, b)

    def backward(ctx, be, g):
        a, b = ctx._saved
        ta, tb = ctx._a, ctx._b  # a gradient is computed only for an input that wants one
        return (be.mul(g, b) if ta is not None and ta.requires_grad else None,
                be.mul(g, a) if tb is not None and tb.requires_grad else None)


class MulByNumber(Op):
    """a * c or c * a, c a Python number (PyTorch's mul.Scalar). Backward needs only c: keeping
    the number alone, rather than a tuple of both operands, is one object fewer per op for
    Python's garbage collector (the walkthrough's x[i] * w[i] runs 4000 times an epoch)."""
    def forward(ctx, be, a, b):
        ctx._saved = b if type(b) is float or type(b) is int else a
        return be.mul(a, b)

    def backward(ctx, be, g):
        grad = be.mul(g, ctx._saved)
        return (grad, None) if ctx._b is None else (None, grad)


class Div(Op):
    saves = ("a", "b")
    def forward(ctx, be, a, b):
        ctx._saved = (a, b)
        return be.div(a, b)

    def backward(ctx, be, g):
        a, b = ctx._saved
        ga = be.div(g, b) if needs_grad(ctx._a) else None
        # -g a / b^2, divided by b twice: b * b underflows to 0 where -a/b^2 is still representable
        gb = be.neg(be.div(be.div(be.mul(g, a), b), b)) if needs_grad(ctx._b) else None
        return ga, gb


class Pow(Op):
    saves = ("a", "b", "out")
    def forward(ctx, be, a, b):
        out = be.pow(a, b)
        ctx._saved = (a, b, out)
        return out

    def backward(ctx, be, g):
        a, b, out = ctx._saved
        ga = gb = None
        # Where the formulas meet 0 * inf, PyTorch's convention: d/da is 0 where b = 0, and d/db
        # is 0 where a = 0 and b >= 0 (a^b ln a -> 0 as a -> 0).
        if needs_grad(ctx._a):  # d/da a^b = b a^(b-1)
            if isinstance(b, (int, float)):
                ga = (be.mul(g, be.mul(a, 2)) if b == 2 else be.mul(g, 0) if b == 0
                      else be.mul(g, be.mul(be.pow(a, b - 1), b)))
            else:
                ga = be.where(be.eq(b, 0), 0.0, be.mul(g, be.mul(b, be.pow(a, be.sub(b, 1)))))
        if needs_grad(ctx._b):  # d/db a^b = a^b ln a
            if not isinstance(a, (int, float)):
                term = be.mul(out, be.log(a))
                term = be.where(be.eq(a, 0), be.where(be.ge(b, 0), 0.0, term), term)
            elif a == 0:
                term = be.where(be.ge(b, 0), 0.0, be.mul(out, float("-inf")))
            else:
                term = be.mul(out, _log(a))
            gb = be.mul(g, term)
        return ga, gb


def unbroadcast(be, grad, shape):
    """Sum a gradient of a broadcast result back down to an input's `shape`."""
    extra = len(grad.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, d in enumerate(shape)
                                        if d == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = be.sum(grad, axes, True)
    return be.reshape(grad, shape) if grad.shape != shape else grad


def _broadcasting(op):
    """`op` for tensor operands of different shapes: the same forward, and a backward that sums
    each gradient back to its input's shape. Equal shapes, the common case, pay nothing for it."""
    def backward(ctx, be, g):
        ga, gb = op.backward(ctx, be, g)
        a, b = ctx._a, ctx._b
        return (unbroadcast(be, ga, a._shape) if ga is not None and needs_grad(a) else None,
                unbroadcast(be, gb, b._shape) if gb is not None and needs_grad(b) else None)
    doc = f"{op.__name__} of operands with different shapes: its backward sums each gradient back."
    return type(op.__name__, (op,), {"backward": backward, "__doc__": doc})


for _op in (Add, Sub, Mul, Div, Pow):
    _op.broadcasting = _broadcasting(_op)


def _log(x):
    import math
    return math.log(x) if x > 0 else float("nan")


# --- unary ----------------------------------------------------------------------------------
class Neg(Op):
    def forward(ctx, be, a):
        return be.neg(a)

    def backward(ctx, be, g):
        return be.neg(g), None


class Exp(Op):
    saves = ("out",)
    def forward(ctx, be, a):
        out = be.exp(a)
        ctx._saved = out
        return out

    def backward(ctx, be, g):
        return be.mul(g, ctx._saved), None


class Log(Op):
    saves = ("a",)
    def forward(ctx, be, a):
        ctx._saved = a
        return be.log(a)

    def backward(ctx, be, g):
        return be.div(g, ctx._saved), None


class Sqrt(Op):
    saves = ("out",)
    def forward(ctx, be, a):
        out = be.sqrt(a)
        ctx._saved = out
        return out

    def backward(ctx, be, g):
        return be.div(g, be.mul(ctx._saved, 2)), None


class Abs(Op):
    saves = ("a",)
    def forward(ctx, be, a):
        ctx._saved = a
        return be.abs(a)

    def backward(ctx, be, g):
        return be.mul(g, be.sign(ctx._saved)), None


class Atanh(Op):
    saves = ("a",)
    def forward(ctx, be, a):
        ctx._saved = a
        return be.atanh(a)

    def backward(ctx, be, g):  # 1 / (1 - x^2)
        a = ctx._saved
        return be.div(g, be.sub(1, be.mul(a, a))), None


class Sin(Op):
    saves = ("a",)

    def forward(ctx, be, a):
        ctx._saved = a
        return be.sin(a)

    def backward(ctx, be, g):
        return be.mul(g, be.cos(ctx._saved)), None


class Cos(Op):
    saves = ("a",)

    def forward(ctx, be, a):
        ctx._saved = a
        return be.cos(a)

    def backward(ctx, be, g):
        return be.neg(be.mul(g, be.sin(ctx._saved))), None


class Relu(Op):
    saves = ("a",)
    def forward(ctx, be, a):
        ctx._saved = a
        return be.relu(a)

    def backward(ctx, be, g):
        return be.relu_backward(ctx._saved, g), None


class Sigmoid(Op):
    saves = ("out",)
    def forward(ctx, be, a):
        out = be.sigmoid(a)
        ctx._saved = out
        return out

    def backward(ctx, be, g):
        return be.sigmoid_backward(ctx._saved, g), None


class Tanh(Op):
    saves = ("out",)
    def forward(ctx, be, a):
        out = be.tanh(a)
        ctx._saved = out
        return out

    def backward(ctx, be, g):
        return be.tanh_backward(ctx._saved, g), None


class Cast(Op):
    """Change dtype (float32 <-> float64, int -> float); the gradient casts back."""

    def forward(ctx, be, a, dtype):
        ctx._saved = a
        return be.astype(a, dtype)

    def backward(ctx, be, g):
        return be.astype(g, ctx._a.dtype), None


class ToBackend(Op):
    """A copy onto another backend (Tensor.to); the gradient is copied back. Forward is run with the
    source's kernels (`be`); `destination` is the destination's, whose backend the result is on
    (Tensor._to_backend), so backward is run with the destination's kernels."""

    def forward(ctx, be, a, destination, dtype):
        note_crossing()
        return destination.from_numpy(be.to_numpy(a), dtype)

    def backward(ctx, be, g):
        a = ctx._a
        return backends.kernels_of(a._be).from_numpy(be.to_numpy(g), a.dtype), None


# --- reductions -----------------------------------------------------------------------------
class Sum(Op):
    def forward(ctx, be, a, axes, keepdims):
        ctx._saved = (a.shape, axes, keepdims)
        return be.sum(a, axes, keepdims)

    def backward(ctx, be, g):
        shape, axes, keepdims = ctx._saved
        if not keepdims:  # put the reduced axes back as size 1, then broadcast
            g = be.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(shape)))
        return be.expand(g, shape), None


class Max(Op):
    saves = ("a", "out")
    def forward(ctx, be, a, axes, keepdims):
        out = be.max(a, axes, keepdims=True)
        ctx._saved = (a, out, axes, keepdims)
        return out if keepdims else be.reshape(out, tuple(d for i, d in enumerate(a.shape) if i not in axes))

    def backward(ctx, be, g):
        # the gradient goes to the maximum; ties share it equally, as in PyTorch's amax
        a, out, axes, keepdims = ctx._saved
        if not keepdims:
            g = be.reshape(g, out.shape)
        mask = be.astype(be.eq(a, out), ctx._a.dtype)
        count = be.sum(mask, axes, True)
        return be.mul(mask, be.div(g, count)), None


# --- movement -------------------------------------------------------------------------------
class Reshape(Op):
    def forward(ctx, be, a, shape):
        ctx._saved = a.shape
        return be.reshape(a, shape)

    def backward(ctx, be, g):
        return be.reshape(g, ctx._saved), None


class Permute(Op):
    def forward(ctx, be, a, axes):
        ctx._saved = axes
        return be.permute(a, axes)

    def backward(ctx, be, g):
        inverse = tuple(sorted(range(len(ctx._saved)), key=ctx._saved.__getitem__))
        return be.permute(g, inverse), None


class Index(Op):
    def forward(ctx, be, a, index):
        ctx._saved = index
        return be.getitem(a, index)

    def backward(ctx, be, g):
        a, index = ctx._a, ctx._saved
        if a._ctx is None and a._gsum is not None and a._be is ctx._be:
            # A leaf's gradient sum, which this backward call made (autograd.backward): add g into
            # it at `index`, in place (the walkthrough reads w[i] 4000 times an epoch: no
            # zeros(shape) and no add per read). Any other buffer may be held elsewhere.
            a._gsum = be.index_add(a._gsum, index, g)
            return None, None
        return be.index_add(be.full(a._shape, 0, ctx.dtype), index, g), None


# --- matmul ---------------------------------------------------------------------------------
class MatMul(Op):
    """(M, K) @ (K, N), or a batch (B, M, K) @ (B, K, N) in one kernel call (products.py).
    Backward, per matrix: dA = dOut @ B^T, dB = A^T @ dOut (T: the last two axes swapped)."""
    saves = ("a", "b")
    fresh = (True, True)

    def forward(ctx, be, a, b):
        ctx._saved = (a, b)
        return be.matmul(a, b)

    def backward(ctx, be, g):
        a, b = ctx._saved
        t = (1, 0) if len(g.shape) == 2 else (0, 2, 1)
        ga = be.matmul(g, be.permute(b, t)) if needs_grad(ctx._a) else None
        gb = be.matmul(be.permute(a, t), g) if needs_grad(ctx._b) else None
        return ga, gb


# --- softmax family -------------------------------------------------------------------------
class Softmax(Op):
    saves = ("out",)
    def forward(ctx, be, a, axis):
        out = be.softmax(a, axis)
        ctx._saved = (out, axis)
        return out

    def backward(ctx, be, g):
        out, axis = ctx._saved
        return be.softmax_backward(out, g, axis), None


class LogSoftmax(Op):
    saves = ("out",)
    def forward(ctx, be, a, axis):
        out = be.log_softmax(a, axis)
        ctx._saved = (out, axis)
        return out

    def backward(ctx, be, g):
        out, axis = ctx._saved
        return be.log_softmax_backward(out, g, axis), None


class CrossEntropy(Op):
    """Mean over rows of -log softmax(logits)[label], fused into one kernel each way."""
    saves = ("b",)

    def forward(ctx, be, logits, labels):
        loss, probs = be.cross_entropy(logits, labels)
        ctx._saved = (probs, labels)
        return loss

    def backward(ctx, be, g):
        probs, labels = ctx._saved
        return be.cross_entropy_backward(probs, labels, g), None
