"""linear_act: a Linear layer and its activation as one kernel (fused_linear.py, the kernel table's
`linear_act`). On every backend: the kernel against NumPy in float64, the fused op against the
unfused ops (F.linear then the activation) and PyTorch, its gradients against finite differences,
and nn.Sequential taking the fused path exactly where it may."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, backends, nn
from tinygrad_nm import functional as F
from tinygrad_nm.backends.kernels import ACTIVATIONS
from tinygrad_nm.fused_linear import linear_act
from tinygrad_nm.napkin.trace import recording

from gradcheck import check_grad
from conftest import torch_or_none

torch = torch_or_none()
_NP_ACT = {"relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           None: lambda z: z}
ACTS = (*ACTIVATIONS, None)  # None: no activation, F.linear's kernel
# awkward shapes: one element, primes around the cython kernel's blocks, a narrow product (C^T path),
# the dot-product path (N <= 4), K = 0
SHAPES = [(1, 1, 1), (13, 7, 5), (37, 61, 53), (129, 300, 10), (67, 33, 3), (5, 0, 7), (128, 784, 40)]


def _kernels(be):
    return backends.kernels_of(backends.load(be))


def _inputs(rng, m, k, n, dtype):
    return (rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype),
            rng.standard_normal(n).astype(dtype))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_matches_numpy_float64(backend, act, dtype, rng):
    be = _kernels(backend)
    shapes = SHAPES if backend in ("numpy", "cython") else SHAPES[:4]  # the interpreter and simulator: small ones
    for m, k, n in shapes:
        x, w, b = _inputs(rng, m, k, n, dtype)
        for bias in (b, None):
            dt = tnm.dtypes.to_dtype(dtype)
            got = be.to_numpy(be.linear_act(be.from_numpy(x, dt), be.from_numpy(w, dt),
                                            None if bias is None else be.from_numpy(bias, dt), act))
            z = x.astype(np.float64) @ w.T.astype(np.float64) + (0 if bias is None else bias.astype(np.float64))
            scale = np.abs(x) @ np.abs(w.T) + (0 if bias is None else np.abs(bias)) + 1  # the rounding bound
            assert got.shape == (m, n) and got.dtype == np.dtype(dtype)
            tol = 1e-5 if dtype == "float32" else 1e-12
            assert np.all(np.abs(got - _NP_ACT[act](z)) <= tol * scale), (m, k, n, act, bias is None)


def _unfused(x, w, b, act):
    """act(x @ w.T + b) as separate ops."""
    y = x @ w.T + b
    return y if act is None else getattr(y, act)()


@pytest.mark.parametrize("act", ACTS)
def test_fused_equals_unfused_and_torch_with_gradients(backend, act, rng):
    x, w, b = _inputs(rng, 9, 12, 7, np.float32)
    g = rng.standard_normal((9, 7)).astype(np.float32)
    results = []
    for fused in (True, False):
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        y = linear_act(xt, wt, bt, act) if fused else _unfused(xt, wt, bt, act)
        y.backward(Tensor(g))
        results.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()])
    for f, u in zip(*results):
        np.testing.assert_allclose(f, u, rtol=1e-5, atol=1e-6)
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
        ty = torch.nn.functional.linear(tx, tw, tb)
        ty = ty if act is None else getattr(torch, act)(ty)
        ty.backward(torch.tensor(g, dtype=torch.float64))
        for f, t in zip(results[0], (ty, tx.grad, tw.grad, tb.grad)):
            np.testing.assert_allclose(f, t.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", ACTS)
def test_gradients_match_finite_differences(backend, act):
    from gradcheck import away_from_zero
    x, w, b = away_from_zero((4, 5), seed=1), away_from_zero((3, 5), seed=2), away_from_zero((3,), seed=3)
    check_grad(lambda x, w, b: linear_act(x, w, b, act), x, w, b)
    check_grad(lambda x, w: linear_act(x, w, None, act), x, w)


def test_only_some_inputs_need_grad_and_leading_dims(backend, rng):
    x, w, b = _inputs(rng, 6, 4, 3, np.float32)
    x3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for need in ("x", "w", "b"):
        xt, wt, bt = Tensor(x, requires_grad=need == "x"), Tensor(w, requires_grad=need == "w"), \
            Tensor(b, requires_grad=need == "b")
        linear_act(xt, wt, bt, "tanh").sum().backward()
        grads = {"x": xt.grad, "w": wt.grad, "b": bt.grad}
        assert all((grads[k] is not None) == (k == need) for k in grads)
    y = linear_act(Tensor(x3), Tensor(w), Tensor(b), "relu")  # (..., K) inputs, as F.linear takes
    np.testing.assert_allclose(y.numpy(), np.maximum(x3 @ w.T + b, 0), rtol=1e-5, atol=1e-6)
    assert linear_act(Tensor(x[0]), Tensor(w), Tensor(b), "relu").shape == (3,)


def test_sequential_fuses_exactly_the_plain_pairs(backend, rng):
    def kernels_of_forward(net, x):
        with recording() as calls:
            net(x)
        return [name for name, _, _ in calls]

    x = Tensor(rng.standard_normal((8, 6)).astype(np.float32))
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 3))
    called = kernels_of_forward(net, x)  # the last Linear alone: F.linear, linear_act with no activation
    assert called.count("linear_act") == 3 and "matmul" not in called and "relu" not in called
    # a hook on the Linear must see its output: that pair runs unfused, the other stays fused
    seen = []
    net[2].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    called = kernels_of_forward(net, x)  # the hooked Linear runs alone (F.linear), its Sigmoid after it
    assert called.count("linear_act") == 3 and called.count("sigmoid") == 1 and seen == [(8, 4)]

    class MyReLU(nn.ReLU):  # a subclass may compute something else
        def forward(self, x):
            return x.relu() * 2
    net2 = nn.Sequential(nn.Linear(6, 5), MyReLU())
    assert kernels_of_forward(net2, x)[:2] == ["linear_act", "relu"]  # the Linear alone, then MyReLU
    # a wrong input width still raises the Linear's own error
    with pytest.raises(ValueError, match="expected input with last dimension 6"):
        net(Tensor(np.zeros((2, 7), np.float32)))


def test_sequential_training_step_matches_torch(backend, rng):
    if torch is None:
        pytest.skip("torch is not installed")
    net = nn.MLP([6, 8, 8, 3], activation="tanh")
    tnet = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for p, q in zip(net.parameters(), tnet.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    x, labels = rng.standard_normal((5, 6)).astype(np.float32), np.array([0, 2, 1, 1, 0])
    F.cross_entropy(net(Tensor(x)), Tensor(labels)).backward()
    torch.nn.functional.cross_entropy(tnet(torch.tensor(x, dtype=torch.float64)), torch.tensor(labels)).backward()
    for p, q in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_in_place_write_to_the_output_is_refused_at_backward(backend, rng):
    x, w, b = _inputs(rng, 4, 3, 2, np.float32)
    wt, bt = Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
    y = linear_act(Tensor(x), wt, bt, "sigmoid")
    z = y * 1.0
    y.detach().mul_(2.0)  # a view sharing y's storage; sigmoid's backward reads y: PyTorch refuses, so do we
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        (z + y).sum().backward()
    assert wt.grad is None and bt.grad is None


def test_bad_input_is_named():
    x, w = Tensor(np.zeros((2, 3), np.float32)), Tensor(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        linear_act(x, w, None, "gelu")
    with pytest.raises(ValueError, match="linear: input of shape"):
        linear_act(Tensor(np.zeros((2, 5), np.float32)), w, None, "relu")  # F.linear's own error


def test_mixed_dtypes_promote_as_the_unfused_ops(backend, rng):
    x, w, b = _inputs(rng, 3, 4, 2, np.float32)
    y = linear_act(Tensor(x.astype(np.float64)), Tensor(w), Tensor(b), "relu")
    assert y.dtype == tnm.float64
    np.testing.assert_allclose(y.numpy(), np.maximum(x.astype(np.float64) @ w.T + b, 0), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_axpy_updates_in_place(backend, dtype, rng):
    """axpy (optim.SGD's update) writes a + alpha * x into a's own storage."""
    be, dt = _kernels(backend), tnm.dtypes.to_dtype(dtype)
    a, x = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((7, 5)).astype(dtype)
    buf = be.from_numpy(a, dt)
    out = be.axpy(buf, -0.25, be.from_numpy(x, dt))
    assert out is buf
    np.testing.assert_allclose(be.to_numpy(out), a - 0.25 * x, rtol=1e-6 if dtype == "float32" else 1e-14)
    # with a beta (SGD's momentum, b = momentum * b + g): beta * a rounded first, then x added
    buf = be.from_numpy(a, dt)
    out = be.axpy(buf, 1.0, be.from_numpy(x, dt), 0.9)
    assert out is buf
    expected = (a * a.dtype.type(0.9)) + x
    np.testing.assert_allclose(be.to_numpy(out), expected, rtol=1e-6 if dtype == "float32" else 1e-14)
    p = nn.Parameter(Tensor(a))
    p.grad = Tensor(x)
    view = p.detach()  # a view of p's storage sees the update, as in PyTorch
    tnm.optim.SGD([p], lr=0.25).step()
    np.testing.assert_allclose(view.numpy(), a - 0.25 * x, rtol=1e-6 if dtype == "float32" else 1e-14)


def test_writing_a_linear_output_in_place_is_allowed(backend, rng):
    """F.linear's backward never reads its output (as PyTorch's addmm): writing the output's storage
    in place before backward is allowed, where linear_act with sigmoid refuses (the test above)."""
    x, w, b = _inputs(rng, 5, 4, 3, np.float32)
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.linear(xt, wt, bt)
    y.detach().mul_(2.0)
    (y * 3.0).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.full((5, 3), 3.0, np.float32) @ w, rtol=1e-6)
    np.testing.assert_allclose(wt.grad.numpy(), np.full((3, 5), 3.0, np.float32) @ x, rtol=1e-6)
    np.testing.assert_allclose(bt.grad.numpy(), np.full(3, 15.0), rtol=1e-6)


def test_linear_is_one_node_and_falls_back_for_what_it_cannot_fuse(backend, rng):
    x, w, b = _inputs(rng, 5, 4, 3, np.float32)
    xt, wt, bt = Tensor(x), Tensor(w), Tensor(b)
    with recording() as calls:
        F.linear(xt, wt, bt)
    assert [name for name, _, _ in calls] == ["linear_act"]
    # mixed dtypes and a 1-D weight take the separate ops, with PyTorch's results
    y = F.linear(Tensor(x.astype(np.float64)), Tensor(w), Tensor(b))
    assert y.dtype == tnm.float64
    np.testing.assert_allclose(y.numpy(), x.astype(np.float64) @ w.T + b, rtol=1e-6)
    v = F.linear(Tensor(x), Tensor(w[0]))
    assert v.shape == (5,)
    np.testing.assert_allclose(v.numpy(), x @ w[0], rtol=1e-5)
    x3 = rng.standard_normal((2, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(F.linear(Tensor(x3), Tensor(w), Tensor(b)).numpy(), x3 @ w.T + b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"linear: input of shape \(5, 4\) needs last dimension 7"):
        F.linear(Tensor(x), Tensor(np.zeros((3, 7), np.float32)))
