"""Composite functions, built from Tensor methods: PyTorch's torch.nn.functional.

Also importable as tinygrad_nm.nn.functional. The losses live in losses.py and losses_margin.py,
pad in padding.py, the convolutions in conv.py, the pooling in pooling.py, interpolate and the
adaptive pools in resize.py, the clamp-like activations in activations.py; all are re-exported here.
"""
import math

import numpy as np

from tinygrad_nm import composite as C
from tinygrad_nm import host_math
from tinygrad_nm.grad_mode import no_grad
from tinygrad_nm.host import rng_for
from tinygrad_nm.losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                                huber_loss, kl_div, l1_loss, logsigmoid, mse_loss, nll_loss, smooth_l1_loss)
from tinygrad_nm.resize import (adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d,  # noqa: F401
                                interpolate, pixel_shuffle, pixel_unshuffle)
from tinygrad_nm.losses_margin import (cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss,  # noqa: F401
                                       margin_ranking_loss, multilabel_soft_margin_loss, pairwise_distance,
                                       poisson_nll_loss, soft_margin_loss, triplet_margin_loss)
from tinygrad_nm.conv import conv1d, conv2d, conv_transpose2d, fold, unfold  # noqa: F401
from tinygrad_nm.fused_linear import linear_act
from tinygrad_nm.padding import pad  # noqa: F401
from tinygrad_nm.activations import (celu, hardshrink, hardsigmoid, hardswish, hardtanh, mish, relu6, selu,  # noqa: F401
                                     softshrink, softsign, tanhshrink, threshold)
from tinygrad_nm.pooling import (adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d,  # noqa: F401
                                 max_pool2d, max_unpool1d, max_unpool2d)
from tinygrad_nm.tensor import Tensor

__all__ = ["relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "sigmoid", "tanh", "logsigmoid", "softmax",
           "log_softmax", "linear", "dropout", "one_hot", "normalize", "pad", "embedding", "batch_norm",
           "layer_norm", "group_norm", "conv1d", "conv2d", "unfold", "fold", "max_pool1d", "max_pool2d", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool2d", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss",
           "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]
__all__ += ["relu6", "hardtanh", "hardsigmoid", "hardswish", "mish", "softsign", "dropout2d", "softmin", "glu",
            "cosine_similarity", "pairwise_distance", "prelu", "instance_norm", "interpolate",
            "conv_transpose2d", "scaled_dot_product_attention", "margin_ranking_loss", "hinge_embedding_loss",
            "soft_margin_loss", "cosine_embedding_loss", "triplet_margin_loss", "multilabel_soft_margin_loss",
            "poisson_nll_loss", "gaussian_nll_loss", "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d",
            "pixel_shuffle", "pixel_unshuffle", "upsample", "selu", "celu", "hardshrink", "softshrink", "tanhshrink",
            "threshold", "rms_norm", "dropout1d", "alpha_dropout", "gumbel_softmax", "max_unpool1d", "max_unpool2d",
            "relu_", "leaky_relu_", "elu_", "hardtanh_", "threshold_", "celu_", "selu_"]


# --- activations -----------------------------------------------------------------------------
def relu(input, inplace=False): return input.relu()
def sigmoid(input): return input.sigmoid()
def tanh(input): return input.tanh()
def silu(input): return input * input.sigmoid()


# The piecewise ones select a branch with `where`, so that at 0 the gradient is PyTorch's (the
# branch for x <= 0), not the 0 that relu's kink would give.
def leaky_relu(input, negative_slope=0.01, inplace=False):
    return C.where(input > 0, input, input * negative_slope)


def elu(input, alpha=1.0, inplace=False):
    positive = input > 0
    return C.where(positive, input, C.where(positive, 0.0, input).expm1() * alpha)


def gelu(input, approximate="none"):
    """x * Phi(x) (approximate="none", PyTorch's default), or the tanh approximation."""
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
        return input * 0.5 * (inner.tanh() + 1)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return host_math.gelu_exact(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""
    bx = input * beta
    return C.where(bx > threshold, input, -logsigmoid(-bx) / beta)  # softplus(z) = -log sigmoid(-z)


def _softmax_dim(ndim):  # PyTorch's choice when dim is None (deprecated there, kept for old code)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None, axis=None):
    if dtype is not None:
        input = input.cast(dtype)
    dim = axis if dim is None else dim
    return input.softmax(_softmax_dim(input.ndim) if dim is None else dim)


def log_softmax(input, dim=None, dtype=None, axis=None):
    if dtype is not None:
        input = input.cast(dtype)
    dim = axis if dim is None else dim
    return input.log_softmax(_softmax_dim(input.ndim) if dim is None else dim)


# --- layers as functions ---------------------------------------------------------------------
def linear(input, weight, bias=None):
    """input @ weight.T + bias over the last dimension of input (any number of leading ones): one
    kernel and one graph node where the three are float tensors of one dtype and backend
    (fused_linear.linear_act with no activation), else the separate ops."""
    return linear_act(input, weight, bias, None)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(query @ key^T * scale + mask) @ value over the last two dims (..., L, E) x (..., S, E),
    as PyTorch's: scale 1/sqrt(E) by default; a bool attn_mask marks the pairs that may attend
    (False: -inf), a float one is added; is_causal lets position i attend to 0..i only."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        allowed = Tensor.ones(query.shape[-2], key.shape[-2], dtype="bool", backend=query.backend).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        is_bool = attn_mask.dtype.name == "bool"
        scores = scores.masked_fill(~attn_mask, float("-inf")) if is_bool else scores + attn_mask
    weights = scores.softmax(-1)
    if dropout_p:
        weights = dropout(weights, dropout_p)
    return weights @ value


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability p, scaling the rest by 1 / (1 - p), when
    training; the mask is drawn from tnm.manual_seed's generator. A 3-d input is (N, C, L), as
    PyTorch 2 reads it (with a warning there): each length-L row is a channel."""
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-d (N, C, L) or 4-d (N, C, H, W) input, got shape {input.shape}")
    return _dropout(input, p, training, input.shape[:2] + (1,) * (input.ndim - 2))


def prelu(input, weight):
    """x where x >= 0, else weight * x; weight has one element or one per channel (dimension 1)."""
    if weight.numel() not in (1, input.shape[1] if input.ndim > 1 else 1):
        raise ValueError(f"prelu: weight has {weight.numel()} elements; expected 1 or the {input.shape[1]} channels "
                         f"of input {input.shape}")
    slope = weight.reshape(*_stat_shape(input)) if weight.numel() > 1 else weight.reshape(())
    return input.where(input >= 0, slope * input)


def softmin(input, dim=None):
    return (-input).softmax(dim)


def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of input along dim."""
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """x1 . x2 / (max(|x1|, eps) max(|x2|, eps)) along dim (broadcast), as PyTorch."""
    dot = (x1 * x2).sum(dim)
    return dot / (x1.norm(dim=dim).clamp(min=eps) * x2.norm(dim=dim).clamp(min=eps))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability p, scaling the rest, when training."""
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-d (C, L) or 3-d (N, C, L) input, got shape {input.shape}")
    return _dropout(input, p, training, input.shape[:-1] + (1,))


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """SELU's dropout: dropped elements become SELU's negative saturation value, then an affine map
    a x + b keeps the mean and variance (Klambauer et al.), when training."""
    settled = _settled_dropout(input, p, training)
    if settled is not None:
        return settled
    alpha = -1.7580993408473766  # -SELU scale * alpha
    a = ((1 - p) * (1 + p * alpha * alpha)) ** -0.5
    keep = (Tensor.rand(*input.shape, dtype=input.dtype, backend=input.backend) >= p).cast(input.dtype)
    return (input * keep + alpha * (1 - keep)) * a + (-a * alpha * p)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau), g Gumbel noise drawn on the host; hard: the one-hot of its
    argmax going forward with the soft sample's gradient (straight-through), as PyTorch."""
    gumbels = Tensor(-np.log(rng_for(None, None).standard_exponential(logits.shape)), dtype=logits.dtype,
                     backend=logits.backend)
    soft = ((logits + gumbels) * (1.0 / tau)).softmax(dim)
    if not hard:
        return soft
    index = soft.argmax(dim, keepdim=True)
    one_hot = soft.detach() * 0
    one_hot = one_hot.scatter(dim, index, 1.0)
    return one_hot - soft.detach() + soft


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2) + eps) over the last len(normalized_shape) dims, times weight; eps
    defaults to the dtype's machine epsilon, as PyTorch."""
    axes = _normalized_axes("rms_norm", input, normalized_shape)
    eps = float(np.finfo(np.float64 if input.dtype.name == "float64" else np.float32).eps) if eps is None else eps
    out = input * ((input * input).mean(axes, keepdims=True) + eps).rsqrt()
    return out * weight if weight is not None else out


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p), when training.
    The mask is drawn from tnm.manual_seed's generator."""
    return _dropout(input, p, training, input.shape)


def _settled_dropout(input, p, training):
    """What a dropout gives without drawing a mask (input itself off training or at p = 0, zeros at
    p = 1), or None; p checked first."""
    if not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    return input * 0.0 if p == 1 else None


def _dropout(input, p, training, mask_shape):
    """input times a mask of mask_shape (broadcast over input), each entry kept with probability
    1 - p and scaled by 1 / (1 - p): dropout's elements, dropout2d's channels."""
    settled = _settled_dropout(input, p, training)
    if settled is not None:
        return settled
    keep = Tensor.rand(*mask_shape, dtype=input.dtype, backend=input.backend) >= p
    return input * (keep.cast(input.dtype) * (1.0 / (1 - p)))


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape (*tensor.shape, num_classes) with a 1 at each index."""
    if not isinstance(tensor, Tensor) or tensor.dtype.is_float or tensor.dtype == "bool":
        raise TypeError("one_hot is only applicable to index tensor (an int64 Tensor)")
    host = tensor.numpy()
    if host.size and host.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {host.min()}")
    if num_classes == -1:
        num_classes = int(host.max()) + 1 if host.size else 0
    if host.size and host.max() >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes ({num_classes}), got {host.max()}")
    return Tensor(np.eye(num_classes, dtype=np.int64)[host], backend=tensor.backend)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p along dim, eps)."""
    powered = input * input if p == 2 else input.abs() ** p
    total = powered.sum(dim, keepdims=True)
    positive = total > 0
    safe = C.where(positive, total, 1.0)  # a zero vector has norm 0 and gradient 0, not nan
    norm = C.where(positive, safe.sqrt() if p == 2 else safe ** (1.0 / p), 0.0)
    return input / C.maximum(norm, eps)


def embedding(input, weight, padding_idx=None):
    """Rows of weight picked by the integer tensor input: shape (*input.shape, embedding_dim).
    The row at padding_idx gets no gradient."""
    if not isinstance(input, Tensor):
        input = Tensor(input, backend=weight.backend)
    if input.dtype.is_float or input.dtype == "bool":
        raise TypeError(f"embedding: indices must be an integer tensor, got {input.dtype}")
    n = weight.shape[0]
    host = input.numpy()
    if host.size and (host.min() < 0 or host.max() >= n):
        bad = host[(host < 0) | (host >= n)].ravel()[0]
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings")
    flat = input.reshape(-1)
    rows = weight[flat]
    if padding_idx is not None:
        padding_idx = padding_idx % n
        rows = C.where((flat != padding_idx).reshape(-1, 1), rows, rows.detach())
    return rows.reshape(*input.shape, weight.shape[1])


# --- normalisation ---------------------------------------------------------------------------
def _stat_shape(input):
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dimension 1) by the batch's statistics (training) or the running
    ones; while training, running_mean/var (when given) move towards the batch's by `momentum`,
    the variance unbiased, as PyTorch does."""
    shape = _stat_shape(input)
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input size {input.shape}")
        mean = input.mean(axes, keepdims=True)
        centered = input - mean
        var = (centered * centered).mean(axes, keepdims=True)
        if running_mean is not None:
            with no_grad():  # the running statistics are data, never part of the graph
                running_mean[...] = running_mean * (1 - momentum) + mean.detach().reshape(-1) * momentum
                running_var[...] = running_var * (1 - momentum) + var.detach().reshape(-1) * (momentum * count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not training")
        centered, var = input - running_mean.reshape(*shape), running_var.reshape(*shape)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(*shape)
    if bias is not None:
        out = out + bias.reshape(*shape)
    return out


def _normalized_axes(what, input, normalized_shape):
    """The last len(normalized_shape) axes of input, after checking their sizes are normalized_shape
    (layer_norm's and rms_norm's shared argument)."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if input.ndim < k or input.shape[input.ndim - k:] != normalized_shape:
        raise ValueError(f"{what}: expected input with shape (*, {', '.join(map(str, normalized_shape))}), "
                         f"got {input.shape}")
    return tuple(range(input.ndim - k, input.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dimensions (biased variance)."""
    axes = _normalized_axes("layer_norm", input, normalized_shape)
    mean = input.mean(axes, keepdims=True)
    centered = input - mean
    out = centered / ((centered * centered).mean(axes, keepdims=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial positions (group_norm, a group per
    channel), PyTorch's signature; running statistics are not supported."""
    if running_mean is not None or running_var is not None or not use_input_stats:
        raise NotImplementedError("instance_norm: running statistics are not supported (pass none)")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *spatial), got shape {input.shape}")
    return group_norm(input, input.shape[1], weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the channels (dimension 1) into num_groups groups and normalise each group of each sample."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input (N, C, *) with C divisible by num_groups={num_groups}, "
                         f"got {input.shape}")
    grouped = input.reshape(input.shape[0], num_groups, -1)
    mean = grouped.mean(2, keepdims=True)
    centered = grouped - mean
    out = (centered / ((centered * centered).mean(2, keepdims=True) + eps).sqrt()).reshape(*input.shape)
    shape = _stat_shape(input)
    if weight is not None:
        out = out * weight.reshape(*shape)
    if bias is not None:
        out = out + bias.reshape(*shape)
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """The old name of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def _in_place_of(fn):
    """F.<fn>_: input.copy_(fn(input, ...)), checked as every in-place op is."""
    def in_place(input, *args, **kwargs):
        return input.copy_(fn(input, *args, **kwargs))
    in_place.__name__ = in_place.__qualname__ = fn.__name__ + "_"
    in_place.__doc__ = f"{fn.__name__}, written into input."
    return in_place


relu_, leaky_relu_, elu_, hardtanh_, threshold_, celu_, selu_ = (
    _in_place_of(f) for f in (relu, leaky_relu, elu, hardtanh, threshold, celu, selu))
