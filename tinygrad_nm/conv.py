"""Convolutions with PyTorch's semantics, argument names and NCHW layout: unfold (im2col), fold
(col2im), conv1d and conv2d, re-exported by functional.py (F.conv2d, ...).

Every function is composed from differentiable Tensor ops, so backward comes for free and each
backend runs it: the patches are gathered with ONE integer-array index whose flat offsets are
computed in NumPy on the host from the shapes alone (cached), then a convolution is one matmul.

    patch offsets:  offset of output position (y, x) + offset of kernel tap (c, i, j)
                    = (y * sh) * Wp + x * sw  +  c * Hp * Wp + i * dh * Wp + j * dw
    in the padded input flattened per sample (Hp, Wp: its padded height and width).
"""
import math
from functools import lru_cache

import numpy as np

from tinygrad_nm import composite as C
from tinygrad_nm.padding import pad
from tinygrad_nm.tensor import Tensor

__all__ = ["unfold", "fold", "conv1d", "conv2d"]


# --- arguments ---------------------------------------------------------------------------------
def as_tuple(op, name, value, n, minimum):
    """An int or a sequence of n ints, each >= minimum, as a tuple of n ints."""
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(items, (tuple, list)) or len(items) != n
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in items)):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(items) < minimum:
        what = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return tuple(items)


def batched(op, input, ndim):
    """(input with a batch dimension, whether one was added): the unbatched form has ndim - 1 dims."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (ndim - 1, ndim):
        raise ValueError(f"{op}: expected a {ndim - 1}-D (unbatched) or {ndim}-D (batched) input, "
                         f"got shape {input.shape}")
    return (input.reshape(1, *input.shape), True) if input.ndim == ndim - 1 else (input, False)


def out_size(op, n, kernel, stride, before, after, dilation, what="input", ceil_mode=False):
    """Number of window positions along one axis of size n padded by (before, after)."""
    span = dilation * (kernel - 1) + 1
    room = n + before + after - span
    if room < 0:
        raise ValueError(f"{op}: the kernel spans {span} (kernel_size {kernel}, dilation {dilation}) but the padded "
                         f"{what} is only {n + before + after} (size {n} + padding {(before, after)})")
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    return out - 1 if (out - 1) * stride >= n + before else out  # the last window must start inside


@lru_cache(maxsize=16)  # each as large as one sample's column matrix
def patch_offsets(channels, padded, kernel, stride, dilation, out, taps_first=False):
    """Flat offsets, in one sample of shape (channels, *padded), of every (output position, kernel
    tap) pair: shape (L, channels * kh * kw), or its transpose when taps_first. Read-only (cached)."""
    hp, wp = padded
    taps = (np.arange(channels)[:, None, None] * (hp * wp)
            + np.arange(kernel[0])[:, None] * (dilation[0] * wp) + np.arange(kernel[1]) * dilation[1]).reshape(-1)
    corners = (np.arange(out[0])[:, None] * (stride[0] * wp) + np.arange(out[1]) * stride[1]).reshape(-1)
    offsets = (taps[:, None] + corners[None, :]) if taps_first else (corners[:, None] + taps[None, :])
    offsets = offsets.astype(np.int64)
    offsets.flags.writeable = False
    return offsets


def gather(x, offsets):
    """x (N, ...) flattened per sample, indexed by offsets (a host array of any shape): one
    integer-array index; (N, offsets.size)."""
    per_sample = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # no -1: N may be 0
    return per_sample[..., Tensor(offsets.reshape(-1), backend=x.backend)]


# --- unfold / fold -----------------------------------------------------------------------------
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), column l holding the patch under output
    position l (row-major over the output's height and width), as torch.nn.functional.unfold."""
    x, added = batched("unfold", input, 4)
    k, d, p, s = _geometry_args("unfold", kernel_size, dilation, padding, stride)
    n, c, h, w = x.shape
    out = tuple(out_size("unfold", (h, w)[i], k[i], s[i], p[i], p[i], d[i], _dim(x, i + 2)) for i in range(2))
    xp = pad(x, (p[1], p[1], p[0], p[0])) if any(p) else x
    offsets = patch_offsets(c, xp.shape[2:], k, s, d, out, taps_first=True)
    cols = gather(xp, offsets).reshape(n, offsets.shape[0], offsets.shape[1])
    return cols.reshape(*cols.shape[1:]) if added else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of unfold: (N, C * kh * kw, L) -> (N, C, H, W), summing the entries
    that land on the same position, as torch.nn.functional.fold.

    Composed as a gather too: each output position reads the (at most M) columns entries that
    cover it, from a host-built table; the unused slots of the table are masked to zero (by a
    0/1 multiply: exact for finite inputs, as F.pad's constant mode)."""
    x, added = batched("fold", input, 3)
    size = as_tuple("fold", "output_size", output_size, 2, 1)
    k, d, p, s = _geometry_args("fold", kernel_size, dilation, padding, stride)
    n, ck, length = x.shape
    taps = k[0] * k[1]
    out = tuple(out_size("fold", size[i], k[i], s[i], p[i], p[i], d[i], "output_size") for i in range(2))
    if ck % taps or length != out[0] * out[1]:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} needs dimension -2 divisible by "
                         f"kernel_size {k} (product {taps}) and dimension -1 equal to the number of blocks "
                         f"{out[0] * out[1]} ({out[0]}x{out[1]}) for output_size {size}")
    table, used = _fold_table(ck // taps, size, k, s, d, p, out)
    picked = gather(x, table).reshape(n, *table.shape)
    summed = C.where(Tensor(used, backend=x.backend), picked, 0.0).sum(-1)
    result = summed.reshape(n, ck // taps, *size)
    return result.reshape(*result.shape[1:]) if added else result


@lru_cache(maxsize=8)
def _fold_table(channels, size, kernel, stride, dilation, padding, out):
    """(table, used), both (channels * H * W, M): for each output position, the flat indices into
    the (C * kh * kw, L) columns that land on it, padded to M slots with index 0 and used=False."""
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    dest = patch_offsets(channels, padded, kernel, stride, dilation, out, taps_first=True).reshape(-1)
    hp, wp = padded
    c, y, x = dest // (hp * wp), dest // wp % hp - padding[0], dest % wp - padding[1]
    inside = (y >= 0) & (y < size[0]) & (x >= 0) & (x < size[1])
    src = np.flatnonzero(inside)
    dest = (c * size[0] * size[1] + y * size[1] + x)[inside]
    order = np.argsort(dest, kind="stable")
    dest, src = dest[order], src[order]
    counts = np.bincount(dest, minlength=channels * size[0] * size[1])
    slot = np.arange(len(dest)) - np.repeat(np.cumsum(counts) - counts, counts)  # rank within its position
    width = max(int(counts.max(initial=0)), 1)
    table = np.zeros((len(counts), width), dtype=np.int64)
    used = np.zeros((len(counts), width), dtype=bool)
    table[dest, slot], used[dest, slot] = src, True
    return table, used


def _dim(x, axis):
    return f"input (shape {tuple(x.shape)}) along dimension {axis}"


def _geometry_args(op, kernel_size, dilation, padding, stride):
    return (as_tuple(op, "kernel_size", kernel_size, 2, 1), as_tuple(op, "dilation", dilation, 2, 1),
            as_tuple(op, "padding", padding, 2, 0), as_tuple(op, "stride", stride, 2, 1))


# --- convolutions ------------------------------------------------------------------------------
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation of (N, C, H, W) (or unbatched (C, H, W)) with weight (O, C / groups, kh, kw),
    plus bias (O,): torch.nn.functional.conv2d. padding: int, pair, 'valid' or 'same' (stride 1)."""
    return convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation of (N, C, L) (or (C, L)) with weight (O, C / groups, k): conv2d on a height of 1."""
    return convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def convolution(op, input, weight, bias, stride, padding, dilation, groups, dims, padding_mode="zeros"):
    """conv1d / conv2d (dims 1 or 2); padding_mode is nn.Conv*d's ('zeros', 'reflect', 'replicate', 'circular')."""
    x, added = batched(op, input, dims + 2)
    if not isinstance(weight, Tensor) or weight.ndim != dims + 2:
        raise ValueError(f"{op}: weight must be a {dims + 2}-D Tensor (out_channels, in_channels / groups, "
                         f"*kernel_size), got shape {getattr(weight, 'shape', type(weight).__name__)}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    o, per_group = weight.shape[:2]
    if x.shape[1] != per_group * groups or o % groups:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has {x.shape[1]} channels, but weight of shape "
                         f"{weight.shape} with groups={groups} expects {per_group * groups} input channels "
                         f"(and out_channels {o} divisible by groups)")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"{op}: bias must have shape ({o},) for weight of shape {weight.shape}, got {bias.shape}")
    stride = as_tuple(op, "stride", stride, dims, 1)
    dilation = as_tuple(op, "dilation", dilation, dims, 1)
    kernel = weight.shape[2:]
    spans = _padding(op, padding, kernel, stride, dilation, dims)
    if dims == 1:  # a height of 1: the 1-D case is the 2-D one
        x, weight = x.reshape(*x.shape[:2], 1, x.shape[2]), weight.reshape(*weight.shape[:2], 1, kernel[0])
        kernel, stride, dilation, spans = (1, kernel[0]), (1, stride[0]), (1, dilation[0]), ((0, 0), spans[0])
    out = _conv2d(op, x, weight, bias, stride, spans, dilation, groups, padding_mode)
    if dims == 1:
        out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return out.reshape(*out.shape[1:]) if added else out


def _padding(op, padding, kernel, stride, dilation, dims):
    """Per axis (before, after) from PyTorch's padding argument."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple of {dims} ints, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)  # the odd one out goes after, as in PyTorch
    return tuple((p, p) for p in as_tuple(op, "padding", padding, dims, 0))


def _conv2d(op, x, weight, bias, stride, spans, dilation, groups, padding_mode):
    n, c, h, w = x.shape
    o = weight.shape[0]
    kernel = weight.shape[2:]
    out = tuple(out_size(op, (h, w)[i], kernel[i], stride[i], *spans[i], dilation[i], _dim(x, i + 2)) for i in range(2))
    if any(b or a for b, a in spans):
        mode = "constant" if padding_mode == "zeros" else padding_mode
        x = pad(x, (spans[1][0], spans[1][1], spans[0][0], spans[0][1]), mode=mode)
    offsets = patch_offsets(c, x.shape[2:], kernel, stride, dilation, out)  # (L, C * kh * kw)
    cols = gather(x, offsets).reshape(n * offsets.shape[0], offsets.shape[1])
    wmat = weight.reshape(o, -1)  # (O, C / groups * kh * kw)
    if groups > 1:
        # Block-diagonal weight (O, C * kh * kw): output channel o sees only its group's columns.
        # One matmul over every group; the zero blocks cost groups times the FLOPs of a loop.
        block = np.repeat(np.eye(groups), o // groups, axis=0)[:, :, None]  # (O, groups, 1)
        wmat = (wmat.reshape(o, 1, -1) * Tensor(block, dtype=wmat.dtype, backend=wmat.backend)).reshape(o, -1)
    y = cols @ wmat.T  # (N * L, O)
    if bias is not None:
        y = y + bias
    return y.reshape(n, out[0], out[1], o).permute(0, 3, 1, 2)
