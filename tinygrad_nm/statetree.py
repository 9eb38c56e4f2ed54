"""Nested state (dicts, lists, tuples of Tensors, arrays, numbers, strings) as flat NumPy arrays
and back: how state dicts fit into an .npz file without pickling anything.

    flat = flatten({"state": {0: {"step": 3, "exp_avg": t}}, "param_groups": [...]})
    # {"__structure__": array('{"__dict__": [...]}'), "0": array(...)}
    tree = unflatten(flat)        # Tensors come back as Tensors, on `backend`

The structure is JSON (dict keys keep their type: optimizer state is keyed by integers); each
array or tensor is one entry named by its number.
"""
import json

import numpy as np

STRUCTURE = "__structure__"


class StateTreeError(ValueError):
    """A flat state whose structure is missing, damaged or refers to entries that are not there."""


def flatten(tree):
    """{name: np.ndarray}: "__structure__" holds the JSON skeleton, "0", "1", ... the arrays."""
    from tinygrad_nm.tensor import Tensor
    arrays = {}

    def encode(x):
        if isinstance(x, Tensor):
            kind = "parameter" if type(x).__name__ == "Parameter" else "tensor"
            arrays[str(len(arrays))] = np.array(x.detach().numpy(), copy=True)
            return {"__array__": len(arrays) - 1, "kind": kind, "requires_grad": x.requires_grad}
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in "fiub":
                raise TypeError(f"cannot save a NumPy array of dtype {x.dtype} (numbers and bools only)")
            arrays[str(len(arrays))] = x
            return {"__array__": len(arrays) - 1, "kind": "ndarray"}
        if isinstance(x, np.generic):
            return encode(x.item())
        if isinstance(x, dict):
            for k in x:
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise TypeError(f"cannot save a dict key of type {type(k).__name__} ({k!r}): str or int only")
            return {"__dict__": [[k, encode(v)] for k, v in x.items()]}
        if isinstance(x, (list, tuple)):
            items = [encode(v) for v in x]
            return {"__tuple__": items} if isinstance(x, tuple) else items
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot save an object of type {type(x).__name__}: tensors, arrays, numbers, strings, "
                        "None, and dicts/lists/tuples of them only (no code is ever pickled)")
    arrays[STRUCTURE] = np.array(json.dumps(encode(tree)))
    return arrays


def unflatten(flat, backend=None):
    """The tree `flatten` made, from its arrays; StateTreeError if they do not fit together."""
    from tinygrad_nm.nn.parameter import Parameter
    from tinygrad_nm.tensor import Tensor
    if STRUCTURE not in flat:
        raise StateTreeError(f"no {STRUCTURE!r} entry (keys: {sorted(flat)[:8]})")
    try:
        skeleton = json.loads(str(np.asarray(flat[STRUCTURE])))
    except (ValueError, TypeError) as e:
        raise StateTreeError(f"damaged {STRUCTURE!r} entry: {e}") from None

    def decode(x):
        if isinstance(x, list):
            return [decode(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__dict__" in x:
            return {k: decode(v) for k, v in x["__dict__"]}
        if "__tuple__" in x:
            return tuple(decode(v) for v in x["__tuple__"])
        key = str(x.get("__array__"))
        if key not in flat:
            raise StateTreeError(f"the structure refers to array {key!r}, which is missing")
        array = np.asarray(flat[key])
        if array.dtype.kind not in "fiub":
            raise StateTreeError(f"array {key!r} has dtype {array.dtype}, not a number type")
        if x.get("kind") == "ndarray":
            return array
        t = Tensor(array, backend=backend)
        if x.get("kind") == "parameter":
            return Parameter(t, bool(x.get("requires_grad")))
        return t.requires_grad_() if x.get("requires_grad") and t.dtype.is_float else t
    try:
        return decode(skeleton)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, StateTreeError):
            raise
        raise StateTreeError(f"damaged structure: {type(e).__name__}: {e}") from None
