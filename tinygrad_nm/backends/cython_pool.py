"""The cython backend's max pooling: kernels/tnm_maxpool.h's C loops (PyTorch's window loop, a
branch-free compare-and-select; the backward a zeroed image and one add per window), on one thread
as they move each byte once. Inputs that are not float32/float64 arrays go to the numpy backend."""
import numpy as np

from tinygrad_nm.backends.windows import output_size

# napkin (cython_pricing.py's compiled_work): at the digits CNN's widths these loops are scalar: per
# window tap a load, a compare, a NaN test, two selects and the loop (~7 instructions); backward per
# window its index and range check, the window's span tests and the add (~10). Each instruction
# takes a vector instruction's slot, so per element that many times the vector's lanes in FLOPs.
SCALAR_OPS = {"max_pool2d": 7, "max_pool2d_backward": 10}


def compiled_work(vector_bytes):
    """(kernel, dtype) -> (FLOPs, transcendentals, divides) per element, for cython_pricing."""
    return {(k, dtype): (ops * vector_bytes // size, 0, 0) for k, ops in SCALAR_OPS.items()
            for dtype, size in (("float32", 4), ("float64", 8))}


def kernels(native, fallback, is_float_array):
    """(max_pool2d, max_pool2d_backward) running on the compiled module `native`; `fallback`: numpy's."""

    def max_pool2d(a, kernel, stride, dilation, padding):
        if not is_float_array(a):
            return fallback.max_pool2d(a, kernel, stride, dilation, padding)
        shape = (*a.shape[:2], *output_size(a.shape, kernel, stride, dilation, padding))
        values, indices = np.empty(shape, dtype=a.dtype), np.empty(shape, dtype=np.int64)
        native.max_pool2d(np.ascontiguousarray(a), values, indices, kernel, stride, dilation, padding)
        return values, indices

    def max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding):
        if not is_float_array(g):
            return fallback.max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding)
        image = np.empty(tuple(shape), dtype=g.dtype)
        native.max_pool2d_backward(np.ascontiguousarray(g), np.ascontiguousarray(indices, dtype=np.int64), image,
                                   kernel, stride, dilation, padding)
        return image

    return max_pool2d, max_pool2d_backward
