"""Convolution and pooling layers: Conv1d, Conv2d, ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d,
AdaptiveAvgPool2d, with PyTorch's arguments, initialisation and repr (the work is in
tinygrad_nm/conv.py and tinygrad_nm/pooling.py)."""
import math

from tinygrad_nm.device import backend_name
from tinygrad_nm import conv, pooling
from tinygrad_nm.nn.layers import _positive_int, _uniform
from tinygrad_nm.nn.module import Module
from tinygrad_nm.nn.parameter import Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _named(module, fn, *args, **kwargs):
    """fn(*args, **kwargs), its ValueErrors prefixed with the layer (its repr) that was called."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise ValueError(f"{module!r}: {e}") from None


def _init_weight_and_bias(module, shape, outputs, bias, dtype, backend, generator):
    """PyTorch's init of a convolution's weight and bias (`outputs` elements): uniform in
    +-1/sqrt(fan_in), fan_in = shape[1] * the kernel's taps (Kaiming-uniform, a = sqrt(5))."""
    bound = 1 / math.sqrt(math.prod(shape[1:]))
    module.weight = Parameter(_uniform(shape, bound, dtype, backend, generator))
    if bias:
        module.bias = Parameter(_uniform((outputs,), bound, dtype, backend, generator))
    else:
        module.register_parameter("bias", None)


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d (dims 1 or 2): weight (out_channels, in_channels / groups,
    *kernel_size), bias (out_channels,).

    Initialised as PyTorch does (Kaiming-uniform with a = sqrt(5)): weight and bias uniform in
    +-1/sqrt(fan_in), fan_in = in_channels / groups * kernel_height * kernel_width. Drawn from
    tnm.manual_seed's generator, or `generator` (a NumPy Generator) when given."""
    dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None, backend=None, generator=None):
        super().__init__()
        name, n = type(self).__name__, self.dims
        for what, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            _positive_int(name, what, value)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.kernel_size = conv.as_tuple(name, "kernel_size", kernel_size, n, 1)
        self.stride = conv.as_tuple(name, "stride", stride, n, 1)
        self.dilation = conv.as_tuple(name, "dilation", dilation, n, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple of {n} ints, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride {self.stride})")
            self.padding = padding
        else:
            self.padding = conv.as_tuple(name, "padding", padding, n, 0)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode = padding_mode
        _init_weight_and_bias(self, (out_channels, in_channels // groups, *self.kernel_size), out_channels, bias,
                              dtype, backend_name(device, backend), generator)

    def forward(self, x):
        return self.forward_act(x, None)

    def forward_act(self, x, activation):
        """activation(self(x)) in one kernel (nn.Sequential pairs a Conv with the ReLU, Sigmoid or
        Tanh after it so); activation None is forward."""
        op = f"conv{self.dims}d"
        return _named(self, conv.convolution, op, x, self.weight, self.bias, self.stride, self.padding,
                      self.dilation, self.groups, self.dims, self.padding_mode, activation)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) (or (C, L)), as torch.nn.Conv1d."""
    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) (or (C, H, W)), as torch.nn.Conv2d."""
    dims = 2


class _ConvTransposeNd(Module):
    """The adjoint of a convolution (F.conv_transpose2d; 1-D inputs as height-1 images): weight
    (in_channels, out_channels, *kernel), initialised as PyTorch's (uniform in +-1/sqrt(fan_in),
    fan_in = out_channels * the kernel's taps, the weight's dim 1 as PyTorch counts it); groups 1 only."""
    dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None, backend=None, generator=None):
        super().__init__()
        name, n = type(self).__name__, self.dims
        for what, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            _positive_int(name, what, value)
        if groups != 1 or padding_mode != "zeros":
            raise NotImplementedError(f"{name}: groups={groups}, padding_mode={padding_mode!r}: only groups=1 and "
                                      "'zeros' are supported")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = conv.as_tuple(name, "kernel_size", kernel_size, n, 1)
        self.stride = conv.as_tuple(name, "stride", stride, n, 1)
        self.padding = conv.as_tuple(name, "padding", padding, n, 0)
        self.output_padding = conv.as_tuple(name, "output_padding", output_padding, n, 0)
        self.dilation = conv.as_tuple(name, "dilation", dilation, n, 1)
        _init_weight_and_bias(self, (in_channels, out_channels, *self.kernel_size), out_channels, bias, dtype,
                              backend_name(device, backend), generator)

    def forward(self, x):
        if self.dims == 2:
            return _named(self, conv.conv_transpose2d, x, self.weight, self.bias, self.stride, self.padding,
                          self.output_padding, 1, self.dilation)
        y = _named(self, conv.conv_transpose2d, x.unsqueeze(-2), self.weight.unsqueeze(-2), self.bias,
                   (1, *self.stride), (0, *self.padding), (0, *self.output_padding), 1, (1, *self.dilation))
        return y.squeeze(-2)

    def extra_repr(self):
        zeros = (0,) * self.dims
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
                + (f", padding={self.padding}" if self.padding != zeros else "")
                + (f", output_padding={self.output_padding}" if self.output_padding != zeros else "")
                + (", bias=False" if self.bias is None else ""))


class ConvTranspose2d(_ConvTransposeNd):
    """The adjoint of Conv2d over (N, C, H, W)."""
    dims = 2


class ConvTranspose1d(_ConvTransposeNd):
    """The adjoint of Conv1d over (N, C, L)."""
    dims = 1


class MaxPool2d(Module):
    """Maximum over windows, as torch.nn.MaxPool2d (stride defaults to kernel_size)."""
    fn = staticmethod(pooling.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return _named(self, self.fn, x, self.kernel_size, self.stride, self.padding, self.dilation,
                      ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(MaxPool2d):
    """Maximum over windows of (N, C, L), as torch.nn.MaxPool1d."""
    fn = staticmethod(pooling.max_pool1d)


class AvgPool2d(Module):
    """Mean over windows, as torch.nn.AvgPool2d (stride defaults to kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return _named(self, pooling.avg_pool2d, x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                      self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """Mean over windows of (N, C, L), as torch.nn.AvgPool1d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = conv.as_tuple("AvgPool1d", "kernel_size", kernel_size, 1, 1)
        self.stride = self.kernel_size if stride is None else conv.as_tuple("AvgPool1d", "stride", stride, 1, 1)
        self.padding = conv.as_tuple("AvgPool1d", "padding", padding, 1, 0)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return _named(self, pooling.avg_pool1d, x, self.kernel_size[0], self.stride[0], self.padding[0],
                      self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean over PyTorch's adaptive windows to a fixed output_size, as torch.nn.AdaptiveAvgPool2d."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return _named(self, pooling.adaptive_avg_pool2d, x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class MaxUnpool2d(Module):
    """F.max_unpool2d as a layer: forward(input, indices, output_size=None)."""
    fn = staticmethod(pooling.max_unpool2d)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding

    def forward(self, input, indices, output_size=None):
        return _named(self, type(self).fn, input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool2d):
    fn = staticmethod(pooling.max_unpool1d)
