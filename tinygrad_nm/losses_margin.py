"""The margin, embedding and likelihood losses of torch.nn.functional, with PyTorch's arguments and
formulas, composed from Tensor methods (so differentiable as those are): margin_ranking_loss,
hinge_embedding_loss, soft_margin_loss, cosine_embedding_loss, triplet_margin_loss,
multilabel_soft_margin_loss, poisson_nll_loss, gaussian_nll_loss, and the pairwise_distance that
triplet_margin_loss measures with (functional re-exports it). losses.py holds the common ones.
"""
import math

from tinygrad_nm.composite import where
from tinygrad_nm.losses import _check_reduction, _reduce, logsigmoid


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps along the last dim (functional re-exports it)."""
    return (x1 - x2 + eps).norm(p, dim=-1, keepdim=keepdim)


def _same_shapes(name, *tensors):
    shapes = [tuple(t.shape) for t in tensors]
    if len(set(shapes)) > 1:
        raise ValueError(f"{name}: the inputs' shapes differ: {', '.join(map(str, shapes))}")


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin), target +1 or -1."""
    _check_reduction("margin_ranking_loss", reduction)  # (the three broadcast together, as PyTorch's)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """input where target is not -1, plus max(0, margin - input) where it is not 1 (PyTorch's form:
    a target of 0 gets both)."""
    _check_reduction("hinge_embedding_loss", reduction)
    _same_shapes("hinge_embedding_loss", input, target)
    zeros = input * 0
    loss = where(target != -1, input, zeros) + where(target != 1, (margin - input).clamp(min=0), zeros)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """log(1 + exp(-target * input))."""
    _check_reduction("soft_margin_loss", reduction)
    _same_shapes("soft_margin_loss", input, target)
    return _reduce(-logsigmoid(target * input), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1 (rows of
    (N, D) inputs, or two D vectors)."""
    _check_reduction("cosine_embedding_loss", reduction)
    _same_shapes("cosine_embedding_loss", input1, input2)
    squares = ((input1 * input1).sum(-1) + 1e-12) * ((input2 * input2).sum(-1) + 1e-12)  # PyTorch's formula
    cos = (input1 * input2).sum(-1) / squares.sqrt()
    zeros = cos * 0
    loss = where(target == 1, 1 - cos, zeros) + where(target == -1, (cos - margin).clamp(min=0), zeros)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin), d the p-norm distance (pairwise_distance); with swap,
    d(a, n) is the smaller of it and d(p, n)."""
    _check_reduction("triplet_margin_loss", reduction)
    _same_shapes("triplet_margin_loss", anchor, positive, negative)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of sigmoid(input) against each 0/1 label, averaged over the C classes
    of each row."""
    _check_reduction("multilabel_soft_margin_loss", reduction)
    _same_shapes("multilabel_soft_margin_loss", input, target)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.mean(-1), reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    """exp(input) - target * input (log_input), else input - target * log(input + eps); full adds
    Stirling's target * log(target) - target + log(2 pi target) / 2 where target > 1."""
    _check_reduction("poisson_nll_loss", reduction)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        safe = target.clamp(min=1)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + where(target > 1, stirling, stirling * 0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """(log(max(var, eps)) + (input - target)^2 / max(var, eps)) / 2, plus log(2 pi) / 2 when full;
    var of input's shape or with one dim of size 1 less (broadcast)."""
    _check_reduction("gaussian_nll_loss", reduction)
    var = var if hasattr(var, "_buf") else input.new_full(input.shape, float(var))
    if var.ndim == input.ndim - 1 and tuple(var.shape) == tuple(input.shape[:-1]):
        var = var.unsqueeze(-1)
    if (var < 0).any():
        raise ValueError("gaussian_nll_loss: var has negative entries")
    var = var + (var.clamp(min=eps) - var).detach()  # clamped, its gradient passed as is (PyTorch clamps in place)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
