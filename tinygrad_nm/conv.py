"""Convolutions with PyTorch's semantics, argument names and NCHW layout: unfold (im2col), fold
(col2im), conv1d and conv2d, re-exported by functional.py (F.conv2d, ...).

A convolution is one matmul on the column matrix: the kernel table's `im2col` copies every
window of the (zero-padded) input into a column, (N, C, H, W) -> (C * kh * kw, N * oh * ow),
and then weight (O, C * kh * kw) @ columns is the output, (O, N * oh * ow), channels first.
Backward is the matmul's two products and `col2im` (im2col's adjoint: each column entry's
gradient added back where it was copied from); backends/windows.py has the layout. conv1d and
conv2d run that as one kernel each way, `conv2d` and `conv2d_backward` (ops_conv.Conv2d): composed
of those steps on most backends (backends/conv_compose.py), fused on the cython one, which never
holds more than a tile of the column matrix. unfold and fold are im2col / col2im themselves,
viewed as PyTorch lays them out (N, C * kh * kw, L).
"""
from tinygrad_nm.autograd import is_grad_enabled
from tinygrad_nm.backends.kernels import ACTIVATIONS
from tinygrad_nm.ops_conv import Col2im, Conv2d, ConvAct, ConvActBias, ConvBias, Im2col
from tinygrad_nm.padding import pad
from tinygrad_nm.tensor import Tensor

__all__ = ["unfold", "fold", "conv1d", "conv2d"]


# --- arguments ---------------------------------------------------------------------------------
def as_tuple(op, name, value, n, minimum):
    """An int or a sequence of n ints, each >= minimum, as a tuple of n ints."""
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(items, (tuple, list)) or len(items) != n
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in items)):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(items) < minimum:
        what = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return tuple(items)


def batched(op, input, ndim):
    """(input with a batch dimension, whether one was added): the unbatched form has ndim - 1 dims."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (ndim - 1, ndim):
        raise ValueError(f"{op}: expected a {ndim - 1}-D (unbatched) or {ndim}-D (batched) input, "
                         f"got shape {input.shape}")
    return (input.reshape(1, *input.shape), True) if input.ndim == ndim - 1 else (input, False)


def out_size(op, n, kernel, stride, before, after, dilation, what="input", ceil_mode=False):
    """Number of window positions along one axis of size n padded by (before, after)."""
    span = dilation * (kernel - 1) + 1
    room = n + before + after - span
    if room < 0:
        raise ValueError(f"{op}: the kernel spans {span} (kernel_size {kernel}, dilation {dilation}) but the padded "
                         f"{what} is only {n + before + after} (size {n} + padding {(before, after)})")
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    return out - 1 if (out - 1) * stride >= n + before else out  # the last window must start inside


def columns(x, kernel, stride, dilation, padding):
    """The column matrix (C * kh * kw, N * oh * ow) of x (N, C, H, W) zero-padded by
    ((top, bottom), (left, right)): the kernel table's im2col, differentiable (ops_conv.Im2col)."""
    return x._apply(Im2col, x.dtype, (x,), tuple(kernel), tuple(stride), tuple(dilation), tuple(padding))


# --- unfold / fold -----------------------------------------------------------------------------
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), column l holding the patch under output
    position l (row-major over the output's height and width), as torch.nn.functional.unfold."""
    x, added = batched("unfold", input, 4)
    k, d, p, s = _geometry_args("unfold", kernel_size, dilation, padding, stride)
    n, c, h, w = x.shape
    out = tuple(out_size("unfold", (h, w)[i], k[i], s[i], p[i], p[i], d[i], _dim(x, i + 2)) for i in range(2))
    cols = columns(x, k, s, d, ((p[0], p[0]), (p[1], p[1])))  # (C * kh * kw, N * L)
    cols = cols.reshape(cols.shape[0], n, out[0] * out[1]).permute(1, 0, 2)
    return cols.reshape(*cols.shape[1:]) if added else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of unfold: (N, C * kh * kw, L) -> (N, C, H, W), summing the entries
    that land on the same position, as torch.nn.functional.fold."""
    x, added = batched("fold", input, 3)
    size = as_tuple("fold", "output_size", output_size, 2, 1)
    k, d, p, s = _geometry_args("fold", kernel_size, dilation, padding, stride)
    n, ck, length = x.shape
    taps = k[0] * k[1]
    out = tuple(out_size("fold", size[i], k[i], s[i], p[i], p[i], d[i], "output_size") for i in range(2))
    if ck % taps or length != out[0] * out[1]:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} needs dimension -2 divisible by "
                         f"kernel_size {k} (product {taps}) and dimension -1 equal to the number of blocks "
                         f"{out[0] * out[1]} ({out[0]}x{out[1]}) for output_size {size}")
    cols = x.permute(1, 0, 2).reshape(ck, n * length)
    result = cols._apply(Col2im, cols.dtype, (cols,), (n, ck // taps, *size), k, s, d, ((p[0], p[0]), (p[1], p[1])))
    return result.reshape(*result.shape[1:]) if added else result


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The adjoint of conv2d (its input's gradient), as torch.nn.functional.conv_transpose2d: each
    input position adds its value times weight's (C_out, kh, kw) taps into the output. Columns
    weight^T @ x, then fold sums them into place. weight: (C_in, C_out, kh, kw); groups 1 only."""
    x, added = batched("conv_transpose2d", input, 4)
    if groups != 1:
        raise NotImplementedError(f"conv_transpose2d: groups={groups} is not supported (only 1)")
    if weight.ndim != 4 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"conv_transpose2d: weight of shape {tuple(weight.shape)} must be (C_in, C_out, kh, kw) "
                         f"with C_in = {x.shape[1]}, the input's channels (input shape {tuple(input.shape)})")
    k, d, p, s = _geometry_args("conv_transpose2d", weight.shape[2:], dilation, padding, stride)
    extra = as_tuple("conv_transpose2d", "output_padding", output_padding, 2, 0)
    if any(e >= max(si, di) for e, si, di in zip(extra, s, d)):
        raise ValueError(f"conv_transpose2d: output_padding {extra} must be smaller than stride {s} or dilation {d}")
    n, c_in, h, w = x.shape
    c_out = weight.shape[1]
    size = tuple((i - 1) * s[a] - 2 * p[a] + d[a] * (k[a] - 1) + extra[a] + 1 for a, i in enumerate((h, w)))
    cols = weight.reshape(c_in, c_out * k[0] * k[1]).t() @ x.reshape(n, c_in, h * w)
    out = fold(cols, size, k, d, p, s)
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1, 1)
    return out.reshape(*out.shape[1:]) if added else out


def _dim(x, axis):
    return f"input (shape {tuple(x.shape)}) along dimension {axis}"


def _geometry_args(op, kernel_size, dilation, padding, stride):
    return (as_tuple(op, "kernel_size", kernel_size, 2, 1), as_tuple(op, "dilation", dilation, 2, 1),
            as_tuple(op, "padding", padding, 2, 0), as_tuple(op, "stride", stride, 2, 1))


# --- convolutions ------------------------------------------------------------------------------
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation of (N, C, H, W) (or unbatched (C, H, W)) with weight (O, C / groups, kh, kw),
    plus bias (O,): torch.nn.functional.conv2d. padding: int, pair, 'valid' or 'same' (stride 1)."""
    return convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation of (N, C, L) (or (C, L)) with weight (O, C / groups, k): conv2d on a height of 1."""
    return convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def convolution(op, input, weight, bias, stride, padding, dilation, groups, dims, padding_mode="zeros",
                activation=None):
    """conv1d / conv2d (dims 1 or 2); padding_mode is nn.Conv*d's ('zeros', 'reflect', 'replicate', 'circular');
    activation None, or one of ACTIVATIONS applied to the output in the same kernel (nn.Sequential's
    Conv + ReLU: the values of the convolution, then the activation)."""
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected None or one of {', '.join(ACTIVATIONS)}")
    x, added = batched(op, input, dims + 2)
    if not isinstance(weight, Tensor) or weight.ndim != dims + 2:
        raise ValueError(f"{op}: weight must be a {dims + 2}-D Tensor (out_channels, in_channels / groups, "
                         f"*kernel_size), got shape {getattr(weight, 'shape', type(weight).__name__)}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    o, per_group = weight.shape[:2]
    if x.shape[1] != per_group * groups or o % groups:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has {x.shape[1]} channels, but weight of shape "
                         f"{weight.shape} with groups={groups} expects {per_group * groups} input channels "
                         f"(and out_channels {o} divisible by groups)")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"{op}: bias must have shape ({o},) for weight of shape {weight.shape}, got {bias.shape}")
    stride = as_tuple(op, "stride", stride, dims, 1)
    dilation = as_tuple(op, "dilation", dilation, dims, 1)
    kernel = weight.shape[2:]
    spans = _padding(op, padding, kernel, stride, dilation, dims)
    if dims == 1:  # a height of 1: the 1-D case is the 2-D one
        x, weight = x.reshape(*x.shape[:2], 1, x.shape[2]), weight.reshape(*weight.shape[:2], 1, kernel[0])
        kernel, stride, dilation, spans = (1, kernel[0]), (1, stride[0]), (1, dilation[0]), ((0, 0), spans[0])
    out = _conv2d(op, x, weight, bias, stride, spans, dilation, groups, padding_mode, activation)
    if dims == 1:
        out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return out.reshape(*out.shape[1:]) if added else out


def _padding(op, padding, kernel, stride, dilation, dims):
    """Per axis (before, after) from PyTorch's padding argument."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple of {dims} ints, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)  # the odd one out goes after, as in PyTorch
    return tuple((p, p) for p in as_tuple(op, "padding", padding, dims, 0))


def _conv2d(op, x, weight, bias, stride, spans, dilation, groups, padding_mode, act=None):
    n, c, h, w = x.shape
    kernel = weight.shape[2:]
    for i in range(2):  # the kernel must fit the padded input (the error names the layer and the sizes)
        out_size(op, (h, w)[i], kernel[i], stride[i], *spans[i], dilation[i], _dim(x, i + 2))
    if padding_mode != "zeros" and any(b or a for b, a in spans):  # the kernels pad with zeros only
        x = pad(x, (spans[1][0], spans[1][1], spans[0][0], spans[0][1]), mode=padding_mode)
        spans = ((0, 0), (0, 0))
    x._same_backend(weight, op)
    if bias is not None:
        x._same_backend(bias, op)
    dtype = x.dtype if x.dtype is weight.dtype else x._promote_pair(weight)[0].dtype  # as a matmul would
    x, weight = x.cast(dtype), weight.cast(dtype)
    bias = None if bias is None else bias.cast(dtype)
    geometry = (tuple(stride), tuple(dilation), tuple(tuple(s) for s in spans), groups)
    fused = act is not None and dtype.is_float  # else the activation's own op, with its rules for integers
    y = Tensor._apply(ConvAct if fused else Conv2d, dtype, (x, weight), None if bias is None else bias._buf,
                      *geometry, *((act,) if fused else ()))
    if bias is not None and bias.requires_grad and is_grad_enabled():  # b's gradient; shares y's buffer
        y = y._alias(Tensor._apply(ConvActBias, dtype, (y, bias), act) if fused
                     else Tensor._apply(ConvBias, dtype, (y, bias)))
    return getattr(y, act)() if act is not None and not fused else y
