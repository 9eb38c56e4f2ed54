"""Max pooling (kernels.py's `pool` family): max_pool2d and its backward, on the device.

- max_pool2d: one thread per output element (grid-stride), running PyTorch's window loop
  (backends/pool_windows.py has it): from -inf (int64's least value) at the window's first tap at
  non-negative coordinates, a larger value or a NaN takes over; it writes the maximum and its
  position r * W + q in the plane. Consecutive threads take consecutive windows of a row.
- max_pool2d_backward: one thread per image element, summing the gradients of the windows that
  contain it and chose it (their index is its position). A gather, as col2im's: no atomics, and
  the sum's order is fixed (the same result every run). A window with no tap inside the image
  contains no element, so it adds nothing.
"""
import functools

import numpy as np
from numba import cuda

from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.jit import kernel
from tinygrad_nm.backends.numba_cuda.storage import contiguous
from tinygrad_nm.backends.windows import output_size
from tinygrad_nm.dtypes import int64

__all__ = ["max_pool2d", "max_pool2d_backward"]


# --- device side ------------------------------------------------------------------------------
@functools.cache
def max_pool_kernel(dtype):
    lowest = dtype(-np.inf) if np.issubdtype(dtype, np.floating) else dtype(np.iinfo(dtype).min)

    @kernel
    def max_pool(image, values, indices, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow, total):
        for e in range(cuda.grid(1), total, cuda.gridsize(1)):
            x = e % ow
            y = (e // ow) % oh
            base = (e // (ow * oh)) * h * w  # the plane's first element
            r0 = y * sh - top
            r1 = min(r0 + (kh - 1) * dh + 1, h)
            if r0 < 0:
                r0 += (-r0 + dh - 1) // dh * dh  # the first tap at a row >= 0
            q0 = x * sw - left
            q1 = min(q0 + (kw - 1) * dw + 1, w)
            if q0 < 0:
                q0 += (-q0 + dw - 1) // dw * dw
            best = lowest
            at = r0 * w + q0
            for r in range(r0, r1, dh):
                for q in range(q0, q1, dw):
                    v = image[base + r * w + q]
                    if v > best or v != v:  # a NaN takes over, and the next NaN from it
                        best = v
                        at = r * w + q
            values[e] = best
            indices[e] = at

    return max_pool


@functools.cache
def max_pool_backward_kernel(dtype):
    zero = dtype(0)

    @kernel
    def max_pool_backward(grad, indices, image, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow, total):
        for e in range(cuda.grid(1), total, cuda.gridsize(1)):
            q = e % w
            r = (e // w) % h
            plane = e // (w * h)
            here = r * w + q
            acc = zero
            for i in range(kh):
                t = r + top - i * dh  # = y * sh for the window row y whose tap i lands here
                if t >= 0 and t % sh == 0 and t // sh < oh:
                    for j in range(kw):
                        u = q + left - j * dw
                        if u >= 0 and u % sw == 0 and u // sw < ow:
                            k = (plane * oh + t // sh) * ow + u // sw
                            if indices[k] == here:
                                acc += grad[k]
            image[e] = acc

    return max_pool_backward


# --- host side --------------------------------------------------------------------------------
def _geometry(shape, kernel, stride, dilation, padding):
    oh, ow = output_size(shape, kernel, stride, dilation, padding)
    return (*shape[2:], *kernel, *stride, *dilation, padding[0][0], padding[1][0], oh, ow)


def max_pool2d(a, kernel, stride, dilation, padding):
    shape = (*a.shape[:2], *output_size(a.shape, kernel, stride, dilation, padding))
    values, indices = D.empty(shape, a.dtype), D.empty(shape, int64)
    total = values.size
    if total:
        blocks, threads = D.grid(total)
        max_pool_kernel(D.np_type(a.dtype))[blocks, threads](D.dev(contiguous(a)), values.data, indices.data,
                                                             *_geometry(a.shape, kernel, stride, dilation, padding),
                                                             total)
    return values, indices


def max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding):
    out = D.empty(shape, g.dtype)
    total = out.size
    if total:
        blocks, threads = D.grid(total)
        max_pool_backward_kernel(D.np_type(g.dtype))[blocks, threads](
            D.dev(contiguous(g)), D.dev(contiguous(indices)), out.data,
            *_geometry(tuple(shape), kernel, stride, dilation, padding), total)
    return out
