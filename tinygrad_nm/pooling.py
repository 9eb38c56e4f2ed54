"""Pooling with PyTorch's semantics and NCHW layout: max_pool2d, avg_pool2d, adaptive_avg_pool2d
(and the 1-D max_pool1d, avg_pool1d), re-exported by functional.py.

max pooling picks each window's first maximum on the host (NumPy's argmax: a NaN counts as the
maximum, as in PyTorch; the backends have no argmax kernel), then reads those elements from the
input with one integer-array index, so the gradient goes to exactly that element, as PyTorch's.
Average pooling is separable: the mean over a kh x kw window is a mean over rows then over
columns, so it is two matmuls with host-built averaging matrices (any padding, ceil_mode,
count_include_pad and the adaptive windows are just different matrices).
"""
import math
from functools import lru_cache

import numpy as np

from tinygrad_nm.conv import as_tuple, batched, out_size
from tinygrad_nm.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d"]


@lru_cache(maxsize=16)  # each as large as one plane's windows
def patch_offsets(channels, padded, kernel, stride, dilation, out):
    """Flat offsets, in one sample of shape (channels, *padded), of every (output position, kernel
    tap) pair: shape (L, channels * kh * kw). Read-only (cached)."""
    hp, wp = padded
    taps = (np.arange(channels)[:, None, None] * (hp * wp)
            + np.arange(kernel[0])[:, None] * (dilation[0] * wp) + np.arange(kernel[1]) * dilation[1]).reshape(-1)
    corners = (np.arange(out[0])[:, None] * (stride[0] * wp) + np.arange(out[1]) * stride[1]).reshape(-1)
    offsets = (corners[:, None] + taps[None, :]).astype(np.int64)
    offsets.flags.writeable = False
    return offsets


def _pool_args(op, kernel_size, stride, padding, dilation=1):
    kernel = as_tuple(op, "kernel_size", kernel_size, 2, 1)
    stride = kernel if stride is None or stride == [] or stride == () else as_tuple(op, "stride", stride, 2, 1)
    padding = as_tuple(op, "padding", padding, 2, 0)
    dilation = as_tuple(op, "dilation", dilation, 2, 1)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} should be at most half of kernel_size {kernel}")
    return kernel, stride, padding, dilation


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over each kh x kw window of (N, C, H, W) (or (C, H, W)); padding counts as -inf.
    return_indices: also the int64 position of each maximum in its H * W plane (for max_unpool)."""
    return _max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """max_pool2d over a height of 1, for (N, C, L) or (C, L)."""
    stride = None if stride is None else (1, stride if isinstance(stride, int) else stride[0])
    return _max_pool("max_pool1d", input, _one(kernel_size), stride, (0, _one(padding)[1]), _one(dilation),
                     ceil_mode, return_indices, dims=1)


def _one(v):  # a 1-D argument as the 2-D one for a height of 1
    return (1, v if isinstance(v, int) else (v[0] if isinstance(v, (tuple, list)) and len(v) == 1 else v))


def _max_pool(op, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims=2):
    x, added = batched(op, input, dims + 2)
    if dims == 1:
        x = x.reshape(x.shape[0], x.shape[1], 1, x.shape[2])
    k, s, p, d = _pool_args(op, kernel_size, stride, padding, dilation)
    n, c, h, w = x.shape
    out = tuple(out_size(op, (h, w)[i], k[i], s[i], p[i], p[i], d[i], f"input (shape {tuple(x.shape)}) along dimension "
                         f"{i + 2}", ceil_mode) for i in range(2))
    # the padded plane reaches every tap of the last window (ceil_mode may go past the padding)
    hp, wp = ((out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 for i in range(2))
    hp, wp = max(hp, h + 2 * p[0]), max(wp, w + 2 * p[1])
    host = x.detach().numpy().reshape(n * c, h, w)
    low = -np.inf if host.dtype.kind == "f" else np.iinfo(host.dtype).min
    padded = np.full((n * c, hp, wp), low, dtype=host.dtype)
    padded[:, p[0]:p[0] + h, p[1]:p[1] + w] = host
    offsets = patch_offsets(1, (hp, wp), k, s, d, out)  # (L, kh * kw) within one padded plane
    inside = np.zeros((hp, wp), dtype=bool)
    inside[p[0]:p[0] + h, p[1]:p[1] + w] = True
    inside = inside.reshape(-1)[offsets]  # (L, kh * kw): which taps of each window are in the input
    windows = padded.reshape(n * c, hp * wp)[:, offsets]
    best = windows.argmax(-1)  # (N * C, L): each window's first maximum
    # a window whose maximum is -inf: PyTorch keeps its first tap inside the input, not the padding
    at_low = np.take_along_axis(windows, best[..., None], -1)[..., 0] == low
    best = np.where(at_low, inside.argmax(-1), best)
    where = offsets[np.arange(offsets.shape[0]), best]  # in the padded plane
    indices = (where // wp - p[0]) * w + (where % wp - p[1])  # in the input's H * W plane
    empty = ~inside.any(-1)  # windows wholly in the padding (dilation can make them): -inf, no gradient
    # (they read element 0, times 0, plus -inf: exact unless that element is itself infinite)
    flat = (np.arange(n * c)[:, None] * (h * w) + np.where(empty, 0, indices)).reshape(-1)
    result = x.reshape(-1)[Tensor(flat, backend=x.backend)]
    if empty.any():
        keep = np.tile(~empty, n * c)
        result = (result * Tensor(keep, dtype=x.dtype, backend=x.backend)
                  + Tensor(np.where(keep, 0, low), dtype=x.dtype, backend=x.backend))
        indices = np.where(empty, _torch_index_of_empty(out, k, s, p, d, w).reshape(-1), indices)
    shape = (n, c, out[1]) if dims == 1 else (n, c, *out)
    shape = shape[1:] if added else shape
    result = result.reshape(*shape)
    if return_indices:
        return result, Tensor(indices.reshape(shape), backend=x.backend)
    return result


def _torch_index_of_empty(out, k, s, p, d, w):
    """The index PyTorch reports for a window wholly in the padding: its first tap at non-negative
    coordinates (outside the input), flat in the H * W plane."""
    first = [np.arange(out[i]) * s[i] - p[i] for i in range(2)]
    first = [f + -(-np.maximum(-f, 0) // d[i]) * d[i] for i, f in enumerate(first)]
    return first[0][:, None] * w + first[1][None, :]


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each kh x kw window of (N, C, H, W) (or (C, H, W)); zero padding counts towards
    the mean unless count_include_pad=False; divisor_override replaces the window size."""
    return _avg_pool("avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """avg_pool2d over a height of 1, for (N, C, L) or (C, L)."""
    stride = None if stride is None else (1, stride if isinstance(stride, int) else stride[0])
    return _avg_pool("avg_pool1d", input, _one(kernel_size), stride, (0, _one(padding)[1]), ceil_mode,
                     count_include_pad, None, dims=1)


def _avg_pool(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims=2):
    x, added = batched(op, input, dims + 2)
    if dims == 1:
        x = x.reshape(x.shape[0], x.shape[1], 1, x.shape[2])
    k, s, p, _ = _pool_args(op, kernel_size, stride, padding)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override < 1):
        raise ValueError(f"{op}: divisor_override must be a positive integer, got {divisor_override!r}")
    h, w = x.shape[2:]
    rows, cols = (_window_matrix(op, (h, w)[i], k[i], s[i], p[i], ceil_mode, count_include_pad,
                                 divisor_override is None, f"input (shape {tuple(x.shape)}) along dimension {i + 2}")
                  for i in range(2))
    out = _separable(x, rows, cols)
    if divisor_override is not None:
        out = out * (1.0 / divisor_override)
    if dims == 1:
        out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return out.reshape(*out.shape[1:]) if added else out


def _window_matrix(op, n, kernel, stride, padding, ceil_mode, count_include_pad, average, what):
    """(out, n): row i weights the inputs under window i by 1 / its size along this axis, as
    PyTorch counts it (the padding counts unless count_include_pad=False; ceil_mode's last window
    is clipped to the padded input), or by 1 when not `average`."""
    out = out_size(op, n, kernel, stride, padding, padding, 1, what, ceil_mode)
    matrix = np.zeros((out, n))
    for i in range(out):  # one row per output position along one axis: a few dozen at most
        start = i * stride - padding
        end = min(start + kernel, n + padding)
        lo, hi = max(start, 0), min(end, n)
        size = (end - start) if count_include_pad else (hi - lo)
        matrix[i, lo:hi] = 1.0 / size if average else 1.0
    return matrix


def _separable(x, rows, cols):
    """out[n, c, i, j] = sum over (h, w) of rows[i, h] * cols[j, w] * x[n, c, h, w], as two matmuls."""
    n, c, h, w = x.shape
    oh, ow = rows.shape[0], cols.shape[0]
    rows, cols = (Tensor(m.T, dtype=x.dtype, backend=x.backend) for m in (rows, cols))
    y = x.reshape(n * c * h, w) @ cols  # (N * C * H, ow)
    y = y.reshape(n * c, h, ow).permute(0, 2, 1).reshape(n * c * ow, h) @ rows  # (N * C * ow, oh)
    return y.reshape(n, c, ow, oh).permute(0, 1, 3, 2)


def adaptive_avg_pool2d(input, output_size):
    """Mean over PyTorch's adaptive windows: output position i along an axis of size n averages
    inputs floor(i * n / out) .. ceil((i + 1) * n / out) - 1. output_size: int or pair (None keeps
    that dimension's size)."""
    x, added = batched("adaptive_avg_pool2d", input, 4)
    h, w = x.shape[2:]
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    size = tuple(n if s is None else s for s, n in zip(size, (h, w))) if len(size) == 2 else size
    size = as_tuple("adaptive_avg_pool2d", "output_size", size, 2, 1)
    if h == 0 or w == 0:
        raise ValueError(f"adaptive_avg_pool2d: input of shape {tuple(input.shape)} has an empty spatial dimension")
    rows, cols = (_adaptive_matrix(n, o) for n, o in zip((h, w), size))
    out = _separable(x, rows, cols)
    return out.reshape(*out.shape[1:]) if added else out


def _adaptive_matrix(n, out):
    matrix = np.zeros((out, n))
    for i in range(out):
        lo, hi = (i * n) // out, math.ceil((i + 1) * n / out)
        matrix[i, lo:hi] = 1.0 / (hi - lo)
    return matrix
