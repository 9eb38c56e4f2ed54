"""Adamax, NAdam, RAdam: PyTorch's update rules (its single-tensor CPU code paths), in the same
order of operations as optimizers.py's Adam, so float32 runs agree with PyTorch's to rounding.

The constructors take PyTorch's arguments. `foreach` is accepted and ignored (it picks PyTorch's
multi-tensor kernels, not a different result); `capturable` (CUDA graphs) and `differentiable`
(a step autograd can see through) are refused when set: steps here run under no_grad on buffers.
"""
import numpy as np

from tinygrad_nm.optim.optimizer import Optimizer, check_number
from tinygrad_nm.optim.optimizers import _decayed, _second_moment, _zeros, check_adam_like
from tinygrad_nm.tensor import Tensor


def _refuse_unsupported(kind, capturable, differentiable):
    for name, value in (("capturable", capturable), ("differentiable", differentiable)):
        if value:
            raise ValueError(f"{kind}: {name}=True is not supported (steps update buffers in place, "
                             "outside autograd and CUDA graphs)")


def _lerp(be, start, end, weight):
    """start + weight * (end - start), PyTorch's lerp_ (which goes from the far end when weight >= 0.5)."""
    if weight < 0.5:
        return be.add(start, be.mul(be.sub(end, start), weight))
    return be.sub(end, be.mul(be.sub(end, start), 1 - weight))


class _AdamFamily(Optimizer):
    """The Adam-style state start (step 0, zeroed moments) and PyTorch's checks of the hyperparameters."""
    moments = ("exp_avg", "exp_avg_sq")

    def _check_hyperparameters(self, g):
        check_adam_like(type(self).__name__, g)

    def _start(self, be, p, state):
        if not state:
            state["step"] = 0
            for name in self.moments:
                self._keep(state, name, _zeros(be, p), p)
        state["step"] += 1
        return state["step"]

    def _weight_decay(self, be, p, g, group):
        """(parameter, gradient) after weight decay: decoupled scales p by 1 - lr * wd (AdamW's),
        otherwise wd * p is added to the gradient (L2)."""
        wd = group["weight_decay"]
        if wd and group.get("decoupled_weight_decay"):
            return be.mul(p._buf, 1 - group["lr"] * wd), g
        return p._buf, _decayed(be, g, p, wd)


class Adamax(_AdamFamily):
    """Adam with the infinity norm: u = max(beta2 * u, |g| + eps) replaces the second moment, and
    p -= lr / (1 - beta1^t) * m / u."""
    state_keys = ("step", "exp_avg", "exp_inf")
    moments = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _refuse_unsupported("Adamax", capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, be, p, g, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        step = self._start(be, p, state)
        g = _decayed(be, g, p, group["weight_decay"])
        m = self._keep(state, "exp_avg", _lerp(be, state["exp_avg"]._buf, g, 1 - beta1), p)
        decayed, bound = be.mul(state["exp_inf"]._buf, beta2), be.add(be.abs(g), eps)
        u = self._keep(state, "exp_inf", be.where(be.ge(decayed, bound), decayed, bound), p)
        clr = lr / (1 - beta1 ** step)
        return be.add(p._buf, be.div(be.mul(m, -clr), u))  # PyTorch's addcdiv_(m, u, value=-clr)


class NAdam(_AdamFamily):
    """Adam with Nesterov momentum (Dozat), the momentum warmed up by momentum_decay:
    mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)). `mu_product`, the product of the mu_t so
    far, is kept as a float rounded to float32, as PyTorch keeps it in a float32 scalar tensor.
    decoupled_weight_decay=True decays the weights as AdamW does (NAdamW)."""
    state_keys = ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _refuse_unsupported("NAdam", capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _check_hyperparameters(self, g):
        super()._check_hyperparameters(g)
        check_number("NAdam", "momentum_decay value", g["momentum_decay"])

    def _update(self, be, p, g, state, group):
        lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        step = self._start(be, p, state)
        state.setdefault("mu_product", 1.0)
        bias_correction2 = 1 - beta2 ** step
        param, g = self._weight_decay(be, p, g, group)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * decay)))
        mu_product = state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
        mu_product_next = mu_product * mu_next
        m = self._keep(state, "exp_avg", _lerp(be, state["exp_avg"]._buf, g, 1 - beta1), p)
        v = self._keep(state, "exp_avg_sq", _second_moment(be, state["exp_avg_sq"]._buf, g, beta2), p)
        denom = be.add(be.sqrt(be.div(v, bias_correction2)), eps)
        param = be.add(param, be.div(be.mul(g, -lr * (1.0 - mu) / (1.0 - mu_product)), denom))
        return be.add(param, be.div(be.mul(m, (-lr * mu_next) / (1.0 - mu_product_next)), denom))

    def _state_entry(self, name, value, p):
        if name != "mu_product":
            return super()._state_entry(name, value, p)
        try:  # a float, or a 0-d tensor as PyTorch saves it
            host = value.detach().numpy() if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"mu_product must be a number, got {type(value).__name__}") from None
        if host.size != 1 or host.dtype.kind not in "fiu" or not np.isfinite(host).all():
            raise ValueError(f"mu_product must be one finite number, got {value!r}")
        return float(np.float32(host.item()))


class RAdam(_AdamFamily):
    """Rectified Adam (Liu et al.): while the variance of the adaptive rate is intractable (the
    approximated SMA length rho_t <= 5, the first few steps) it takes a bias-corrected momentum
    SGD step; after that Adam's step scaled by the rectification term.
    decoupled_weight_decay=True decays the weights as AdamW does (RAdamW)."""
    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _refuse_unsupported("RAdam", capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _update(self, be, p, g, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        step = self._start(be, p, state)
        param, g = self._weight_decay(be, p, g, group)
        m = self._keep(state, "exp_avg", _lerp(be, state["exp_avg"]._buf, g, 1 - beta1), p)
        v = self._keep(state, "exp_avg_sq", _second_moment(be, state["exp_avg_sq"]._buf, g, beta2), p)
        bias_correction2 = 1 - beta2 ** step
        m_hat = be.div(m, 1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t <= 5.0:
            return be.sub(param, be.mul(m_hat, lr))
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        # PyTorch's float / tensor is reciprocal() * float: two roundings, kept
        adaptive = be.mul(be.div(1.0, be.add(be.sqrt(v), eps)), bias_correction2 ** 0.5)
        return be.sub(param, be.mul(be.mul(be.mul(m_hat, lr), adaptive), rect))
