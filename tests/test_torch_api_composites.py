"""Tensor methods and torch.* functions composed from others (tensor_composite.py, host_math.py,
special.py), each the same code on tinygrad_nm and on torch on every backend (values, dtypes and
gradients): hyperbolic and inverse trigonometric functions, exp2/logit/xlogy/hypot/logaddexp,
selections (masked_select, take, take_along_dim, index_fill, index_copy), running extremes
(cummax/cummin with ties, logcumsumexp), aminmax, torch.special, and the random fills."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygrad_nm as tnm  # noqa: E402
from fuzz_torch_helpers import fuzz  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd  # noqa: E402

UNIT = rnd((3, 4), low=-0.9, high=0.9)
IDX = np.array([2, 0])

CASES = [
    case("hyperbolic", lambda M, a: (a.sinh(), M.cosh(a), a.asinh(), M.acosh(a.abs() + 1.5), M.arcsinh(a * 30)),
         rnd((3, 4))),
    case("inverse_trig", lambda M, a: (a.asin(), M.acos(a), M.atan(a * 3), a.arctan()), UNIT),
    case("exp2_logit_angles", lambda M, a: (a.exp2(), M.logit(a.sigmoid()), a.sigmoid().logit(eps=0.2),
                                            M.deg2rad(a), a.rad2deg()), rnd((3, 4))),
    case("xlogy_hypot_logaddexp", lambda M, a, b: (M.xlogy(a, b.abs() + 0.1), a.hypot(b), M.logaddexp(a, b * 30),
                                                   a.logaddexp2(b)), rnd((3, 4)), rnd((3, 4), seed=1)),
    case("selections", lambda M, a: (a.masked_select(a > 0), M.masked_select(a, a[0] > 0), a.take(M.tensor([[0, 5],
                                     [11, 3]])), M.take_along_dim(a, M.tensor([[0], [3], [1]]), 1),
                                     M.take_along_dim(a, M.tensor([7, 1]))), rnd((3, 4))),
    case("index_fill_copy", lambda M, a, s: (a.index_fill(1, M.tensor(IDX), -1.5), M.index_fill(a, 0, M.tensor([1]), 2.0),
                                             a.index_copy(1, M.tensor(IDX), s)), rnd((3, 4)), rnd((3, 2), seed=2)),
    case("running", lambda M, a: (*a.cummax(1), *M.cummin(a, 0), a.logcumsumexp(1), M.logcumsumexp(a * 50, 0), M.logcumsumexp(a - M.tensor([[float('inf')], [0], [0]]), 1)),
         np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, -1.0, 7.0], [0.5, 0.25, 0.25, 0.5]])),
    case("aminmax_ravel", lambda M, a: (*M.aminmax(a), *a.aminmax(dim=1, keepdim=True), a.ravel(), a.mH),
         rnd((3, 4))),
    case("special", lambda M, a: (M.special.expit(a), M.special.ndtr(a), M.special.log_ndtr(a),
                                  M.special.xlogy(a.abs(), a.abs() + 1), M.special.sinc(a), M.special.erfc(a),
                                  M.special.softmax(a, 1)), rnd((3, 4))),
]


test_matches_torch = matches_torch(CASES)


@fuzz(30)
@given(data=st.data())
def test_running_extremes_with_ties_and_nans_match_torch(backend, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
    n = int(np.prod(shape))
    values = np.array(data.draw(st.lists(st.sampled_from([-1.0, 0.0, 2.0, float("nan")]), min_size=n, max_size=n)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = values.reshape(shape)
    for name in ("cummax", "cummin"):
        ours, theirs = getattr(tnm.tensor(a), name)(dim), getattr(torch.tensor(a), name)(dim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


def test_in_place_forms_write_self(backend):
    for M in (tnm, torch):
        a = M.tensor(rnd((3, 4)))
        a.index_fill_(1, M.tensor(IDX), 0.5).sinh_()
        if M is tnm:
            ours = a.numpy()
    np.testing.assert_allclose(ours, a.numpy(), rtol=1e-6)


def test_random_fills_and_draws(backend):
    tnm.manual_seed(0)
    ints = tnm.empty(20000).random_(3, 7)
    assert set(np.unique(ints.numpy())) == {3, 4, 5, 6}
    assert set(np.unique(tnm.zeros(5000, dtype=tnm.long).random_(2).numpy())) == {0, 1}
    e = tnm.empty(20000).exponential_(2.0)
    assert e.min().item() >= 0 and abs(e.mean().item() - 0.5) < 0.02
    b = tnm.empty(20000).bernoulli_(0.3)
    assert set(np.unique(b.numpy())) == {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.02
    p = tnm.poisson(tnm.full((20000,), 4.0))
    assert p.dtype == tnm.float32 and abs(p.mean().item() - 4.0) < 0.08
    assert tnm.tensor([0.0, 1.0, 0.0]).multinomial(1).tolist() == [1]
    assert tnm.argwhere(tnm.tensor([[0, 1], [2, 0]])).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to'"):
        tnm.empty(3).random_(5, 2)


def test_attributes_and_dtype_names_as_torch(backend):
    x, y = tnm.ones(4, 3), torch.ones(4, 3)
    assert (x.nbytes, x.itemsize, x.ndimension()) == (y.nbytes, y.itemsize, y.ndimension())
    on_host = x.device.type == "cpu"  # torch's tensor is on its CPU; ours on this backend's device
    assert (x.get_device(), x.is_cpu) == ((y.get_device(), y.is_cpu) if on_host else (0, False))
    for name in ("int8", "int16", "short", "uint8"):
        t = tnm.tensor([1, 2], dtype=getattr(tnm, name))
        assert t.tolist() == [1, 2] and t.dtype == tnm.int64  # every integer width is stored as int64
