"""conv2d and conv2d_backward (kernels.py, family `conv`) composed of a backend's own kernels:
im2col, a matmul per group, col2im; conv2d_act and its backward as conv2d then the activation's
kernel (backward: the activation's backward, then conv2d_backward, as the unfused ops). The python, numpy and numba_cuda backends run them so (on
numba_cuda every step stays on the device); the cython backend runs its fused native kernel and
comes here only for what that does not take.

    forward:   cols = im2col(x)                        (C * kh * kw, N * oh * ow)
               y_k  = w_k (O/G, C/G * kh * kw) @ cols_k  for each group k: one batched matmul,
                      (G, O/G, C/G * kh * kw) @ (G, C/G * kh * kw, N * oh * ow), since the rows of
                      the column matrix are channel-major and each group's are one block
               y    = (O, N, oh, ow) + bias, permuted to (N, O, oh, ow)
    backward:  g2   = g permuted to (O, N * oh * ow), cut into groups like y
               dw_k = g2_k @ cols_k^T,  dcols_k = w_k^T @ g2_k,  dx = col2im(dcols),  db = sum(g)

Backward needs the forward's column matrix again. While gradients are enabled, conv2d keeps it
(memory for speed: (C * kh * kw) x (N * oh * ow) values, 9x x for a 3x3 kernel, alive from the
forward to the backward instead of made twice; on the numpy backend the bench's second layer saves
a 42 MB im2col, ~8 ms of ~90) and conv2d_backward takes it when it gets the same x (the very array
object, the op's case) with the same geometry, dropping it; otherwise it runs im2col itself. The
kept matrix goes when x does (a weak reference's callback). Safe because autograd refuses a
backward after x is written in place (Conv2d saves its input); a direct caller of the kernels that
writes x in place between them must not count on it.
"""
import math
import sys
import weakref

from tinygrad_nm.grad_mode import is_grad_enabled

from tinygrad_nm.backends.windows import output_size


def kernels(module_name, recycle=None):
    """(conv2d, conv2d_backward, conv2d_act, conv2d_act_backward) on the kernels of the backend module
    named `module_name`, looked up when called (a backend defines these while it is still being
    imported). recycle(cols), when given, receives each column matrix conv2d_backward is done with
    (nothing else refers to it then): the numpy backend reuses its memory for the next im2col."""

    class _Backend:
        def __getattr__(self, kernel):
            return getattr(sys.modules[module_name], kernel)
    be = _Backend()

    def grouped_matmul(a, b, groups):
        """a (G, M, K) @ b (G, K, N): one 2-D matmul when there is one group (the backends' fastest)."""
        if groups == 1:
            return be.reshape(be.matmul(be.reshape(a, a.shape[1:]), be.reshape(b, b.shape[1:])),
                              (1, a.shape[1], b.shape[2]))
        return be.matmul(a, b)

    kept = {}  # id(x) -> (weak reference to x, geometry, x's column matrix): conv2d's, for its backward

    def keep(x, geometry, cols):
        key = id(x)
        try:
            ref = weakref.ref(x, lambda _, key=key: kept.pop(key, None))
        except TypeError:  # a buffer type without weak references: nothing kept
            return
        kept[key] = (ref, geometry, cols)

    def columns(x, w, stride, dilation, padding, groups, reuse=False):
        """x's column matrix as (G, C/G * kh * kw, N * oh * ow), and w as (G, O/G, C/G * kh * kw);
        with reuse, the one conv2d kept for this x (taken out) when there is one."""
        geometry = (tuple(w.shape[2:]), stride, dilation, padding)
        entry = kept.pop(id(x), None) if reuse else None
        if entry is not None and entry[0]() is x and entry[1] == geometry:
            cols = entry[2]
        else:
            cols = be.im2col(x, tuple(w.shape[2:]), stride, dilation, padding)
            if not reuse and is_grad_enabled():
                keep(x, geometry, cols)
        per_group = math.prod(w.shape[1:])
        return (be.reshape(cols, (groups, per_group, cols.shape[1])),
                be.reshape(w, (groups, w.shape[0] // groups, per_group)))

    def conv2d(x, w, b, stride, dilation, padding, groups):
        cols, wg = columns(x, w, stride, dilation, padding, groups)
        oh, ow = output_size(x.shape, w.shape[2:], stride, dilation, padding)
        y = be.reshape(grouped_matmul(wg, cols, groups), (w.shape[0], x.shape[0] * oh * ow))
        if b is not None:
            y = be.add(y, be.reshape(b, (w.shape[0], 1)))
        return be.permute(be.reshape(y, (w.shape[0], x.shape[0], oh, ow)), (1, 0, 2, 3))

    def conv2d_backward(x, w, g, stride, dilation, padding, groups, input_grad, bias_grad):
        cols, wg = columns(x, w, stride, dilation, padding, groups, reuse=True)
        o, positions = w.shape[0], cols.shape[2]
        g2 = be.reshape(be.permute(g, (1, 0, 2, 3)), (groups, o // groups, positions))
        dw = be.reshape(grouped_matmul(g2, be.permute(cols, (0, 2, 1)), groups), tuple(w.shape))
        dx = None
        if input_grad:
            dcols = grouped_matmul(be.permute(wg, (0, 2, 1)), g2, groups)
            dx = be.col2im(be.reshape(dcols, (groups * cols.shape[1], positions)), tuple(x.shape),
                           tuple(w.shape[2:]), stride, dilation, padding)
        db = be.sum(be.reshape(g2, (o, positions)), (1,), False) if bias_grad else None  # rows: contiguous
        if recycle is not None:
            recycle(cols)
        return dx, dw, db

    def conv2d_act(x, w, b, stride, dilation, padding, groups, act):
        return getattr(be, act)(be.conv2d(x, w, b, stride, dilation, padding, groups))

    def conv2d_act_backward(x, w, y, g, stride, dilation, padding, groups, act, input_grad, bias_grad):
        gz = getattr(be, f"{act}_backward")(y, g)  # relu's from y: y > 0 exactly where the conv's output is
        return be.conv2d_backward(x, w, gz, stride, dilation, padding, groups, input_grad, bias_grad)

    return conv2d, conv2d_backward, conv2d_act, conv2d_act_backward


def row_loops(cost):
    """napkin's price of the NumPy calls above that loop over rows, as (kind, rows, elements): forward,
    the bias added over (O, N * oh * ow) (a broadcast: a row per channel); backward, g's permuted
    copy to (O, N * oh * ow) (rows of oh * ow) and db, its sum along those rows."""
    if cost.kernel in ("conv2d", "conv2d_act"):
        return [("loop", cost.shapes[1][0], cost.out_bytes / cost.itemsize)] if len(cost.shapes) > 2 else []
    g = cost.shapes[2]  # (conv2d_act_backward's y: g's shape)
    return [("loop", g[0] * g[1], math.prod(g)), ("reduce", g[1], math.prod(g))]


def parts(cost):
    """The kernel calls above, as napkin prices a backend that runs them one by one (the python
    backend): [(kernel, elements, outputs)], elements as that kernel's Cost counts them (a matmul's
    multiply-adds), outputs its results (a matmul's, a sum's). The column matrix is the forward's,
    kept for the backward (no second im2col). conv2d_act and its backward: the activation's kernel
    over the output (or g) as `act`."""
    x, w = cost.shapes[0], cost.shapes[1]
    entries = cost.elements * x[1] / (w[0] * w[1])  # multiply-adds * G / O: C * kh * kw * N * oh * ow
    if cost.kernel in ("conv2d", "conv2d_act"):
        outputs = cost.out_bytes / cost.itemsize
        out = [("im2col", entries, 0), ("matmul", cost.elements, outputs)]
        if len(cost.shapes) > 2:  # the bias: expanded over (O, N * oh * ow), then added
            out += [("expand", outputs, 0), ("add", outputs, 0)]
        out.append(("permute", outputs, 0))
        return out + ([("act", outputs, 0)] if cost.kernel == "conv2d_act" else [])
    g = math.prod(cost.shapes[2])
    madds = g * math.prod(w[1:])  # one product the size of the forward's
    entries = madds * x[1] / (w[0] * w[1])
    dx = cost.elements > madds
    out = [("act", g, 0)] if cost.kernel == "conv2d_act_backward" else []
    out += [("permute", g, 0), ("permute", entries, 0), ("matmul", madds, w[0] * math.prod(w[1:]))]  # dw
    if dx:  # dcols = w^T @ g2 (an output per column entry), then col2im
        out += [("permute", math.prod(w), 0), ("matmul", madds, entries), ("col2im", entries, 0)]
    written = cost.out_bytes / cost.itemsize - math.prod(w) - (math.prod(x) if dx else 0)
    if written > 0:  # db (O values written): g's rows summed, along a trailing axis
        out.append(("sum", g, w[0]))
    return out
