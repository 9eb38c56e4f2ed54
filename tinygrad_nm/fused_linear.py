"""A Linear layer, and the activation after it, as one kernel: the backends' `linear_act`.

nn.Sequential sends each Linear followed by ReLU, Sigmoid or Tanh here (nn/containers.py), and
F.linear (every other Linear) comes with no activation (act None); the values are those of
x @ W.T + b then the activation, on every backend. The forward is one kernel, act(x @ W.T + b):
where the backend compiles it (cython) the bias and the activation are applied to each block of
the product while the matmul still holds it in registers or L1, instead of two more passes over
the output in memory; and it is one graph node (two with a bias that needs a gradient) where
matmul, W.T and + b were three, each with its Python cost (bench/README.md, "Training").

A graph node has at most two inputs (autograd.py) and this op has three, so it is recorded as two
nodes; forward and backward side by side:

    h = LinearAct(x, W)   forward: linear_act(x, W, b, act), b passed as a parameter
                          backward: g_z = act'(y) g from the saved output y (relu's: y > 0),
                                    (g_z = g with no activation), then g_x = g_z @ W and
                                    g_W = g_z.T @ x (the matmul backwards)
    y = BiasOf(h, b)      forward: y is h (the same buffer; b entered through LinearAct)
                          backward: g_h = g, and g_b = g_z summed over the rows

BiasOf is recorded only when b needs a gradient. It computes g_z for b's gradient and leaves it
beside LinearAct's saved output with the g it came from; LinearAct's backward, which receives that
same g (BiasOf hands g on unchanged, and h has no other consumer), uses it instead of computing
g_z a second time.
"""
from tinygrad_nm.autograd import Op, needs_grad
from tinygrad_nm.grad_mode import is_grad_enabled
from tinygrad_nm.backends.kernels import ACTIVATIONS
from tinygrad_nm.tensor import Tensor

_BACKWARD = {act: f"{act}_backward" for act in ACTIVATIONS}  # each activation's kernel, fed the output


def _act_grad(be, act, y, g):
    """g_z = act'(z) g from the output y (relu_backward(y, g) = relu_backward(z, g): y > 0 exactly
    where z > 0); g itself with no activation."""
    return g if act is None else getattr(be, _BACKWARD[act])(y, g)


class LinearAct(Op):
    """act(x @ w.T + b), x (M, K), w (N, K); b a buffer (N,) or None, act a name of ACTIVATIONS or None."""
    saves = ("a", "b", "out")
    fresh = (True, True)  # the two matmuls' outputs

    def forward(ctx, be, x, w, b, act):
        out = be.linear_act(x, w, b, act)
        ctx._saved = [x, w, out, act, None]  # the last: (g, g_z) from BiasOf's backward
        return out

    def backward(ctx, be, g):
        x, w, y, act, done = ctx._saved
        # BiasOf's g_z when it computed act'(y) g from this very g, else our own
        gz = done[1] if done is not None and done[0] is g else _act_grad(be, act, y, g)
        gx = be.matmul(gz, w) if needs_grad(ctx._a) else None
        gw = be.matmul(be.permute(gz, (1, 0)), x) if needs_grad(ctx._b) else None
        return gx, gw


class BiasOf(Op):
    """y = h, the output of LinearAct; b's gradient: act'(y) g summed over the rows."""
    saves = ("a",)
    fresh = (False, True)  # g handed on to h; the sum, new

    def forward(ctx, be, h, b, act):
        ctx._saved = (h, act)
        return h

    def backward(ctx, be, g):
        y, act = ctx._saved
        gz = _act_grad(be, act, y, g)
        h = ctx._a
        if h is not None and h._ctx is LinearAct and h._saved is not None:
            h._saved[4] = (g, gz)  # LinearAct's backward, next, needs the same g_z
        return (g if needs_grad(ctx._a) else None), be.sum(gz, (0,), False)


class LinearNoAct(LinearAct):
    """x @ w.T + b (act None, F.linear): its backward never reads the output, so writing the output's
    storage before backward (through .detach() or .data) is allowed, as after PyTorch's addmm."""
    saves = ("a", "b")


class BiasOfNoAct(BiasOf):
    """BiasOf for no activation: b's gradient is g summed over the rows; nothing saved is read."""
    saves = None


def linear_act(input, weight, bias, activation):
    """activation(input @ weight.T + bias) for `activation` in ACTIVATIONS ("relu", "sigmoid",
    "tanh") or None (F.linear), through the fused kernel when the three are float tensors of one
    dtype and backend (otherwise the separate ops, with their promotion rules). input (..., K),
    weight (N, K), bias (N,) or None."""
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"linear_act: unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    if not _fusable(input, weight, bias):
        if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
            raise ValueError(f"linear: input of shape {input.shape} needs last dimension {weight.shape[-1]} "
                             f"to meet weight of shape {weight.shape}")
        out = _linear_unfused(input, weight, bias)
        return out if activation is None else getattr(out, activation)()
    shape, (n, k) = input._shape, weight._shape  # (_shape: every Linear of a step comes here)
    flat = input if len(shape) == 2 else input.reshape(-1, k)
    plain = activation is None
    h = Tensor._apply(LinearNoAct if plain else LinearAct, input.dtype, (flat, weight),
                      None if bias is None else bias._buf, activation)
    out = h
    if bias is not None and bias.requires_grad and is_grad_enabled():  # (shares h's buffer)
        out = h._alias(Tensor._apply(BiasOfNoAct if plain else BiasOf, input.dtype, (h, bias), activation))
    return out if len(shape) == 2 else out.reshape(*shape[:-1], n)


def _linear_unfused(input, weight, bias):
    """input @ weight.T + bias as the separate ops (mixed dtypes promote, a 1-D weight works, as in
    PyTorch), over the last dimension of input."""
    lead = input.shape[:-1]
    flat = input.reshape(-1, weight.shape[-1]) if input.ndim > 2 else input
    out = flat @ weight.T
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, *weight.shape[:-1]) if input.ndim > 2 else out


def _fusable(x, w, b):
    """Whether linear_act can take these as they are: tensors of one float dtype and backend, shapes
    that fit (anything else goes through the separate ops, which promote or say what is wrong)."""
    if not (isinstance(x, Tensor) and isinstance(w, Tensor) and (b is None or isinstance(b, Tensor))):
        return False
    xs, ws = x._shape, w._shape
    if not x.dtype.is_float or w.dtype is not x.dtype or w._be is not x._be or len(ws) != 2 or not xs:
        return False
    if xs[-1] != ws[1] or (ws[1] == 0 and len(xs) != 2):  # reshape(-1, 0) is ambiguous
        return False
    return b is None or (b.dtype is x.dtype and b._be is x._be and b._shape == (ws[0],))
