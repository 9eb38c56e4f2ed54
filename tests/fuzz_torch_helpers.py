"""What tests/test_fuzz_torch.py draws and how it compares: the hypothesis profile, shapes and
values, index keys, random op graphs, and the forward-and-gradient comparison with PyTorch."""
import math

import numpy as np
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tinygrad_nm import Tensor
from tinygrad_nm.settings import settings as tnm_settings

settings.register_profile(
    "tinygrad_nm_fuzz", deadline=None, database=None, print_blob=True,
    derandomize=not tnm_settings.fuzz_random,  # CI: the same examples every run
    # the backend fixture only selects a backend: sharing it across one test's examples is intended
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


def fuzz(examples):
    return settings(settings.get_profile("tinygrad_nm_fuzz"), max_examples=examples * tnm_settings.fuzz_scale)


DTYPES = ["float32", "float64"]
# float64: both sides compute in double, so only the order of roundings differs. float32: PyTorch
# rounds every op to float32, the python backend only its result, so a few ulps per op
TOL = {"float64": (1e-9, 1e-12), "float32": (2e-4, 2e-5)}


def max_side(backend):
    return 3 if backend == "python" else 4


# --- drawing ---------------------------------------------------------------------------------------
def values(draw, shape, low=-3.0, high=3.0):
    """A float64 array of `shape` in [low, high]: either uniform reals from a drawn seed, or
    multiples of 1/8 drawn one by one (the exact ties and zeros hypothesis likes to try)."""
    n = math.prod(shape)
    if draw(st.booleans()):
        grid = draw(st.lists(st.integers(-24, 24), min_size=n, max_size=n))
        return np.clip(np.array(grid, dtype=np.float64) / 8, low, high).reshape(shape)
    return np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).uniform(low, high, size=shape)


def shapes(draw, backend, min_dims=0, max_dims=3, min_side=0):
    side = st.integers(min_side, max_side(backend))
    return tuple(draw(st.lists(side, min_size=min_dims, max_size=max_dims)))


def leaves(arrays, dtype):
    ours = [Tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in arrays]
    return ours, theirs


def close(ours, theirs, dtype, what):
    rtol, atol = TOL[dtype]
    theirs = np.asarray(theirs, dtype=np.float64)
    scale = max(1.0, float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), theirs, rtol=rtol, atol=atol * scale,
                               equal_nan=True, err_msg=what)


def compare(ours_fn, theirs_fn, arrays, dtype, seed=0):
    """Run both on the same inputs; forward shape, dtype and values, then the inputs' gradients for
    one random upstream gradient, must agree."""
    ts, ps = leaves(arrays, dtype)
    out, ref = ours_fn(*ts), theirs_fn(*ps)
    assert out.shape == tuple(ref.shape), f"forward shape {out.shape}, PyTorch {tuple(ref.shape)}"
    assert out.dtype == str(ref.dtype).removeprefix("torch."), f"dtype {out.dtype}, PyTorch {ref.dtype}"
    close(out.detach().numpy(), ref.detach().numpy(), dtype, "forward")
    upstream = np.random.default_rng(seed).uniform(-1, 1, size=out.shape)
    out.backward(Tensor(upstream, dtype=out.dtype))
    ref.backward(torch.tensor(upstream, dtype=ref.dtype))
    for i, (t, p) in enumerate(zip(ts, ps)):
        if p.grad is None:  # the input took no part: PyTorch leaves .grad unset, so must we
            assert t.grad is None or not np.any(t.grad.numpy()), f"input {i}: a gradient where PyTorch has none"
            continue
        assert t.grad is not None, f"input {i}: no gradient; PyTorch has one"
        assert t.grad.shape == tuple(p.grad.shape), \
            f"input {i}: gradient shape {t.grad.shape}, PyTorch {tuple(p.grad.shape)}"
        close(t.grad.numpy(), p.grad.numpy(), dtype, f"gradient of input {i}")


# --- index keys ------------------------------------------------------------------------------------
@st.composite
def index_key(draw, shape):
    """A key for a tensor of `shape`: per axis an int, a slice (positive step, bounds past the ends
    included) or, once, an integer list; Nones inserted; sometimes an Ellipsis for a run of axes."""
    entries, array_at = [], None
    for axis in range(draw(st.integers(0, len(shape)))):
        n, kind = shape[axis], draw(st.sampled_from(["int", "slice", "slice", "array"]))
        if kind == "array" and array_at is None and n:
            entries.append(draw(st.lists(st.integers(-n, n - 1), max_size=4)))
            array_at = len(entries) - 1
        elif kind == "int" and n:
            entries.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.none() | st.integers(-n - 1, n + 1)
            entries.append(slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3))))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(entries)))
        if len(entries) == len(shape):  # every axis has its entry: an Ellipsis anywhere stands for none
            entries.insert(cut, Ellipsis)
        elif all(isinstance(e, slice) and e == slice(None) for e in entries[cut:]):
            entries = entries[:cut] + [Ellipsis]  # it stands for those full slices and the axes after
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    return tuple(entries)


def torch_key(key):
    return tuple(torch.tensor(k, dtype=torch.long) if isinstance(k, list) else k for k in key)


def repeats_a_position(key, shape):
    """Whether the key's integer list names one position twice (PyTorch then writes in an
    unspecified order)."""
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    axis = 0
    for k in key:
        if k is Ellipsis:
            axis += len(shape) - used
        elif k is not None:
            if isinstance(k, list) and len({i % shape[axis] for i in k}) < len(k):
                return True
            axis += 1
    return False


# --- small random graphs with shared nodes ----------------------------------------------------------
# (ours, theirs) for each op a graph may apply; each keeps values in a range where every later op
# stays finite and well conditioned
GRAPH_UNARY = {
    "neg": lambda x: -x, "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: x.relu(),
    "abs": lambda x: x.abs(), "exp": lambda x: (x.tanh() * 2).exp(), "log": lambda x: (x * x + 0.5).log(),
    "sqrt": lambda x: (x.abs() + 0.25).sqrt(), "atanh": lambda x: (x.tanh() * 0.9).atanh(),
    "pow": lambda x: (x.abs() + 0.5) ** 1.5, "scale": lambda x: x * 0.5 + 1.0,
}
GRAPH_BINARY = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / (y * y + 0.5), "pow": lambda x, y: (x.abs() + 0.5) ** y.tanh(),
}


def graph_reduce(name, axis):
    if name == "softmax":
        return (lambda x: x.softmax(axis)), (lambda x: x.softmax(axis))
    if name == "log_softmax":
        return (lambda x: x.log_softmax(axis)), (lambda x: x.log_softmax(axis))
    if name == "max":
        return (lambda x: x.max(axis=axis, keepdims=True)), (lambda x: x.amax(dim=axis, keepdim=True))
    return ((lambda x: getattr(x, name)(axis=axis, keepdims=True)),
            (lambda x: getattr(x, name)(dim=axis, keepdim=True)))


@st.composite
def graph(draw, ndim):
    """A program: a list of steps (ours, theirs, operand node numbers); nodes 0..leaves-1 are the
    inputs, step i makes node leaves + i. Operands are drawn from every earlier node, so nodes are
    shared; reductions keep their axes, so every node broadcasts against every other."""
    n_leaves, steps = draw(st.integers(1, 3)), []
    for i in range(draw(st.integers(1, 7))):
        nodes = st.integers(0, n_leaves + i - 1)
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce"] if ndim else ["unary", "binary"]))
        if kind == "unary":
            f = GRAPH_UNARY[draw(st.sampled_from(sorted(GRAPH_UNARY)))]
            steps.append((f, f, (draw(nodes),)))
        elif kind == "binary":
            f = GRAPH_BINARY[draw(st.sampled_from(sorted(GRAPH_BINARY)))]
            steps.append((f, f, (draw(nodes), draw(nodes))))
        else:
            name = draw(st.sampled_from(["sum", "mean", "max", "softmax", "log_softmax"]))
            steps.append((*graph_reduce(name, draw(st.integers(-ndim, ndim - 1))), (draw(nodes),)))
    weights = draw(st.lists(st.sampled_from([-1.0, 0.5, 1.0, 2.0]), min_size=n_leaves + len(steps),
                            max_size=n_leaves + len(steps)))
    return n_leaves, steps, weights


def run_graph(program, side, inputs):
    """Every node's weighted sum, added up: each node reaches the output, most by several paths."""
    n_leaves, steps, weights = program
    nodes = list(inputs)
    for ours, theirs, operands in steps:
        nodes.append((ours if side == "ours" else theirs)(*[nodes[k] for k in operands]))
    total = nodes[0].sum() * weights[0]
    for node, w in zip(nodes[1:], weights[1:]):
        total = total + node.sum() * w
    return total
