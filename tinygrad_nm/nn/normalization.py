"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm (PyTorch's)."""
from tinygrad_nm.device import backend_name
from tinygrad_nm import functional as F
from tinygrad_nm.grad_mode import no_grad
from tinygrad_nm.nn.module import Module
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor


class _BatchNorm(Module):
    """Per-channel normalisation by the batch's statistics while training, by the running ones in
    eval(). running_mean/var and num_batches_tracked are buffers (saved in state_dict)."""
    expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, bias=True,
                 device=None, dtype=None, backend=None):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive integer, got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        kw = dict(dtype=dtype, backend=backend_name(device, backend))
        self.register_parameter("weight", Parameter(Tensor.ones(num_features, **kw)) if affine else None)
        self.register_parameter("bias", Parameter(Tensor.zeros(num_features, **kw)) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor.zeros(num_features, **kw))
            self.register_buffer("running_var", Tensor.ones(num_features, **kw))
            self.register_buffer("num_batches_tracked", Tensor.zeros((), dtype="int64", backend=kw["backend"]))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean[...] = 0.0
                self.running_var[...] = 1.0
                self.num_batches_tracked[...] = 0

    def forward(self, x):
        name = f"{type(self).__name__}({self.num_features})"
        if x.ndim not in self.expected_dims:
            dims = " or ".join(f"{d}D" for d in self.expected_dims)
            raise ValueError(f"{name}: expected {dims} input, got {x.ndim}D input of shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels in dimension 1, got input of shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked += 1
            if self.momentum is None:  # a cumulative average over the batches seen
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Input (N, C) or (N, C, L)."""
    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Input (N, C, H, W)."""
    expected_dims = (4,)


class LayerNorm(Module):
    """Normalises over the last dimensions (normalized_shape), then scales and shifts elementwise."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None,
                 backend=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        kw = dict(dtype=dtype, backend=backend_name(device, backend))
        self.register_parameter("weight", Parameter(Tensor.ones(*shape, **kw)) if elementwise_affine else None)
        self.register_parameter("bias", Parameter(Tensor.zeros(*shape, **kw)) if elementwise_affine and bias else None)

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.shape[max(x.ndim - k, 0):] != self.normalized_shape or x.ndim < k:
            raise ValueError(f"{self!r}: expected input of shape (*, {', '.join(map(str, self.normalized_shape))}), "
                             f"got {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the last dimensions (normalized_shape), times weight (ones):
    F.rms_norm; eps None is the dtype's machine epsilon, as PyTorch."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None, backend=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        kw = dict(dtype=dtype, backend=backend_name(device, backend))
        self.register_parameter("weight", Parameter(Tensor.ones(*shape, **kw)) if elementwise_affine else None)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalises each of num_groups groups of channels per sample, then scales and shifts per channel."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, bias=True, device=None, dtype=None,
                 backend=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        kw = dict(dtype=dtype, backend=backend_name(device, backend))
        self.register_parameter("weight", Parameter(Tensor.ones(num_channels, **kw)) if affine else None)
        self.register_parameter("bias", Parameter(Tensor.zeros(num_channels, **kw)) if affine and bias else None)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input (N, {self.num_channels}, *), got shape {x.shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"


class InstanceNorm2d(GroupNorm):
    """Normalises each channel of each sample over its positions (F.instance_norm); affine=False by
    default, as PyTorch's. Running statistics (track_running_stats=True) are not supported."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None, backend=None):
        if track_running_stats:
            raise NotImplementedError("InstanceNorm2d: track_running_stats=True is not supported (no running "
                                      "statistics); use the default False")
        super().__init__(num_features, num_features, eps, affine, device=device, dtype=dtype, backend=backend)

    def forward(self, x):
        if x.ndim not in (3, 4) or x.shape[-3] != self.num_channels:
            raise ValueError(f"{self!r}: expected input (N, {self.num_channels}, H, W) or ({self.num_channels}, H, W), "
                             f"got shape {x.shape}")
        batched = x if x.ndim == 4 else x.unsqueeze(0)
        out = F.instance_norm(batched, weight=self.weight, bias=self.bias, eps=self.eps)
        return out if x.ndim == 4 else out.squeeze(0)

    def extra_repr(self):
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"
