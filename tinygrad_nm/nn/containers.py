"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict (PyTorch's), and MLP."""
from collections import OrderedDict

from tinygrad_nm.nn.conv import Conv1d, Conv2d
from tinygrad_nm.nn.layers import ACTIVATIONS, Linear
from tinygrad_nm.nn.module import Module, _addindent
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.fused_linear import linear_act
from tinygrad_nm.tensor import Tensor


def _index(container, idx):
    """An int index into a container of len(container), negatives from the end, checked."""
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise TypeError(f"{type(container).__name__} indices must be integers or slices, not {type(idx).__name__}")
    n = len(container)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range for a {type(container).__name__} of length {n}")
    return idx % n


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: modules under the names "0", "1", ..."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):  # a container of the same kind
            return self._from_list(list(self._modules.values())[idx])
        return list(self._modules.values())[_index(self, idx)]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(self, idx)), module)

    def __delitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[_index(self, idx)]
        self._modules.clear()  # renumber: names stay 0..n-1, as in PyTorch
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def pop(self, idx=-1):
        module = self[idx]
        del self[idx]
        return module


class Sequential(_ModuleSequence):
    """Modules applied in order: Sequential(Linear(4, 8), ReLU(), Linear(8, 1)), or from an
    OrderedDict of names to modules."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
            return
        for i, module in enumerate(args):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(module).__name__}, not a Module")
            self.add_module(str(i), module)

    def forward(self, x):
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            act = _fusable_pair(modules[i], modules[i + 1], x) if i + 1 < len(modules) else None
            if act is not None and type(modules[i]) is Linear:  # Linear then its activation: one kernel
                x = linear_act(x, modules[i].weight, modules[i].bias, act)  # (fused_linear.py), same values
                i += 2
            elif act is not None:  # a Conv then its activation: conv2d_act, one kernel each way
                x = modules[i].forward_act(x, act)
                i += 2
            else:
                x = modules[i](x)
                i += 1
        return x

    @classmethod
    def _from_list(cls, modules):
        return Sequential(*modules)


_ACTIVATION_NAMES = {module: name for name, module in ACTIVATIONS.items()}


def _fusable_pair(layer, after, x):
    """The activation's name when `layer` then `after` may run as one kernel (linear_act, conv2d_act):
    exactly a Linear, Conv1d or Conv2d and a ReLU/Sigmoid/Tanh (a subclass may change forward), no
    hooks on either (they would see the layer's output, which the fused kernel never makes), and for
    a Linear an input it accepts (else its own forward raises its error; a Conv's checks are the same
    either way)."""
    if type(layer) not in (Linear, Conv1d, Conv2d) or layer._forward_pre_hooks or layer._forward_hooks:
        return None
    act = _ACTIVATION_NAMES.get(type(after))
    if act is None or after._forward_pre_hooks or after._forward_hooks:
        return None
    if type(layer) is Linear and (not isinstance(x, Tensor) or x.ndim == 0 or x.shape[-1] != layer.in_features):
        return None
    return act


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters the owner sees (a plain Python list would hide them)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __iadd__(self, modules):
        return self.extend(modules)

    @classmethod
    def _from_list(cls, modules):
        return ModuleList(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList is a container: call its modules, it has no forward()")

    def __repr__(self):  # PyTorch's: runs of equal entries are printed once, "(0-2): 3 x Linear(...)"
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        runs = []  # [start, end, repr]
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [_addindent(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}", 2) for a, b, r in runs]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules (insertion order kept) whose parameters the owner sees."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict is a container: call its modules, it has no forward()")


class ParameterList(Module):
    """A list of parameters (Tensors given are made Parameters) the owner sees."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[str(_index(self, idx))]

    def __setitem__(self, idx, value):
        self.register_parameter(str(_index(self, idx)), _as_parameter(value))

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __iadd__(self, values):
        return self.extend(values)

    def extra_repr(self):
        return "\n".join(f"  ({i}): Parameter containing: [{p.dtype!r} of size {'x'.join(map(str, p.shape))}]"
                         for i, p in enumerate(self))

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterList is a container, it has no forward()")


def _as_parameter(value):
    if isinstance(value, Parameter):
        return value
    if not isinstance(value, Tensor):
        raise TypeError(f"ParameterList holds Tensors or Parameters, got {type(value).__name__}")
    return Parameter(value)


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


class ParameterDict(Module):
    """A dict of parameters (Tensors given are made Parameters), insertion order kept, that the
    owner sees under their keys."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()

    def get(self, key, default=None):
        return self._parameters.get(key, default)

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def update(self, parameters):
        """Add or replace: an OrderedDict's or ParameterDict's order is kept, a plain dict's keys are
        sorted (as PyTorch does), pairs stay in their order."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = parameters.items()
        else:
            pairs = sorted(parameters.items()) if hasattr(parameters, "items") else parameters
        for key, value in pairs:
            self[key] = value

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterDict is a container, it has no forward()")
