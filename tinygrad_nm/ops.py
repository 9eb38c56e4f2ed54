"""Every differentiable op, forward and backward side by side, written against the kernel set.

`forward(be, *args)` receives backend buffers (or Python scalars) and returns a
buffer; `backward(be, g)` receives the gradient of the output and returns one
gradient per forward argument (None where none is needed). Broadcasting is
undone once, centrally, by the autograd walk (`autograd.unbroadcast`).
`be` is the backend module (or napkin's timing wrapper around it); no op here
knows which backend it is.
"""
from tinygrad_nm.autograd import Function


# --- binary ---------------------------------------------------------------------------------
class Add(Function):
    __slots__ = ()
    def forward(self, be, a, b):
        return be.add(a, b)

    def backward(self, be, g):
        return g, g


class Sub(Function):
    __slots__ = ()
    def forward(self, be, a, b):
        return be.sub(a, b)

    def backward(self, be, g):
        return g, (be.neg(g) if self.needs_grad(1) else None)


class Mul(Function):
    __slots__ = ()
    def forward(self, be, a, b):
        self.saved = (a, b)
        return be.mul(a, b)

    def backward(self, be, g):
        a, b = self.saved
        ta, tb = self.parents  # a gradient is computed only for an input that wants one
        return (be.mul(g, b) if ta is not None and ta.requires_grad else None,
                be.mul(g, a) if tb is not None and tb.requires_grad else None)


class Div(Function):
    __slots__ = ()
    def forward(self, be, a, b):
        self.saved = (a, b)
        return be.div(a, b)

    def backward(self, be, g):
        a, b = self.saved
        ga = be.div(g, b) if self.needs_grad(0) else None
        gb = be.neg(be.div(be.mul(g, a), be.mul(b, b))) if self.needs_grad(1) else None  # -g a / b^2
        return ga, gb


class Pow(Function):
    __slots__ = ()
    def forward(self, be, a, b):
        out = be.pow(a, b)
        self.saved = (a, b, out)
        return out

    def backward(self, be, g):
        a, b, out = self.saved
        ga = gb = None
        if self.needs_grad(0):  # d/da a^b = b a^(b-1)
            if isinstance(b, (int, float)):
                ga = (be.mul(g, be.mul(a, 2)) if b == 2 else be.mul(g, 0) if b == 0  # x**0: 0, also at x = 0
                      else be.mul(g, be.mul(be.pow(a, b - 1), b)))
            else:
                ga = be.mul(g, be.mul(b, be.pow(a, be.sub(b, 1))))
        if self.needs_grad(1):  # d/db a^b = a^b ln a
            gb = be.mul(g, be.mul(out, be.log(a) if not isinstance(a, (int, float)) else _log(a)))
        return ga, gb


def _log(x):
    import math
    return math.log(x) if x > 0 else float("nan")


# --- unary ----------------------------------------------------------------------------------
class Neg(Function):
    __slots__ = ()
    def forward(self, be, a):
        return be.neg(a)

    def backward(self, be, g):
        return (be.neg(g),)


class Exp(Function):
    __slots__ = ()
    def forward(self, be, a):
        out = be.exp(a)
        self.saved = out
        return out

    def backward(self, be, g):
        return (be.mul(g, self.saved),)


class Log(Function):
    __slots__ = ()
    def forward(self, be, a):
        self.saved = a
        return be.log(a)

    def backward(self, be, g):
        return (be.div(g, self.saved),)


class Sqrt(Function):
    __slots__ = ()
    def forward(self, be, a):
        out = be.sqrt(a)
        self.saved = out
        return out

    def backward(self, be, g):
        return (be.div(g, be.mul(self.saved, 2)),)


class Abs(Function):
    __slots__ = ()
    def forward(self, be, a):
        self.saved = a
        return be.abs(a)

    def backward(self, be, g):
        return (be.mul(g, be.sign(self.saved)),)


class Atanh(Function):
    __slots__ = ()
    def forward(self, be, a):
        self.saved = a
        return be.atanh(a)

    def backward(self, be, g):  # 1 / (1 - x^2)
        a = self.saved
        return (be.div(g, be.sub(1, be.mul(a, a))),)


class Relu(Function):
    __slots__ = ()
    def forward(self, be, a):
        self.saved = a
        return be.relu(a)

    def backward(self, be, g):
        return (be.relu_backward(self.saved, g),)


class Sigmoid(Function):
    __slots__ = ()
    def forward(self, be, a):
        out = be.sigmoid(a)
        self.saved = out
        return out

    def backward(self, be, g):
        return (be.sigmoid_backward(self.saved, g),)


class Tanh(Function):
    __slots__ = ()
    def forward(self, be, a):
        out = be.tanh(a)
        self.saved = out
        return out

    def backward(self, be, g):
        return (be.tanh_backward(self.saved, g),)


class Cast(Function):
    """Change dtype (float32 <-> float64, int -> float); the gradient casts back."""
    __slots__ = ()

    def forward(self, be, a, dtype):
        self.saved = a
        return be.astype(a, dtype)

    def backward(self, be, g):
        return (be.astype(g, self.parents[0].dtype), None)


# --- reductions -----------------------------------------------------------------------------
class Sum(Function):
    __slots__ = ()
    def forward(self, be, a, axes, keepdims):
        self.saved = (a.shape, axes, keepdims)
        return be.sum(a, axes, keepdims)

    def backward(self, be, g):
        shape, axes, keepdims = self.saved
        if not keepdims:  # put the reduced axes back as size 1, then broadcast
            g = be.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(shape)))
        return be.expand(g, shape), None, None


class Max(Function):
    __slots__ = ()
    def forward(self, be, a, axes, keepdims):
        out = be.max(a, axes, keepdims=True)
        self.saved = (a, out, axes, keepdims)
        return out if keepdims else be.reshape(out, tuple(d for i, d in enumerate(a.shape) if i not in axes))

    def backward(self, be, g):
        # the gradient goes to the maximum; ties share it equally, as in PyTorch's amax
        a, out, axes, keepdims = self.saved
        if not keepdims:
            g = be.reshape(g, out.shape)
        mask = be.astype(be.eq(a, out), self.parents[0].dtype)
        count = be.sum(mask, axes, True)
        return be.mul(mask, be.div(g, count)), None, None


# --- movement -------------------------------------------------------------------------------
class Reshape(Function):
    __slots__ = ()
    def forward(self, be, a, shape):
        self.saved = a.shape
        return be.reshape(a, shape)

    def backward(self, be, g):
        return be.reshape(g, self.saved), None


class Permute(Function):
    __slots__ = ()
    def forward(self, be, a, axes):
        self.saved = axes
        return be.permute(a, axes)

    def backward(self, be, g):
        inverse = tuple(sorted(range(len(self.saved)), key=self.saved.__getitem__))
        return be.permute(g, inverse), None


class Index(Function):
    __slots__ = ()
    def forward(self, be, a, index):
        self.saved = (a.shape, index)
        return be.getitem(a, index)

    def backward(self, be, g):
        shape, index = self.saved
        return be.index_grad(g, shape, index), None


# --- matmul ---------------------------------------------------------------------------------
class MatMul(Function):
    """(M, K) @ (K, N). Backward: dA = dOut @ B^T, dB = A^T @ dOut."""
    __slots__ = ()

    def forward(self, be, a, b):
        self.saved = (a, b)
        return be.matmul(a, b)

    def backward(self, be, g):
        a, b = self.saved
        ga = be.matmul(g, be.permute(b, (1, 0))) if self.needs_grad(0) else None
        gb = be.matmul(be.permute(a, (1, 0)), g) if self.needs_grad(1) else None
        return ga, gb


# --- softmax family -------------------------------------------------------------------------
class Softmax(Function):
    __slots__ = ()
    def forward(self, be, a, axis):
        out = be.softmax(a, axis)
        self.saved = (out, axis)
        return out

    def backward(self, be, g):
        out, axis = self.saved
        return be.softmax_backward(out, g, axis), None


class LogSoftmax(Function):
    __slots__ = ()
    def forward(self, be, a, axis):
        out = be.log_softmax(a, axis)
        self.saved = (out, axis)
        return out

    def backward(self, be, g):
        out, axis = self.saved
        return be.log_softmax_backward(out, g, axis), None


class CrossEntropy(Function):
    """Mean over rows of -log softmax(logits)[label], fused into one kernel each way."""
    __slots__ = ()

    def forward(self, be, logits, labels):
        loss, probs = be.cross_entropy(logits, labels)
        self.saved = (probs, labels)
        return loss

    def backward(self, be, g):
        probs, labels = self.saved
        return be.cross_entropy_backward(probs, labels, g), None
