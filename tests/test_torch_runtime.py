"""What a modern PyTorch training script sets up around its model, against torch on every
backend: torch.amp (autocast, GradScaler's scaling, skipped steps and scale updates),
torch.Generator and the global RNG state, torch.compile and the precision switches,
DataLoader's worker options, torch.load's keywords, nn.ParameterDict, and the composite
functions (tile, kron, tensordot, baddbmm, heaviside, quantile, histc, searchsorted, ...)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd  # noqa: E402

NANS = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 4.0, -1.0, 0.0], [np.nan] * 4])

CASES = [
    case("tile_kron", lambda M, a, b: (a.tile(2, 1), M.tile(a, (2,)), M.tile(b, (1, 2, 1)), M.kron(a, b), a.kron(b[0])),
         rnd((2, 3)), rnd((2, 2), seed=1)),
    case("tensordot", lambda M, a, b, c: (M.tensordot(a, b, dims=2), M.tensordot(a, c, dims=([0], [1]))),
         rnd((3, 4, 5)), rnd((4, 5, 2), seed=1), rnd((2, 3), seed=2)),
    case("baddbmm", lambda M, s, a, b: (M.baddbmm(s, a, b), s.baddbmm(a, b, beta=0.5, alpha=2.0), M.baddbmm(s[0], a, b)),
         rnd((2, 3, 5)), rnd((2, 3, 4), seed=1), rnd((2, 4, 5), seed=2)),
    case("heaviside_sgn_type_as", lambda M, a, v: (M.heaviside(a.round().detach(), v.detach()), M.sgn(a), a.type_as(v)),
         rnd((3, 4)), rnd((4,), seed=1)),
    case("quantile", lambda M, a: (M.quantile(a, 0.3), a.quantile(M.tensor([0.1, 0.5, 1.0], dtype=a.dtype), dim=1),
                                   a.quantile(0.75, dim=0, keepdim=True), M.quantile(a, 0.4, keepdim=True),
                                   *(a.quantile(0.35, 1, interpolation=i) for i in ("lower", "higher", "nearest",
                                                                                   "midpoint"))),
         rnd((3, 5))),
    case("nanquantile", lambda M, a: (M.nanquantile(a, 0.5, dim=1), a.nanquantile(M.tensor([0.0, 0.3], dtype=a.dtype)),
                                      M.quantile(a, 0.5, dim=1)), NANS, grad=False),
    case("atleast", lambda M, a: (*M.atleast_1d(a[0, 0], a), M.atleast_2d(a[0]), M.atleast_3d(a)), rnd((2, 3))),
]


test_matches_torch = matches_torch(CASES)


def test_counting_functions_match_torch(backend):
    x = rnd((4, 5), seed=3)
    for M in (tnm, torch):
        t = M.tensor(x, dtype=M.float32)
        seq = M.tensor([[1.0, 2.0, 2.0, 3.0], [0.0, 0.5, 1.0, 1.5]])
        vals = M.tensor([[2.0, 0.1, 5.0], [1.0, 1.0, -1.0]])
        out = [M.histc(t, bins=6), M.histc(t, bins=3, min=-1, max=1), t.histc(4),
               M.searchsorted(seq, vals), M.searchsorted(seq, vals, right=True),
               M.searchsorted(seq[0], M.tensor(2.0)), M.bucketize(vals, seq[0]), M.bucketize(vals, seq[0], right=True)]
        if M is tnm:
            ours = [o.numpy() for o in out]
            assert str(out[0].dtype) == "float32" and str(out[3].dtype) == "int64"
        else:
            theirs = [o.numpy() for o in out]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert tnm.tensor([1.0]).is_floating_point() and not tnm.is_floating_point(tnm.tensor([1]))


def _scaler_run(M, steps):
    """A few SGD steps through GradScaler; some losses are inf, so those steps are skipped."""
    w = M.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = M.optim.SGD([w], lr=0.1)
    scaler = M.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    scales = []
    for k in steps:
        opt.zero_grad()
        with M.autocast(device_type="cpu", enabled=False):
            loss = (w * w).sum() * k
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return w.detach().numpy(), scales, scaler.state_dict()


def test_grad_scaler_scales_skips_and_updates_as_torch(backend):
    steps = [1.0, 1.0, float("inf"), 1.0, 1.0, 1.0, float("nan"), 2.0]
    (w_ours, s_ours, d_ours), (w_theirs, s_theirs, d_theirs) = _scaler_run(tnm, steps), _scaler_run(torch, steps)
    np.testing.assert_allclose(w_ours, w_theirs, rtol=1e-6)
    assert s_ours == s_theirs  # [8, 16, 8, 8, 16, ...]: grows every 2 clean steps, halves on inf/nan
    assert d_ours["scale"] == d_theirs["scale"] and d_ours["_growth_tracker"] == d_theirs["_growth_tracker"]
    disabled = tnm.amp.GradScaler(enabled=False)
    loss = tnm.tensor(2.0, requires_grad=True)
    assert disabled.scale(loss) is loss and disabled.get_scale() == 1.0 and disabled.state_dict() == {}
    with pytest.raises(AssertionError, match="No inf checks were recorded"):
        tnm.amp.GradScaler().update()
    assert tnm.cuda.amp.GradScaler is tnm.amp.GradScaler


def test_autocast_keeps_dtypes_and_works_as_a_decorator(backend):
    m = tnm.nn.Linear(3, 2)

    @tnm.autocast(device_type="cuda", dtype=tnm.float16)
    def run(x):
        return m(x)
    assert run(tnm.ones(4, 3)).dtype == tnm.float32
    with tnm.amp.autocast("cpu"):
        assert m(tnm.ones(1, 3)).dtype == tnm.float32


def test_generator_and_rng_state_reproduce_draws(backend):
    g = tnm.Generator().manual_seed(7)
    first = tnm.randperm(10, generator=g).tolist()
    assert tnm.randperm(10, generator=tnm.Generator().manual_seed(7)).tolist() == first
    assert g.initial_seed() == 7
    state = g.get_state()
    after = tnm.rand(3, generator=g).tolist()
    assert tnm.rand(3, generator=g.set_state(state)).tolist() == after
    parts = [tnm.utils.data.random_split(range(10), [0.7, 0.3], generator=tnm.Generator().manual_seed(1))
             for _ in range(2)]
    assert [list(p) for p in parts[0]] == [list(p) for p in parts[1]]
    tnm.manual_seed(3)
    saved = tnm.get_rng_state()
    drawn = tnm.randn(4).tolist()
    tnm.set_rng_state(saved)
    assert tnm.randn(4).tolist() == drawn
    with pytest.raises(RuntimeError, match="not a state from get_state"):
        tnm.set_rng_state(tnm.tensor([1, 2, 3]))


def test_compile_and_switches_are_accepted(backend):
    m = tnm.nn.Linear(3, 2)
    assert tnm.compile(m) is m and tnm.compile(mode="max-autotune")(m) is m
    tnm.backends.cuda.matmul.allow_tf32 = True
    tnm.backends.cudnn.allow_tf32 = True
    try:
        tnm.set_float32_matmul_precision("high")
        assert tnm.get_float32_matmul_precision() == "high"
    finally:
        tnm.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError, match="expected 'highest', 'high' or 'medium'"):
        tnm.set_float32_matmul_precision("low")


def test_data_loader_worker_options_give_the_same_batches(backend):
    ds = tnm.utils.data.TensorDataset(tnm.arange(10.0), tnm.arange(10))
    plain = [b[1].tolist() for b in tnm.utils.data.DataLoader(ds, batch_size=4)]
    workers = [b[1].tolist() for b in tnm.utils.data.DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True,
                                                               persistent_workers=True, prefetch_factor=2)]
    assert plain == workers == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        tnm.utils.data.DataLoader(ds, num_workers=-1)


def test_load_takes_torch_keywords_and_parameter_dict_names(backend, tmp_path):
    pd = tnm.nn.ParameterDict({"w": tnm.ones(2), "b": tnm.nn.Parameter(tnm.zeros(3))})
    ref = torch.nn.ParameterDict({"w": torch.nn.Parameter(torch.ones(2)), "b": torch.nn.Parameter(torch.zeros(3))})
    assert list(pd.state_dict()) == list(ref.state_dict()) == ["b", "w"]  # a plain dict: sorted, as torch
    assert len(pd) == 2 and "w" in pd and isinstance(pd["w"], tnm.nn.Parameter)
    path = tmp_path / "ck.pt"
    tnm.save({"pd": pd.state_dict()}, path)
    back = tnm.load(path, map_location="cpu", weights_only=True)
    assert back["pd"]["w"].tolist() == [1.0, 1.0] and back["pd"]["w"].backend == tnm.device("cpu").backend
    with pytest.raises(TypeError, match="map_location must be a device or its name"):
        tnm.load(path, map_location={"cuda:0": "cpu"})
