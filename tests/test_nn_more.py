"""More of torch.nn against torch on every backend: SELU/CELU/shrink/Threshold/GLU/Softmin/Softmax2d
(functions and layers), the padding layers, Bilinear (torch's weights loaded), CosineSimilarity,
PairwiseDistance, Unfold/Fold, ChannelShuffle, RMSNorm/F.rms_norm: values and gradients; and the
random layers (Dropout1d, AlphaDropout, gumbel_softmax) by what they must preserve."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd  # noqa: E402

CASES = [
    case("activations", lambda M, a: (M.nn.functional.selu(a), M.nn.SELU()(a), M.nn.functional.celu(a, 0.5),  # (an alpha whose 1 / alpha is exact: torch rounds it to float32)
                                      M.nn.CELU(2.0)(a), M.nn.Hardshrink(0.6)(a), M.nn.functional.softshrink(a, 0.3),
                                      M.nn.Tanhshrink()(a), M.nn.Threshold(0.2, -3.0)(a),
                                      M.nn.functional.threshold(a, -0.5, 0.5)), rnd((3, 4), low=-3, high=3)),
    case("glu_softmin_softmax2d", lambda M, a: (M.nn.GLU()(a), M.nn.GLU(0)(a), M.nn.Softmin(dim=1)(a),
                                                M.nn.Softmax2d()(a.reshape(1, 2, 3, 4))), rnd((4, 6))),
    case("padding_layers", lambda M, a: (M.nn.ZeroPad2d(1)(a), M.nn.ZeroPad2d((1, 0, 2, 1))(a),
                                         M.nn.ConstantPad1d(2, 0.5)(a[0]), M.nn.ConstantPad3d(1, -1.0)(a.unsqueeze(0)),
                                         M.nn.ReflectionPad2d(1)(a), M.nn.ReflectionPad1d((2, 1))(a[0]),
                                         M.nn.ReplicationPad2d((0, 2, 1, 0))(a), M.nn.ReplicationPad1d(1)(a[0]),
                                         M.nn.CircularPad2d(1)(a)), rnd((1, 2, 3, 4))),
    case("distances", lambda M, a, b: (M.nn.CosineSimilarity(dim=1)(a, b), M.nn.CosineSimilarity(0, 1e-3)(a, b),
                                       M.nn.PairwiseDistance()(a, b), M.nn.PairwiseDistance(1.0, keepdim=True)(a, b)),
         rnd((3, 4)), rnd((3, 4), seed=1)),
    case("unfold_fold_shuffle", lambda M, a: (M.nn.Unfold(2, padding=1, stride=2)(a),
                                              M.nn.Fold((3, 4), 2)(M.nn.Unfold(2)(a)),
                                              M.nn.ChannelShuffle(2)(a)), rnd((1, 4, 3, 4))),
    case("rms_norm", lambda M, a, w: (M.nn.functional.rms_norm(a, (4,)), M.nn.functional.rms_norm(a, (3, 4), w, 1e-3),
                                      M.nn.RMSNorm(4)(a), M.nn.RMSNorm([3, 4], eps=0.1, elementwise_affine=False)(a)),
         rnd((2, 3, 4)), rnd((3, 4), seed=1)),
]


test_matches_torch = matches_torch(CASES)


def test_bilinear_loads_torchs_weights_and_matches(backend):
    torch.manual_seed(0)
    theirs = torch.nn.Bilinear(3, 4, 2).double()
    ours = tnm.nn.Bilinear(3, 4, 2)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours = ours.double()
    x1, x2 = rnd((5, 3)), rnd((5, 4), seed=1)
    outs = []
    for M, model in ((tnm, ours), (torch, theirs)):
        a, b = M.tensor(x1, requires_grad=True), M.tensor(x2, requires_grad=True)
        y = model(a, b)
        (y * y).sum().backward()
        outs.append([y.detach().numpy(), a.grad.numpy(), b.grad.numpy()] + [p.grad.numpy() for p in model.parameters()])
    for o, t in zip(*outs):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)
    assert tnm.nn.Bilinear(3, 4, 2, bias=False).bias is None


def test_random_layers_keep_what_they_promise(backend):
    tnm.manual_seed(0)
    x = tnm.ones(200, 50, 8)
    d = tnm.nn.Dropout1d(0.4)
    y = d(x).numpy()
    per_channel = y.reshape(-1, 8)
    assert set(np.unique(y)) <= {0.0, 1 / 0.6 + 0.0} or np.allclose(np.unique(y), [0.0, 1 / 0.6])
    assert (np.ptp(per_channel, axis=1) == 0).all()  # whole channels are dropped or kept
    assert abs((y == 0).mean() - 0.4) < 0.03
    d.eval()
    assert d(x) is x
    z = tnm.randn(20000, 10)
    a = tnm.nn.functional.alpha_dropout(tnm.nn.functional.selu(z), 0.3, training=True).numpy()
    ref = tnm.nn.functional.selu(z).numpy()
    assert abs(a.mean() - ref.mean()) < 0.02 and abs(a.std() - ref.std()) < 0.02  # mean and variance kept
    assert tnm.nn.AlphaDropout(0.3).eval()(z) is z
    logits = tnm.randn(6, 5, requires_grad=True)
    soft = tnm.nn.functional.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
    hard = tnm.nn.functional.gumbel_softmax(logits, hard=True)
    assert sorted(np.unique(hard.detach().numpy())) == [0.0, 1.0] and (hard.detach().numpy().sum(-1) == 1).all()
    (hard * tnm.arange(5.0)).sum().backward()
    assert logits.grad is not None and np.abs(logits.grad.numpy()).sum() > 0  # straight-through gradient


def test_bad_arguments_are_named(backend):
    with pytest.raises(ValueError, match=r"ZeroPad2d: padding must be an int or 4 ints"):
        tnm.nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match="ChannelShuffle: 3 channels are not divisible by groups=2"):
        tnm.nn.ChannelShuffle(2)(tnm.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"rms_norm: expected input with shape \(\*, 5\)"):
        tnm.nn.functional.rms_norm(tnm.ones(2, 4), (5,))
    with pytest.raises(ValueError, match="dropout1d: expected a 2-d"):
        tnm.nn.functional.dropout1d(tnm.ones(2, 3, 4, 5))


MORE = [
    case("masked_scatter", lambda M, a, s: (a.masked_scatter(a.detach() > 0, s), M.masked_scatter(a, a[0].detach() < 0, s)),
         rnd((3, 4)), rnd((12,), seed=1)),
    case("in_place_functions", lambda M, a: (M.nn.functional.relu_(a.detach().clone()),
                                             M.nn.functional.leaky_relu_(a.detach().clone(), 0.2),
                                             M.nn.functional.hardtanh_(a.detach().clone()),
                                             M.nn.functional.elu_(a.detach().clone())), rnd((3, 4)), grad=False),
    case("unpool", lambda M, a: (M.nn.MaxUnpool2d(2)(*M.nn.functional.max_pool2d(a, 2, return_indices=True)),
                                 M.nn.functional.max_unpool2d(*M.nn.functional.max_pool2d(a, 2, return_indices=True), 2,
                                                              output_size=(5, 5)),
                                 M.nn.MaxUnpool1d(2)(*M.nn.functional.max_pool1d(a[0], 2, return_indices=True))),
         rnd((1, 2, 4, 4))),
]


test_more_matches_torch = matches_torch(MORE)


def test_conv_transpose1d_lazy_linear_and_init_as_torch(backend):
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1, dilation=2).double()
    ours = tnm.nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1, dilation=2)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours = ours.double()
    x = rnd((2, 2, 5))
    o, t = ours(tnm.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    lazy = tnm.nn.LazyLinear(4)
    assert lazy.weight is None
    y = lazy(tnm.ones(3, 6))
    assert y.shape == (3, 4) and lazy.weight.shape == (4, 6) and lazy.in_features == 6
    assert [n for n, _ in lazy.named_parameters()] == ["weight", "bias"]
    for M in (tnm, torch):
        w = M.nn.init.dirac_(M.empty(4, 2, 3), groups=2)
        e = M.nn.init.eye_(M.empty(2, 3))
        s = M.nn.init.sparse_(M.empty(10, 4), 0.3)
        got = (w.tolist(), e.tolist(), int((s == 0).sum().item()))
        if M is tnm:
            ours_init = got
    assert ours_init == got


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(backend, dim):
    torch.manual_seed(0)
    theirs = torch.nn.utils.weight_norm(torch.nn.Linear(3, 4).double(), dim=dim)
    ours = tnm.nn.utils.weight_norm(tnm.nn.Linear(3, 4).double(), dim=dim)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rnd((5, 3))
    outs = []
    for M, model in ((tnm, ours), (torch, theirs)):
        y = model(M.tensor(x))
        (y * y).sum().backward()
        outs.append([y.detach().numpy(), model.weight.detach().numpy()] + [p.grad.numpy() for p in model.parameters()])
    for o, t in zip(*outs):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        tnm.nn.utils.weight_norm(ours, dim=dim)
    restored = tnm.nn.utils.remove_weight_norm(ours)
    assert [n for n, _ in restored.named_parameters()] == ["bias", "weight"]
    np.testing.assert_allclose(restored.weight.detach().numpy(), outs[1][1], rtol=1e-12)
