"""Loss functions with PyTorch's arguments and formulas (torch.nn.functional's), from Tensor methods.

Every loss takes reduction='mean' | 'sum' | 'none'. The common classification case of
cross_entropy (2-D logits, class indices, no options) runs as one fused, stable kernel.
"""
import numpy as np

from tinygrad_nm import composite as C
from tinygrad_nm import dtypes as dt
from tinygrad_nm import ops
from tinygrad_nm.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _check_reduction(name, reduction, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{name}: {reduction!r} is not a valid value for reduction; use one of {', '.join(allowed)}")


def _check_pair(name, input, target, reduction):
    """target as a Tensor on input's backend and dtype, of input's shape."""
    _check_reduction(name, reduction)
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=input.dtype, backend=input.backend)
    input._same_backend(target, name)
    if input.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {input.shape} and target shape {target.shape} differ")
    if target.dtype != input.dtype and input.dtype.is_float:
        target = target.cast(input.dtype)
    return target


def mse_loss(input, target, reduction="mean"):
    """(input - target) ** 2."""
    target = _check_pair("mse_loss", input, target, reduction)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|."""
    target = _check_pair("l1_loss", input, target, reduction)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target)."""
    target = _check_pair("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(C.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    target = _check_pair("huber_loss", input, target, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = (input - target).abs()
    return _reduce(C.where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta), reduction)


def _class_targets(name, input, target, ignore_index):
    """Check class-index targets against input (N, C, d1, ...) or (C,); returns them, their host copy,
    and whether one of them equals ignore_index."""
    if not isinstance(target, Tensor):
        target = Tensor(target, backend=input.backend)
    input._same_backend(target, name)
    if target.dtype.is_float or target.dtype is dt.bool_:
        raise TypeError(f"{name}: class-index targets must be an integer tensor, got {target.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if input.ndim == 0 or target.shape != expected:
        raise ValueError(f"{name}: input of shape {input.shape} needs targets of shape {expected}, got {target.shape}")
    host = target.numpy()
    n_classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if not host.size:
        return target, host, False
    low, high = host.min(), host.max()  # two reductions; a mask only when one is out of range
    if low < 0 or high >= n_classes:
        bad = host[((host < 0) | (host >= n_classes)) & (host != ignore_index)]
        if bad.size:
            raise ValueError(f"{name}: target {bad.ravel()[0]} is out of bounds: class indices must lie in "
                             f"[0, {n_classes}) (or equal ignore_index={ignore_index})")
    return target, host, low <= ignore_index <= high and bool((host == ignore_index).any())


def _classes_last(input):
    """input (N, C, d1, ...) as (N * d1 * ..., C); (C,) as (1, C)."""
    if input.ndim == 1:
        return input.reshape(1, -1)
    if input.ndim > 2:
        input = input.permute(0, *range(2, input.ndim), 1)
    return input.reshape(-1, input.shape[-1])


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-weight[t] * input[t] per sample (input holds log-probabilities along dimension 1); 'mean'
    divides by the summed weights of the targets not ignored."""
    _check_reduction("nll_loss", reduction)
    target, host, _ = _class_targets("nll_loss", input, target, ignore_index)
    flat = _classes_last(input)
    n, c = flat.shape
    kept = (host.reshape(-1) != ignore_index)
    safe = Tensor(host.reshape(-1) * kept, backend=input.backend)  # ignored targets read class 0, weighted 0
    # picking flat[i, t_i]: one 1-D index into the flattened (N*C,) tensor
    picked = flat.reshape(-1)[Tensor.arange(n, backend=input.backend) * c + safe]
    w = Tensor(kept, dtype=input.dtype, backend=input.backend)
    if weight is not None:
        if weight.shape != (c,):
            raise ValueError(f"nll_loss: weight must have shape ({c},), got {weight.shape}")
        w = w * weight[safe]
    loss = -picked * w
    if reduction == "none":
        return loss.reshape(*target.shape)
    if reduction == "mean":
        return loss.sum() / w.sum() if kept.any() else _nan_with_zero_gradient(loss)
    return loss.sum()


def _nan_with_zero_gradient(loss):
    """A 'mean' over no kept target: nan, as PyTorch's 0/0, with a zero gradient (not nan)."""
    return loss.sum() * 0 + float("nan")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits `input` (N, C, d1, ...) or (C,) against class indices or class
    probabilities (a float target of input's shape), as torch.nn.functional.cross_entropy."""
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if not input.dtype.is_float:
        input = input.float()
    if not isinstance(target, Tensor):
        target = Tensor(target, backend=input.backend)
    if target.dtype.is_float and target.shape == input.shape:  # else: class indices, refused if float
        return _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing)
    target, host, ignored = _class_targets("cross_entropy", input, target, ignore_index)
    if input.ndim == 2 and weight is None and reduction == "mean" and label_smoothing == 0 and not ignored:
        return Tensor._apply(ops.CrossEntropy, input.dtype, (input, target.long()))  # the fused kernel
    dim = 1 if input.ndim >= 2 else 0
    logp = input.log_softmax(dim)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    c = input.shape[dim]
    kept = Tensor(host != ignore_index, dtype=input.dtype, backend=input.backend)
    weighted = logp * weight.reshape(c, *([1] * (input.ndim - 2))) if weight is not None and dim == 1 else (
        logp * weight if weight is not None else logp)
    smooth = -weighted.sum(dim) * kept
    if reduction == "mean":
        if not (host != ignore_index).any():
            smooth = _nan_with_zero_gradient(smooth)
        elif weight is not None:
            smooth = smooth.sum() / (weight[Tensor(host.reshape(-1)[host.reshape(-1) != ignore_index],
                                                   backend=input.backend)]).sum()
        else:
            smooth = smooth.sum() / kept.sum() if (host != ignore_index).any() else _nan_with_zero_gradient(smooth)
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


def _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing):
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: probability targets must have the input's shape {input.shape}, "
                         f"got {target.shape}")
    if ignore_index >= 0:
        raise ValueError("cross_entropy: ignore_index is not supported for floating point (probability) targets")
    target = target.cast(input.dtype)
    dim = 1 if input.ndim >= 2 else 0
    c = input.shape[dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / c
    terms = input.log_softmax(dim) * target
    if weight is not None:
        terms = terms * (weight.reshape(c, *([1] * (input.ndim - 2))) if dim == 1 else weight)
    if reduction == "none":
        return -terms.sum(dim)
    if reduction == "sum":
        return -terms.sum()
    return -terms.sum() / (input.numel() // c)


def binary_cross_entropy(input, target, weight=None, reduction="mean", *, eps=None):
    """-(t log p + (1 - t) log(1 - p)) with p = input, probabilities in [0, 1] (after a sigmoid).

    As PyTorch: each log is clamped at -100, so certain but wrong predictions give 100, and the
    gradient is (p - t) / max(p (1 - p), 1e-12). `eps` (this library's earlier behaviour) instead
    squeezes p into [eps, 1 - eps] smoothly first; eps=0 gives the exact formula."""
    target = _check_pair("binary_cross_entropy", input, target, reduction)
    # PyTorch refuses both outside [0, 1] (a log of a negative number gives NaN later), NaN included
    _check_probabilities("predictions", input, " (apply .sigmoid() first)")
    _check_probabilities("targets", target)
    if eps is not None:
        if not 0 <= eps < 0.5:
            raise ValueError(f"binary_cross_entropy: eps must lie in [0, 0.5), got {eps}")
        p = input * (1 - 2 * eps) + eps
        loss = -(target * p.log() + (1 - target) * (1 - p).log())
    else:
        loss = _bce_clamped(input, target)
    return _reduce(loss * weight if weight is not None else loss, reduction)


def _check_probabilities(what, t, hint=""):
    host = t.detach().numpy()
    outside = ~((host >= 0) & (host <= 1))  # true at NaN too, which every comparison fails
    if outside.any():
        nans = int(np.isnan(host).sum())
        got = (f"got {nans} NaN value{'s' if nans > 1 else ''}" if nans else
               f"got values from {host.min():.4g} to {host.max():.4g}")
        raise ValueError(f"binary_cross_entropy: {what} must be probabilities in [0, 1]{hint}, {got}")


def _bce_clamped(p, t):
    """PyTorch's clamped BCE: the value from logs clamped at -100, and PyTorch's gradients written
    out (value + (x - x.detach()) * slope carries a chosen slope with an unchanged value)."""
    pd, td = p.detach(), t.detach()
    log_p = C.where(pd > 0, C.where(pd > 0, pd, 1.0).log(), -100.0)
    log_q = C.where(pd < 1, C.where(pd < 1, 1 - pd, 1.0).log(), -100.0)
    value = -(td * C.maximum(log_p, -100.0) + (1 - td) * C.maximum(log_q, -100.0))
    if p.requires_grad:
        value = value + (p - pd) * ((pd - td) / C.maximum(pd * (1 - pd), 1e-12))
    if t.requires_grad:
        value = value + (t - td) * (C.maximum(log_q, -100.0) - C.maximum(log_p, -100.0))
    return value


def logsigmoid(input):
    """log(sigmoid(x)): x - log(1 + exp(x)) for x < 0, -log(1 + exp(-x)) otherwise, finite for every
    finite x. (Each branch sees only its own side of 0, so the gradient at 0 is sigmoid(-0) = 0.5,
    not the 0 a formula with |x| would give there.)"""
    negative = input < 0
    low = C.where(negative, input, 0.0)
    high = C.where(negative, 0.0, input)
    return C.where(negative, low - low.exp().log1p(), -(-high).exp().log1p())


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE of sigmoid(input), computed from the logits stably: (1 - t) x - w_pos log sigmoid(x)."""
    target = _check_pair("binary_cross_entropy_with_logits", input, target, reduction)
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    return _reduce(loss * weight if weight is not None else loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """target * (log target - input) with input log-probabilities; 'batchmean' divides the sum by
    the batch size (the mathematically correct KL divergence), 'mean' by the element count."""
    _check_reduction("kl_div", reduction, REDUCTIONS + ("batchmean",))
    target = _check_pair("kl_div", input, target, "none")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        positive = target > 0  # 0 * log 0 counts as 0 (xlogy)
        loss = target * C.where(positive, target, 1.0).log() - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)
