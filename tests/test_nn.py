"""tinygrad_nm.nn: parameter discovery, layers, activations, state dicts; on every backend."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, nn

from conftest import torch_or_none


def vals(t):
    return t.detach().numpy()


class Block(nn.Module):
    """A custom module: a direct parameter, a nested module and a list of modules."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(Tensor([2.0]))
        self.inner = nn.Linear(3, 4)
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 1, bias=False)])
        self.not_a_layer = [1, 2, 3]
        self.mask = Tensor([1.0, 0.0])  # a plain tensor: not a parameter

    def forward(self, x):
        h = self.inner(x) * self.scale
        return self.heads[0](h).sum() + self.heads[1](h).sum()


# --- finding parameters ------------------------------------------------------------------------
def test_parameters_found_in_attributes_nested_modules_and_lists(backend):
    m = Block()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "inner.weight", "inner.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert [p.shape for p in m.parameters()] == [(1,), (4, 3), (4,), (2, 4), (2,), (1, 4)]
    assert all(p.backend == backend and p.requires_grad for p in m.parameters())


def test_shared_parameter_listed_once(backend):
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight = m[0].weight  # weight tying
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_backward_fills_every_parameter_grad_and_zero_grad_clears(backend):
    m = Block()
    m(Tensor([[0.1, -0.2, 0.3]])).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_train_and_eval_reach_every_submodule(backend):
    m = Block()
    assert all(s.training for s in m.modules())
    assert m.eval() is m and not any(s.training for s in m.modules())
    m.train()
    assert all(s.training for s in m.modules())
    assert len(list(m.modules())) == 5  # Block, inner, the ModuleList and its two


# --- Linear ------------------------------------------------------------------------------------
def test_linear_computes_x_wT_plus_b(backend):
    lin = nn.Linear(3, 2)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], dtype=np.float32)
    out = lin(Tensor(x))
    assert out.shape == (2, 2) and out.backend == backend
    np.testing.assert_allclose(vals(out), x @ vals(lin.weight).T + vals(lin.bias), rtol=1e-6, atol=1e-6)
    no_bias = nn.Linear(3, 2, bias=False)
    assert no_bias.bias is None and len(list(no_bias.parameters())) == 1
    np.testing.assert_allclose(vals(no_bias(Tensor(x))), x @ vals(no_bias.weight).T, rtol=1e-6, atol=1e-6)


def test_linear_init_is_uniform_within_one_over_sqrt_fan_in_and_seedable(backend):
    tnm.manual_seed(3)
    a = nn.Linear(50, 40)
    tnm.manual_seed(3)
    b = nn.Linear(50, 40)
    c = nn.Linear(50, 40)  # the generator moved on: different numbers
    np.testing.assert_array_equal(vals(a.weight), vals(b.weight))
    assert not np.array_equal(vals(a.weight), vals(c.weight))
    w = vals(a.weight)
    bound = 1 / np.sqrt(50)
    assert np.abs(w).max() <= bound and np.abs(vals(a.bias)).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound  # uniform(-b, b) has std b/sqrt(3)
    assert a.weight.is_leaf and a.weight.dtype == "float32"
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(vals(nn.Linear(4, 3, generator=g1).weight), vals(nn.Linear(4, 3, generator=g2).weight))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_linear_rejects_bad_sizes(backend, bad):
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(bad, 3)


def test_linear_matches_torch_forward_and_backward(backend):
    torch = torch_or_none()
    if torch is None:
        pytest.skip("PyTorch not installed")
    lin = nn.Linear(5, 3, dtype="float64")
    ref = torch.nn.Linear(5, 3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(vals(lin.weight)))
        ref.bias.copy_(torch.tensor(vals(lin.bias)))
    x = np.random.default_rng(0).standard_normal((4, 5))
    out = lin(Tensor(x, dtype="float64"))
    (out * out).sum().backward()
    ref_out = ref(torch.tensor(x))
    (ref_out * ref_out).sum().backward()
    np.testing.assert_allclose(vals(out), ref_out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(vals(lin.weight.grad), ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(vals(lin.bias.grad), ref.bias.grad.numpy(), rtol=1e-10)


# --- activations, Sequential, MLP -----------------------------------------------------------------
@pytest.mark.parametrize("module,fn", [
    (nn.ReLU, lambda x: np.maximum(x, 0)),
    (nn.Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh, np.tanh),
])
def test_activation_modules(backend, module, fn):
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(vals(module()(Tensor(x))), fn(x), rtol=1e-6, atol=1e-7)
    assert list(module().parameters()) == []


def test_sequential_applies_in_order_and_indexes(backend):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = Tensor([[0.5, -1.0]])
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(vals(seq(x)), vals(expected))
    assert len(seq) == 3 and isinstance(list(seq)[1], nn.ReLU)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_rejects_non_modules(backend):
    with pytest.raises(TypeError, match="layer 1 is a function, not a Module"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


@pytest.mark.parametrize("activation,cls", [("relu", nn.ReLU), ("tanh", nn.Tanh), (nn.Sigmoid, nn.Sigmoid)])
def test_mlp_structure(backend, activation, cls):
    mlp = nn.MLP([6, 5, 4, 3], activation=activation)
    kinds = [type(layer) for layer in mlp]
    assert kinds == [nn.Linear, cls, nn.Linear, cls, nn.Linear]  # no activation after the last layer
    assert [(layer.in_features, layer.out_features) for layer in mlp if isinstance(layer, nn.Linear)] == \
        [(6, 5), (5, 4), (4, 3)]
    assert mlp(Tensor.ones(2, 6)).shape == (2, 3)
    assert "Linear(in_features=6, out_features=5, bias=True)" in repr(mlp)


def test_mlp_errors(backend):
    with pytest.raises(ValueError, match="at least an input and an output size"):
        nn.MLP([4])
    with pytest.raises(ValueError, match="unknown activation 'gelu'.*relu, sigmoid, tanh"):
        nn.MLP([4, 2], activation="gelu")


@pytest.mark.slow  # hundreds of steps: minutes in the CUDA simulator (dev.sh skips slow there)
def test_mlp_learns_xor(backend):
    """A non-linear problem a single layer cannot fit: the MLP and the optimizer together."""
    from tinygrad_nm import functional as F, optim
    x = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = Tensor([[0.0], [1.0], [1.0], [0.0]])
    mlp = nn.MLP([2, 8, 1], activation="tanh", generator=np.random.default_rng(1))
    opt = optim.Adam(mlp.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = F.mse_loss(mlp(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-2


# --- state dicts -------------------------------------------------------------------------------
def test_state_dict_shares_storage_and_round_trips(backend):
    a, b = Block(), Block()
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()]  # Block has no buffers
    assert all(isinstance(v, Tensor) and not v.requires_grad for v in state.values())
    with tnm.no_grad():
        state["scale"][0] = 99.0  # as in PyTorch, the tensors share the parameters' storage
    assert vals(a.scale)[0] == 99.0
    b.load_state_dict(state)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(vals(pa), vals(pb), err_msg=name)
        assert pb.requires_grad and pb.backend == backend


def test_load_state_dict_errors_name_keys_and_shapes_and_change_nothing(backend):
    m = Block()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    good = {k: v.numpy() for k, v in Block().state_dict().items()}
    missing = dict(good)
    del missing["inner.bias"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "inner.bias"'):
        m.load_state_dict(missing)
    with pytest.raises(ValueError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        m.load_state_dict({**good, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"size mismatch for heads.0.weight: .* shape \(4, 2\) .* model is \(2, 4\)"):
        m.load_state_dict({**good, "heads.0.weight": np.zeros((4, 2))})
    with pytest.raises(ValueError, match="scale: Tensor data must be numeric"):
        m.load_state_dict({**good, "scale": np.array(["x"])})
    # every problem at once, and strict=False still refuses a wrong shape
    with pytest.raises(ValueError, match=r"(?s)Missing.*inner.bias.*Unexpected.*extra.*size mismatch for scale"):
        m.load_state_dict({**missing, "extra": np.zeros(1), "scale": np.zeros(3)})
    with pytest.raises(ValueError, match="size mismatch for scale"):
        m.load_state_dict({"scale": np.zeros(3)}, strict=False)
    for name, value in m.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[name], err_msg=name)
    result = m.load_state_dict({"scale": np.array([5.0])}, strict=False)
    assert vals(m.scale)[0] == 5.0 and "scale" not in result.missing_keys and "inner.bias" in result.missing_keys
