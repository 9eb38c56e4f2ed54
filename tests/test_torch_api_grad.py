"""retain_grad and register_hook against torch, and the new ops against finite differences, on every backend."""
import numpy as np
import pytest

import tinygrad_nm as tnm

torch = pytest.importorskip("torch")


def program(M, hook_first):
    w = M.tensor([1.0, -2.0, 3.0], dtype=M.float64, requires_grad=True)
    h = (w * 2).tanh()
    seen = []
    if hook_first:  # PyTorch keeps the retained gradient after every hook, whatever the order
        h.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
        h.retain_grad()
    else:
        h.retain_grad()
        h.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    h.register_hook(lambda g: None)  # a hook returning None leaves the gradient
    y = (h * h).sum() + h.sum()
    y.retain_grad()
    y.backward(retain_graph=True)
    y2 = (h * 3).sum()
    y2.backward()  # a retained gradient accumulates over backward calls
    return w.grad.tolist(), h.grad.tolist(), y.grad.tolist(), seen, h.retains_grad


@pytest.mark.parametrize("hook_first", [True, False])
def test_hooks_and_retain_grad_match_pytorch(backend, hook_first):
    ours, theirs = program(tnm, hook_first), program(torch, hook_first)
    for a, b in zip(ours[:4], theirs[:4]):
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float), rtol=1e-6)
    assert ours[4] is theirs[4] is True


def test_hook_errors(backend):
    w = tnm.tensor([1.0, 2.0], requires_grad=True)  # hooks on leaves: tests/test_torch_matmul.py
    w.retain_grad()  # a leaf keeps its gradient anyway: a no-op
    with pytest.raises(RuntimeError, match="does not require grad"):
        tnm.zeros(2).retain_grad()
    h = w * 2
    with pytest.raises(TypeError, match="callable"):
        h.register_hook(3)
    h.register_hook(lambda g: tnm.zeros(3))
    with pytest.raises(RuntimeError, match="expected None or a tensor of shape"):
        h.sum().backward()
    assert w.grad is None  # the failed backward left no gradient behind


# --- the new ops and compositions against float64 finite differences (tests/gradcheck.py) --------
from gradcheck import away_from_zero, check_grad, uniform  # noqa: E402

GRADCHECK = [
    ("expand_repeat", lambda a: a.expand(2, 3, 4) * a.repeat(2, 1, 4), uniform((3, 1))),
    ("cat_stack", lambda a, b: tnm.cat([a, b, a], 1)[:, :4] * tnm.stack([a, a], 2).flatten(1), uniform((2, 2)),
     uniform((2, 1), seed=1)),
    ("where_masked_fill", lambda a, b: tnm.where(a > b, a * b, b.exp()) + a.masked_fill(a < 0, 2.0), uniform((3, 4)),
     uniform((4,), seed=1)),
    ("clamp_maximum", lambda a, b: a.clamp(-1, 1) * a.maximum(b) + a.minimum(0.5), away_from_zero((3, 4)),
     uniform((3, 4), seed=1)),
    ("max_dim_gather", lambda a: a.max(1).values.unsqueeze(1) * a.min(0, keepdim=True).values, uniform((3, 4))),
    ("var_std_logsumexp", lambda a: a.var(1) + a.std(0).sum() + a.logsumexp(1), uniform((3, 4))),
    ("prod_cumsum_norm", lambda a: a.prod(1) + a.cumsum(1).sum(1) + a.norm(dim=1) + a.norm(3, 1), away_from_zero((3, 5))),
    ("flip_split_clone", lambda a: a.flip(1)[:, :2] * a.split(2, 1)[0].clone() + a.chunk(2, 1)[1][:, :2], uniform((3, 4))),
]


@pytest.mark.parametrize("fn,inputs", [pytest.param(c[1], c[2:], id=c[0]) for c in GRADCHECK])
def test_gradients_match_finite_differences(backend, fn, inputs):
    check_grad(fn, *inputs)
