"""The elementwise ops beyond ops.py's core set: log2, log1p, expm1 and the rounding functions,
forward and backward side by side, each on its own kernel (backends/kernels.py).

Rounding (floor, ceil, trunc, round) is a step function: its gradient is 0 wherever it is
defined, and PyTorch records it anyway (the result requires grad; backward gives zeros), so these
are ops with a zero backward rather than results cut from the graph.
"""
import math

from tinygrad_nm.autograd import Op

_LN2 = math.log(2.0)


class Log2(Op):
    saves = ("a",)

    def forward(ctx, be, a):
        ctx._saved = a
        return be.log2(a)

    def backward(ctx, be, g):  # 1 / (x ln 2)
        return be.div(g, be.mul(ctx._saved, _LN2)), None


class Log1p(Op):
    saves = ("a",)

    def forward(ctx, be, a):
        ctx._saved = a
        return be.log1p(a)

    def backward(ctx, be, g):  # 1 / (1 + x)
        return be.div(g, be.add(ctx._saved, 1)), None


class Expm1(Op):
    saves = ("out",)

    def forward(ctx, be, a):
        out = be.expm1(a)
        ctx._saved = out
        return out

    def backward(ctx, be, g):  # e^x = expm1(x) + 1
        return be.mul(g, be.add(ctx._saved, 1)), None


class _Rounding(Op):
    """The rounding ops' shared backward: zeros (a zero-filled buffer, not g * 0, which would turn
    an infinite g into nan)."""

    def backward(ctx, be, g):
        return be.full(g.shape, 0, ctx.dtype), None


class Floor(_Rounding):
    def forward(ctx, be, a):
        return be.floor(a)


class Ceil(_Rounding):
    def forward(ctx, be, a):
        return be.ceil(a)


class Trunc(_Rounding):
    def forward(ctx, be, a):
        return be.trunc(a)


class Round(_Rounding):
    def forward(ctx, be, a):
        return be.round(a)
