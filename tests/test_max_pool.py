"""Max pooling's kernels (kernels.py's `pool` family: max_pool2d keeps each window's argmax,
max_pool2d_backward sends each gradient there) on every backend, through F.max_pool2d/max_pool1d:
values, indices and gradients against PyTorch (hypothesis over shapes, kernel, stride, padding,
dilation, ceil_mode, with ties, NaNs, -inf and all-negative inputs) and float64 finite differences;
the awkward cases one by one; and napkin sees the two kernels, not a host round trip."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import fuzz  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
from nn_torch_helpers import compare, torch, vals  # noqa: E402
import tinygrad_nm as tnm  # noqa: E402
import tinygrad_nm.nn.functional as F  # noqa: E402
from tinygrad_nm import Tensor, backends  # noqa: E402

TF = torch.nn.functional


@st.composite
def pool_case(draw, backend):
    """(input shape, kwargs) of a valid max_pool2d: PyTorch's limit padding <= kernel // 2; windows
    that overlap (stride < kernel), skip (stride > kernel), dilate, or lie wholly in the padding."""
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(2))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 5))))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(2))
    side = 7 if backend == "python" else 12
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max(side, d * (k - 1) + 1)))
                    for k, d, p in zip(kernel, dilation, padding))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *spatial)
    return shape, dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                       ceil_mode=draw(st.booleans()))


def special_values(draw, shape, seed):
    """Random values, all negative (so the -inf padding, not a 0, must lose), or rounded (ties);
    some NaNs and -infs sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    kind = draw(st.sampled_from(["random", "negative", "ties"]), label="values")
    x = -np.abs(x) - 1 if kind == "negative" else np.round(x) if kind == "ties" else x
    for special in (np.nan, -np.inf):
        if draw(st.booleans(), label=f"with {special}"):
            x[rng.random(shape) < 0.15] = special
    return x


def check_against_torch(x, kw, dtype="float64", pool=F.max_pool2d, torch_pool=TF.max_pool2d):
    """Values and indices exactly; the gradient of sum(out * g), g zero at windows wholly in the
    padding (PyTorch sends theirs to a position outside the window; they have no input to reach)."""
    ours_x = Tensor(x, dtype=dtype, requires_grad=True)
    theirs_x = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    out, idx = pool(ours_x, return_indices=True, **kw)
    ref, ref_idx = torch_pool(theirs_x, return_indices=True, **kw)
    np.testing.assert_array_equal(vals(out), ref.detach().numpy())  # exact: a maximum is one of the inputs
    assert idx.dtype == "int64" and out.dtype == dtype
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    g = np.random.default_rng(7).standard_normal(ref.shape)
    g[np.isneginf(torch_pool(torch.ones_like(theirs_x), **kw).detach().numpy())] = 0
    out.backward(Tensor(g, dtype=dtype))
    ref.backward(torch.tensor(g, dtype=ref.dtype))
    np.testing.assert_allclose(vals(ours_x.grad), theirs_x.grad.numpy(), rtol=1e-6, atol=1e-6)


@fuzz(60)
@given(data=st.data())
def test_max_pool2d_values_indices_and_gradient_match_torch(backend, data):
    shape, kw = data.draw(pool_case(backend), label="case")
    x = special_values(data.draw, shape, data.draw(st.integers(0, 2 ** 16), label="seed"))
    check_against_torch(x, kw, data.draw(st.sampled_from(["float32", "float64"]), label="dtype"))


@fuzz(20)
@given(data=st.data())
def test_max_pool1d_matches_torch(backend, data):
    k, s, d = data.draw(st.integers(1, 4), label="k"), data.draw(st.integers(1, 4), label="s"), \
        data.draw(st.integers(1, 3), label="d")
    p = data.draw(st.integers(0, k // 2), label="p")
    length = data.draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 12), label="length")
    x = special_values(data.draw, (2, 3, length), 3)
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=data.draw(st.booleans(), label="ceil"))
    check_against_torch(x, kw, pool=F.max_pool1d, torch_pool=TF.max_pool1d)


@pytest.mark.parametrize("shape,kw", [
    ((1, 1, 4, 5), dict(kernel_size=(4, 5))),                            # the kernel is the whole input
    ((1, 2, 7, 7), dict(kernel_size=2, stride=3)),                        # stride > kernel: inputs skipped
    ((2, 3, 6, 5), dict(kernel_size=3, stride=1)),                        # overlapping windows add up
    ((1, 1, 5, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 1, 1, 1), dict(kernel_size=2, padding=1, dilation=2)),           # every window in the padding
    ((1, 2, 5, 3), dict(kernel_size=(3, 1), stride=(1, 2), dilation=(2, 1), padding=(1, 0))),
    ((2, 2, 3, 4), dict(kernel_size=2, stride=1, padding=1)),
])
@pytest.mark.parametrize("values", ["random", "negative", "ties", "constant"])
def test_awkward_cases_match_torch(backend, shape, kw, values):
    x = np.random.default_rng(1).standard_normal(shape)
    x = {"random": x, "negative": -np.abs(x) - 1, "ties": np.round(x), "constant": np.full(shape, -2.0)}[values]
    check_against_torch(x, kw)


def test_nans_report_the_last_nan_and_infs_the_first_tap_as_torch(backend):
    x = np.array([[[[np.nan, 1.0, np.nan, 2.0], [-np.inf, -np.inf, -np.inf, 5.0], [3.0, 3.0, 1.0, 3.0]]]])
    for kw in (dict(kernel_size=(1, 4)), dict(kernel_size=(1, 2), padding=(0, 1)), dict(kernel_size=2, stride=1)):
        check_against_torch(x, kw)


def test_non_contiguous_input(backend):
    """A permuted, sliced view: the kernels read it through a contiguous copy or its strides."""
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6))
    compare(lambda t: F.max_pool2d(t.permute(0, 1, 3, 2)[:, 1:], 3, 2, 1),
            lambda t: TF.max_pool2d(t.permute(0, 1, 3, 2)[:, 1:], 3, 2, 1), [x])


def test_integer_input_forward_as_torch(backend):
    x = np.random.default_rng(3).integers(-50, -1, size=(2, 2, 5, 6))  # all negative: the padding must lose
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)):
        out, idx = F.max_pool2d(Tensor(x), return_indices=True, **kw)
        ref, ref_idx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
        assert out.dtype == "int64"
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
        np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


def test_bool_input_is_refused_as_in_torch(backend):
    with pytest.raises(TypeError, match="max_pool2d: not implemented for bool"):
        F.max_pool2d(Tensor(np.ones((1, 1, 2, 2), dtype=bool)), 2)


def test_float64_finite_differences(backend):
    """Overlapping, dilated, padded and ceil_mode windows, independent of PyTorch."""
    check_grad(lambda x: F.max_pool2d(x, 3, 1, 1), uniform((1, 2, 5, 4), seed=11))
    check_grad(lambda x: F.max_pool2d(x, 2, (1, 2), 1, dilation=(2, 1), ceil_mode=True), uniform((2, 1, 5, 6), seed=12))
    check_grad(lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), uniform((2, 2, 7), seed=13))


def test_backward_kernel_adds_overlapping_windows(backend):
    """A constant plane: every 3x3 stride-1 window picks its first tap inside the image, and the
    positions several windows pick collect all their gradients, none dropped."""
    x = Tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    F.max_pool2d(x, 3, 1, 1).sum().backward()
    t = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    TF.max_pool2d(t, 3, 1, 1).sum().backward()
    assert vals(x.grad).sum() == 16 and vals(x.grad).max() > 1  # one unit per window, some shared
    np.testing.assert_array_equal(vals(x.grad), t.grad.numpy())


def test_napkin_sees_the_two_kernels_and_no_host_round_trip():
    def step(x):
        out = F.max_pool2d(x, 2)
        out.sum().backward()
        return out
    calls, _ = tnm.napkin.trace_kernels(step, Tensor(np.zeros((32, 32, 8, 8)), dtype="float32", requires_grad=True))
    names = [name for name, _, _ in calls]
    assert names.count("max_pool2d") == 1 and names.count("max_pool2d_backward") == 1
    assert not {"to_numpy", "from_numpy", "getitem", "index_add"} & set(names), names


def test_cython_backward_refuses_indices_outside_the_plane():
    if "cython" not in tnm.available_backends():
        pytest.skip("the cython backend is not available on this machine")
    be = backends.load("cython")
    g, idx = np.ones((1, 1, 2, 2)), np.array([0, 1, 2, 99]).reshape(1, 1, 2, 2)
    with pytest.raises(ValueError, match="max_pool2d_backward: 1 indices lie outside their 4x4 plane"):
        be.max_pool2d_backward(g, idx, (1, 1, 4, 4), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)))
