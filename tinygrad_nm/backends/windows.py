"""The geometry of sliding windows that every backend's im2col / col2im shares (kernels.py's
`conv` family): how many window positions fit, and where window position (y, x)'s tap (i, j)
lands in the image.

    row of the column matrix:     (c * kh + i) * kw + j
    column:                       (n * oh + y) * ow + x
    image coordinates it reads:   (y * sh + i * dh - top, x * sw + j * dw - left)
"""


def output_size(image_shape, kernel, stride, dilation, padding):
    """(oh, ow): window positions along the height and width of an (N, C, H, W) image padded by
    ((top, bottom), (left, right)). The layers above check the kernel fits."""
    h, w = image_shape[2:]
    return tuple((size + before + after - d * (k - 1) - 1) // s + 1
                 for size, k, s, d, (before, after) in zip((h, w), kernel, stride, dilation, padding))


def matrix_shape(image_shape, kernel, stride, dilation, padding):
    """(C * kh * kw, N * oh * ow): the shape of the column matrix of an (N, C, H, W) image."""
    oh, ow = output_size(image_shape, kernel, stride, dilation, padding)
    return image_shape[1] * kernel[0] * kernel[1], image_shape[0] * oh * ow


def sources(image_shape, kernel, stride, dilation, padding):
    """For every entry of the column matrix in row-major order, the flat row-major position in the
    image it reads, or -1 in the padding: a list (pure Python, for the python backend)."""
    n, c, h, w = image_shape
    (kh, kw), (sh, sw), (dh, dw), ((top, _), (left, _)) = kernel, stride, dilation, padding
    oh, ow = output_size(image_shape, kernel, stride, dilation, padding)
    out = []
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for b in range(n):
                    plane = (b * c + ci) * h * w
                    for y in range(oh):
                        r = y * sh + i * dh - top
                        if not 0 <= r < h:
                            out.extend([-1] * ow)
                            continue
                        for x in range(ow):
                            q = x * sw + j * dw - left
                            out.append(plane + r * w + q if 0 <= q < w else -1)
    return out
