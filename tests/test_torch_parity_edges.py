"""Edge cases a review of the twelfth session's additions found, each held to torch on every
backend: non-tensor outputs of a custom Function, gradcheck leaving other .grad alone, xlogy's
gradient at 0, hyperbolic functions and hypot at their extremes, interpolate keeping an axis of
the same size, linalg at singular and empty matrices, GradScaler with a float16 loss, unique with
nans, nan through the shrink activations, hinge_embedding_loss with target 0, KL that is infinite."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402


def _holds_float16():
    """Whether the backend of this test holds float16 tensors (numba_cuda refuses them, saying so)."""
    try:
        tnm.tensor([1.0], dtype=tnm.float16)
        return True
    except TypeError:
        return False


def both(fn):
    return fn(tnm), fn(torch)


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), **kw)


def test_custom_function_with_non_tensor_outputs(backend):
    def run(M):
        class F(M.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, None, 5

            @staticmethod
            def backward(ctx, g, g2, g3):
                return g * 2
        x = M.tensor([0.0, 1.0], requires_grad=True)
        y, none, five = F.apply(x)
        y.sum().backward()
        return none, five, x.grad.tolist()
    assert run(tnm) == run(torch) == (None, 5, [2.0, 2.0])


def test_gradcheck_leaves_the_grad_of_other_tensors_alone(backend):
    lin = tnm.nn.Linear(2, 2).double()
    x = tnm.tensor([[0.5, -1.0]], dtype=tnm.float64, requires_grad=True)
    assert tnm.autograd.gradcheck(lambda a: lin(a), (x,))
    assert lin.weight.grad is None and lin.bias.grad is None and x.grad is None


def test_xlogy_gradient_and_value_at_zero(backend):
    def run(M):
        x = M.tensor([0.0, 0.0, 1.0, 0.0], requires_grad=True)
        y = M.tensor([2.0, 0.0, 3.0, float("nan")], requires_grad=True)
        out = x.xlogy(y)
        out[:3].sum().backward()
        return out.detach().numpy(), x.grad.numpy(), y.grad.numpy()
    for a, b in zip(*both(run)):
        close(a, b, rtol=1e-6, equal_nan=True)


def test_hyperbolic_and_hypot_at_their_extremes(backend):
    def run(M):
        x = M.tensor([0.0, 1e-7, -1e-7, 30.0, 89.0, 1e20], requires_grad=True)
        outs = [x.sinh(), x[:5].cosh(), x.asinh(), (x.abs() + 1).acosh()]
        sum(o.sum() for o in outs[1:3]).backward()
        big, tiny = M.tensor([1e20, 1e-30, 0.0]), M.tensor([1e20, 1e-30, 0.0])
        return [o.detach().numpy() for o in outs] + [x.grad.numpy(), M.hypot(big, tiny).numpy()]
    for a, b in zip(*both(run)):  # (asinh's slope at 1e20 is 1e-20 here; float32's x * x makes it 0 in torch)
        close(a, b, rtol=2e-6, atol=1e-19)


def test_interpolate_keeps_an_axis_of_the_same_size_and_refuses_integers(backend):
    def run(M):
        x = M.arange(1.0, 7.0).reshape(1, 1, 2, 3)
        return [M.nn.functional.interpolate(x[0], scale_factor=1.2, mode="linear").numpy(),
                M.nn.functional.interpolate(x, scale_factor=(1.2, 2.0), mode="bilinear").numpy(),
                M.nn.functional.interpolate(x, size=(2, 5), mode="bilinear", align_corners=True).numpy()]
    for a, b in zip(*both(run)):
        close(a, b, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="of an integer tensor"):
        tnm.nn.functional.interpolate(tnm.ones(1, 1, 2, 2, dtype=tnm.int64), scale_factor=2, mode="bilinear")


def test_linalg_at_singular_empty_and_negative_determinants(backend):
    def run(M):
        s = M.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=M.float64, requires_grad=True)
        M.linalg.slogdet(s).logabsdet.backward()
        e = M.zeros(0, 0, dtype=M.float64, requires_grad=True)
        M.linalg.det(e).backward()
        n = M.tensor([[-1.0, 0.0], [0.0, 1.0]], dtype=M.float64, requires_grad=True)
        value = M.logdet(n)
        value.backward()
        return np.isinf(s.grad.numpy()).all(), tuple(e.grad.shape), np.isnan(value.item()), n.grad.abs().sum().item()
    assert run(tnm) == run(torch) == (True, (0, 0), True, 0.0)
    with pytest.raises(RuntimeError, match="Expected A and B to have the same dtype"):
        tnm.linalg.solve(tnm.eye(2, dtype=tnm.float64), tnm.ones(2))


def test_grad_scaler_promotes_a_float16_loss_and_refuses_a_second_step(backend):
    for M in (tnm, torch):
        scaler = M.amp.GradScaler("cpu")
        if M is torch or _holds_float16():
            scaled = scaler.scale(M.tensor(2.0, dtype=M.float16))
            assert scaled.item() == 131072.0 and str(scaled.dtype).endswith("float32")
        w = M.tensor([1.0], requires_grad=True)
        opt = M.optim.SGD([w], lr=0.1)
        scaler.scale((w * w).sum()).backward()
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called since the last update"):
            scaler.step(opt)


def test_unique_bincount_and_shrinks_with_nans_and_odd_dtypes(backend):
    def run(M):
        nan = float("nan")
        u = M.tensor([nan, 1.0, nan]).unique(return_counts=True)
        half = M.float16 if M is torch or _holds_float16() else M.float32  # (float16 -> float64 as float32 would)
        b = M.bincount(M.tensor([0, 1, 1]), weights=M.tensor([1.0, 2.0, 3.0], dtype=half))
        x = M.tensor([nan, 0.2, -3.0, 0.9])
        acts = [M.nn.functional.hardshrink(x), M.nn.functional.softshrink(x, 0.5),
                M.nn.functional.threshold(x, 0.0, 9.0)]
        return [u[0].numpy(), u[1].numpy(), b.numpy(), str(b.dtype).removeprefix("torch.")] + [a.numpy() for a in acts]
    ours, theirs = both(run)
    assert theirs[3] == "float64" and ours[3] == ("float64" if _holds_float16() else "float32")
    for a, b in zip(ours[:3] + ours[4:], theirs[:3] + theirs[4:]):
        close(a, b, equal_nan=True)


def test_losses_and_kl_at_their_edges(backend):
    def run(M):
        x = M.tensor([0.5, -0.3, 2.0], requires_grad=True)
        hinge = M.nn.functional.hinge_embedding_loss(x, M.tensor([1.0, 0.0, -1.0]), reduction="none")
        gauss = M.nn.functional.gaussian_nll_loss(x, M.zeros(3), M.full((3,), 0.5))
        p = M.distributions.Categorical(probs=M.tensor([0.5, 0.5, 0.0]))
        q = M.distributions.Categorical(probs=M.tensor([1.0, 0.0, 0.0]))
        bp, bq = M.distributions.Bernoulli(probs=M.tensor([0.3, 0.0])), M.distributions.Bernoulli(probs=M.tensor([0.0, 0.5]))
        return [hinge.detach().numpy(), gauss.item(), M.distributions.kl_divergence(p, q).item(),
                M.distributions.kl_divergence(q, p).item(), M.distributions.kl_divergence(bp, bq).numpy()]
    for a, b in zip(*both(run)):
        close(a, b, rtol=1e-6)
    assert tnm.nn.functional.gaussian_nll_loss(tnm.ones(3), tnm.zeros(3), 0.5).item() == pytest.approx(
        torch.nn.functional.gaussian_nll_loss(torch.ones(3), torch.zeros(3), torch.full((3,), 0.5)).item())
