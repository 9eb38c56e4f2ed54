"""Max pooling as one differentiable op, forward and backward side by side as in ops.py: the
forward kernel (kernels.py, family `pool`) finds each window's maximum and where it is, and the
backward kernel sends each gradient to that position (overlapping windows add up), so no
gradient ever goes through an index tensor or the host."""
from tinygrad_nm.autograd import Op


class MaxPool2d(Op):
    """(N, C, H, W) -> (N, C, oh, ow), the maximum of each window. The window geometry is the
    kernel table's (kernel, stride, dilation pairs; padding ((top, bottom), (left, right)));
    `indices_out`, a list, receives the int64 indices buffer (an Op has one result, and a
    caller asking for return_indices needs the second one even when nothing is recorded)."""

    def forward(ctx, be, a, kernel, stride, dilation, padding, indices_out):
        values, indices = be.max_pool2d(a, kernel, stride, dilation, padding)
        ctx._saved = (indices, a.shape, kernel, stride, dilation, padding)
        indices_out.append(indices)
        return values

    def backward(ctx, be, g):
        return be.max_pool2d_backward(g, *ctx._saved), None
