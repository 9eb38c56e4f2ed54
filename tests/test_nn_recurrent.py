"""nn.RNN, nn.LSTM and nn.GRU against PyTorch's, on every backend: the same parameter names and
shapes (a torch state dict loads as is), outputs, final states and gradients (input and every
parameter, float64), batch_first, several layers, both directions, unbatched input and a given
initial state."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402

CONFIGS = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"}),
           ("LSTM", {"num_layers": 2, "batch_first": True}), ("GRU", {"num_layers": 2, "bias": False}),
           ("LSTM", {"bidirectional": True}), ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
           ("RNN", {"num_layers": 3, "bidirectional": True})]


def _pair(cls, kw):
    theirs = getattr(torch.nn, cls)(3, 4, **kw).double()
    ours = getattr(tnm.nn, cls)(3, 4, **kw)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.double(), theirs


def _states(s):
    return s if isinstance(s, tuple) else (s,)


IDS = [f"{c}-{'-'.join(map(str, k.values())) or 'default'}" for c, k in CONFIGS]


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_recurrent_layers_match_torch(backend, cls, kw):
    ours, theirs = _pair(cls, kw)
    x = np.random.default_rng(0).standard_normal((3, 2, 3))  # (L, N, H_in), or (N, L, H_in) with batch_first
    ox, tx = tnm.tensor(x, dtype=tnm.float64, requires_grad=True), torch.tensor(x, requires_grad=True)
    (oo, oh), (to, th) = ours(ox), theirs(tx)
    np.testing.assert_allclose(oo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(_states(oh), _states(th)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    ((oo * oo).sum() + _states(oh)[-1].sum()).backward()
    ((to * to).sum() + _states(th)[-1].sum()).backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert oo.backend == backend


@pytest.mark.parametrize("cls,directions", [("LSTM", 1), ("GRU", 1), ("LSTM", 2)])
def test_unbatched_input_and_a_given_state(backend, cls, directions):
    ours, theirs = _pair(cls, {"num_layers": 2, "bidirectional": directions == 2})
    rng = np.random.default_rng(1)
    x, h, c = rng.standard_normal((5, 3)), rng.standard_normal((2 * directions, 4)), rng.standard_normal((2 * directions, 4))
    hx = (lambda M: (M.tensor(h), M.tensor(c))) if cls == "LSTM" else (lambda M: M.tensor(h))
    (oo, oh), (to, th) = ours(tnm.tensor(x, dtype=tnm.float64), hx(tnm)), theirs(torch.tensor(x), hx(torch))
    np.testing.assert_allclose(oo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(_states(oh), _states(th)):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_errors_and_dropout_between_layers(backend):
    lstm = tnm.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    out, (h, c) = lstm(tnm.ones(6, 2, 3))
    assert out.shape == (6, 2, 4) and h.shape == c.shape == (2, 2, 4)
    with pytest.raises(ValueError, match=r"expected input \(L, N, 3\)"):
        lstm(tnm.ones(6, 2, 5))
    with pytest.raises(ValueError, match="expected hidden state of shape"):
        tnm.nn.GRU(3, 4)(tnm.ones(6, 2, 3), tnm.zeros(1, 3, 4))
    with pytest.raises(ValueError, match=r"expected hidden state of shape \(2, 2, 4\)"):
        tnm.nn.GRU(3, 4, bidirectional=True)(tnm.ones(6, 2, 3), tnm.zeros(1, 2, 4))
    assert "LSTM(3, 4, num_layers=2, dropout=0.5)" in repr(lstm)
    assert "bidirectional=True" in repr(tnm.nn.RNN(3, 4, bidirectional=True))
