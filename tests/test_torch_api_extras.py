"""The rest of the PyTorch surface a training script reaches for, each run as the same code on
tinygrad_nm and on torch (torch_api_helpers.run_both: values, dtypes and gradients), on every
backend: the operators by name (add(alpha=), div(rounding_mode=), //, %), new_*, sort/argsort/
topk/median (hypothesis: ties and nans), cumprod, count_nonzero, roll, nonzero and where(cond),
tan/log10/nan_to_num, meshgrid/logspace, torch.linalg's norms, the random draws, and torch.cuda
and torch.backends as a program asks them before it picks a device."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygrad_nm as tnm  # noqa: E402
from fuzz_torch_helpers import fuzz  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd  # noqa: E402

INTS = np.array([[7, -7, 0, 5], [-3, 3, 9, -9]])

CASES = [
    case("add_alpha", lambda M, a, b: (a.add(b, alpha=2), M.add(a, b, alpha=-0.5), a.sub(b, alpha=3)), rnd((2, 3)),
         rnd((3,), seed=1)),
    case("mul_div_methods", lambda M, a, b: (a.mul(b), a.div(b), M.mul(a, 2.0), M.div(a, b), a.true_divide(b)),
         rnd((2, 3)), rnd((2, 3), 0.5, 2.0, seed=1)),
    case("div_rounding_float", lambda M, a, b: (a.div(b, rounding_mode="floor"), M.div(a, b, rounding_mode="trunc"),
                                                 a % b, M.remainder(a, 1.5)),
         rnd((3, 4), -9, 9), rnd((3, 4), 0.5, 3.0, seed=2)),
    # (PyTorch has no derivative for floor_divide: its backward raises, ours gives 0 as div(rounding_mode=) does)
    case("floor_divide_float", lambda M, a, b: (a // b, M.floor_divide(a, 0.7), 5.0 // b, 5.0 % b),
         rnd((3, 4), -9, 9), rnd((3, 4), 0.5, 3.0, seed=2), grad=False),
    case("div_rounding_int", lambda M, a: (a // 2, a % 3, a.div(-2, rounding_mode="trunc"), 17 // (a.abs() + 1),
                                           17 % (a.abs() + 1), M.remainder(a, -4)), INTS),
    case("tan_log10_nan_to_num", lambda M, a: (a.tan(), M.log10(a.abs() + 0.1),
                                               (a / (a - a.detach())).nan_to_num(), M.nan_to_num(a.log(), nan=-1.0)),
         rnd((2, 5), -1.2, 1.2)),
    case("cumprod_count_nonzero", lambda M, a: (a.cumprod(1), M.cumprod(a, 0), (a > 0).cumprod(1),
                                                a.count_nonzero(), M.count_nonzero(a > 0, 1)), rnd((3, 4), 0.2, 1.5)),
    case("roll", lambda M, a: (a.roll(1), a.roll(-2, 1), M.roll(a, (1, 3), (0, 1)), a.roll(5, 0)), rnd((3, 4))),
    case("sort_topk_median", lambda M, a: (a.sort(1), a.sort(0, descending=True), M.argsort(a, 1), a.topk(2),
                                           M.topk(a, 3, 0, largest=False), a.median(1), a.median(),
                                           M.median(a, 0, True)), rnd((4, 5))),
    case("nonzero_where", lambda M, a: (a.nonzero(), M.nonzero(a > 0.5), *M.where(a > 0),
                                        *(a > 1).nonzero(as_tuple=True)), rnd((3, 4)), grad=False),
    case("linalg_norms", lambda M, a: (M.linalg.norm(a), M.linalg.vector_norm(a, dim=1), M.linalg.vector_norm(a, 1, 0),
                                       M.linalg.vector_norm(a, float("inf"), 1, True), M.linalg.norm(a[0], ord=3),
                                       M.linalg.matrix_norm(a)), rnd((3, 4))),
    case("meshgrid", lambda M, a, b: (*M.meshgrid(a, b, indexing="ij"), *M.meshgrid(a, b, indexing="xy")),
         rnd((3,)), rnd((2,), seed=1)),
]


test_matches_torch = matches_torch(CASES)


@fuzz(30)
@given(data=st.data())
def test_orderings_match_torch_with_ties_and_nans(backend, data):
    """sort (stable, either direction), argsort and topk give PyTorch's indices where values tie or
    are nan (nan sorts as the largest); median gives its value, and an index holding it."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    values = data.draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0, float("nan")]), min_size=int(np.prod(shape)),
                                max_size=int(np.prod(shape))))
    a = np.array(values).reshape(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    descending = data.draw(st.booleans())
    ours, theirs = tnm.tensor(a), torch.tensor(a)
    s, t = ours.sort(dim, descending=descending), theirs.sort(dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(s.indices.numpy(), t.indices.numpy())
    np.testing.assert_array_equal(s.values.numpy(), t.values.numpy())
    np.testing.assert_array_equal(ours.argsort(dim, descending).numpy(),
                                  theirs.argsort(dim=dim, descending=descending, stable=True).numpy())
    k = data.draw(st.integers(0, shape[dim]))
    np.testing.assert_array_equal(ours.topk(k, dim, descending).values.numpy(),
                                  theirs.topk(k, dim, descending).values.numpy())
    m, n = ours.median(dim), theirs.median(dim)
    np.testing.assert_array_equal(m.values.numpy(), n.values.numpy())
    picked = np.take_along_axis(a, np.expand_dims(m.indices.numpy(), dim), dim).squeeze(dim)
    np.testing.assert_array_equal(picked, n.values.numpy())


def test_errors_name_the_problem(backend):
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        tnm.tensor([1, 2]) // 0
    with pytest.raises(ValueError, match="rounding_mode"):
        tnm.tensor([1.0]).div(2, rounding_mode="round")
    with pytest.raises(RuntimeError, match="topk: selected index k=4 out of range"):
        tnm.ones(3).topk(4)
    with pytest.raises(ValueError, match="roll: 2 shifts for 1 dims"):
        tnm.ones(3).roll((1, 2), 0)


def test_new_tensors_take_self_s_dtype_and_backend(backend):
    x = tnm.ones(2, dtype=tnm.float64)
    for t, shape, value in ((x.new_zeros(2, 3), (2, 3), 0.0), (x.new_ones((4,)), (4,), 1.0),
                            (x.new_full((2,), 7), (2,), 7.0), (x.new_empty(3), (3,), 0.0)):
        assert t.shape == shape and t.dtype == tnm.float64 and t.backend == backend and (t.numpy() == value).all()
    n = x.new_tensor([1, 2], dtype=tnm.int64, requires_grad=False)
    assert n.dtype == tnm.int64 and n.tolist() == [1, 2] and x.new_tensor([1, 2]).dtype == tnm.float64
    assert x.new_zeros(2, requires_grad=True).requires_grad


def test_random_draws(backend):
    tnm.manual_seed(3)
    p = tnm.randperm(10)
    assert p.dtype == tnm.int64 and sorted(p.tolist()) == list(range(10))
    z = tnm.normal(tnm.zeros(2000) + 5.0, 2.0)
    assert z.shape == (2000,) and abs(z.mean().item() - 5.0) < 0.3 and abs(z.std().item() - 2.0) < 0.3
    assert tnm.normal(0.0, 1.0, size=(2, 3)).shape == (2, 3)
    b = tnm.bernoulli(tnm.tensor([0.0, 1.0, 0.0, 1.0]))
    assert b.dtype == tnm.float32 and b.tolist() == [0.0, 1.0, 0.0, 1.0]
    drawn = tnm.multinomial(tnm.tensor([[0.0, 1.0, 2.0, 3.0]] * 5), 3)
    assert drawn.shape == (5, 3) and all(0 not in row and len(set(row)) == 3 for row in drawn.tolist())
    all_four = tnm.multinomial(tnm.tensor([0.0, 1.0, 2.0, 3.0]), 4).tolist()  # the zero weight last, as torch
    assert sorted(all_four[:3]) == [1, 2, 3] and all_four[3] == 0
    np.testing.assert_allclose(tnm.logspace(0, 2, 3).numpy(), torch.logspace(0, 2, 3).numpy())


def test_cuda_and_backends_answer_as_a_program_asks(backend):
    """`device = "cuda" if torch.cuda.is_available() else "cpu"` runs here whatever the machine;
    torch.backends.cudnn flags are accepted."""
    from tinygrad_nm import backends
    available = "numba_cuda" in backends.available_backends()
    assert tnm.cuda.is_available() == available and tnm.cuda.device_count() == int(available)
    device = tnm.device("cuda" if tnm.cuda.is_available() else "cpu")
    assert tnm.ones(2, device=device).device.type == device.type
    tnm.cuda.manual_seed_all(0)
    tnm.cuda.empty_cache()  # with a GPU: the caching allocator's free blocks go back; else nothing to do
    tnm.backends.cudnn.benchmark = True
    assert not tnm.backends.mps.is_available()
    if not available:
        with pytest.raises(RuntimeError, match="no CUDA device here"):
            tnm.cuda.current_device()


IN_PLACE = ["exp", "log", "sqrt", "abs", "neg", "relu", "sigmoid", "tanh", "sin", "cos", "floor", "ceil", "trunc",
            "round", "reciprocal", "square", "log1p", "expm1", "sign", "frac"]

CASES_2 = [
    case("lerp_addcmul_addcdiv_clamp", lambda M, a, b: (a.lerp(b, 0.3), M.lerp(a, b, b.sigmoid()),
                                                        a.addcmul(a, b, value=0.5),
                                                        M.addcdiv(a, a, b.abs() + 1, value=-2),
                                                        a.clamp_min(0.1), M.clamp_max(a, 0)),
         rnd((2, 3)), rnd((2, 3), seed=1)),
    case("addmm", lambda M, c, a, b: (M.addmm(c, a, b), c.addmm(a, b, beta=0.5, alpha=2)), rnd((3,)), rnd((2, 4)),
         rnd((4, 3), seed=1)),
    case("repeat_interleave_diff_flips", lambda M, a: (a.repeat_interleave(2), a.repeat_interleave(3, dim=1),
                                                       a.repeat_interleave(M.tensor([1, 0, 2]), dim=0), M.diff(a),
                                                       M.diff(a, 2, 0), M.fliplr(a), M.flipud(a)), rnd((3, 4))),
    case("broadcast_var_mean", lambda M, a, b: (M.broadcast_to(b, (2, 4)), *M.broadcast_tensors(a, b),
                                                *M.var_mean(b, 0), *M.std_mean(a, 0, keepdim=True, correction=0)),
         rnd((2, 1)), rnd((4,), seed=1)),
    case("functional_extras", lambda M, a, b: (M.nn.functional.cosine_similarity(a, b),
                                               M.nn.functional.pairwise_distance(a, b), M.nn.functional.softmin(a, 1),
                                               M.nn.functional.glu(a, 1),
                                               M.nn.functional.cosine_similarity(a, b[:1], dim=-1)),
         rnd((3, 4)), rnd((3, 4), seed=1)),
]


test_matches_torch_2 = matches_torch(CASES_2)


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_unary_writes_self_s_storage_as_torch(backend, name):
    """t.exp_() and kin: the result in t's own storage (a view taken before sees it), t returned."""
    a = rnd((2, 3), 0.1, 2.0)
    results = []
    for M in (tnm, torch):
        t = M.tensor(a)
        row = t[1]
        out = getattr(t, name + "_")()
        assert out is t
        results.append((t.numpy().copy(), row.numpy().copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)
    with pytest.raises(RuntimeError, match=f"{name}_: a leaf tensor that requires grad"):
        getattr(tnm.ones(2, requires_grad=True), name + "_")()


def test_random_fills_in_place_and_dtype_limits(backend):
    tnm.manual_seed(0)
    t = tnm.zeros(4000)
    view = t[:10]
    assert t.uniform_(-2.0, 3.0) is t and -2.0 <= t.min().item() and t.max().item() < 3.0
    assert abs(t.mean().item() - 0.5) < 0.15 and (view.numpy() == t.numpy()[:10]).all()
    t.normal_(1.0, 0.5)
    assert abs(t.mean().item() - 1.0) < 0.05 and abs(t.std().item() - 0.5) < 0.05
    assert tnm.finfo(tnm.float32).eps == torch.finfo(torch.float32).eps
    assert tnm.finfo().max == torch.finfo().max and tnm.iinfo(tnm.int64).max == torch.iinfo(torch.int64).max
    assert tnm.ones(4, 3).size() == tnm.Size([4, 3]) and tnm.get_default_dtype() == tnm.float32
    with pytest.raises(TypeError, match="uniform_: not implemented for int64"):
        tnm.ones(2, dtype=tnm.int64).uniform_()
    with pytest.raises(ValueError, match="std must be non-negative"):
        t.normal_(0.0, -1.0)
    with pytest.raises(ValueError, match="from 3 must be at most to 2"):
        t.uniform_(3, 2)


def test_dropout2d_concat_dataset_and_half(backend):
    tnm.manual_seed(0)
    x = tnm.ones(8, 16, 2, 2)
    y = tnm.nn.Dropout2d(0.5)(x).numpy()
    per_channel = y.reshape(8, 16, 4)
    assert ((per_channel == 0).all(axis=2) | (per_channel == 2.0).all(axis=2)).all()  # whole channels, scaled
    assert 0 < (per_channel[:, :, 0] == 0).mean() < 1
    m = tnm.nn.Dropout2d(0.5).eval()
    assert m(x) is x
    data = tnm.utils.data
    both = data.ConcatDataset([data.TensorDataset(tnm.arange(3)), data.TensorDataset(tnm.arange(10, 12))])
    assert len(both) == 5 and [both[i][0].item() for i in range(-5, 5)] == [0, 1, 2, 10, 11] * 2
    with pytest.raises(IndexError, match="index 5 out of range for 5 samples"):
        both[5]
    if backend != "numba_cuda":  # (float16 is refused there, with a clear error)
        assert tnm.nn.Linear(2, 2).half().weight.dtype == tnm.float16


CASES_3 = [
    case("prelu_instance_norm", lambda M, x, w, g: (M.nn.functional.prelu(x, w),
                                                    M.nn.functional.prelu(x, w[:1]),
                                                    M.nn.functional.instance_norm(x, weight=g, bias=g * 0.5)),
         rnd((2, 3, 2, 3)), rnd((3,), 0.1, 0.5, seed=1), rnd((3,), 0.5, 1.5, seed=2)),
    case("interpolate_nearest", lambda M, x: (M.nn.functional.interpolate(x, scale_factor=2),
                                              M.nn.functional.interpolate(x, size=(5, 2)),
                                              M.nn.functional.interpolate(x, scale_factor=(1.5, 0.5)),
                                              M.nn.functional.interpolate(x[:, :, 0], size=7)), rnd((1, 2, 3, 4))),
    case("conv_transpose2d", lambda M, x, w, b: (M.nn.functional.conv_transpose2d(x, w, b),
                                                 M.nn.functional.conv_transpose2d(x, w, None, 2, 1, 1),
                                                 M.nn.functional.conv_transpose2d(x, w, b, (1, 2), (0, 1), (0, 1),
                                                                                  1, 2),
                                                 M.nn.functional.conv_transpose2d(x[0], w, b, stride=3)),
         rnd((2, 3, 4, 5)), rnd((3, 2, 3, 2), seed=1), rnd((2,), seed=2)),
]


test_matches_torch_3 = matches_torch(CASES_3)


def test_prelu_upsample_instance_norm_modules_as_torch(backend):
    x = rnd((2, 3, 2, 2)).astype(np.float32)  # (the modules' float32 parameters: PyTorch refuses to mix)
    for make in (lambda M: M.nn.PReLU(), lambda M: M.nn.PReLU(3, init=0.1), lambda M: M.nn.Upsample(scale_factor=3),
                 lambda M: M.nn.InstanceNorm2d(3), lambda M: M.nn.InstanceNorm2d(3, affine=True)):
        ours, theirs = make(tnm)(tnm.tensor(x)), make(torch)(torch.tensor(x))
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert [n for n, _ in tnm.nn.PReLU(3).named_parameters()] == ["weight"]
    with pytest.raises(NotImplementedError, match="mode='lanczos' is not supported"):
        tnm.nn.functional.interpolate(tnm.tensor(x), scale_factor=2, mode="lanczos")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        tnm.nn.functional.interpolate(tnm.tensor(x))
    with pytest.raises(NotImplementedError, match="track_running_stats=True"):
        tnm.nn.InstanceNorm2d(3, track_running_stats=True)


def test_conv_transpose2d_module_as_torch(backend):
    """ConvTranspose2d: weight (in, out, kh, kw) initialised in +-1/sqrt(out * kh * kw) (PyTorch's
    fan_in of that layout), the output shape PyTorch computes, clear errors."""
    ours, theirs = tnm.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), \
        torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.bias.shape == tuple(theirs.bias.shape)
    assert ours.weight.abs().max().item() <= 1 / np.sqrt(3 * 9) + 1e-7
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.detach().numpy()))
        theirs.bias.copy_(torch.from_numpy(ours.bias.detach().numpy()))
    x = rnd((2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(tnm.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="must be \\(C_in, C_out, kh, kw\\) with C_in = 4"):
        tnm.nn.functional.conv_transpose2d(tnm.ones(1, 4, 2, 2), tnm.ones(3, 2, 2, 2))
    with pytest.raises(ValueError, match="output_padding"):
        tnm.nn.functional.conv_transpose2d(tnm.ones(1, 4, 2, 2), tnm.ones(4, 2, 2, 2), stride=1, output_padding=1)
    with pytest.raises(NotImplementedError, match="groups=2"):
        tnm.nn.ConvTranspose2d(4, 4, 3, groups=2)


def test_division_family_is_exact_where_torch_is(backend):
    """float32 quotients rounded from float64 ones (1e8 % 7 is 2, not 0), integers exact past 2**53
    (divided on the host), //= and %= in place (a view sees them), a number first in torch.add."""
    for M in (tnm, torch):
        a = M.tensor([1e8, -7.5], dtype=M.float32)
        assert (a % 7).tolist() == [2.0, 6.5] and (a // 7).tolist() == [14285714.0, -2.0]
        b = M.tensor([2 ** 60 + 3, -7, 7])
        assert (b % 2).tolist() == [1, 1, 1] and (b // 2).tolist() == [2 ** 59 + 1, -4, 3]
        assert b.div(-2, rounding_mode="trunc").tolist() == [-(2 ** 59 + 1), 3, -3]
        c = M.tensor([5, 6])
        view = c[:1]
        c //= 2
        assert c.tolist() == [2, 3] and view.tolist() == [2]
        c %= 2
        assert c.tolist() == [0, 1] and view.tolist() == [0]
        x = M.tensor([1.5, 2.0])
        assert M.add(2, x).tolist() == [3.5, 4.0] and M.sub(2, x, alpha=2).tolist() == [-1.0, -2.0]
        assert M.div(3, x, rounding_mode="floor").tolist() == [2.0, 1.0] and M.mul(3, x).tolist() == [4.5, 6.0]
    powers = np.array([10.0 ** k for k in range(-9, 10)], np.float32)
    np.testing.assert_array_equal(tnm.tensor(powers).log10().numpy(), torch.tensor(powers).log10().numpy())


def test_norm_and_cosine_similarity_at_zero_and_small_vectors(backend):
    """norm's gradient at an all-zero input is 0 (PyTorch's), nan stays nan; cosine_similarity
    clamps each norm at eps (1 for two equal tiny vectors, not 0.01)."""
    results = []
    for M in (tnm, torch):
        x = M.zeros(2, 3, dtype=M.float64, requires_grad=True)
        y = M.tensor([[1e-5, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=M.float64, requires_grad=True)
        (x.norm() + x.norm(p=3, dim=1).sum() + M.linalg.vector_norm(x, dim=0).sum()).backward()
        sim = M.nn.functional.cosine_similarity(y, y)
        sim.sum().backward()
        results.append((x.grad.numpy(), sim.detach().numpy(), y.grad.numpy(),
                        M.tensor([float("nan"), 1.0]).norm().item()))
    (gx, sim, gy, nan), (tgx, tsim, tgy, tnan) = results
    np.testing.assert_array_equal(gx, tgx)
    np.testing.assert_allclose(sim, tsim, rtol=1e-12)
    np.testing.assert_allclose(gy, tgy, rtol=1e-9, atol=1e-12)
    assert np.isnan(nan) and np.isnan(tnan)


def test_review_edge_cases(backend):
    """Orderings of empty tensors; addmm with beta=0 ignores self's nan; dropout2d reads 3-d input
    as (N, C, L) (PyTorch 2); a .grad set by hand with the wrong shape is refused before any .grad
    changes; `t[key] -= x` writes back its own view (counted as a write: a saved t refuses backward)."""
    for M in (tnm, torch):
        assert tuple(M.ones(0, 3).sort(1).values.shape) == (0, 3)
        assert tuple(M.ones(3, 0).topk(0).indices.shape) == (3, 0)
        out = M.addmm(M.tensor([float("nan"), 1.0, 2.0]), M.ones(2, 4), M.ones(4, 3), beta=0)
        assert out.tolist() == [[4.0] * 3] * 2
    tnm.manual_seed(0)
    y = tnm.nn.functional.dropout2d(tnm.ones(4, 6, 5), 0.5).numpy()
    assert ((y == 0).all(axis=2) | (y == 2).all(axis=2)).all() and 0 < (y == 0).mean() < 1
    a, b = tnm.ones(2, requires_grad=True), tnm.ones(3, requires_grad=True)
    a.grad, b.grad = tnm.ones(2), tnm.zeros(1)
    with pytest.raises(RuntimeError, match=r"\.grad of a leaf of shape \(3,\).*is \(1,\)"):
        ((a * 2).sum() + (b * 3).sum()).backward()
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [0.0]
    w = tnm.ones(3, 4)
    row = w[1]
    for i in range(3):
        w[i] -= tnm.ones(4) * i
    assert w[:, 0].tolist() == [1.0, 0.0, -1.0] and row.tolist() == [0.0] * 4
    p = tnm.ones(2, 2, requires_grad=True)
    q = tnm.ones(2, 2)
    loss = (p * q).sum()
    with tnm.no_grad():
        q[0] -= tnm.ones(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_set_num_threads_reaches_every_backend_with_a_pool(backend, monkeypatch):
    """torch.set_num_threads(n): each loaded backend with its own pool uses n threads, and so does
    one loaded later; get_num_threads reports it."""
    from tinygrad_nm import backends
    pools = [m for m in backends._loaded.values() if hasattr(m, "set_num_threads")]
    before = [m.num_threads() for m in pools]
    monkeypatch.setattr(backends, "_threads_wanted", None)
    try:
        tnm.set_num_threads(1)
        assert tnm.get_num_threads() == 1 and all(m.num_threads() == 1 for m in pools)
        with pytest.raises(ValueError, match="expected a positive int"):
            tnm.set_num_threads(0)
    finally:
        for m, n in zip(pools, before):
            m.set_num_threads(n)


CASES_4 = [
    case("diag_trace", lambda M, v, m: (M.diag(v), M.diag(v, 1), M.diag(v, -2), M.diag(m), M.diag(m, 1), M.diag(m, -2),
                                        M.trace(m)), rnd((3,)), rnd((3, 4), seed=1)),
    case("cdist", lambda M, a, b: (M.cdist(a, b), M.cdist(a, b, p=1.0), M.cdist(a[None], b[None], 3.0)),
         rnd((4, 3)), rnd((2, 3), seed=1)),
    case("isin", lambda M, a: (M.isin(a, M.tensor([1, 5])), M.isin(a, M.tensor([1, 5]), invert=True)),
         np.array([[1, 2], [5, 7]]), grad=False),
]


test_matches_torch_4 = matches_torch(CASES_4)
