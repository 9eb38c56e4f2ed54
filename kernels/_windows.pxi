# The window kernels' entry points: im2col / col2im (tnm_conv.h) and max pooling with its argmax
# and backward (tnm_maxpool.h). Included by _native.pxi: the module's imports and `floating` are
# its. They take typed memoryviews (a training step calls them a few times, not dozens).

# --- conv: im2col / col2im (tnm_conv.h) -------------------------------------------------------------
cdef extern from "tnm_conv.h" nogil:
    ctypedef struct tnm_window:
        long n, c, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow
    void tnm_im2col_s(const float* image, const tnm_window* g, float* cols)
    void tnm_im2col_d(const double* image, const tnm_window* g, double* cols)
    void tnm_col2im_s(const float* cols, const tnm_window* g, float* image)
    void tnm_col2im_d(const double* cols, const tnm_window* g, double* image)


cdef tnm_window _window(shape, kernel, stride, dilation, padding, out_rows, out_cols) except *:
    """The geometry of an (N, C, H, W) image's column matrix, checked against its (rows, columns)."""
    cdef tnm_window g
    g.n, g.c, g.h, g.w = shape
    g.kh, g.kw = kernel
    g.sh, g.sw = stride
    g.dh, g.dw = dilation
    g.top, g.left = padding[0][0], padding[1][0]
    if min(g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) < 1 or g.top < 0 or g.left < 0 or padding[0][1] < 0 \
            or padding[1][1] < 0:
        raise ValueError(f"im2col/col2im: kernel {kernel}, stride {stride} and dilation {dilation} must be "
                         f"positive and padding {padding} non-negative")
    g.oh = (g.h + g.top + padding[0][1] - g.dh * (g.kh - 1) - 1) // g.sh + 1
    g.ow = (g.w + g.left + padding[1][1] - g.dw * (g.kw - 1) - 1) // g.sw + 1
    if g.oh < 1 or g.ow < 1:
        raise ValueError(f"im2col/col2im: a {kernel} kernel (dilation {dilation}) does not fit the image "
                         f"{tuple(shape)} padded by {padding}")
    if out_rows != g.c * g.kh * g.kw or out_cols != g.n * g.oh * g.ow:
        raise ValueError(f"im2col/col2im: the column matrix must have shape ({g.c * g.kh * g.kw}, "
                         f"{g.n * g.oh * g.ow}) for image {tuple(shape)}, got ({out_rows}, {out_cols})")
    return g


def im2col(const floating[:, :, :, ::1] image, floating[:, ::1] cols, kernel, stride, dilation, padding):
    """cols = the column matrix of image (N, C, H, W), zero-padded by ((top, bottom), (left, right))."""
    cdef tnm_window g = _window((image.shape[0], image.shape[1], image.shape[2], image.shape[3]), kernel, stride, dilation, padding, cols.shape[0],
                                cols.shape[1])
    if cols.shape[0] == 0 or cols.shape[1] == 0:
        return
    with nogil:
        if floating is float:
            tnm_im2col_s(&image[0, 0, 0, 0], &g, &cols[0, 0])
        else:
            tnm_im2col_d(&image[0, 0, 0, 0], &g, &cols[0, 0])


def col2im(const floating[:, ::1] cols, floating[:, :, :, ::1] image, kernel, stride, dilation, padding):
    """image (N, C, H, W) = im2col's adjoint applied to cols: each entry added where im2col copies it from."""
    cdef tnm_window g = _window((image.shape[0], image.shape[1], image.shape[2], image.shape[3]), kernel, stride, dilation, padding, cols.shape[0],
                                cols.shape[1])
    if image.shape[0] == 0 or image.shape[1] == 0 or image.shape[2] == 0 or image.shape[3] == 0:
        return
    with nogil:
        if floating is float:
            tnm_col2im_s(&cols[0, 0], &g, &image[0, 0, 0, 0])
        else:
            tnm_col2im_d(&cols[0, 0], &g, &image[0, 0, 0, 0])


# --- pool: max pooling with its argmax, and its backward (tnm_maxpool.h) ----------------------------
cdef extern from "tnm_maxpool.h" nogil:
    ctypedef struct tnm_maxpool_geom:
        long planes, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow
    int tnm_maxpool_s(const float* image, const tnm_maxpool_geom* g, float* values, int64_t* indices)
    int tnm_maxpool_d(const double* image, const tnm_maxpool_geom* g, double* values, int64_t* indices)
    long tnm_maxpool_backward_s(const float* grad, const int64_t* indices, const tnm_maxpool_geom* g, float* image)
    long tnm_maxpool_backward_d(const double* grad, const int64_t* indices, const tnm_maxpool_geom* g, double* image)


cdef tuple _shape4(Py_ssize_t* shape):
    return (shape[0], shape[1], shape[2], shape[3])


cdef tnm_maxpool_geom _maxpool_geom(image, out, kernel, stride, dilation, padding) except *:
    """The windows of an (N, C, H, W) `image` shape, checked against the (N, C, oh, ow) `out` shape."""
    cdef tnm_maxpool_geom g
    g.h, g.w = image[2], image[3]
    g.planes = image[0] * image[1]
    g.kh, g.kw = kernel
    g.sh, g.sw = stride
    g.dh, g.dw = dilation
    g.top, g.left = padding[0][0], padding[1][0]
    if min(g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) < 1 or g.top < 0 or g.left < 0:
        raise ValueError(f"max_pool2d: kernel {kernel}, stride {stride} and dilation {dilation} must be positive "
                         f"and padding {padding} non-negative")
    g.oh = (g.h + g.top + padding[0][1] - g.dh * (g.kh - 1) - 1) // g.sh + 1
    g.ow = (g.w + g.left + padding[1][1] - g.dw * (g.kw - 1) - 1) // g.sw + 1
    if tuple(out) != (image[0], image[1], g.oh, g.ow):
        raise ValueError(f"max_pool2d: image {tuple(image)} with kernel {kernel}, stride {stride}, dilation "
                         f"{dilation}, padding {padding} pools to ({image[0]}, {image[1]}, {g.oh}, {g.ow}), "
                         f"not {tuple(out)}")
    return g


def max_pool2d(const floating[:, :, :, ::1] image, floating[:, :, :, ::1] values, int64_t[:, :, :, ::1] indices,
               kernel, stride, dilation, padding):
    """values, indices (N, C, oh, ow) = each window's maximum of image (N, C, H, W) and its position in the plane."""
    cdef tnm_maxpool_geom g = _maxpool_geom(_shape4(image.shape), _shape4(values.shape), kernel, stride,
                                            dilation, padding)
    if _shape4(indices.shape) != _shape4(values.shape):
        raise ValueError(f"max_pool2d: indices {_shape4(indices.shape)} and values {_shape4(values.shape)} differ")
    cdef int rc = 0
    if values.size == 0:
        return
    with nogil:
        if floating is float:
            rc = tnm_maxpool_s(&image[0, 0, 0, 0], &g, &values[0, 0, 0, 0], &indices[0, 0, 0, 0])
        else:
            rc = tnm_maxpool_d(&image[0, 0, 0, 0], &g, &values[0, 0, 0, 0], &indices[0, 0, 0, 0])
    if rc:
        raise MemoryError(f"max_pool2d: no memory for a row of {g.ow} running maxima")


def max_pool2d_backward(const floating[:, :, :, ::1] grad, const int64_t[:, :, :, ::1] indices,
                        floating[:, :, :, ::1] image, kernel, stride, dilation, padding):
    """image (N, C, H, W) = zeros plus each gradient added at its window's index."""
    cdef tnm_maxpool_geom g = _maxpool_geom(_shape4(image.shape), _shape4(grad.shape), kernel, stride,
                                            dilation, padding)
    cdef long bad = 0
    if _shape4(indices.shape) != _shape4(grad.shape):
        raise ValueError(f"max_pool2d_backward: indices {_shape4(indices.shape)} and gradient "
                         f"{_shape4(grad.shape)} differ")
    if image.size == 0:
        return
    if grad.size == 0:
        image[...] = 0
        return
    with nogil:
        if floating is float:
            bad = tnm_maxpool_backward_s(&grad[0, 0, 0, 0], &indices[0, 0, 0, 0], &g, &image[0, 0, 0, 0])
        else:
            bad = tnm_maxpool_backward_d(&grad[0, 0, 0, 0], &indices[0, 0, 0, 0], &g, &image[0, 0, 0, 0])
    if bad:
        raise ValueError(f"max_pool2d_backward: {bad} indices lie outside their {g.h}x{g.w} plane")
