"""The python backend's max pooling (kernels.py's `pool` family): PyTorch's window loop
(pool_windows.py) element by element over flat row-major lists (python_storage.py's PyBuffer; a
view's `.data` reads its elements in row-major order)."""
import math

from tinygrad_nm.backends.pool_windows import plane_windows
from tinygrad_nm.backends.python_storage import PyBuffer
from tinygrad_nm.dtypes import int64

# napkin's interpreter family, per element (kernels.py's costs: window taps forward, outputs backward):
# forward a loop step, a compare and a NaN test per tap; backward a loop step, a test, an index and an add
WORK = {"max_pool2d": {"loop": 1, "op": 2}, "max_pool2d_backward": {"loop": 1, "op": 3}}


def _lowest(dtype):
    return -math.inf if dtype.is_float else -(1 << (8 * dtype.itemsize - 1))  # int64's least value


def max_pool2d(a, kernel, stride, dilation, padding):
    n, c, h, w = a.shape
    rows, cols, (oh, ow) = plane_windows(a.shape, kernel, stride, dilation, padding)
    # each window of a plane: PyTorch's fallback index, and the plane positions of its taps inside the image
    windows = [(r0 * w + q0, [r * w + q for r in rs for q in qs]) for r0, rs in rows for q0, qs in cols]
    low, data, values, indices = _lowest(a.dtype), a.data, [], []
    for plane in range(0, n * c * h * w, h * w):
        for first, taps in windows:
            best, at = low, first
            for t in taps:
                v = data[plane + t]
                if v > best or v != v:  # a NaN beats everything, and the next NaN beats it
                    best, at = v, t
            values.append(best)
            indices.append(at)
    shape = (n, c, oh, ow)
    return PyBuffer(values, shape, a.dtype), PyBuffer(indices, shape, int64)


def max_pool2d_backward(g, indices, shape, kernel, stride, dilation, padding):
    n, c, h, w = shape
    rows, cols, (oh, ow) = plane_windows(shape, kernel, stride, dilation, padding)
    live = [bool(rs and qs) for _, rs in rows for _, qs in cols]  # windows with a tap inside the image
    image, per_plane = [0.0] * (n * c * h * w), oh * ow
    for k, (v, at) in enumerate(zip(g.data, indices.data)):
        if live[k % per_plane]:
            image[k // per_plane * h * w + at] += v
    return PyBuffer(image, tuple(shape), g.dtype)
