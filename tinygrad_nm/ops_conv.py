"""The column matrix of a convolution as differentiable ops, forward and backward side by side as
in ops.py: im2col's gradient is col2im (every column entry's gradient added back into the image
position it was copied from), and col2im's is im2col. The kernels (kernels.py, family `conv`)
take the window geometry as parameters: kernel, stride, dilation (pairs) and zero padding
((top, bottom), (left, right)); backends/windows.py has the layout."""
from tinygrad_nm.autograd import Op, needs_grad


class Im2col(Op):
    """(N, C, H, W) -> (C * kh * kw, N * oh * ow)."""

    def forward(ctx, be, a, kernel, stride, dilation, padding):
        ctx._saved = (a.shape, kernel, stride, dilation, padding)
        return be.im2col(a, kernel, stride, dilation, padding)

    def backward(ctx, be, g):
        return be.col2im(g, *ctx._saved), None


class Col2im(Op):
    """(C * kh * kw, N * oh * ow) -> (N, C, H, W) = shape, summing the entries that share a position."""

    def forward(ctx, be, cols, shape, kernel, stride, dilation, padding):
        ctx._saved = (kernel, stride, dilation, padding)
        return be.col2im(cols, shape, kernel, stride, dilation, padding)

    def backward(ctx, be, g):
        return be.im2col(g, *ctx._saved), None


class Conv2d(Op):
    """y = conv2d(x, w) (+ b): x (N, C, H, W), w (O, C / groups, kh, kw) -> (N, O, oh, ow), one kernel
    each way (kernels.py's `conv2d`, `conv2d_backward`). b, a buffer or None, is a parameter: a node
    has at most two inputs, so b's gradient comes from ConvBias, recorded after this node when b
    wants one (as fused_linear.py's BiasOf)."""
    saves = ("a", "b")

    def forward(ctx, be, x, w, b, stride, dilation, padding, groups, act=None):
        geometry = (stride, dilation, padding, groups)
        y = be.conv2d(x, w, b, *geometry) if act is None else be.conv2d_act(x, w, b, *geometry, act)
        ctx._saved = [x, w, geometry, None, act, None if act is None else y]  # [3]: ConvBias's (g, dx, dw)
        return y

    def backward(ctx, be, g):
        done = ctx._saved[3]
        if done is not None and done[0] is g:  # ConvBias's backward already ran the kernel on this g
            dx, dw = done[1], done[2]
        else:
            dx, dw, _ = _gradients(be, ctx._saved, g, needs_grad(ctx._a), False)
        return (dx if needs_grad(ctx._a) else None), (dw if needs_grad(ctx._b) else None)


class ConvAct(Conv2d):
    """y = act(conv2d(x, w) (+ b)), act one of kernels.ACTIVATIONS: nn.Sequential's Conv2d + ReLU
    (or Sigmoid, Tanh) as one kernel each way, `conv2d_act` and `conv2d_act_backward`, which takes
    g through act' from the saved output y (relu's: y > 0 exactly where the convolution's output is)."""
    saves = ("a", "b", "out")


def _gradients(be, saved, g, input_grad, bias_grad):
    """(dx, dw, db) of a Conv2d / ConvAct node from its _saved and g, y's gradient."""
    x, w, geometry, _, act, y = saved
    if act is None:
        return be.conv2d_backward(x, w, g, *geometry, input_grad, bias_grad)
    return be.conv2d_act_backward(x, w, y, g, *geometry, act, input_grad, bias_grad)


class ConvBias(Op):
    """y = h, the output of Conv2d (or ConvAct, act its activation), for b's gradient (g, or act'(y) g,
    summed over N, oh, ow). When h is a recorded Conv2d / ConvAct node, one kernel call computes every
    gradient here, and that node's backward (next, with the same g: this node hands it on unchanged)
    takes its dx and dw."""

    def forward(ctx, be, h, b, act=None):
        ctx._saved = (h, act)
        return h

    def backward(ctx, be, g):
        h = ctx._a
        if h._ctx not in (Conv2d, ConvAct) or h._saved is None:  # the conv itself needs no gradient
            y, act = ctx._saved
            gz = g if act is None else getattr(be, f"{act}_backward")(y, g)
            return None, be.sum(gz, (0, 2, 3), False)
        dx, dw, db = _gradients(be, h._saved, g, needs_grad(h._a), True)
        h._saved[3] = (g, dx, dw)
        return g, db


class ConvActBias(ConvBias):
    """ConvBias after a ConvAct: its backward reads y (h's values), so a write into it after the
    forward is refused, as for ConvAct itself."""
    saves = ("a",)
