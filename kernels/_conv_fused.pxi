# The fused convolution (tnm_conv_fused.h): conv2d and its backward without the whole column
# matrix, one tile of it per thread at a time. Included at the end of _native.pxi.

from _matmul cimport tnm_rows_fn_s, tnm_rows_fn_d

cdef extern from "tnm_conv_fused.h" nogil:
    ctypedef struct tnm_conv_shape:
        tnm_window g
        long n, o, groups, rows, samples
    long tnm_conv_rows(const tnm_window* g, long itemsize)
    long tnm_conv_samples(const tnm_conv_shape* s, long itemsize, int nthreads)
    long tnm_conv_tile_bytes()
    int tnm_conv2d_s(const tnm_conv_shape* s, const float* x, const float* w, const float* bias, float* y,
                     int act, tnm_rows_fn_s rows, int nthreads)
    int tnm_conv2d_d(const tnm_conv_shape* s, const double* x, const double* w, const double* bias, double* y,
                     int act, tnm_rows_fn_d rows, int nthreads)
    int tnm_conv2d_backward_s(const tnm_conv_shape* s, const float* x, const float* w, const float* gy, float* dx,
                              float* dw, float* db, int act, const float* ya, int nthreads)
    int tnm_conv2d_backward_d(const tnm_conv_shape* s, const double* x, const double* w, const double* gy,
                              double* dx, double* dw, double* db, int act, const double* ya, int nthreads)

CONV_TILE_BYTES = tnm_conv_tile_bytes()   # the column tile's budget: a third of L2
_CONV_ACTS = {None: 0, "relu": 1, "sigmoid": 2, "tanh": 3}   # TNM_CONV_NONE, _RELU, _SIGMOID, _TANH


cdef int _conv_act(op, act) except -1:
    if act not in _CONV_ACTS:
        raise ValueError(f"{op}: unknown activation {act!r}; expected None or one of relu, sigmoid, tanh")
    return _CONV_ACTS[act]


cdef tuple _dims(Py_ssize_t* shape):
    return (shape[0], shape[1], shape[2], shape[3])


cdef tnm_conv_shape _conv_shape(op, x, w, y, stride, dilation, padding, long groups, long item,
                                long rows, long samples, int threads) except *:
    """The shape of conv2d(x (N, C, H, W), w (O, C / groups, kh, kw)) -> y (N, O, oh, ow), checked."""
    cdef tnm_conv_shape s
    n, c, h, wd = x
    o, per_group, kh, kw = w
    if groups < 1 or c != per_group * groups or o % groups:
        raise ValueError(f"{op}: input {tuple(x)} and weight {tuple(w)} do not fit groups={groups}")
    if y[0] != n or y[1] != o:
        raise ValueError(f"{op}: the output must have shape ({n}, {o}, oh, ow), got {tuple(y)}")
    oh = (h + padding[0][0] + padding[0][1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + padding[1][0] + padding[1][1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh >= 1 and ow >= 1 and (y[2], y[3]) != (oh, ow):
        raise ValueError(f"{op}: the output must have shape ({n}, {o}, {oh}, {ow}), got {tuple(y)}")
    s.g = _window((1, c, h, wd), (kh, kw), stride, dilation, padding, c * kh * kw, y[2] * y[3])  # checks the rest
    if 0 in (n, c, h, wd, o):
        raise ValueError(f"{op}: empty input {tuple(x)} or weight {tuple(w)} (the backend composes those)")
    s.n, s.o, s.groups = n, o, groups
    s.rows = min(rows, s.g.oh) if rows > 0 else tnm_conv_rows(&s.g, item)
    s.samples = 1
    if samples > 0 and s.rows == s.g.oh and groups == 1:
        s.samples = min(samples, n)
    elif samples == 0:
        s.samples = tnm_conv_samples(&s, item, threads)
    return s


def conv2d(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, const floating[::1] bias,
           floating[:, :, :, ::1] y, stride, dilation, padding, long groups=1, int num_threads=1,
           long tile_rows=0, long tile_samples=0, act=None):
    """y = the cross-correlation of x (N, C, H, W) with w (O, C / groups, kh, kw), plus bias (O,)
    or None, through act (None, "relu", "sigmoid" or "tanh": applied as the matmul stores y);
    padding ((top, bottom), (left, right)) of zeros. All C-contiguous. tile_rows: output rows per
    column tile, tile_samples: whole samples per tile when a tile holds whole samples (0: the
    kernel's own choice, from CONV_TILE_BYTES; tests set them to cut small images)."""
    cdef tnm_conv_shape s = _conv_shape("conv2d", _dims(x.shape), _dims(w.shape), _dims(y.shape), stride,
                                        dilation, padding, groups, sizeof(floating), tile_rows,
                                        tile_samples, num_threads)
    cdef const floating* bp = NULL
    cdef int rc, code = _conv_act("conv2d", act)
    num_threads = _threads(num_threads)
    if bias is not None:
        if bias.shape[0] != s.o:
            raise ValueError(f"conv2d: bias has {bias.shape[0]} elements, the weight {s.o} output channels")
        bp = &bias[0]
    with nogil:
        if floating is float:
            rc = tnm_conv2d_s(&s, &x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], code,
                              _sigmoid_s if code == 2 else _tanh_s, num_threads)
        else:
            rc = tnm_conv2d_d(&s, &x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], code,
                              _sigmoid_d if code == 2 else _tanh_d, num_threads)
    if rc != 0:
        raise MemoryError("conv2d: could not allocate a column tile or the matmul's packed copies")


def conv2d_backward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                    const floating[:, :, :, ::1] gy, floating[:, :, :, ::1] dx, floating[:, :, :, ::1] dw,
                    floating[::1] db, stride, dilation, padding, long groups=1, int num_threads=1,
                    long tile_rows=0, long tile_samples=0, act=None, const floating[:, :, :, ::1] y=None):
    """dx (or None), dw and db (or None) of y = act(conv2d(x, w) + b), given gy = y's gradient and,
    with an act, y itself (each sample's gy taken through act' from it, in cache)."""
    cdef tnm_conv_shape s = _conv_shape("conv2d_backward", _dims(x.shape), _dims(w.shape), _dims(gy.shape),
                                        stride, dilation, padding, groups, sizeof(floating), tile_rows,
                                        tile_samples, num_threads)
    cdef floating* dxp = NULL
    cdef floating* dbp = NULL
    cdef const floating* yp = NULL
    cdef int rc, code = _conv_act("conv2d_backward", act)
    num_threads = _threads(num_threads)
    if code:
        if y is None or _dims(y.shape) != _dims(gy.shape):
            raise ValueError(f"conv2d_backward: with act={act!r}, y must have the gradient's shape {_dims(gy.shape)}")
        yp = &y[0, 0, 0, 0]
    if _dims(dw.shape) != _dims(w.shape):
        raise ValueError(f"conv2d_backward: dw must have the weight's shape {_dims(w.shape)}")
    if dx is not None:
        if _dims(dx.shape) != _dims(x.shape):
            raise ValueError(f"conv2d_backward: dx must have the input's shape {_dims(x.shape)}")
        dxp = &dx[0, 0, 0, 0]
    if db is not None:
        if db.shape[0] != s.o:
            raise ValueError(f"conv2d_backward: db must have {s.o} elements, got {db.shape[0]}")
        dbp = &db[0]
    with nogil:
        if floating is float:
            rc = tnm_conv2d_backward_s(&s, &x[0, 0, 0, 0], &w[0, 0, 0, 0], &gy[0, 0, 0, 0], dxp, &dw[0, 0, 0, 0], dbp,
                                       code, yp, num_threads)
        else:
            rc = tnm_conv2d_backward_d(&s, &x[0, 0, 0, 0], &w[0, 0, 0, 0], &gy[0, 0, 0, 0], dxp, &dw[0, 0, 0, 0], dbp,
                                       code, yp, num_threads)
    if rc != 0:
        raise MemoryError("conv2d_backward: could not allocate a column tile or the matmul's packed copies")
