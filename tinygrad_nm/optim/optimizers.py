"""SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta: PyTorch's update rules (its single-tensor CPU
code paths), step for step and in the same order of operations, so that float32 runs agree with
PyTorch's to rounding.

Each `_update(be, p, g, state, group)` works on buffers with the backend's kernels `be` (see
Optimizer.step): `g` is the gradient's buffer, `p._buf` the parameter's, and it returns the
parameter's new value (SGD: p's own buffer, updated in place by the axpy kernel). Per-parameter
state lives in `state` as Tensors (`_keep` updates them).
PyTorch's addcmul computes value * t1 * t2 in that order, hence `mul(mul(g, 1 - beta2), g)`.
"""
import math

from tinygrad_nm.optim.optimizer import Optimizer, check_number
from tinygrad_nm.tensor import Tensor


def _decayed(be, g, p, weight_decay):
    """g + weight_decay * p: L2 regularisation added to the gradient."""
    return be.add(g, be.mul(p._buf, weight_decay)) if weight_decay else g


def _zeros(be, p):
    return be.full(p.shape, 0.0, p.dtype)


def _second_moment(be, v, g, beta2):
    """v * beta2 + (1 - beta2) * g * g: PyTorch's mul_(beta2).addcmul_(g, g, value=1 - beta2) (the
    Adam family's second moment)."""
    return be.add(be.mul(v, beta2), be.mul(be.mul(g, 1 - beta2), g))


def check_adam_like(kind, g):
    """PyTorch's checks of lr, eps, weight_decay and betas, shared by the Adam family."""
    check_number(kind, "learning rate", g["lr"])
    check_number(kind, "epsilon value", g["eps"])
    check_number(kind, "weight_decay value", g["weight_decay"])
    betas = g["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{kind}: betas must be a pair of numbers, got {betas!r}")
    for i, b in enumerate(betas):
        check_number(kind, f"beta parameter at index {i}", b, high=1.0)
    g["betas"] = tuple(betas)


class SGD(Optimizer):
    """p -= lr * v with v = g (+ weight_decay * p), or with momentum the velocity
    b = momentum * b + (1 - dampening) * g (b = g on the first step); nesterov uses g + momentum * b."""
    state_keys = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check_hyperparameters(self, g):
        for name in ("lr", "momentum", "weight_decay"):
            check_number("SGD", name, g[name])
        check_number("SGD", "dampening", g["dampening"], low=-math.inf)

    def _update(self, be, p, g, state, group):
        g = _decayed(be, g, p, group["weight_decay"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:  # the first step starts the velocity at the gradient; a copy, as the
                b = be.copy(g)  # gradient may be zeroed in place later
            else:  # b = momentum * b + (1 - dampening) * g in b's storage, one kernel (PyTorch's mul_, add_)
                b = be.axpy(buf._buf, 1 - group["dampening"], g, momentum)
            self._keep(state, "momentum_buffer", b, p)
            g = be.add(g, be.mul(b, momentum)) if group["nesterov"] else b
        return be.axpy(p._buf, -group["lr"], g)  # p - lr * g, in p's storage: one pass


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction. Each parameter keeps its own step count, advanced
    only on steps where it had a gradient (as PyTorch), so a parameter that skipped steps gets the
    bias correction of the steps it took. weight_decay is L2 added to the gradient; AdamW decays
    the weights directly."""
    state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _check_hyperparameters(self, g):
        check_adam_like(type(self).__name__, g)

    def _update(self, be, p, g, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            for name in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ()):
                self._keep(state, name, _zeros(be, p), p)
        state["step"] += 1
        param = p._buf
        if self.decoupled:
            param = be.mul(param, 1 - lr * wd)
        else:
            g = _decayed(be, g, p, wd)
        m = state["exp_avg"]._buf  # lerp towards g by 1 - beta1
        m = self._keep(state, "exp_avg", be.add(m, be.mul(be.sub(g, m), 1 - beta1)), p)
        v = self._keep(state, "exp_avg_sq", _second_moment(be, state["exp_avg_sq"]._buf, g, beta2), p)
        if group["amsgrad"]:
            top = state["max_exp_avg_sq"]._buf
            v = self._keep(state, "max_exp_avg_sq", be.where(be.gt(v, top), v, top), p)
        step = state["step"]
        bias_correction1 = 1 - beta1 ** step
        denom = be.add(be.div(be.sqrt(v), math.sqrt(1 - beta2 ** step)), eps)
        return be.sub(param, be.div(be.mul(m, lr / bias_correction1), denom))


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """p -= lr * g / (sqrt(v) + eps) with v = alpha * v + (1 - alpha) g^2; centered subtracts the
    squared mean gradient from v; momentum accumulates the step first."""
    state_keys = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _check_hyperparameters(self, g):
        for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            check_number("RMSprop", name if name != "alpha" else "alpha value", g[name])

    def _update(self, be, p, g, state, group):
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        if not state:
            state["step"] = 0
            for name in ("square_avg",) + (("momentum_buffer",) if momentum > 0 else ()) + (
                    ("grad_avg",) if group["centered"] else ()):
                self._keep(state, name, _zeros(be, p), p)
        state["step"] += 1
        g = _decayed(be, g, p, group["weight_decay"])
        square_avg = be.add(be.mul(state["square_avg"]._buf, alpha), be.mul(be.mul(g, 1 - alpha), g))
        self._keep(state, "square_avg", square_avg, p)
        if group["centered"]:
            mean = state["grad_avg"]._buf
            mean = self._keep(state, "grad_avg", be.add(mean, be.mul(be.sub(g, mean), 1 - alpha)), p)
            avg = be.add(be.sqrt(be.sub(square_avg, be.mul(mean, mean))), eps)
        else:
            avg = be.add(be.sqrt(square_avg), eps)
        if momentum > 0:
            buf = be.add(be.mul(state["momentum_buffer"]._buf, momentum), be.div(g, avg))
            return be.sub(p._buf, be.mul(self._keep(state, "momentum_buffer", buf, p), group["lr"]))
        return be.sub(p._buf, be.div(be.mul(g, group["lr"]), avg))


class Adagrad(Optimizer):
    """p -= clr * g / (sqrt(sum of g^2) + eps), clr = lr / (1 + (step - 1) * lr_decay). The sums
    start at initial_accumulator_value for every parameter when the optimizer is made."""
    state_keys = ("step", "sum")

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["step"] = 0
                self.state[p]["sum"] = Tensor.full(p.shape, float(group["initial_accumulator_value"]),
                                                   dtype=p.dtype, backend=p.backend)

    def _check_hyperparameters(self, g):
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_number("Adagrad", name, g[name])

    def _update(self, be, p, g, state, group):
        state["step"] += 1
        g = _decayed(be, g, p, group["weight_decay"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = self._keep(state, "sum", be.add(state["sum"]._buf, be.mul(g, g)), p)
        return be.sub(p._buf, be.div(be.mul(g, clr), be.add(be.sqrt(total), group["eps"])))


class Adadelta(Optimizer):
    """delta = sqrt(u + eps) / sqrt(v + eps) * g with running averages v of g^2 and u of delta^2;
    p -= lr * delta."""
    state_keys = ("step", "square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _check_hyperparameters(self, g):
        check_number("Adadelta", "learning rate", g["lr"])
        check_number("Adadelta", "rho value", g["rho"], high=1.0, high_open=False)
        check_number("Adadelta", "epsilon value", g["eps"])
        check_number("Adadelta", "weight_decay value", g["weight_decay"])

    def _update(self, be, p, g, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            for name in ("square_avg", "acc_delta"):
                self._keep(state, name, _zeros(be, p), p)
        state["step"] += 1
        g = _decayed(be, g, p, group["weight_decay"])
        square_avg = be.add(be.mul(state["square_avg"]._buf, rho), be.mul(be.mul(g, 1 - rho), g))
        self._keep(state, "square_avg", square_avg, p)
        acc_delta = state["acc_delta"]._buf
        delta = be.mul(be.div(be.sqrt(be.add(acc_delta, eps)), be.sqrt(be.add(square_avg, eps))), g)
        self._keep(state, "acc_delta", be.add(be.mul(acc_delta, rho), be.mul(be.mul(delta, 1 - rho), delta)), p)
        return be.sub(p._buf, be.mul(delta, group["lr"]))
