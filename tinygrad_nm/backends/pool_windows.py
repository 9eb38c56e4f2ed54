"""Max pooling's windows, one axis at a time (kernels.py's `pool` family), shared by the backends
that work them out on the host (python, numpy): the windows are im2col's (windows.py), and
PyTorch's rules for a window's reported index come from how its CPU kernel walks one:

    for r from the window's first row >= 0, step dh, while r < H:      (likewise columns)
        if a[r, q] > best or a[r, q] is NaN: best, index = a[r, q], r * W + q
    starting from best = -inf (the lowest integer), index = (first row >= 0) * W + (first column >= 0)

So the first of equal maxima wins, the last NaN wins, and a window with nothing above -inf keeps
its first tap at non-negative coordinates, which for a window wholly in the padding lies past the
image. The compiled kernels (kernels/tnm_maxpool.h, numba_cuda/pool.py) run that loop as it is.
"""
from tinygrad_nm.backends.windows import output_size


def axis_windows(size, kernel, stride, dilation, before, out):
    """For each of `out` window positions along an axis of `size`: (first, coords), `first` the
    window's first tap coordinate >= 0 (it may be >= size) and `coords` its taps' coordinates,
    in order, that lie inside [0, size) (empty for a window wholly in the padding)."""
    windows = []
    for y in range(out):
        start = y * stride - before
        first = start + -(-max(-start, 0) // dilation) * dilation  # the least start + i * dilation >= 0
        windows.append((first, [c for c in range(start, start + kernel * dilation, dilation) if 0 <= c < size]))
    return windows


def plane_windows(shape, kernel, stride, dilation, padding):
    """(rows, cols, (oh, ow)): axis_windows along the height and the width of an (N, C, H, W) image."""
    oh, ow = output_size(shape, kernel, stride, dilation, padding)
    return (axis_windows(shape[2], kernel[0], stride[0], dilation[0], padding[0][0], oh),
            axis_windows(shape[3], kernel[1], stride[1], dilation[1], padding[1][0], ow), (oh, ow))
