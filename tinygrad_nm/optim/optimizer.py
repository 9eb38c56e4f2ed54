"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state dicts."""
import math
from collections import defaultdict

import numpy as np

from tinygrad_nm import backends, statetree
from tinygrad_nm.autograd import enable_grad, zero_grads
from tinygrad_nm.tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Holds `param_groups` (dicts: "params" plus the hyperparameters, defaults filled in) and
    `state` (per parameter: a dict such as {"step": 3, "exp_avg": Tensor}). Subclasses define
    `_update(be, p, grad, state, group)`, called for each parameter with a gradient, and list the
    names their per-parameter state may hold in `state_keys`."""
    state_keys = ()

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = list(params) if not isinstance(params, Tensor) else None
        if groups is None:
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a Tensor")
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group: {"params": [...], "lr": ..., ...}; missing hyperparameters take the defaults."""
        kind = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{kind}.add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{kind} can only optimize Tensors, but parameter {i} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{kind}: can't optimize a non-leaf Tensor (parameter {i}, shape {p.shape})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{kind}: a parameter appears more than once in the group")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{kind}: parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError(f"{kind}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_hyperparameters(self, group):
        """Subclasses refuse bad values with PyTorch's messages."""

    # --- the compatibility shorthand: a single learning rate ------------------------------------
    @property
    def lr(self):
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            group["lr"] = value

    @property
    def params(self):
        return [p for group in self.param_groups for p in group["params"]]

    # --- stepping -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget every gradient (set_to_none, the default) or fill them with zeros."""
        zero_grads(self.params, set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss if given.

        The arithmetic calls the backend's kernels on the buffers directly rather than Tensor ops:
        an update is plain data, never part of a graph, and skipping the Tensor layer's checks
        matters at this size (bench/README.md, Training). The parameter is written in its own
        storage, so views of it (a state_dict) see the new values, as in PyTorch. (napkin still
        sees every kernel.)"""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            maximize = group.get("maximize")
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if g._shape != p._shape:
                    raise ValueError(f"{type(self).__name__}.step: a gradient of shape {g.shape} for a "
                                     f"parameter of shape {p.shape}")
                be = backends.kernels_of(p._be)
                grad = be.neg(g._buf) if maximize else g._buf
                new = self._update(be, p, grad, self.state[p], group)
                p._buf = new if new is p._buf else be.assign(p._buf, new)  # (an update made in place: done)
                p._written()  # an in-place update: a graph that saved p refuses to backward (autograd)
        return loss

    def _update(self, be, p, grad, state, group):
        """The new value of parameter p (a buffer, or p's own buffer when the update wrote it in
        place: SGD's axpy), from kernels `be`, p, its gradient buffer (maximize applied), its state
        dict and its group."""
        raise NotImplementedError

    @staticmethod
    def _keep(state, name, buf, p):
        """Store buffer `buf` as state[name], a Tensor on p's backend (the same object every step,
        so a state_dict() taken earlier sees the update); returns buf."""
        t = state.get(name)
        if t is None:
            state[name] = Tensor._make(buf, p.dtype, p._be)
        else:
            t._buf = buf
        return buf

    # --- state dicts ------------------------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}, PyTorch's
        layout: parameters are numbered in order over the groups. The tensors are the optimizer's
        own (copy.deepcopy the dict for a snapshot)."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned (or its flattened form, as read from a checkpoint).
        Everything is checked first: on error the optimizer is unchanged."""
        kind = f"{type(self).__name__}.load_state_dict"
        if isinstance(state_dict, dict) and statetree.STRUCTURE in state_dict:
            try:
                state_dict = statetree.unflatten(state_dict)
            except statetree.StateTreeError as e:
                raise ValueError(f"{kind}: {e}") from None
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{kind}: expected a dict with 'state' and 'param_groups', got {keys}")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)) or len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{kind}: loaded state dict has a different number of parameter groups")
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if not isinstance(saved, dict) or len(saved.get("params", ())) != len(group["params"]):
                raise ValueError(f"{kind}: loaded state dict contains a parameter group that doesn't match the "
                                 "size of optimizer's group")
            by_index.update(zip(saved["params"], group["params"]))
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise ValueError(f"{kind}: 'state' must be a dict, got {type(saved_state).__name__}")
        new_state, problems = defaultdict(dict), []
        for i, entries in saved_state.items():
            if i not in by_index or not isinstance(entries, dict):
                problems.append(f"state entry {i!r} matches no parameter")
                continue
            p = by_index[i]
            unexpected = sorted(set(entries) - set(self.state_keys))
            if unexpected:
                problems.append(f"unexpected keys {unexpected} in the state of parameter {i} "
                                f"({type(self).__name__} keeps {', '.join(self.state_keys) or 'no state'})")
                continue
            for name, value in entries.items():
                try:
                    new_state[p][name] = self._state_entry(name, value, p)
                except (TypeError, ValueError) as e:
                    problems.append(f"state {i}.{name}: {e}")
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            merged = {**{k: v for k, v in saved.items() if k != "params"}, "params": group["params"]}
            lacking = sorted(set(self.defaults) - set(merged))
            if lacking:
                problems.append(f"a saved parameter group lacks {lacking}")
                continue
            try:
                self._check_hyperparameters(merged)
            except (TypeError, ValueError) as e:
                problems.append(str(e))
            new_groups.append(merged)
        if problems:
            raise ValueError(f"{kind}: " + "; ".join(problems))
        self.state, self.param_groups = new_state, new_groups

    def _state_entry(self, name, value, p):
        """One saved state entry, checked and converted (subclasses with other scalar state: NAdam)."""
        return _state_value(name, value, p)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines) + "\n)"


def _state_value(name, value, p):
    """One saved state entry for parameter p: a step count (a non-negative whole number) or a
    tensor of p's shape, converted to p's dtype and backend."""
    if name == "step":
        number = value.item() if isinstance(value, Tensor) or (isinstance(value, np.ndarray) and value.size == 1) \
            else value
        if isinstance(number, np.generic):
            number = number.item()
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or number < 0 or number != int(number):
            raise ValueError(f"a step count must be a non-negative whole number, got {value!r}")
        return int(number)
    host = value.detach().numpy() if isinstance(value, Tensor) else np.asarray(value)
    if host.dtype.kind not in "fiub":
        raise TypeError(f"expected numbers, got an array of {host.dtype}")
    if host.shape != p.shape:
        raise ValueError(f"shape {host.shape} does not match the parameter's {p.shape}")
    return Tensor(host, dtype=p.dtype, backend=p.backend)


def check_number(kind, name, value, low=0.0, high=None, low_open=False, high_open=True):
    """PyTorch's 'Invalid <name>' ValueError unless low <= value (< high)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (high is None or (value < high if high_open else value <= high))
    if not ok:
        raise ValueError(f"{kind}: Invalid {name}: {value!r}")

def per_group(name, optimizer, value):
    """`value` for each of the optimizer's groups: one per group, or the same for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have the same length as optimizer.param_groups "
                             f"({len(optimizer.param_groups)}), got {len(value)}")
        return list(value)
    return [value] * len(optimizer.param_groups)
