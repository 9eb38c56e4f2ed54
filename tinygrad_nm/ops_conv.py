"""The column matrix of a convolution as differentiable ops, forward and backward side by side as
in ops.py: im2col's gradient is col2im (every column entry's gradient added back into the image
position it was copied from), and col2im's is im2col. The kernels (kernels.py, family `conv`)
take the window geometry as parameters: kernel, stride, dilation (pairs) and zero padding
((top, bottom), (left, right)); backends/windows.py has the layout."""
from tinygrad_nm.autograd import Function, needs_grad


class Im2col(Function):
    """(N, C, H, W) -> (C * kh * kw, N * oh * ow)."""

    def forward(ctx, be, a, kernel, stride, dilation, padding):
        ctx._saved = (a.shape, kernel, stride, dilation, padding)
        return be.im2col(a, kernel, stride, dilation, padding)

    def backward(ctx, be, g):
        return be.col2im(g, *ctx._saved), None


class Col2im(Function):
    """(C * kh * kw, N * oh * ow) -> (N, C, H, W) = shape, summing the entries that share a position."""

    def forward(ctx, be, cols, shape, kernel, stride, dilation, padding):
        ctx._saved = (kernel, stride, dilation, padding)
        return be.col2im(cols, shape, kernel, stride, dilation, padding)

    def backward(ctx, be, g):
        return be.im2col(g, *ctx._saved), None


class Conv2d(Function):
    """y = conv2d(x, w) (+ b): x (N, C, H, W), w (O, C / groups, kh, kw) -> (N, O, oh, ow), one kernel
    each way (kernels.py's `conv2d`, `conv2d_backward`). b, a buffer or None, is a parameter: a node
    has at most two inputs, so b's gradient comes from ConvBias, recorded after this node when b
    wants one (as fused_linear.py's BiasOf)."""
    saves = ("a", "b")

    def forward(ctx, be, x, w, b, stride, dilation, padding, groups):
        ctx._saved = [x, w, (stride, dilation, padding, groups), None]  # the last: ConvBias's (g, dx, dw)
        return be.conv2d(x, w, b, stride, dilation, padding, groups)

    def backward(ctx, be, g):
        x, w, geometry, done = ctx._saved
        if done is not None and done[0] is g:  # ConvBias's backward already ran the kernel on this g
            dx, dw = done[1], done[2]
        else:
            dx, dw, _ = be.conv2d_backward(x, w, g, *geometry, needs_grad(ctx._a), False)
        return (dx if needs_grad(ctx._a) else None), (dw if needs_grad(ctx._b) else None)


class ConvBias(Function):
    """y = h, the output of Conv2d, for b's gradient (g summed over N, oh, ow). When h is a recorded
    Conv2d node, one conv2d_backward call computes every gradient here, and Conv2d's backward (next,
    with the same g: this node hands it on unchanged) takes its dx and dw."""

    def forward(ctx, be, h, b):
        return h

    def backward(ctx, be, g):
        h = ctx._a
        if h._ctx is not Conv2d or h._saved is None:  # the conv itself needs no gradient
            return None, be.sum(g, (0, 2, 3), False)
        x, w, geometry, _ = h._saved
        dx, dw, db = be.conv2d_backward(x, w, g, *geometry, needs_grad(h._a), True)
        h._saved[3] = (g, dx, dw)
        return g, db
