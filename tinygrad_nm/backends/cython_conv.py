"""The cython backend's convolution kernels: im2col and col2im, kernels/tnm_conv.h's C loops (a
memcpy per window row; the adjoint plane by plane, each (n, c) plane in L1, no scatter), on one
thread as they are memory-bound; and conv2d / conv2d_backward fused (kernels/tnm_conv_fused.h).
Inputs that are not float32/float64 arrays go to the numpy backend's functions."""
import numpy as np

from tinygrad_nm.backends.windows import matrix_shape, output_size


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


def fused(native, fallback, threads):
    """(conv2d, conv2d_backward, conv2d_act, conv2d_act_backward) running kernels/tnm_conv_fused.h:
    im2col one tile at a time (output rows of a sample, or several small samples whole) into a
    per-thread buffer and the matmul into y (NCHW already), the column matrix never whole; conv2d_act
    applies its activation as the matmul stores y, its backward takes each sample's g through the
    activation's derivative in cache. `threads()` the matmul's thread count. Arrays that are not
    float32 / float64, mixed dtypes and empty shapes go to `fallback` (the numpy backend's composition)."""

    def native_dtype(*arrays):
        first = arrays[0]
        return (type(first) is np.ndarray and first.dtype in (np.float32, np.float64)
                and all(type(a) is np.ndarray and a.dtype == first.dtype for a in arrays)
                and 0 not in first.shape and 0 not in arrays[1].shape)

    def conv2d_act(x, w, b, stride, dilation, padding, groups, act):
        if not native_dtype(*((x, w) if b is None else (x, w, b))):
            if act is None:
                return fallback.conv2d(x, w, b, stride, dilation, padding, groups)
            return fallback.conv2d_act(x, w, b, stride, dilation, padding, groups, act)
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        y = np.empty((x.shape[0], w.shape[0], *output_size(x.shape, w.shape[2:], stride, dilation, padding)),
                     dtype=x.dtype)
        native.conv2d(x, w, None if b is None else np.ascontiguousarray(b), y, stride, dilation, padding, groups,
                      threads(), act=act)
        return y

    def conv2d_act_backward(x, w, y, g, stride, dilation, padding, groups, act, input_grad, bias_grad):
        if not native_dtype(x, w, g) or (act is not None and not native_dtype(y, w)):
            if act is None:
                return fallback.conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad)
            return fallback.conv2d_act_backward(x, w, y, g, stride, dilation, padding, groups, act, input_grad,
                                                bias_grad)
        x, w, g = np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(g)
        dx = np.empty(x.shape, dtype=x.dtype) if input_grad else None
        dw = np.empty(w.shape, dtype=x.dtype)
        db = np.empty(w.shape[0], dtype=x.dtype) if bias_grad else None
        native.conv2d_backward(x, w, g, dx, dw, db, stride, dilation, padding, groups, threads(), act=act,
                               y=None if act is None else np.ascontiguousarray(y))
        return dx, dw, db

    def conv2d(x, w, b, stride, dilation, padding, groups):
        return conv2d_act(x, w, b, stride, dilation, padding, groups, None)

    def conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad):
        return conv2d_act_backward(x, w, None, g, stride, dilation, padding, groups, None, input_grad, bias_grad)

    return conv2d, conv2d_backward, conv2d_act, conv2d_act_backward
