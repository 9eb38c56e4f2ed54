"""tinygrad_nm.optim: updates vs hand-computed ones and vs torch.optim, in place and graph-free."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, optim

from conftest import torch_or_none

P0 = np.array([1.0, -2.0, 0.5])


def vals(t):
    return t.detach().numpy()


def set_grad(p, g):
    p.grad = Tensor(np.asarray(g, dtype=np.float64), dtype=p.dtype)


def param():
    return Tensor(P0, requires_grad=True, dtype="float64")


# --- hand-computed updates ---------------------------------------------------------------------
def test_sgd_plain_step(backend):
    p = param()
    opt = optim.SGD([p], lr=0.1)
    set_grad(p, [1.0, 2.0, -3.0])
    opt.step()
    np.testing.assert_allclose(vals(p), P0 - 0.1 * np.array([1.0, 2.0, -3.0]), rtol=1e-15)


def test_sgd_momentum_and_weight_decay_two_steps(backend):
    p = param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    g1, g2 = np.array([1.0, 2.0, -3.0]), np.array([-0.5, 0.0, 1.0])
    set_grad(p, g1)
    opt.step()
    d1 = g1 + 0.01 * P0
    v1 = d1  # the first step starts the velocity at the gradient
    p1 = P0 - 0.1 * v1
    np.testing.assert_allclose(vals(p), p1, rtol=1e-14)
    set_grad(p, g2)
    opt.step()
    v2 = 0.9 * v1 + (g2 + 0.01 * p1)
    np.testing.assert_allclose(vals(p), p1 - 0.1 * v2, rtol=1e-14)


def test_adam_two_steps(backend):
    p = param()
    lr, b1, b2, eps, wd = 0.01, 0.8, 0.9, 1e-6, 0.1
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    m = v = np.zeros(3)
    expected = P0.copy()
    for t, g in enumerate([np.array([1.0, 2.0, -3.0]), np.array([-0.5, 0.0, 1.0])], start=1):
        set_grad(p, g)
        opt.step()
        g = g + wd * expected
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        expected = expected - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(vals(p), expected, rtol=1e-12)
    assert opt.state[p]["step"] == 2  # per parameter, as in PyTorch


def test_parameters_without_grad_are_skipped(backend):
    a, b = param(), param()
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    set_grad(a, [1.0, 1.0, 1.0])
    opt.step()
    np.testing.assert_array_equal(vals(b), P0)
    assert a in opt.state and not opt.state.get(b)


# --- in place, no graph ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1)])
def test_step_updates_in_place_and_records_nothing(backend, make):
    p = param()
    opt = make([p])
    for _ in range(2):
        (p * p).sum().backward()
        grad_before = vals(p.grad).copy()
        opt.step()
        np.testing.assert_array_equal(vals(p.grad), grad_before)  # the gradient is not modified
        opt.zero_grad()
    assert opt.params[0] is p and p.is_leaf and p.requires_grad and p.grad is None
    assert not np.array_equal(vals(p), P0)
    for entries in opt.state.values():
        tensors = [v for v in entries.values() if isinstance(v, Tensor)]
        assert tensors and all(t.grad_fn is None and not t.requires_grad for t in tensors)


# --- against PyTorch -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,kwargs", [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.99), eps=1e-6, weight_decay=0.01)),
])
def test_matches_torch_optim_over_several_steps(backend, kind, kwargs):
    torch = torch_or_none()
    if torch is None:
        pytest.skip("PyTorch not installed")
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    w = Tensor(w0, requires_grad=True, dtype="float64")
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = getattr(optim, kind)([w], **kwargs), getattr(torch.optim, kind)([tw], **kwargs)
    for _ in range(5):  # a loss whose gradient changes each step: (x @ w) ** 3
        opt.zero_grad()
        ((Tensor(x, dtype="float64") @ w) ** 3).sum().backward()
        opt.step()
        topt.zero_grad()
        ((torch.tensor(x) @ tw) ** 3).sum().backward()
        topt.step()
        np.testing.assert_allclose(vals(w), tw.detach().numpy(), rtol=1e-10, atol=1e-12)


# --- state dicts --------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.1)])
def test_state_dict_round_trip_continues_identically(backend, make):
    def run(opt, p, steps):
        for _ in range(steps):
            opt.zero_grad()
            (p * p * p).sum().backward()
            opt.step()
    a = param()
    opt_a = make([a])
    run(opt_a, a, 2)
    state = opt_a.state_dict()
    assert set(state) == {"state", "param_groups"} and state["param_groups"][0]["params"] == [0]
    b = Tensor(vals(a), requires_grad=True, dtype="float64")
    opt_b = make([b])
    opt_b.load_state_dict(state)
    run(opt_a, a, 3)
    run(opt_b, b, 3)
    np.testing.assert_array_equal(vals(a), vals(b))


def test_load_state_dict_errors_change_nothing(backend):
    p = param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    set_grad(p, [1.0, 1.0, 1.0])
    opt.step()
    before = vals(opt.state[p]["momentum_buffer"]).copy()
    good = opt.state_dict()
    bad_cases = {
        "expected a dict with 'state' and 'param_groups'": {"momentum.0": np.zeros(3)},
        "different number of parameter groups": {"state": {}, "param_groups": []},
        "doesn't match the size": {"state": {}, "param_groups": [{**good["param_groups"][0], "params": [0, 1]}]},
        r"state 0.momentum_buffer: shape \(2,\) does not match the parameter's \(3,\)":
            {**good, "state": {0: {"momentum_buffer": np.zeros(2)}}},
        "state entry 5 matches no parameter": {**good, "state": {5: {"momentum_buffer": np.zeros(3)}}},
        "Invalid lr: -1": {**good, "param_groups": [{**good["param_groups"][0], "lr": -1}]},
    }
    for message, state in bad_cases.items():
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(state)
    np.testing.assert_array_equal(vals(opt.state[p]["momentum_buffer"]), before)
    assert opt.param_groups[0]["lr"] == 0.1


# --- constructor errors ------------------------------------------------------------------------
def test_constructor_errors(backend):
    p = param()
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors, but parameter 1 is a ndarray"):
        optim.SGD([p, np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match=r"can't optimize a non-leaf Tensor \(parameter 0"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="appears more than once"):
        optim.Adam([p, p])
    with pytest.raises(ValueError, match="Invalid lr: -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid momentum: nan"):
        optim.SGD([p], lr=0.1, momentum=float("nan"))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))
    assert tnm.Tensor is Tensor
