"""nn.utils: gradient clipping, flattening parameters into one vector and weight_norm (PyTorch's);
nn.utils.rnn pads sequences (rnn.py)."""
from tinygrad_nm import composite as C
from tinygrad_nm.grad_mode import no_grad
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor
from tinygrad_nm.nn.utils import rnn  # noqa: F401 (torch.nn.utils.rnn)


def _as_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm(t, norm_type):
    if norm_type == float("inf"):
        return t.abs().max()
    if norm_type == 2:
        return (t * t).sum().sqrt()
    return (t.abs() ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale every gradient in place so that their joint norm is at most max_norm; returns the
    joint norm before clipping (a 0-d Tensor), as torch.nn.utils.clip_grad_norm_."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    with no_grad():
        norms = [_norm(g, norm_type) for g in grads]
        if norm_type == float("inf"):
            total = norms[0]
            for n in norms[1:]:
                total = C.maximum(total, n)
        else:
            total = _norm(_stack(norms), norm_type)
        value = total.item()
        if error_if_nonfinite and not (value == value and abs(value) != float("inf")):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        coef = C.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g *= coef.cast(g.dtype)
    return total


def _stack(scalars):
    """0-d tensors (on one backend) as a 1-D tensor, outside the graph: no stack op yet."""
    out = Tensor.zeros(len(scalars), dtype=scalars[0].dtype, backend=scalars[0].backend)
    for i, s in enumerate(scalars):
        out[i] = s
    return out


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad[...] = C.clamp(p.grad, -clip_value, clip_value)


def parameters_to_vector(parameters):
    """The parameters' values, flattened and joined into one 1-D tensor. Unlike PyTorch's, not
    differentiable (the Tensor API has no concatenation op yet): a copy of the values."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    out = Tensor.zeros(sum(p.numel() for p in params), dtype=params[0].dtype, backend=params[0].backend)
    offset = 0
    with no_grad():
        for p in params:
            if p.backend != out.backend:
                raise ValueError(f"parameters_to_vector: parameters are on backends {out.backend!r} and {p.backend!r}")
            out[offset:offset + p.numel()] = p.detach().reshape(-1)
            offset += p.numel()
    return out


def vector_to_parameters(vec, parameters):
    """Write consecutive slices of the 1-D tensor vec into the parameters' storage."""
    params = _as_list(parameters)
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"expected vec to be a 1-D Tensor, got {type(vec).__name__}"
                        + (f" of shape {vec.shape}" if isinstance(vec, Tensor) else ""))
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vec has {vec.numel()} elements, the parameters {total}")
    offset = 0
    with no_grad():
        for p in params:
            p[...] = vec[offset:offset + p.numel()].detach().reshape(*p.shape)
            offset += p.numel()


def _norm_except_dim(v, dim):
    """The 2-norm of v over every dim but `dim` (kept, size 1 elsewhere); of all of v for dim None."""
    if dim is None:
        return (v * v).sum().sqrt()
    axes = tuple(i for i in range(v.ndim) if i != dim)
    return (v * v).sum(axes, keepdim=True).sqrt() if axes else v.abs()


class _WeightNorm:
    """The forward pre-hook that rebuilds module.<name> = g * v / |v| from its two parameters."""

    def __init__(self, name, dim):
        self.name, self.dim = name, dim

    def compute(self, module):
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    def __call__(self, module, args):
        object.__setattr__(module, self.name, self.compute(module))


def weight_norm(module, name="weight", dim=0):
    """Reparameterise module.<name> as g * v / |v| (Salimans and Kingma), as PyTorch's
    nn.utils.weight_norm: parameters <name>_g (the norms over every dim but `dim`) and <name>_v
    (the direction) replace it, and a forward pre-hook rebuilds the weight before each call."""
    if any(isinstance(h, _WeightNorm) and h.name == name for h in module._forward_pre_hooks.values()):
        raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
    dim = None if dim is None else dim % weight.ndim
    hook = _WeightNorm(name, dim)
    del module._parameters[name]
    with no_grad():
        g, v = _norm_except_dim(weight, dim).clone(), weight.clone()
    module.register_parameter(name + "_g", Parameter(g))
    module.register_parameter(name + "_v", Parameter(v))
    hook(module, ())
    module.register_forward_pre_hook(hook)
    return module


def remove_weight_norm(module, name="weight"):
    """weight_norm undone: <name> is a parameter again, with the current g * v / |v|."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, _WeightNorm) and hook.name == name:
            with no_grad():
                weight = hook.compute(module).clone()
            del module._forward_pre_hooks[key]
            del module._parameters[name + "_g"], module._parameters[name + "_v"]
            module.__dict__.pop(name, None)
            module.register_parameter(name, Parameter(weight))
            return module
    raise ValueError(f"weight_norm of {name!r} not found in {type(module).__name__}")
