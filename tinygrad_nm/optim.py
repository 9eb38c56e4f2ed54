"""Optimizers: SGD (with momentum) and Adam, following PyTorch's update rules exactly.

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

`step()` updates each parameter in place: the Tensor objects the model holds stay the same
ones, their storage gets the new values, and no graph is recorded.
"""
import math

import numpy as np

from tinygrad_nm import backends
from tinygrad_nm.tensor import Tensor


class Optimizer:
    """Holds the parameters, their per-parameter state (`state_names` buffers each) and a step count."""
    state_names = ()

    def __init__(self, params, lr):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) does not require grad")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears more than once")
        _check_nonnegative(self, lr=lr)
        self.params, self.lr = params, lr
        self.steps = 0
        # state[name][i]: the Tensor `name` (momentum, an Adam average) of parameter i, made on its first step
        self.state = {name: [None] * len(params) for name in self.state_names}

    def zero_grad(self):
        """Forget every parameter's gradient (set to None, as PyTorch does by default)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """One update of every parameter that has a gradient.

        The arithmetic calls the backend's kernels on the buffers directly rather than Tensor ops:
        an update is plain data, never part of a graph, and skipping the Tensor layer's checks
        matters at this size: written with Tensor ops, the ~25 small updates of an MLP step took
        a quarter of a digits epoch on the numpy backend. (napkin still sees every kernel.)"""
        self.steps += 1
        for i, p in enumerate(self.params):
            if p.grad is not None:
                be = backends.kernels_of(p._be)
                p._buf = be.assign(p._buf, self._update(be, i, p, p.grad._buf))  # p's own storage

    def _update(self, be, i, p, g):
        """The new value of parameter `i` (a buffer), given kernels `be`, the parameter Tensor `p`
        and its gradient buffer `g`. Per-parameter state lives in self.state as Tensors."""
        raise NotImplementedError

    def _state(self, name, i, p, buf):
        """Set state `name` of parameter i to `buf`, a Tensor on p's backend created on first use."""
        t = self.state[name][i]
        if t is None:
            t = self.state[name][i] = Tensor._make(buf, p.dtype, p._be)
        else:
            t._buf = buf
        return buf

    # --- checkpoints --------------------------------------------------------------------------
    def state_dict(self):
        """{"steps": 0-d array, "<state name>.<i>": array, ...}: flat, so it fits an .npz as is.
        Hyperparameters (lr, betas, ...) are not included: they come from the constructor."""
        out = {"steps": np.asarray(self.steps, dtype=np.int64)}
        for name, bufs in self.state.items():
            for i, b in enumerate(bufs):
                if b is not None:
                    out[f"{name}.{i}"] = b.numpy().copy()
        return out

    def load_state_dict(self, state):
        """Restore what state_dict saved; every key and shape is checked first, so on error the
        optimizer is unchanged."""
        kind = type(self).__name__
        if "steps" not in state:
            raise ValueError(f"{kind}.load_state_dict: the state has no 'steps' entry")
        expected = {f"{name}.{i}": p for name in self.state for i, p in enumerate(self.params)}
        unexpected = [k for k in state if k != "steps" and k not in expected]
        problems = [f"unexpected keys {unexpected}"] if unexpected else []
        for key, value in state.items():
            if key in expected and tuple(np.shape(value)) != expected[key].shape:
                problems.append(f"{key!r} has shape {tuple(np.shape(value))} but parameter "
                                f"{key.rsplit('.', 1)[1]} has shape {expected[key].shape}")
        if problems:
            raise ValueError(f"{kind}.load_state_dict: " + "; ".join(problems))
        new_state = {name: [None] * len(self.params) for name in self.state}
        for key, p in expected.items():  # a missing buffer means that parameter has not stepped yet
            if key in state:
                name, i = key.rsplit(".", 1)
                new_state[name][int(i)] = Tensor(np.asarray(state[key]), dtype=p.dtype, backend=p.backend)
        self.state, self.steps = new_state, int(state["steps"])


class SGD(Optimizer):
    """p -= lr * v, with v = g (+ weight_decay * p) or, with momentum, v = momentum * v + g."""
    state_names = ("momentum",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        _check_nonnegative(self, momentum=momentum, weight_decay=weight_decay)
        self.momentum, self.weight_decay = momentum, weight_decay
        if not momentum:
            self.state = {}  # plain SGD keeps no state

    def _update(self, be, i, p, g):
        if self.weight_decay:
            g = be.add(g, be.mul(p._buf, self.weight_decay))
        if self.momentum:
            v = self.state["momentum"][i]
            if v is None:  # the first step starts the velocity at the gradient (PyTorch); a copy,
                g = self._state("momentum", i, p, be.copy(g))  # as the gradient may be zeroed in place
            else:
                g = self._state("momentum", i, p, be.add(be.mul(v._buf, self.momentum), g))
        return be.sub(p._buf, be.mul(g, self.lr))


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay adds weight_decay * p to the gradient
    (L2, as torch.optim.Adam; not AdamW's decoupled decay)."""
    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        _check_nonnegative(self, eps=eps, weight_decay=weight_decay)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update(self, be, i, p, g):
        b1, b2 = self.betas
        if self.weight_decay:
            g = be.add(g, be.mul(p._buf, self.weight_decay))
        m, v = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
        if m is None:  # both averages start at zero
            m = v = be.full(p.shape, 0.0, p.dtype)
        else:
            m, v = m._buf, v._buf
        m = self._state("exp_avg", i, p, be.add(be.mul(m, b1), be.mul(g, 1 - b1)))
        v = self._state("exp_avg_sq", i, p, be.add(be.mul(v, b2), be.mul(be.mul(g, g), 1 - b2)))
        # torch's arrangement: p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
        bias_correction1 = 1 - b1 ** self.steps
        bias_correction2 = 1 - b2 ** self.steps
        denom = be.add(be.div(be.sqrt(v), math.sqrt(bias_correction2)), self.eps)
        return be.sub(p._buf, be.mul(be.div(m, denom), self.lr / bias_correction1))


def _check_nonnegative(opt, **values):
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0 or math.isinf(value):
            raise ValueError(f"{type(opt).__name__}: {name} must be a non-negative number, got {value!r}")
