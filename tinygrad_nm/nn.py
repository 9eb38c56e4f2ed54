"""Layers: Module, Linear, Sequential, activations and MLP (PyTorch's torch.nn, small).

    model = nn.MLP([64, 128, 64, 10])          # Linear-ReLU-Linear-ReLU-Linear
    loss = F.cross_entropy(model(x), labels)
    loss.backward()                            # every parameter's .grad is filled

A Module's parameters are found by looking at its attributes: every Tensor
attribute is a parameter, every Module attribute (or list/tuple of Modules) is
searched in turn. There is no registration step to forget.
"""
import math

import numpy as np

from tinygrad_nm.autograd import no_grad
from tinygrad_nm.tensor import Tensor


class Module:
    """Base class: subclasses set Tensor and Module attributes in __init__ and define forward()."""
    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # --- finding parameters -------------------------------------------------------------------
    def _children(self):
        """(name, Module) for each direct submodule, in attribute order; lists give name.0, name.1..."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix=""):
        """(dotted name, Tensor) for every parameter of this module and its submodules.
        A tensor reachable by two names (weight sharing) is listed once, under its first name."""
        seen = set()
        for name, p in self._walk_tensors(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk_tensors(self, prefix):
        for name, value in vars(self).items():
            if isinstance(value, Tensor):
                yield prefix + name, value
        for name, child in self._children():
            yield from child._walk_tensors(f"{prefix}{name}.")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        """This module and every submodule, depth first."""
        yield self
        for _, child in self._children():
            yield from child.modules()

    def zero_grad(self):
        """Forget every parameter's gradient (the next backward() starts from nothing)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    # --- saving and loading -------------------------------------------------------------------
    def state_dict(self):
        """{dotted name: NumPy array}: a host copy of every parameter, in a stable order."""
        return {name: p.detach().numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy `state` (as made by state_dict) into the parameters. Every key must match and every
        shape agree; everything is checked before anything is written, so on error the module is
        exactly as it was."""
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        problems = []
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        for name, p in params.items():
            if name in state and tuple(np.shape(state[name])) != p.shape:
                problems.append(f"{name!r} has shape {tuple(np.shape(state[name]))} in the state "
                                f"but {p.shape} in the model")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        converted = {}
        for name, p in params.items():  # converting may fail on bad values: still nothing written
            try:
                converted[name] = Tensor(np.asarray(state[name]), dtype=p.dtype, backend=p.backend)
            except (TypeError, ValueError) as e:
                raise ValueError(f"load_state_dict into {type(self).__name__}: {name!r}: {e}") from None
        for name, p in params.items():
            p.data = converted[name]  # a new buffer: gradients and optimizer state stay separate

    def __repr__(self):
        children = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(children) + "\n)"

    def extra_repr(self):
        return ""


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features) as in PyTorch.

    Initialised as PyTorch does (Kaiming-uniform with a = sqrt(5)): weight and bias uniform in
    +-1/sqrt(in_features), which keeps activations of a deep stack at a steady scale. Drawn from
    tnm.manual_seed's generator, or `generator` (a NumPy Generator) when given."""

    def __init__(self, in_features, out_features, bias=True, dtype=None, backend=None, generator=None):
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"Linear: {what} must be a positive integer, got {n!r}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = _uniform((out_features, in_features), bound, dtype, backend, generator)
        self.bias = _uniform((out_features,), bound, dtype, backend, generator) if bias else None

    def forward(self, x):
        out = x @ self.weight.T
        return out + self.bias if self.bias is not None else out

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _uniform(shape, bound, dtype, backend, generator):
    with no_grad():
        t = Tensor.rand(*shape, generator=generator, dtype=dtype, backend=backend) * (2 * bound) - bound
    return t.requires_grad_()


class ReLU(Module):
    def forward(self, x): return x.relu()


class Sigmoid(Module):
    def forward(self, x): return x.sigmoid()


class Tanh(Module):
    def forward(self, x): return x.tanh()


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class Sequential(Module):
    """Modules applied in order: Sequential(Linear(4, 8), ReLU(), Linear(8, 1))."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a Module")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i): return self.layers[i]
    def __len__(self): return len(self.layers)
    def __iter__(self): return iter(self.layers)


class MLP(Sequential):
    """Linear layers between consecutive `sizes`, an activation after each but the last:
    MLP([64, 128, 64, 10]) = Linear(64,128) ReLU Linear(128,64) ReLU Linear(64,10).
    `activation` is "relu", "sigmoid", "tanh" or a Module class; `generator` (a NumPy Generator)
    draws the initial weights instead of tnm.manual_seed's generator."""

    def __init__(self, sizes, activation="relu", bias=True, dtype=None, backend=None, generator=None):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got sizes={sizes}")
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"MLP: unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
            activation = ACTIVATIONS[activation]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            layers.append(Linear(n_in, n_out, bias=bias, dtype=dtype, backend=backend, generator=generator))
            if i < len(sizes) - 2:
                layers.append(activation())
        super().__init__(*layers)
        self.sizes = sizes
