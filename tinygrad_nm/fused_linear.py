"""A Linear layer and the activation after it as one kernel: the backends' `linear_act`.

nn.Sequential sends each Linear followed by ReLU, Sigmoid or Tanh here (nn/containers.py); the
values are those of F.linear then the activation, on every backend. The forward is one kernel,
act(x @ W.T + b): where the backend compiles it (cython) the bias and the activation are applied
to each block of the product while the matmul still holds it in registers or L1, instead of two
more passes over the output in memory.

A graph node has at most two inputs (autograd.py) and this op has three, so it is recorded as two
nodes; forward and backward side by side:

    h = LinearAct(x, W)   forward: linear_act(x, W, b, act), b passed as a parameter
                          backward: g_z = act'(y) g from the saved output y (relu's: y > 0),
                                    then g_x = g_z @ W and g_W = g_z.T @ x (the matmul backwards)
    y = BiasOf(h, b)      forward: y is h (the same buffer; b entered through LinearAct)
                          backward: g_h = g, and g_b = g_z summed over the rows

BiasOf is recorded only when b needs a gradient. It computes g_z for b's gradient and leaves it
beside LinearAct's saved output with the g it came from; LinearAct's backward, which receives that
same g (BiasOf hands g on unchanged, and h has no other consumer), uses it instead of computing
g_z a second time.
"""
from tinygrad_nm.autograd import Function, needs_grad
from tinygrad_nm.grad_mode import is_grad_enabled
from tinygrad_nm.backends.kernels import ACTIVATIONS
from tinygrad_nm.tensor import Tensor

_BACKWARD = {act: f"{act}_backward" for act in ACTIVATIONS}  # each activation's kernel, fed the output


class LinearAct(Function):
    """act(x @ w.T + b), x (M, K), w (N, K); b a buffer (N,) or None, act a name of ACTIVATIONS."""
    saves = ("a", "b", "out")

    def forward(ctx, be, x, w, b, act):
        out = be.linear_act(x, w, b, act)
        ctx._saved = [x, w, out, act, None]  # the last: (g, g_z) from BiasOf's backward
        return out

    def backward(ctx, be, g):
        x, w, y, act, done = ctx._saved
        if done is not None and done[0] is g:  # BiasOf computed act'(y) g from this very g
            gz = done[1]
        else:  # relu_backward(y, g) = relu_backward(z, g): y > 0 exactly where z > 0
            gz = getattr(be, _BACKWARD[act])(y, g)
        gx = be.matmul(gz, w) if needs_grad(ctx._a) else None
        gw = be.matmul(be.permute(gz, (1, 0)), x) if needs_grad(ctx._b) else None
        return gx, gw


class BiasOf(Function):
    """y = h, the output of LinearAct; b's gradient: act'(y) g summed over the rows."""
    saves = ("a",)

    def forward(ctx, be, h, b, act):
        ctx._saved = (h, act)
        return h

    def backward(ctx, be, g):
        y, act = ctx._saved
        gz = getattr(be, _BACKWARD[act])(y, g)
        h = ctx._a
        if h is not None and h._ctx is LinearAct and h._saved is not None:
            h._saved[4] = (g, gz)  # LinearAct's backward, next, needs the same g_z
        return (g if needs_grad(ctx._a) else None), be.sum(gz, (0,), False)


def linear_act(input, weight, bias, activation):
    """activation(F.linear(input, weight, bias)) for `activation` in ACTIVATIONS ("relu",
    "sigmoid", "tanh"), through the fused kernel when the three are float tensors of one dtype and
    backend (otherwise the separate ops, with their promotion rules). input (..., K), weight (N, K),
    bias (N,) or None."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"linear_act: unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    if not _fusable(input, weight, bias):
        from tinygrad_nm import functional as F
        return getattr(F.linear(input, weight, bias), activation)()
    n, k = weight.shape
    flat = input if input.ndim == 2 else input.reshape(-1, k)
    h = Tensor._apply(LinearAct, input.dtype, (flat, weight), None if bias is None else bias._buf, activation)
    out = h
    if bias is not None and bias.requires_grad and is_grad_enabled():
        out = h._alias(Tensor._apply(BiasOf, input.dtype, (h, bias), activation))  # shares h's buffer
    return out if input.ndim == 2 else out.reshape(*input.shape[:-1], n)


def _fusable(x, w, b):
    """Whether linear_act can take these as they are: tensors of one float dtype and backend, shapes
    that fit (anything else goes through F.linear, which promotes or says what is wrong)."""
    if not (isinstance(x, Tensor) and isinstance(w, Tensor) and (b is None or isinstance(b, Tensor))):
        return False
    if not x.dtype.is_float or w.dtype is not x.dtype or w._be is not x._be or w.ndim != 2 or x.ndim == 0:
        return False
    if x.shape[-1] != w.shape[1] or (w.shape[1] == 0 and x.ndim != 2):  # reshape(-1, 0) is ambiguous
        return False
    return b is None or (b.dtype is x.dtype and b._be is x._be and b.shape == (w.shape[0],))
