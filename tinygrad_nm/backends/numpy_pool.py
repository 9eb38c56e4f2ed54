"""The numpy backend's max pooling (kernels.py's `pool` family), in whole-array calls.

Forward: one copy of the windows, tap-major ((taps, windows): each tap's values over every window
contiguous, so what follows runs NumPy's vector loops, not a loop per short image row), then the
maximum over the taps, then how many taps come before the first one equal to it (a few boolean
passes per tap, instead of argmax along a short axis, which runs one loop per window), then its
plane position from a per-geometry table. Two rare cases break "first tap equal to the maximum":
a NaN (equal to nothing; PyTorch reports the last NaN) and a window whose maximum is the padding's
-inf (PyTorch skips the padding and reports its first tap at non-negative coordinates); those
windows alone are redone by PyTorch's loop itself (pool_windows.py), vectorised across them.

Backward: np.add.at of each gradient into its argmax position (NumPy 2's add.at is a compiled loop
as fast as a fancy assignment; repeated positions, from overlapping windows, add up).
"""
import functools
from dataclasses import dataclass

import numpy as np

from tinygrad_nm.backends.pool_windows import plane_windows
from tinygrad_nm.backends.numpy_conv import strided_view

# napkin's array_calls family: the calls below for 2x2 windows (kernels.py's cost: elements are
# window taps forward, outputs backward; arrays in units of elements x itemsize, so forward an
# output-sized array is 1/4, a bool one 1/16, an index one 1/2; backward the image is 4). The
# strided copy runs in rows of ow elements, add.at and the fancy index element by element, and
# bool += into an index array casts: loops NumPy cannot vectorise ("scalar", ops per element)
_TAPS = [("stream", 0.5, 1 / 16), ("stream", 1 / 8, 1 / 16), ("scalar", 9 / 16, 1 / 2, 1 / 4)]  # !=, &=, +=
PASSES = {
    "max_pool2d": [("scalar", 1, 1, 1, "broadcast"),  # the tap-major copy: a strided view, reshape copies it (~2 calls)
                   ("stream", 1, 1 / 4, 1, "reduce"),                    # the maximum over the taps
                   ("stream", 0, 9 / 16, 1, "array"), ("stream", 0, 0, 1, "array")] + _TAPS * 3
    + [("scalar", 1, 1 / 2, 1, "index"),                                 # the positions table
       ("stream", 1 / 4, 1 / 16), ("stream", 1 / 16, 0, 1, "reduce")],   # any NaN?
    "max_pool2d_backward": [("stream", 0, 4, 1, "array"), ("stream", 0, 0, 1, "array"),  # zeros, plane offsets
                            ("stream", 2, 2),                                          # indices + offsets
                            ("scalar", 4, 1, 4, "index")],                             # np.add.at
}


@dataclass(frozen=True)
class _Plane:
    """The windows of one H x W plane, flattened (y, x) -> l (L = oh * ow windows, T taps each)."""
    out: tuple             # (oh, ow)
    positions: np.ndarray  # (T, L) int64: r * W + q of each tap (meaningful where `inside`)
    inside: np.ndarray     # (T, L) bool: the tap lies inside the image
    first: np.ndarray      # (L,) int64: PyTorch's index for a window with nothing above -inf
    live: np.ndarray       # (L,) bool: the window has a tap inside the image
    padded: tuple          # (Hp, Wp): the padded plane every tap lies in, or None if all are inside


@functools.lru_cache(maxsize=32)
def _plane(h, w, kernel, stride, dilation, padding):
    rows, cols, out = plane_windows((1, 1, h, w), kernel, stride, dilation, padding)
    (kh, kw), (sh, sw), (dh, dw), ((top, _), (left, _)) = kernel, stride, dilation, padding
    r = (np.arange(out[0]) * sh - top)[None, :] + (np.arange(kh) * dh)[:, None]   # (kh, oh)
    q = (np.arange(out[1]) * sw - left)[None, :] + (np.arange(kw) * dw)[:, None]  # (kw, ow)
    positions = (r[:, None, :, None] * w + q[None, :, None, :]).reshape(kh * kw, -1)
    inside = (((r >= 0) & (r < h))[:, None, :, None] & ((q >= 0) & (q < w))[None, :, None, :]).reshape(kh * kw, -1)
    first = np.array([r0 * w + q0 for r0, _ in rows for q0, _ in cols], dtype=np.int64).reshape(-1)
    live = np.array([bool(rs and qs) for _, rs in rows for _, qs in cols], dtype=bool).reshape(-1)
    padded = None if inside.all() else (top + max(h, int(r.max()) + 1), left + max(w, int(q.max()) + 1))
    for a in (positions, inside, first, live):
        a.flags.writeable = False
    return _Plane(out, positions, inside, first, live, padded)


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def max_pool2d(a, kernel, stride, dilation, padding):
    n, c, h, w = a.shape
    p = _plane(h, w, tuple(kernel), tuple(stride), tuple(dilation), tuple(map(tuple, padding)))
    (oh, ow), taps, low = p.out, kernel[0] * kernel[1], _lowest(a.dtype)
    image = a
    if p.padded:  # some taps fall outside: give them the lowest value to read
        (top, _), (left, _) = padding
        image = np.full((n, c, *p.padded), low, dtype=a.dtype)
        image[:, :, top:top + h, left:left + w] = a
    sn, sc, sh, sw = image.strides
    view = strided_view(image, (*kernel, n, c, oh, ow), (
        dilation[0] * sh, dilation[1] * sw, sn, sc, stride[0] * sh, stride[1] * sw))
    windows = view.reshape(taps, n * c, oh * ow)  # the tap-major layout: a copy (a view where it is contiguous)
    values = windows.max(axis=0)
    before, none_yet = np.zeros(values.shape, dtype=np.intp), np.ones(values.shape, dtype=bool)
    for t in range(taps - 1):  # taps before the first maximum
        none_yet &= windows[t] != values
        before += none_yet
    indices = p.positions[before, np.arange(oh * ow)]
    odd = np.isnan(values) if a.dtype.kind == "f" else np.zeros(values.shape, dtype=bool)
    if p.padded:
        odd |= values == low
    if odd.any():
        _exact(windows, values, indices, np.flatnonzero(odd), p, low)
    return values.reshape(n, c, oh, ow), indices.reshape(n, c, oh, ow)


def _exact(windows, values, indices, which, p, low):
    """PyTorch's loop (pool_windows.py) over the taps of the windows `which` (flat in values),
    written into values and indices."""
    at_window = which % p.first.shape[0]
    taps = windows.reshape(windows.shape[0], -1)[:, which]
    best, at = np.full(which.shape, low, dtype=taps.dtype), p.first[at_window]
    for t in range(taps.shape[0]):
        v = taps[t]
        take = p.inside[t, at_window] & ((v > best) | (v != v))
        best, at = np.where(take, v, best), np.where(take, p.positions[t, at_window], at)
    values.reshape(-1)[which], indices.reshape(-1)[which] = best, at


def max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding):
    n, c, h, w = shape
    p = _plane(h, w, tuple(kernel), tuple(stride), tuple(dilation), tuple(map(tuple, padding)))
    image = np.zeros(n * c * h * w, dtype=g.dtype)
    flat = indices.reshape(n * c, len(p.live)) + (np.arange(n * c) * (h * w))[:, None]  # positions in the whole image
    g = g.reshape(n * c, len(p.live))
    if not p.live.all():  # windows wholly in the padding: their index may point anywhere; they add nothing
        flat, g = flat[:, p.live], g[:, p.live]
    np.add.at(image, flat.reshape(-1), g.reshape(-1))
    return image.reshape(shape)
