"""F.binary_cross_entropy: values, gradients, the ends of [0, 1], bad input, and a classifier it trains."""
import numpy as np
import pytest

from tinygrad_nm import Tensor, nn, optim
from tinygrad_nm import functional as F

from conftest import torch_or_none

P = np.array([[0.01, 0.3, 0.5], [0.7, 0.95, 0.999]])
T = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.5]])


def reference(p, t):
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_value_and_gradient_match_the_formula(backend):
    p = Tensor(P, requires_grad=True, dtype="float64")
    loss = F.binary_cross_entropy(p, T, eps=0.0)
    loss.backward()
    np.testing.assert_allclose(loss.item(), reference(P, T), rtol=1e-12)
    # d/dp of -(t log p + (1 - t) log(1 - p)) / n = (p - t) / (p (1 - p)) / n
    np.testing.assert_allclose(p.grad.numpy(), (P - T) / (P * (1 - P)) / P.size, rtol=1e-10)


def test_default_eps_is_close_to_torch(backend):
    torch = torch_or_none()
    if torch is None:
        pytest.skip("PyTorch not installed")
    p = Tensor(P, requires_grad=True, dtype="float64")
    loss = F.binary_cross_entropy(p, Tensor(T, dtype="float64"))
    loss.backward()
    tp = torch.tensor(P, requires_grad=True)
    tloss = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(T))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    # the squeeze shifts p by about eps: a relative change of eps / (1 - p) = 1e-4 at p = 0.999
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=3e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_certain_and_wrong_predictions_stay_finite(backend, dtype):
    p = Tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True, dtype=dtype)
    loss = F.binary_cross_entropy(p, [1.0, 0.0, 0.0, 1.0])
    loss.backward()
    g = p.grad.numpy()
    assert np.isfinite(loss.item()) and np.isfinite(g).all()
    assert loss.item() == 50.0  # PyTorch clamps each log at -100: two elements at 100, two at 0
    assert g[0] < 0 < g[1]  # the gradient pushes the wrong predictions the right way
    torch = torch_or_none()
    if torch is not None:
        tp = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=getattr(torch, dtype), requires_grad=True)
        torch.nn.functional.binary_cross_entropy(tp, torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=tp.dtype)).backward()
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=1e-6)
    # the smooth squeeze (eps=) instead gives about -log(1e-7) = 16.1 per wrong element
    p.grad = None
    squeezed = F.binary_cross_entropy(p, [1.0, 0.0, 0.0, 1.0], eps=1e-7)
    assert 7 < squeezed.item() < 9


def test_out_of_range_predictions_and_bad_eps_are_refused(backend):
    p = Tensor([0.5, 1.5, -0.1], requires_grad=True)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\] \(apply .sigmoid\(\) first\), got values from -0.1 to 1.5"):
        F.binary_cross_entropy(p, [1.0, 0.0, 1.0])
    assert p.grad is None
    nan = float("nan")
    with pytest.raises(ValueError, match=r"predictions must be probabilities in \[0, 1\] .*got 1 NaN value$"):
        F.binary_cross_entropy(p[:1] * nan, [1.0])  # PyTorch: "all elements of input should be between 0 and 1"
    with pytest.raises(ValueError, match=r"predictions .*got 2 NaN values"):
        F.binary_cross_entropy(Tensor([nan, 0.5, nan]), [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"targets must be probabilities in \[0, 1\], got values from 0 to 2$"):
        F.binary_cross_entropy(Tensor([0.5, 0.5]), [0.0, 2.0])
    with pytest.raises(ValueError, match=r"targets .*got 1 NaN value"):
        F.binary_cross_entropy(Tensor([0.5, 0.5]), [0.0, nan])
    assert p.grad is None
    with pytest.raises(ValueError, match=r"eps must lie in \[0, 0.5\), got 0.5"):
        F.binary_cross_entropy(Tensor([0.5]), [1.0], eps=0.5)
    with pytest.raises(ValueError, match=r"prediction shape \(3,\) and target shape \(2,\) differ"):
        F.binary_cross_entropy(Tensor([0.5, 0.5, 0.5]), [1.0, 0.0])


def test_trains_the_walkthroughs_layer_to_classify(backend):
    """Program 8's idea: a layer and a sigmoid separate two kinds of 2x2 images (dark left vs dark right)."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 4)).astype(np.float32)
    y = ((x[:, 0] + x[:, 2]) > (x[:, 1] + x[:, 3])).astype(np.float32).reshape(-1, 1)
    model = nn.Linear(4, 1, generator=np.random.default_rng(1))
    opt = optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    for _ in range(100):
        opt.zero_grad()
        loss = F.binary_cross_entropy(model(Tensor(x)).sigmoid(), y)
        loss.backward()
        opt.step()
    accuracy = ((model(Tensor(x)).detach().numpy() > 0) == (y > 0.5)).mean()
    assert accuracy >= 0.95 and loss.item() < 0.2
