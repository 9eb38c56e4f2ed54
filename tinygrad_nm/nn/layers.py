"""Layers: Linear, Identity, Flatten, Unflatten, Dropout, Embedding and the activation modules."""
import math

from tinygrad_nm.device import backend_name
from tinygrad_nm import functional as F
from tinygrad_nm.grad_mode import no_grad
from tinygrad_nm.nn import init
from tinygrad_nm.nn.module import Module
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor


def _positive_int(layer, what, n):
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{layer}: {what} must be a positive integer, got {n!r}")


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features) as in PyTorch.

    Initialised as PyTorch does (Kaiming-uniform with a = sqrt(5)): weight and bias uniform in
    +-1/sqrt(in_features), which keeps activations of a deep stack at a steady scale. Drawn from
    tnm.manual_seed's generator, or `generator` (a NumPy Generator) when given."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, backend=None, generator=None):
        super().__init__()
        _positive_int("Linear", "in_features", in_features)
        _positive_int("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        backend = backend_name(device, backend)
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(_uniform((out_features, in_features), bound, dtype, backend, generator))
        if bias:
            self.bias = Parameter(_uniform((out_features,), bound, dtype, backend, generator))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input with last dimension {self.in_features}, got shape {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """A Linear whose in_features is read from its first input: weight and bias are made (and
    initialised as Linear's) at the first forward, so run one batch before building the optimizer."""

    def __init__(self, out_features, bias=True, device=None, dtype=None, backend=None, generator=None):
        Module.__init__(self)
        _positive_int("LazyLinear", "out_features", out_features)
        self.in_features, self.out_features, self._bias = 0, out_features, bias
        self._make = dict(dtype=dtype, backend=backend_name(device, backend), generator=generator)
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)

    def forward(self, x):
        if self.weight is None:
            if x.ndim == 0:
                raise ValueError(f"{self!r}: expected input with a last dimension, got shape {x.shape}")
            made = Linear(x.shape[-1], self.out_features, self._bias, **self._make)
            self.in_features, self.weight, self.bias = made.in_features, made.weight, made.bias
        return super().forward(x)


def _uniform(shape, bound, dtype, backend, generator):
    """U(-bound, bound), drawn as U(0, 1) * 2 bound - bound in the tensor's dtype."""
    with no_grad():
        return Tensor.rand(*shape, generator=generator, dtype=dtype, backend=backend) * (2 * bound) - bound


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim into one."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        nd = max(x.ndim, 1)
        start, end = self.start_dim % nd, self.end_dim % nd
        if not (-nd <= self.start_dim < nd and -nd <= self.end_dim < nd) or start > end:
            raise ValueError(f"{self!r}: dimensions out of range or in the wrong order for input of shape {x.shape}")
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:]) if x.ndim else x.reshape(1)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension `dim` into unflattened_size."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{self!r}: dim {self.dim} out of range for input of shape {x.shape}")
        d = self.dim % x.ndim
        known = math.prod(s for s in self.unflattened_size if s != -1)
        if (-1 not in self.unflattened_size and known != x.shape[d]) or (known and x.shape[d] % known):
            raise ValueError(f"{self!r}: dimension {d} of input shape {x.shape} cannot be split into "
                             f"{self.unflattened_size}")
        return x.reshape(*x.shape[:d], *self.unflattened_size, *x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); the
    identity in eval()."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zeroes whole channels with probability p while training (F.dropout2d); the identity in eval()."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)


class Dropout1d(Dropout):
    """Zeroes whole channels of (N, C, L) with probability p while training (F.dropout1d)."""

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training)


class AlphaDropout(Dropout):
    """SELU's dropout, keeping mean and variance (F.alpha_dropout), while training."""

    def forward(self, x):
        return F.alpha_dropout(x, self.p, self.training)


class Bilinear(Module):
    """y = x1^T A x2 + b for each output feature: weight (out, in1, in2), PyTorch's init
    U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None, backend=None,
                 generator=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        bound, backend = 1 / math.sqrt(in1_features), backend_name(device, backend)
        self.weight = Parameter(_uniform((out_features, in1_features, in2_features), bound, dtype, backend, generator))
        self.register_parameter("bias", Parameter(_uniform((out_features,), bound, dtype, backend, generator))
                                if bias else None)

    def forward(self, x1, x2):
        # (N, in1) @ (in1, out * in2) -> (N, out, in2), times x2 summed over in2
        lead = x1.shape[:-1]
        a = x1.reshape(-1, self.in1_features) @ self.weight.permute(1, 0, 2).reshape(self.in1_features, -1)
        y = (a.reshape(-1, self.out_features, self.in2_features) * x2.reshape(-1, 1, self.in2_features)).sum(-1)
        y = y + self.bias if self.bias is not None else y
        return y.reshape(*lead, self.out_features)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Unfold(Module):
    """F.unfold (im2col) as a layer."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x):
        return F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)


class Fold(Module):
    """F.fold (col2im) as a layer."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x):
        return F.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)


class ChannelShuffle(Module):
    """(N, g * c, *) -> its channels regrouped as c groups of g (ShuffleNet)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, ch, *rest = x.shape
        if ch % self.groups:
            raise ValueError(f"ChannelShuffle: {ch} channels are not divisible by groups={self.groups}")
        return x.reshape(n, self.groups, ch // self.groups, *rest).transpose(1, 2).reshape(n, ch, *rest)


class Embedding(Module):
    """A lookup table: integer indices -> rows of weight (num_embeddings, embedding_dim), N(0, 1)
    initialised; the padding_idx row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None, _freeze=False,
                 device=None, dtype=None, backend=None, generator=None):
        super().__init__()
        _positive_int("Embedding", "num_embeddings", num_embeddings)
        _positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings, got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        if _weight is None:
            w = Tensor.zeros(num_embeddings, embedding_dim, dtype=dtype, backend=backend_name(device, backend))
            init.normal_(w, generator=generator)
            if padding_idx is not None:
                with no_grad():
                    w[padding_idx] = 0.0
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {_weight.shape}, expected "
                                 f"{(num_embeddings, embedding_dim)}")
            w = _weight
        self.weight = Parameter(w, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}")
        return cls(*embeddings.shape, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def forward(self, x):
        return F.embedding(x, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


# --- activations -----------------------------------------------------------------------------
class ReLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return x.relu()

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
