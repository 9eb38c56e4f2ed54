"""nn.Module: PyTorch's base class for layers and models.

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)                     # a submodule: registered
            self.scale = nn.Parameter(Tensor.ones(2))     # a parameter: registered
            self.register_buffer("mean", Tensor.zeros(4)) # state, saved in state_dict, not trained
            self.mask = Tensor.ones(2)                    # a plain tensor: neither

        def forward(self, x):
            return self.fc(x - self.mean) * self.scale

Assigning a Parameter or a Module to an attribute registers it (in `_parameters` /
`_modules`); everything else is an ordinary attribute.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from tinygrad_nm import dtypes
from tinygrad_nm.autograd import no_grad, zero_grads
from tinygrad_nm.device import device as _device
from tinygrad_nm.nn.hooks import add_hook
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, ValueError):
    """load_state_dict refused a state: RuntimeError as in PyTorch, and a ValueError (bad input)."""


class Module:
    """Base class of every layer and model: subclasses call super().__init__() and define forward()."""

    def __init__(self):
        for name, value in (("training", True), ("_parameters", OrderedDict()), ("_buffers", OrderedDict()),
                            ("_non_persistent_buffers_set", set()), ("_modules", OrderedDict()),
                            ("_forward_pre_hooks", OrderedDict()), ("_forward_hooks", OrderedDict())):
            object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not d.get("_forward_pre_hooks") and not d.get("_forward_hooks"):  # no hooks: forward alone
            return self.forward(*args, **kwargs)
        for hook in list(d.get("_forward_pre_hooks", {}).values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(d.get("_forward_hooks", {}).values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # --- attributes: registration --------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        params, buffers, modules = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name)
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nn.Module or None expected)")
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        self.__dict__.pop(name, None)
        for table in ("_parameters", "_buffers", "_modules"):
            self.__dict__[table].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name):  # only called when normal lookup fails
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                del d[table][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def _check_new_name(self, kind, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain \".\", got {name!r}")
        if hasattr(self, name) and name not in self._parameters and name not in self._buffers \
                and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_new_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{part}` (looking up {target!r})")
            mod = mod._modules[part]
        return mod

    # --- walking the tree --------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[table].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a parameter shared by two modules is listed once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """fn(m) for every submodule (children first) and then this module, as PyTorch's."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients -----------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        zero_grads(self.parameters(), set_to_none)

    # --- dtype and backend -------------------------------------------------------------------
    def to(self, *args, dtype=None, device=None, backend=None):
        """to(dtype) casts floating-point parameters and buffers; to(backend name) moves all of
        them (parameters become new Parameter objects there, as an optimizer must be made after)."""
        target_backend = device or backend
        for arg in args:
            try:
                dtype = dtypes.to_dtype(arg)
            except TypeError:
                if not isinstance(arg, (str, _device)):
                    raise TypeError(f"Module.to: expected a dtype, a device or a backend name, got {arg!r}") from None
                target_backend = arg
        if dtype is not None and not dtype.is_float:
            raise TypeError(f"Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        if target_backend is not None:  # fail before anything moves
            Tensor.zeros(1).to(target_backend)

        def convert(t):
            if dtype is not None and t.dtype.is_float:
                t = t.cast(dtype)
            return t.to(target_backend) if target_backend is not None else t
        return self._apply_to_tensors(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def _apply_to_tensors(self, convert):
        for module in self.modules():
            for name, p in module._parameters.items():
                if p is None:
                    continue
                with no_grad():
                    new = convert(p.detach())
                    grad = convert(p.grad) if p.grad is not None else None
                if new.backend == p.backend:
                    p.data = new
                    p.grad = grad
                else:
                    moved = Parameter(new, p.requires_grad)
                    moved.grad = grad
                    module._parameters[name] = moved
            for name, b in module._buffers.items():
                if b is not None:
                    with no_grad():
                        module._buffers[name] = convert(b)
        return self

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    # --- hooks -------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook, prepend=False):
        """hook(module, args) -> None or new args, run before forward()."""
        return add_hook(self._forward_pre_hooks, hook, prepend)

    def register_forward_hook(self, hook, prepend=False):
        """hook(module, args, output) -> None or a new output, run after forward()."""
        return add_hook(self._forward_hooks, hook, prepend)

    # --- state dicts -------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """{dotted name: Tensor} of every parameter and persistent buffer. The tensors share the
        module's storage (detached unless keep_vars): copy.deepcopy the dict for a snapshot."""
        out = OrderedDict() if destination is None else destination
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            dot = module_prefix + ("." if module_prefix else "")
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers_set:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy a state dict's tensors (Tensors, NumPy arrays or numbers) into the parameters and
        buffers. Mis-shaped entries, and with strict missing or unexpected keys, raise one error
        listing them all; nothing is changed unless everything fits. Returns (missing, unexpected)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        targets = self.state_dict(keep_vars=True)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        converted = {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
            if shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {shape} from checkpoint, "
                              f"the shape in current model is {target.shape}.")
                continue
            try:  # a new buffer of the target's dtype on the target's backend
                host = value.detach().numpy() if isinstance(value, Tensor) else np.asarray(value)
                converted[key] = Tensor(host, dtype=target.dtype, backend=target.backend)
            except (TypeError, ValueError) as e:
                errors.append(f"{key}: {e}")
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        modules = dict(self.named_modules(remove_duplicate=False))
        for key, value in converted.items():  # everything fits: now write
            owner, _, name = key.rpartition(".")
            module = modules[owner]
            if name in module._parameters:
                # rebinds the storage: tensors from an earlier state_dict() keep the old values
                module._parameters[name].data = value
            else:
                module._buffers[name] = value
        return _IncompatibleKeys(missing, unexpected)

    # --- printing ----------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]
        return _format_repr(self._get_name(), extra_lines, child_lines)


def _addindent(text, spaces):
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _format_repr(name, extra_lines, child_lines):
    lines = extra_lines + child_lines
    body = ""
    if lines:
        body = extra_lines[0] if len(extra_lines) == 1 and not child_lines else "\n  " + "\n  ".join(lines) + "\n"
    return f"{name}({body})"
