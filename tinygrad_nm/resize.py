"""Resizing and rearranging spatial dims, PyTorch's way: interpolate (nearest, nearest-exact,
linear, bilinear, bicubic, trilinear, area), pixel_shuffle and pixel_unshuffle, and the adaptive
pools of 1-D inputs and the adaptive max pools. Re-exported by functional.py.

Every interpolation mode is separable: resizing (N, C, *spatial) is resizing one spatial axis
after the other. Nearest modes pick input positions (index_select); the others are a host-built
(out, in) matrix per axis, applied as a matmul over that axis: linear has two taps per output
row, bicubic four, area the adaptive-pool windows. So each is differentiable as matmul is, and
runs on every backend without a kernel of its own.
"""
import math

import numpy as np

from tinygrad_nm.pooling import adaptive_avg_pool2d, adaptive_windows
from tinygrad_nm.conv import batched
from tinygrad_nm.tensor import Tensor
from tinygrad_nm.tensor_shape import stack

_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2, "bicubic": 2,
          "trilinear": 3}  # mode -> the spatial dims it takes (None: any)
_ALIGNABLE = ("linear", "bilinear", "bicubic", "trilinear")
_CUBIC_A = -0.75  # PyTorch's bicubic convolution coefficient


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """input (N, C, *spatial) resized to `size` or by `scale_factor` (one of them), as
    torch.nn.functional.interpolate: an output position o along an axis reads source position
    o * scale (nearest), (o + 0.5) * scale (nearest-exact), (o + 0.5) * scale - 0.5 (linear modes,
    align_corners=False) or o * (in - 1) / (out - 1) (align_corners=True), where scale is
    1 / scale_factor when given (unless recompute_scale_factor) and in / out otherwise."""
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode={mode!r} is not supported; use one of {', '.join(_MODES)}")
    spatial = input.shape[2:]
    if _MODES[mode] is not None and len(spatial) != _MODES[mode]:
        raise ValueError(f"interpolate: mode {mode!r} expects a {_MODES[mode] + 2}-D input (N, C, ...), got shape "
                         f"{input.shape}")
    if not spatial or (size is None) == (scale_factor is None):
        raise ValueError(f"interpolate: give exactly one of size and scale_factor, for an input (N, C, *spatial); "
                         f"got shape {input.shape}, size={size}, scale_factor={scale_factor}")
    if align_corners is not None and mode not in _ALIGNABLE:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode not in ("nearest", "nearest-exact") and not input.dtype.is_float:
        raise NotImplementedError(f"interpolate: mode {mode!r} of an integer tensor ({input.dtype}) is not "
                                  f"supported (every integer is stored as int64 here); convert with .float()")
    n = len(spatial)
    sizes = (size,) * n if isinstance(size, int) else tuple(size) if size is not None else None
    factors = None if scale_factor is None else \
        (scale_factor,) * n if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if (sizes or factors) and len(sizes or factors) != n:
        raise ValueError(f"interpolate: {len(sizes or factors)} sizes or factors for {n} spatial dims "
                         f"(input shape {input.shape})")
    out = input
    for i, d in enumerate(spatial):
        target = sizes[i] if sizes else int(math.floor(d * factors[i]))
        scale = 1.0 / factors[i] if factors and not recompute_scale_factor else d / target
        out = _resize_axis(out, 2 + i, d, target, scale, mode, bool(align_corners))
    return out


def _resize_axis(x, axis, n, out, scale, mode, align_corners):
    """x resized along one axis from n to out positions."""
    dst = np.arange(out, dtype=np.float64)
    if mode in ("nearest", "nearest-exact"):
        src = np.floor((dst + 0.5) * scale if mode == "nearest-exact" else dst * scale)
        picks = np.minimum(src.astype(np.int64), n - 1)
        return x.index_select(axis, Tensor(picks, backend=x.backend))
    if out == n and mode != "bicubic":  # PyTorch's linear kernels copy an axis that keeps its size
        return x
    if mode == "area":
        matrix = adaptive_windows(n, out)
    elif align_corners:
        src = dst * ((n - 1) / (out - 1) if out > 1 else 0.0)
        matrix = _bicubic(src, n) if mode == "bicubic" else _linear(src, n)
    else:
        src = scale * (dst + 0.5) - 0.5
        matrix = _bicubic(src, n) if mode == "bicubic" else _linear(np.maximum(src, 0.0), n)
    m = Tensor(matrix.T, dtype=x.dtype, backend=x.backend)  # (in, out)
    return (x.movedim(axis, -1) @ m).movedim(-1, axis)


def _linear(src, n):
    """The (out, n) matrix of linear interpolation at source positions src (clamped at the end)."""
    low = np.minimum(np.floor(src).astype(np.int64), n - 1)
    high = np.minimum(low + 1, n - 1)
    frac = src - low
    matrix = np.zeros((len(src), n))
    rows = np.arange(len(src))
    np.add.at(matrix, (rows, low), 1 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def _bicubic(src, n):
    """The (out, n) matrix of cubic convolution (a = -0.75) over the 4 neighbours of each source
    position, indices clamped to the border, as PyTorch's upsample_bicubic2d."""
    low = np.floor(src).astype(np.int64)
    t = src - low
    a = _CUBIC_A
    weights = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,  # taps low - 1 .. low + 2
               ((a + 2) * t - (a + 3)) * t * t + 1,
               ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
               ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
    matrix = np.zeros((len(src), n))
    rows = np.arange(len(src))
    for k, w in enumerate(weights):
        np.add.at(matrix, (rows, np.clip(low - 1 + k, 0, n - 1)), w)
    return matrix


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block."""
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's channel dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    x = input.reshape(-1, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """pixel_shuffle undone: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = downscale_factor
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height ({h}) and width ({w}) to be divisible by "
                           f"downscale_factor ({r})")
    x = input.reshape(-1, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def adaptive_avg_pool1d(input, output_size):
    """adaptive_avg_pool2d over (N, C, L) (or (C, L)) as (N, C, 1, L)."""
    x, added = batched("adaptive_avg_pool1d", input, 3)
    size = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
    out = adaptive_avg_pool2d(x.unsqueeze(2), (1, size)).squeeze(2)
    return out.squeeze(0) if added else out


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The maximum over each of PyTorch's adaptive windows (output position i along an axis of
    size n covers floor(i n / out) .. ceil((i + 1) n / out) - 1), its gradient to the position of
    the maximum (the first, as PyTorch); return_indices: those positions in the H * W plane."""
    x, added = batched("adaptive_max_pool2d", input, 4)
    n, c, h, w = x.shape
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    oh, ow = (d if s is None else s for s, d in zip(size, (h, w)))
    values, indices = [], []
    for i in range(oh):
        r0, r1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
            best = x[:, :, r0:r1, c0:c1].reshape(n, c, -1).max(-1)
            values.append(best.values)
            local = best.indices.numpy()
            indices.append((r0 + local // (c1 - c0)) * w + c0 + local % (c1 - c0))
    out = stack(values, -1).reshape(n, c, oh, ow)
    out = out.squeeze(0) if added else out
    if not return_indices:
        return out
    where = Tensor(np.stack(indices, -1).reshape(n, c, oh, ow), backend=x.backend)
    return out, where.squeeze(0) if added else where


def adaptive_max_pool1d(input, output_size, return_indices=False):
    x, added = batched("adaptive_max_pool1d", input, 3)
    size = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
    out = adaptive_max_pool2d(x.unsqueeze(2), (1, size), return_indices)
    out = tuple(o.squeeze(2) for o in out) if return_indices else out.squeeze(2)
    if added:
        out = tuple(o.squeeze(0) for o in out) if return_indices else out.squeeze(0)
    return out
