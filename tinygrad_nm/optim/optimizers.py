"""SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta: PyTorch's update rules (its single-tensor CPU
code paths), step for step and in the same order of operations, so that float32 runs agree with
PyTorch's to rounding. Each `_update` runs under no_grad; `grad` already has maximize applied.
"""
import math

from tinygrad_nm import composite as C
from tinygrad_nm.optim.optimizer import Optimizer, check_number
from tinygrad_nm.tensor import Tensor


def _decayed(grad, p, weight_decay):
    """grad + weight_decay * p: L2 regularisation added to the gradient."""
    return grad + p * weight_decay if weight_decay else grad


# PyTorch's addcmul computes value * t1 * t2 in that order, hence `grad * (1 - beta2) * grad` below.


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

    def _update(self, p, grad, state, group):
        grad = _decayed(grad, p, group["weight_decay"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.detach() * 1.0  # a copy: the gradient may later be zeroed in place
            else:
                dampening = group["dampening"]
                buf = buf * momentum + (grad * (1 - dampening) if dampening else grad)  # g * 1.0 is g
            state["momentum_buffer"] = buf
            grad = grad + buf * momentum if group["nesterov"] else buf
        p -= grad * group["lr"]


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
        kind = type(self).__name__
        check_number(kind, "learning rate", g["lr"])
        check_number(kind, "epsilon value", g["eps"])
        check_number(kind, "weight_decay value", g["weight_decay"])
        betas = g["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{kind}: betas must be a pair of numbers, got {betas!r}")
        for i, b in enumerate(betas):
            check_number(kind, f"beta parameter at index {i}", b, high=1.0)
        g["betas"] = tuple(betas)

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor.zeros_like(p.detach())
            state["exp_avg_sq"] = Tensor.zeros_like(p.detach())
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = Tensor.zeros_like(p.detach())
        state["step"] += 1
        if self.decoupled:
            p *= 1 - lr * wd
        else:
            grad = _decayed(grad, p, wd)
        m = state["exp_avg"] = state["exp_avg"] + (grad - state["exp_avg"]) * (1 - beta1)  # lerp
        v = state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + grad * (1 - beta2) * grad
        step = state["step"]
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"] = C.maximum(state["max_exp_avg_sq"], v)
        denom = v.sqrt() / bias_correction2_sqrt + eps
        p -= m * (lr / bias_correction1) / denom


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

    def _update(self, p, grad, state, group):
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = Tensor.zeros_like(p.detach())
            if momentum > 0:
                state["momentum_buffer"] = Tensor.zeros_like(p.detach())
            if group["centered"]:
                state["grad_avg"] = Tensor.zeros_like(p.detach())
        state["step"] += 1
        grad = _decayed(grad, p, group["weight_decay"])
        square_avg = state["square_avg"] = state["square_avg"] * alpha + grad * (1 - alpha) * grad
        if group["centered"]:
            grad_avg = state["grad_avg"] = state["grad_avg"] + (grad - state["grad_avg"]) * (1 - alpha)
            avg = (square_avg - grad_avg * grad_avg).sqrt() + eps
        else:
            avg = square_avg.sqrt() + eps
        if momentum > 0:
            buf = state["momentum_buffer"] = state["momentum_buffer"] * momentum + grad / avg
            p -= buf * group["lr"]
        else:
            p -= grad * group["lr"] / avg


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

    def _update(self, p, grad, state, group):
        state["step"] += 1
        grad = _decayed(grad, p, group["weight_decay"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"] = state["sum"] + grad * grad
        p -= grad * clr / (total.sqrt() + group["eps"])


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

    def _update(self, p, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = Tensor.zeros_like(p.detach())
            state["acc_delta"] = Tensor.zeros_like(p.detach())
        state["step"] += 1
        grad = _decayed(grad, p, group["weight_decay"])
        square_avg = state["square_avg"] = state["square_avg"] * rho + grad * (1 - rho) * grad
        std = (square_avg + eps).sqrt()
        delta = (state["acc_delta"] + eps).sqrt() / std * grad
        state["acc_delta"] = state["acc_delta"] * rho + delta * (1 - rho) * delta
        p -= delta * group["lr"]

