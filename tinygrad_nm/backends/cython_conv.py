"""The cython backend's im2col and col2im: kernels/tnm_conv.h's C loops (a memcpy per window row;
the adjoint plane by plane, each (n, c) plane in L1, no scatter), on one thread as they are
memory-bound. Inputs that are not float32/float64 arrays go to the numpy backend's functions."""
import numpy as np

from tinygrad_nm.backends.windows import matrix_shape


def kernels(native, fallback, is_float_array):
    """(im2col, col2im) running on the compiled module `native`; `fallback`: the numpy backend."""

    def im2col(a, kernel, stride, dilation, padding):
        if not is_float_array(a):
            return fallback.im2col(a, kernel, stride, dilation, padding)
        cols = np.empty(matrix_shape(a.shape, kernel, stride, dilation, padding), dtype=a.dtype)
        native.im2col(np.ascontiguousarray(a), cols, kernel, stride, dilation, padding)
        return cols

    def col2im(cols, shape, kernel, stride, dilation, padding):
        if not is_float_array(cols):
            return fallback.col2im(cols, shape, kernel, stride, dilation, padding)
        image = np.empty(shape, dtype=cols.dtype)
        native.col2im(np.ascontiguousarray(cols), image, kernel, stride, dilation, padding)
        return image

    return im2col, col2im
