"""nn.init (distributions, bounds, determinism) and nn.utils (clipping against PyTorch, vectors)."""
import math

import numpy as np
import pytest

from tinygrad_nm import Tensor, nn
from tinygrad_nm.nn import init, utils

from nn_torch_helpers import torch, vals


def fresh(*shape):
    return nn.Parameter(Tensor.zeros(*shape))


def test_initialisers_follow_pytorchs_formulas(backend):
    g = np.random.default_rng(0)
    w = init.uniform_(fresh(200, 100), -0.5, 0.5, generator=g)
    assert vals(w).min() >= -0.5 and vals(w).max() < 0.5 and abs(vals(w).mean()) < 0.01
    assert abs(vals(init.normal_(fresh(200, 100), 1.0, 2.0, generator=g)).std() - 2.0) < 0.05
    assert (vals(init.constant_(fresh(3), 0.25)) == 0.25).all() and (vals(init.ones_(fresh(2))) == 1).all()
    assert not vals(init.zeros_(Tensor.ones(2))).any()
    fan_in, fan_out = 100, 200
    bound = math.sqrt(6 / (fan_in + fan_out))
    w = vals(init.xavier_uniform_(fresh(fan_out, fan_in), generator=g))
    assert np.abs(w).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound * 3
    assert abs(vals(init.xavier_normal_(fresh(fan_out, fan_in), gain=2.0, generator=g)).std()
               - 2 * math.sqrt(2 / (fan_in + fan_out))) < 0.005
    w = vals(init.kaiming_uniform_(fresh(fan_out, fan_in), a=math.sqrt(5), generator=g))
    assert np.abs(w).max() <= 1 / math.sqrt(fan_in) + 1e-7  # Linear's default, as PyTorch derives it
    assert abs(vals(init.kaiming_normal_(fresh(fan_out, fan_in), mode="fan_out", nonlinearity="relu",
                                         generator=g)).std() - math.sqrt(2 / fan_out)) < 0.003
    t = vals(init.trunc_normal_(fresh(300, 100), std=1.0, a=-1.0, b=0.5, generator=g))
    assert t.min() >= -1.0 and t.max() <= 0.5
    q = vals(init.orthogonal_(fresh(6, 4), generator=g)).astype(np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    q = vals(init.orthogonal_(fresh(3, 5), gain=2.0, generator=g)).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-5)
    assert init.calculate_gain("tanh") == torch.nn.init.calculate_gain("tanh")
    assert init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(vals(init.normal_(fresh(4), generator=a)), vals(init.normal_(fresh(4), generator=b)))
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        init.xavier_uniform_(fresh(3))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(backend, norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    ours = [nn.Parameter(Tensor(np.zeros_like(g), dtype="float64")) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(ours, theirs, grads):
        p.grad, t.grad = Tensor(g, dtype="float64"), torch.tensor(g)
    total = utils.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(vals(p.grad), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_and_vectors(backend):
    p, q = nn.Parameter(Tensor([[1.0, 2.0]])), nn.Parameter(Tensor([3.0]))
    p.grad, q.grad = Tensor([[-5.0, 0.5]]), Tensor([2.0])
    utils.clip_grad_value_([p, q], 1.0)
    assert vals(p.grad).tolist() == [[-1.0, 0.5]] and vals(q.grad).tolist() == [1.0]
    vec = utils.parameters_to_vector([p, q])
    assert vec.tolist() == [1.0, 2.0, 3.0]
    utils.vector_to_parameters(vec * 2, [p, q])
    assert vals(p).tolist() == [[2.0, 4.0]] and vals(q).tolist() == [6.0]
    with pytest.raises(ValueError, match="vec has 2 elements, the parameters 3"):
        utils.vector_to_parameters(Tensor([1.0, 2.0]), [p, q])
    p.grad = Tensor([[float("nan"), 1.0]])
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
