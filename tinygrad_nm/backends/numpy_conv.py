"""The numpy backend's convolution pieces: im2col as one copy of a strided window view, col2im as
kh * kw strided adds, the column matrices reused from step to step, and conv2d's dx made a few
samples at a time. numpy.py composes them with its matmul (conv_compose.py); windows.py has the
layout of the column matrix."""
import math

import numpy as np

from tinygrad_nm.backends.windows import output_size


def _window_view(image, kernel, stride, dilation, out):
    """A (C, kh, kw, N, oh, ow) view of a padded (N, C, Hp, Wp) image: [c, i, j, n, y, x] is the
    element tap (i, j) of window (y, x) reads. No copy (a strided view on the image's own strides)."""
    sn, sc, sh, sw = image.strides
    shape = (image.shape[1], *kernel, image.shape[0], *out)
    strides = (sc, dilation[0] * sh, dilation[1] * sw, sn, stride[0] * sh, stride[1] * sw)
    return strided_view(image, shape, strides)


def strided_view(a, shape, strides):
    """A read-only view of a's memory in this shape, these strides (bytes): what as_strided makes,
    without its Python wrapper (it goes through a stand-in object's __array_interface__: 3 us in a
    loop, 5-15 us inside a model's forward, where this takes about 1). A non-contiguous `a` (no
    buffer to hand over) goes through as_strided itself."""
    if not a.flags.c_contiguous:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    view = np.ndarray(shape, a.dtype, buffer=a, strides=strides)
    view.flags.writeable = False
    return view


def im2col(a, kernel, stride, dilation, padding):
    out = output_size(a.shape, kernel, stride, dilation, padding)
    if any(b or e for b, e in padding):
        a = _padded(a, padding)
    # one copy of the strided view (its last axis runs along an image row, contiguous for stride 1);
    # always a copy, even where the view is contiguous already (a 1x1 kernel): new storage, as in PyTorch
    view = _window_view(a, kernel, stride, dilation, out)
    cols = _spare.pop((view.size, view.dtype.str), None)
    if cols is None:
        cols = view.copy()
    else:  # a conv's column matrix, done with: its pages are mapped already (a fresh 42 MB one: ~2 ms of faults)
        cols = cols.reshape(view.shape)
        np.copyto(cols, view)
    return cols.reshape(cols.shape[0] * kernel[0] * kernel[1], -1)


def _padded(a, padding):
    """a (N, C, H, W) with zeros around each image: two C-level calls, np.zeros and a slice
    assignment. np.pad does the same in Python code inside NumPy: 24 us against 2.3 us on a 32x1x8x8
    batch in a loop, 60-100 us against a few inside a training step (bench/README.md)."""
    (top, bottom), (left, right) = padding
    n, c, h, w = a.shape
    out = np.zeros((n, c, h + top + bottom, w + left + right), dtype=a.dtype)
    out[:, :, top:top + h, left:left + w] = a
    return out


# the column matrices conv2d_backward was done with (conv_compose's recycle), one per size and dtype,
# the last few (a model's conv layers), for the next step's im2col of that size
_spare, _SPARES = {}, 4


def recycle(cols):
    if type(cols) is np.ndarray and cols.flags.c_contiguous and cols.flags.writeable:
        _spare[(cols.size, cols.dtype.str)] = cols
        while len(_spare) > _SPARES:
            _spare.pop(next(iter(_spare)), None)


def col2im(cols, shape, kernel, stride, dilation, padding):
    # The image is filled channel-major, (C, N, H, W) as the columns are, and returned as its
    # (N, C, H, W) view: the adds then walk both in the same order (7.4 against 11.6 ms on
    # 288 x 36864 -> 64x32x26x26), and a conv backward next permutes it back to (C, N) for free.
    n, c, h, w = shape
    (top, bottom), (left, right) = padding
    image = np.zeros((c, n, h + top + bottom, w + left + right), dtype=cols.dtype)
    _col2im_add(cols, image, kernel, stride, dilation, output_size(shape, kernel, stride, dilation, padding))
    return image[:, :, top:top + h, left:left + w].transpose(1, 0, 2, 3)


def _col2im_add(cols, image, kernel, stride, dilation, out):
    """image (C, n, padded H, padded W) += col2im of cols (C * kh * kw, n * oh * ow), as kh * kw
    strided adds of whole (C, n, oh, ow) blocks: taps of the same window offset never overlap each
    other, so each add is a plain vectorised += (no np.add.at)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    blocks = cols.reshape(image.shape[0], kh, kw, image.shape[1], oh, ow)
    for i in range(kh):
        for j in range(kw):
            image[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += blocks[:, i, j]


DX_CHUNK = 1 << 18  # entries of the columns' gradient made at a time (1 MiB of float32: an L2's worth)


def conv_input_grad(w, g, shape, stride, dilation, padding, groups, matmul):
    """conv2d's dx (matmul: the backend's): the columns' gradient w_k^T @ g_k for a few samples at a time (at most DX_CHUNK
    entries), each chunk added into dx by col2im as soon as it is made. The whole (C * kh * kw) x
    (N * oh * ow) matrix would be fresh pages every step (above malloc's mmap threshold) read back
    from memory; a chunk is reused memory, still in cache, and one that fits L2 keeps col2im's kh * kw
    strided passes over it there (bench/README.md, "Convolutions")."""
    n, c, h, width = shape
    (top, bottom), (left, right) = padding
    kernel, (o, per_group) = tuple(w.shape[2:]), (w.shape[0], math.prod(w.shape[1:]))
    oh, ow = output_size(shape, kernel, stride, dilation, padding)
    wt = w.reshape(groups, o // groups, per_group).transpose(0, 2, 1)  # (G, C/G * kh * kw, O/G)
    image = np.zeros((c, n, h + top + bottom, width + left + right), dtype=np.result_type(w, g))
    step = DX_CHUNK // (c * kernel[0] * kernel[1] * oh * ow or 1) or 1  # samples per chunk (no max(): a kernel here)
    for n0 in range(0, n, step):
        n1 = n0 + step if n0 + step < n else n
        gk = g[n0:n1].transpose(1, 0, 2, 3).reshape(groups, o // groups, (n1 - n0) * oh * ow)
        dcols = matmul(wt[0], gk[0]) if groups == 1 else matmul(wt, gk)
        _col2im_add(dcols.reshape(c * kernel[0] * kernel[1], -1), image[:, n0:n1], kernel, stride, dilation, (oh, ow))
    return image[:, :, top:top + h, left:left + width].transpose(1, 0, 2, 3)
