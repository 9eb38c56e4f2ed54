"""nn.Parameter: a Tensor that a Module registers as a parameter, and pickling for Tensors.

`Parameter(t)` shares t's storage (as torch.nn.Parameter does) and requires grad by default.
It is a Tensor subclass: every Tensor method works on it and every op on it returns a plain
Tensor.
"""
import copyreg

import numpy as np

from tinygrad_nm.tensor import Tensor


def _plain(x):
    """A Parameter operand as a plain Tensor in the same graph (a no-op reshape pair), others as is.
    The core's binary-op fast path recognises exactly `Tensor` as its right operand and treats
    any other object, a subclass included, as array-like data to convert, which for a Tensor
    subclass never ends. Until the core accepts subclasses there, a Parameter on the right goes
    through this identity first (an extra op only when both operands are Parameters)."""
    if isinstance(x, Tensor) and type(x) is not Tensor:
        return x.reshape(*x.shape, 1).reshape(*x.shape)
    return x


def _forward(name):
    method = getattr(Tensor, name)

    def op(self, other):
        return method(self, _plain(other))
    op.__name__ = name
    return op


class Parameter(Tensor):
    """A Tensor that is a module parameter: assigned to a Module attribute, it is registered and
    returned by parameters(), state_dict() and to(); plain Tensors are not."""
    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = Tensor.zeros(0)
        elif not isinstance(data, Tensor):
            data = Tensor(data)
        t = data.detach()  # the same storage, cut from any graph
        t.__class__ = cls  # same memory layout (no new slots): the object becomes a Parameter
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happened in __new__

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()



# Python tries a right operand's reflected method first when its class is a subclass of the left
# operand's and overrides it, so `x + p` runs p.__radd__(x): the core's path with p on the left.
for _name in ("__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__matmul__", "__radd__", "__rsub__",
              "__rmul__", "__rtruediv__", "__rpow__", "__rmatmul__", "__iadd__", "__isub__", "__imul__",
              "__itruediv__"):
    setattr(Parameter, _name, _forward(_name))


# --- pickle and copy.deepcopy -----------------------------------------------------------------
# Tensors pickle as (host array, dtype name, backend name, requires_grad), rebuilt on the same
# backend. Registered with copyreg because the Tensor class itself is not ours to edit here;
# copy.deepcopy uses the same table, and its memo keeps shared tensors shared.
def _rebuild_tensor(array, dtype, backend, requires_grad):
    return Tensor(np.asarray(array), requires_grad=requires_grad, dtype=dtype, backend=backend)


def _rebuild_parameter(array, dtype, backend, requires_grad):
    return Parameter(_rebuild_tensor(array, dtype, backend, False), requires_grad)


def _reduce(t):
    rebuild = _rebuild_parameter if isinstance(t, Parameter) else _rebuild_tensor
    return rebuild, (np.array(t.detach().numpy(), copy=True), str(t.dtype), t.backend, t.requires_grad)


copyreg.pickle(Tensor, _reduce)
copyreg.pickle(Parameter, _reduce)
