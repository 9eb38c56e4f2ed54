"""The column matrix of a convolution (kernels.py's `conv` family): im2col and col2im kernels;
the convolution's matmul is gemm.py's (register-blocked or tiled by the product's shape), and
conv2d / conv2d_backward are those steps composed (backends/conv_compose.py), all on the device.

- im2col: one thread per column-matrix entry (grid-stride), reading the image element its
  window tap lands on, or 0 in the padding. Consecutive threads write consecutive entries of a
  row and read (for stride 1) consecutive elements of an image row: both coalesced.
- col2im: one thread per image element, summing the column entries that came from it (at most
  kh * kw, found by inverting the window arithmetic): a gather, so no atomics and the sum's
  order is fixed (the same result every run).
backends/windows.py has the layout.
"""
import functools

from numba import cuda

from tinygrad_nm.backends import conv_compose
from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.jit import kernel
from tinygrad_nm.backends.numba_cuda.storage import contiguous
from tinygrad_nm.backends.windows import matrix_shape, output_size

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backward", "conv2d_act", "conv2d_act_backward"]
conv2d, conv2d_backward, conv2d_act, conv2d_act_backward = conv_compose.kernels(__package__)  # im2col, matmul, col2im


# --- device side ------------------------------------------------------------------------------
@functools.cache
def im2col_kernel(dtype):
    zero = dtype(0)

    @kernel
    def im2col(image, cols, n_, c_, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow, total):
        length = n_ * oh * ow
        for e in range(cuda.grid(1), total, cuda.gridsize(1)):
            row = e // length
            col = e - row * length
            c = row // (kh * kw)
            tap = row - c * (kh * kw)
            i = tap // kw
            j = tap - i * kw
            n = col // (oh * ow)
            pos = col - n * (oh * ow)
            y = pos // ow
            x = pos - y * ow
            r = y * sh + i * dh - top
            q = x * sw + j * dw - left
            if r >= 0 and r < h and q >= 0 and q < w:
                cols[e] = image[((n * c_ + c) * h + r) * w + q]
            else:
                cols[e] = zero

    return im2col


@functools.cache
def col2im_kernel(dtype):
    zero = dtype(0)

    @kernel
    def col2im(cols, image, n_, c_, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow, total):
        length = n_ * oh * ow
        for e in range(cuda.grid(1), total, cuda.gridsize(1)):
            q0 = e % w
            r0 = (e // w) % h
            c = (e // (w * h)) % c_
            n = e // (w * h * c_)
            acc = zero
            for i in range(kh):
                r = r0 + top - i * dh  # = y * sh for the window row y whose tap i lands here
                if r >= 0 and r % sh == 0 and r // sh < oh:
                    for j in range(kw):
                        q = q0 + left - j * dw
                        if q >= 0 and q % sw == 0 and q // sw < ow:
                            acc += cols[((c * kh + i) * kw + j) * length + (n * oh + r // sh) * ow + q // sw]
            image[e] = acc

    return col2im


# --- host side --------------------------------------------------------------------------------
def _geometry(shape, kernel, stride, dilation, padding):
    oh, ow = output_size(shape, kernel, stride, dilation, padding)
    return (*shape, *kernel, *stride, *dilation, padding[0][0], padding[1][0], oh, ow)


def im2col(a, kernel, stride, dilation, padding):
    out = D.empty(matrix_shape(a.shape, kernel, stride, dilation, padding), a.dtype)
    total = out.size
    if total:
        blocks, threads = D.grid(total)
        im2col_kernel(D.np_type(a.dtype))[blocks, threads](D.dev(contiguous(a)), out.data,
                                                           *_geometry(a.shape, kernel, stride, dilation, padding),
                                                           total)
    return out


def col2im(cols, shape, kernel, stride, dilation, padding):
    out = D.empty(shape, cols.dtype)
    total = out.size
    if total:
        blocks, threads = D.grid(total)
        col2im_kernel(D.np_type(cols.dtype))[blocks, threads](D.dev(contiguous(cols)), out.data,
                                                              *_geometry(tuple(shape), kernel, stride, dilation,
                                                                         padding), total)
    return out
