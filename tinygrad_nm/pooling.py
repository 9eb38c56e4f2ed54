"""Pooling with PyTorch's semantics and NCHW layout: max_pool2d, avg_pool2d, adaptive_avg_pool2d
(and the 1-D max_pool1d, avg_pool1d), re-exported by functional.py.

max pooling is one op (ops_pool.MaxPool2d) on the kernel table's max_pool2d, which finds each
window's maximum and its position on the tensor's backend, by PyTorch's rules (the first of equal
maxima; a NaN counts as the maximum; padding as -inf), and max_pool2d_backward, which sends each
gradient to that position, as PyTorch's does.
Average pooling is separable: the mean over a kh x kw window is a mean over rows then over
columns, so it is two matmuls with host-built averaging matrices (any padding, ceil_mode,
count_include_pad and the adaptive windows are just different matrices).
"""
import math

import numpy as np

from tinygrad_nm.conv import as_tuple, batched, out_size
from tinygrad_nm.dtypes import bool_, int64
from tinygrad_nm.ops_pool import MaxPool2d
from tinygrad_nm.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "max_unpool1d", "max_unpool2d"]


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
    if x.dtype is bool_:
        raise TypeError(f"{op}: not implemented for bool tensors (as in PyTorch); cast the input first")
    if dims == 1:
        x = x.reshape(x.shape[0], x.shape[1], 1, x.shape[2])
    k, s, p, d = _pool_args(op, kernel_size, stride, padding, dilation)
    n, c, h, w = x.shape
    out = tuple(out_size(op, (h, w)[i], k[i], s[i], p[i], p[i], d[i], f"input (shape {tuple(x.shape)}) along dimension "
                         f"{i + 2}", ceil_mode) for i in range(2))
    # ceil_mode's last window may reach past the padding: as much padding after as it reaches (the
    # kernels skip taps outside the image; the padding after only sets how many windows there are)
    after = [max(p[i], (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (h, w)[i] - p[i]) for i in range(2)]
    indices = []
    result = x._apply(MaxPool2d, x.dtype, (x,), k, s, d, ((p[0], after[0]), (p[1], after[1])), indices)
    shape = (n, c, out[1]) if dims == 1 else (n, c, *out)
    shape = shape[1:] if added else shape
    result = result.reshape(*shape)
    if return_indices:
        return result, Tensor._make(indices[0], int64, x._be).reshape(*shape)
    return result


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
    rows, cols = (adaptive_windows(n, o) for n, o in zip((h, w), size))
    out = _separable(x, rows, cols)
    return out.reshape(*out.shape[1:]) if added else out


def adaptive_windows(n, out):
    """The (out, n) matrix that averages PyTorch's adaptive windows (resize.py's area mode too)."""
    matrix = np.zeros((out, n))
    for i in range(out):
        lo, hi = (i * n) // out, math.ceil((i + 1) * n / out)
        matrix[i, lo:hi] = 1.0 / (hi - lo)
    return matrix


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """max_pool2d undone: each value put back at its position (indices from max_pool2d with
    return_indices) in a zero (N, C, H_out, W_out) plane, H_out = (H - 1) stride - 2 padding + kernel
    (or output_size); differentiable in input as scatter is."""
    x, added = batched("max_unpool2d", input, 4)
    kernel, stride, padding, _ = _pool_args("max_unpool2d", kernel_size, stride, padding)
    n, c, h, w = x.shape
    size = tuple(output_size[-2:]) if output_size is not None else \
        tuple((d - 1) * s - 2 * p + k for d, s, p, k in zip((h, w), stride, padding, kernel))
    where = indices.reshape(n * c, h * w) if not added else indices.reshape(c, h * w)
    if where.numel() and (where.max().item() >= size[0] * size[1] or where.min().item() < 0):
        raise ValueError(f"max_unpool2d: an index is outside the output plane of size {size}")
    zeros = Tensor.zeros(n * c, size[0] * size[1], dtype=x.dtype, backend=x.backend)
    out = zeros.scatter(1, where, x.reshape(n * c, h * w)).reshape(n, c, *size)
    return out.reshape(c, *size) if added else out


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """max_unpool2d of (N, C, L) as (N, C, 1, L)."""
    k, s, p = (v[0] if isinstance(v, (tuple, list)) else v for v in (kernel_size, stride or kernel_size, padding))
    size = None if output_size is None else (1, output_size[-1])
    return max_unpool2d(input.unsqueeze(-2), indices.unsqueeze(-2), (1, k), (1, s), (0, p), size).squeeze(-2)
