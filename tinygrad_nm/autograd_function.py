"""PyTorch's custom autograd functions (torch.autograd.Function) and torch.autograd.gradcheck.

    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    y = Exp.apply(x)

`forward` runs on tensors with recording off; `apply` then links each output to the inputs that
need a gradient by a few graph nodes whose backward calls the user's `backward` (also with
recording off: gradients of gradients are out of scope, as in autograd.grad). The nodes follow
autograd.Op's protocol (this module cannot import autograd.py, which re-exports its names):

    out_i = Pick_i(Call(x1, Link(x2, Link(x3))))

A node has at most two inputs, so the inputs beyond the first hang off a chain of Link nodes;
the "gradient" handed down the chain is the list of the remaining inputs' gradients (the walk
only passes it on). An output's Pick keeps its gradient in the call's state and hands Call a
token, an empty 0-d buffer the walk sums like any gradient, so Call runs once, after every
output's gradient has arrived (the walk runs a node after all of its consumers).
"""
import itertools

import numpy as np

from tinygrad_nm.grad_mode import is_grad_enabled, no_grad

class FunctionCtx:
    """The `ctx` of forward and backward: what forward saves for backward, and its flags."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved, self._non_differentiable = None, ()

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not hasattr(t, "_buf"):
                raise TypeError(f"save_for_backward can only save tensors (or None), argument {i} is a "
                                f"{type(t).__name__}; keep other values as attributes of ctx")
        # each tensor with its version now: backward refuses one written in place since
        self._saved = [(t, None if t is None else _version(t)) for t in tensors]

    @property
    def saved_tensors(self):
        if self._saved is None:
            return ()
        for i, (t, version) in enumerate(self._saved):
            if t is not None and _version(t) != version:
                raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                                   f"inplace operation: saved tensor {i} (shape {tuple(t.shape)}, {t.dtype}) is at "
                                   f"version {_version(t)}; expected version {version} instead")
        return tuple(t for t, _ in self._saved)

    def mark_non_differentiable(self, *outputs):
        self._non_differentiable = tuple(outputs)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        raise NotImplementedError("ctx.mark_dirty: a custom Function that writes its inputs in place is not "
                                  "supported; return a new tensor from forward")


def _version(t):
    return 0 if t._version is None else t._version[0]


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` (or forward
    without ctx plus `setup_context(ctx, inputs, output)`), then call `YourFunction.apply(*args)`."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom autograd Function must define a static forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a custom autograd Function must define a static backward(ctx, *grad_outputs) "
                                  "to be differentiated")

    setup_context = None  # forward(*args) + setup_context(ctx, inputs, output): PyTorch 2's other spelling

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: custom autograd Functions are not instantiated; call "
                           f"{type(self).__name__}.apply(...) (forward and backward are static methods)")

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = [(i, a) for i, a in enumerate(args) if hasattr(a, "_buf")]
        needs = tuple(hasattr(a, "_buf") and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with no_grad():
            if cls.setup_context is None:
                result = cls.forward(ctx, *args, **kwargs)
            else:
                result = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, result)
        if not (any(needs) and is_grad_enabled()):
            return result
        if len({a._be for _, a in tensors}) > 1:
            raise RuntimeError(f"{cls.__name__}.apply: the tensor arguments are on different backends "
                               f"({', '.join(sorted({a.backend for _, a in tensors}))}); move them to one")
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        state = _CallState(cls, ctx, args, outputs)
        if not state.differentiable:
            return result
        ops = _ops_of(cls)
        inputs = [a for _, a in tensors if a.requires_grad]
        chain = None
        for x in reversed(inputs[1:]):
            chain = x._apply(ops.link, x.dtype, [x] if chain is None else [x, chain])
        call = inputs[0]._apply(ops.call, inputs[0].dtype, [inputs[0]] if chain is None else [inputs[0], chain],
                                state)
        linked = tuple(call._apply(ops.pick, out.dtype, [call], state, i) if i in state.differentiable else out
                       for i, out in enumerate(outputs))
        return linked[0] if single else linked


class _CallState:
    """One call of a custom Function: its class, ctx, arguments, outputs, and the outputs'
    gradients as they arrive in a backward walk."""

    def __init__(self, cls, ctx, args, outputs):
        self.cls, self.ctx, self.args = cls, ctx, args
        skip = {id(t) for t in ctx._non_differentiable}
        self.differentiable = {i for i, out in enumerate(outputs)
                               if hasattr(out, "_buf") and out.dtype.is_float and id(out) not in skip}
        # an output that is one of the inputs gets storage of its own (PyTorch would make it a view)
        self.buffers = [None if not hasattr(out, "_buf") else out.clone()._buf if any(out is a for a in args)
                        else out._buf for out in outputs]
        self.outputs = outputs
        self.grads = [None] * len(outputs)

    def gradient_outputs(self):
        """The outputs' gradients for backward: zeros where none arrived (unless the ctx said not
        to materialize them); the state is then reset for a second walk (retain_graph)."""
        grads = []
        for i, out in enumerate(self.outputs):
            g = self.grads[i]
            if g is not None:
                grads.append(out._make(g, out.dtype, out._be))
            elif hasattr(out, "_buf") and self.ctx.materialize_grads:
                grads.append(out.new_zeros(out.shape))  # of the output's dtype, integers too (PyTorch)
            else:
                grads.append(None)
        self.grads = [None] * len(self.outputs)
        return grads

    def input_gradients(self, returned):
        """The user's backward result checked as PyTorch checks it: one entry per forward argument,
        a tensor of the input's shape (or one that sums to it) or None; the buffers of the inputs
        that need a gradient, in order."""
        name = f"{self.cls.__name__}Backward"
        returned = returned if isinstance(returned, tuple) else (returned,)
        if len(returned) < len(self.args) or any(g is not None for g in returned[len(self.args):]):
            raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected "
                               f"{len(self.args)}, got {len(returned)})")
        buffers = []
        for i, (a, g) in enumerate(zip(self.args, returned)):
            if not hasattr(a, "_buf"):
                if g is not None:
                    raise RuntimeError(f"function {name} returned a gradient different than None at position "
                                       f"{i + 1}, but the corresponding forward input was not a tensor")
                continue
            if not a.requires_grad:
                continue
            if g is None:
                buffers.append(None)
                continue
            if not hasattr(g, "_buf"):
                raise TypeError(f"function {name} returned a {type(g).__name__} as the gradient at index {i}; "
                                f"expected a tensor or None")
            buffers.append(_fit(g, a, name, i)._buf)
        return buffers


def _fit(g, a, name, i):
    """g brought to input a's shape, dtype and backend: summed over broadcast dims, as PyTorch's
    sum_to, or refused."""
    shape, target = tuple(g.shape), tuple(a.shape)
    if shape != target:
        lead = len(shape) - len(target)
        if lead < 0 or any(t != 1 and t != s for s, t in zip(shape[lead:], target)):
            raise RuntimeError(f"function {name} returned an invalid gradient at index {i} - got {list(shape)} "
                               f"but expected shape compatible with {list(target)}")
        dims = tuple(range(lead)) + tuple(lead + d for d, t in enumerate(target) if t == 1 and shape[lead + d] != 1)
        g = (g.sum(dim=dims, keepdim=True) if dims else g).reshape(target)
    if g._be is not a._be:
        g = g.to(a.backend)
    return g.to(a.dtype) if g.dtype != a.dtype else g


class _Ops:
    """The three node kinds of one custom Function (named after it, so grad_fn and errors say
    which): `call` runs its backward, `link` carries the chain, `pick` is an output."""

    def __init__(self, cls):
        def call_forward(ctx, be, a, *chain_and_state):  # (a, state) or (a, the link chain, state)
            ctx._saved = chain_and_state[-1]
            return a

        def call_backward(ctx, be, token):
            state = ctx._saved
            with no_grad():
                returned = state.cls.backward(state.ctx, *state.gradient_outputs())
            grads = state.input_gradients(returned)
            return grads[0], (grads[1:] if len(grads) > 1 else None)

        def link_forward(ctx, be, a, b=None):
            return a

        def link_backward(ctx, be, grads):
            return grads[0], (grads[1:] if len(grads) > 1 else None)

        def pick_forward(ctx, be, a, state, i):
            ctx._saved = (state, i)
            return state.buffers[i]

        def pick_backward(ctx, be, g):
            state, i = ctx._saved
            state.grads[i] = g if state.grads[i] is None else be.add(state.grads[i], g)
            return be.full((), 0.0, ctx._a.dtype), None  # the token (the call node's dtype)

        def kind(suffix, forward, backward):
            return type(cls.__name__.lstrip("_") + suffix, (), {"saves": None, "fresh": (False, False),
                                                    "forward": staticmethod(forward),
                                                    "backward": staticmethod(backward)})
        self.call = kind("Call", call_forward, call_backward)
        self.link = kind("Link", link_forward, link_backward)
        self.pick = kind("", pick_forward, pick_backward)


def _ops_of(cls):
    ops = cls.__dict__.get("_tnm_ops")
    if ops is None:
        ops = _Ops(cls)
        cls._tnm_ops = ops
    return ops


def once_differentiable(backward):
    """PyTorch's decorator for a backward that cannot itself be differentiated: every backward is
    so here (the backward pass is not recorded), so it returns `backward` as it is."""
    return backward


# --- torch.autograd.gradcheck -------------------------------------------------------------------
class GradcheckError(RuntimeError):
    """gradcheck's failure: the analytical and numerical Jacobians differ."""


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **ignored):
    """Whether func's gradients (backward) match central finite differences, as
    torch.autograd.gradcheck: for each input that requires grad and each output element, the
    analytical Jacobian column (one backward of a one-hot gradient) against
    (f(x + eps) - f(x - eps)) / 2 eps, with |a - n| <= atol + rtol |n|. Use float64 inputs."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    wanted = [i for i, x in enumerate(inputs) if hasattr(x, "_buf") and x.requires_grad]
    if not wanted:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")

    def outputs_of(args):
        out = func(*args)
        return [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if hasattr(o, "_buf")]

    leaves = [x.detach().clone().requires_grad_(x.requires_grad) if hasattr(x, "_buf") else x for x in inputs]
    outs = outputs_of(leaves)
    others = _other_leaves(outs, leaves)  # tensors func uses (a layer's weights): their .grad is put back
    kept = [(t, t.grad) for t in others]
    try:
        return _compare(inputs, wanted, leaves, outs, outputs_of, eps, atol, rtol, raise_exception)
    finally:
        for t, g in kept:
            t.grad = g


def _other_leaves(outs, leaves):
    """The leaves requiring grad that the outputs' graph reaches, other than gradcheck's own."""
    own, seen, found, stack = {id(x) for x in leaves}, set(), [], list(outs)
    while stack:
        t = stack.pop()
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        if t._ctx is None:
            if t.requires_grad and id(t) not in own:
                found.append(t)
        else:
            stack.extend((t._a, t._b))
    return found


def _compare(inputs, wanted, leaves, outs, outputs_of, eps, atol, rtol, raise_exception):
    """gradcheck's comparison, output by output and input by input."""
    for k, i in itertools.product(range(len(outs)), wanted):
        out, x = outs[k], inputs[i]
        analytical = np.zeros((out.numel(), x.numel()))
        for j in range(out.numel()) if out.requires_grad else ():
            for leaf in leaves:
                if hasattr(leaf, "_buf"):
                    leaf.grad = None
            seed = np.zeros(out.numel())
            seed[j] = 1
            out.backward(out.new_tensor(seed.reshape(out.shape)), retain_graph=True)
            g = leaves[i].grad
            analytical[j] = 0 if g is None else g.detach().numpy().astype(np.float64).ravel()
        numerical = np.zeros_like(analytical)
        base = x.detach().numpy().astype(np.float64)
        for m in range(x.numel()):
            sides = []
            for step in (eps, -eps):
                moved = base.copy().ravel()
                moved[m] += step
                args = list(inputs)
                args[i] = x.new_tensor(moved.reshape(base.shape))
                with no_grad():
                    sides.append(outputs_of(args)[k].numpy().astype(np.float64).ravel())
            numerical[:, m] = (sides[0] - sides[1]) / (2 * eps)
        bad = np.abs(analytical - numerical) > atol + rtol * np.abs(numerical)
        if bad.any():
            if not raise_exception:
                return False
            raise GradcheckError(f"Jacobian mismatch for output {k} with respect to input {i},\nnumerical:"
                                 f"{numerical}\nanalytical:{analytical}\n")
    return True
