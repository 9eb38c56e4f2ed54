"""The column matrix of a convolution as differentiable ops, forward and backward side by side as
in ops.py: im2col's gradient is col2im (every column entry's gradient added back into the image
position it was copied from), and col2im's is im2col. The kernels (kernels.py, family `conv`)
take the window geometry as parameters: kernel, stride, dilation (pairs) and zero padding
((top, bottom), (left, right)); backends/windows.py has the layout."""
from tinygrad_nm.autograd import Function


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
