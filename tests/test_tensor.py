"""The Tensor API contract of issue 2, on every backend, checked against NumPy."""

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor


def vals(t):
    return np.asarray(t.detach().numpy() if t.requires_grad else t.numpy())


# --- construction and dtype inference ----------------------------------------------------------
@pytest.mark.parametrize("data,dtype,shape", [
    (2.5, "float32", ()),
    (3, "int64", ()),
    (True, "bool", ()),
    ([1.0, 2.0], "float32", (2,)),
    ([1, 2.5], "float32", (2,)),          # a float anywhere makes it float
    ([1, 2, 3], "int64", (3,)),           # all-integer data: int64, as in PyTorch
    ([[1, 2], [3, 4]], "int64", (2, 2)),
    ([[[0.5]]], "float32", (1, 1, 1)),
    ([True, False], "bool", (2,)),
    ([], "float32", (0,)),
    ([[], []], "float32", (2, 0)),
])
def test_construct_from_python_data_infers_dtype(backend, data, dtype, shape):
    t = Tensor(data)
    assert t.dtype == dtype and t.shape == shape and t.backend == backend
    np.testing.assert_array_equal(t.numpy(), np.array(data, dtype=dtype))


@pytest.mark.parametrize("np_dtype,expected", [
    (np.float32, "float32"), (np.float64, "float64"), (np.int64, "int64"),
    (np.int32, "int64"), (np.uint8, "int64"), (np.bool_, "bool"),
])
def test_construct_from_numpy_keeps_dtype(backend, np_dtype, expected):
    a = np.array([[1, 0, 3], [4, 5, 0]], dtype=np_dtype)
    t = Tensor(a)
    assert t.dtype == expected and t.shape == (2, 3)
    np.testing.assert_array_equal(t.numpy(), a)
    a[0, 0] = 9  # the tensor holds a copy
    assert t.numpy()[0, 0] == 1


def test_construct_from_numpy_scalar_and_0d(backend):
    assert Tensor(np.float64(1.5)).dtype == "float64"
    assert Tensor(np.array(2.0, dtype=np.float32)).shape == ()
    assert Tensor(np.int64(7)).item() == 7


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float64, np.dtype("float32"), tnm.float64, float,
                                   "int64", int, tnm.int64, "bool"])
def test_dtype_argument_chooses(backend, dtype):
    t = Tensor([[1, 0], [1, 2]], dtype=dtype)
    assert t.dtype == dtype
    assert t.numpy().dtype == np.dtype(str(t.dtype))


def test_dtype_compares_with_names_numpy_and_tnm(backend):
    t = Tensor([1.0])
    assert t.dtype == "float32" and t.dtype == np.float32 and t.dtype == tnm.float32
    assert t.dtype != "float64" and t.dtype != tnm.int64
    assert str(t.dtype) == "float32"


def test_construct_from_tensor_copies(backend):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor(a)
    assert b.dtype == "float32" and not b.requires_grad and b.is_leaf
    b[0] = 5.0
    assert vals(a).tolist() == [1.0, 2.0]
    assert Tensor(a, dtype="float64").dtype == "float64"
    c = Tensor(Tensor([1, 2]))
    assert c.dtype == "int64" and c.tolist() == [1, 2]


def test_construct_on_a_named_backend(backend):
    for name in tnm.available_backends():
        t = Tensor([1.0, 2.0], backend=name)
        assert t.backend == name and t.tolist() == [1.0, 2.0]


# --- promotion --------------------------------------------------------------------------------------
def test_promotion_between_tensors(backend):
    i, f32, f64 = Tensor([1, 2]), Tensor([0.5, 0.5]), Tensor([0.25, 0.25], dtype="float64")
    assert (i + f32).dtype == "float32" and (f32 + i).dtype == "float32"
    assert (f32 * f64).dtype == "float64" and (f64 - f32).dtype == "float64"
    assert (i + f64).dtype == "float64"
    assert (i + i).dtype == "int64" and (i * i).tolist() == [1, 4]
    assert (i / i).dtype == "float32" and (i / Tensor([2, 4])).tolist() == [0.5, 0.5]
    np.testing.assert_allclose(vals(f32 * f64), [0.125, 0.125])
    np.testing.assert_allclose(vals(i + f32), [1.5, 2.5])
    assert (i @ f64.reshape(2, 1)).dtype == "float64"


def test_python_scalars_do_not_widen(backend):
    f32, i = Tensor([1.0, 2.0]), Tensor([1, 2])
    for r in (f32 + 2.5, 2.5 * f32, f32 / 3, 1 - f32, f32 ** 2, f32 * 10**10, f32 + np.float64(1.0)):
        assert r.dtype == "float32"
    assert (i + 2).dtype == "int64" and (i * 3).tolist() == [3, 6]
    assert (i + 2.5).dtype == "float32" and (i + 2.5).tolist() == [3.5, 4.5]
    assert (i / 2).dtype == "float32" and (i / 2).tolist() == [0.5, 1.0]
    assert (2 / i).tolist() == [2.0, 1.0]
    f64 = Tensor([1.0], dtype="float64")
    assert (f64 + 1).dtype == "float64" and (f64 * 0.5).dtype == "float64"


# --- constructors ---------------------------------------------------------------------------------
def test_zeros_ones_full(backend):
    z = Tensor.zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == "float32" and z.tolist() == [[0.0] * 3] * 2 and z.backend == backend
    assert Tensor.zeros((2, 3)).shape == (2, 3) and Tensor.zeros([4]).shape == (4,)
    assert Tensor.zeros().shape == () and Tensor.zeros(0, 2).shape == (0, 2)
    o = Tensor.ones(3, dtype="float64")
    assert o.dtype == "float64" and o.tolist() == [1.0, 1.0, 1.0]
    assert Tensor.ones(2, 2, requires_grad=True).requires_grad
    f = Tensor.full((2, 2), 1.5)
    assert f.dtype == "float32" and f.tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert Tensor.full((3,), 7).dtype == "int64" and Tensor.full((3,), 7).tolist() == [7, 7, 7]
    assert Tensor.full((2,), 7, dtype="float64").dtype == "float64"
    assert Tensor.zeros_like(o).dtype == "float64" and Tensor.ones_like(z).shape == (2, 3)


@pytest.mark.parametrize("make", [Tensor.rand, Tensor.randn])
def test_rand_randn_reproducible_and_same_on_every_backend(backend, make):
    a, b = make(3, 4, seed=42), make(3, 4, seed=42)
    assert a.shape == (3, 4) and a.dtype == "float32" and a.backend == backend
    assert a.tolist() == b.tolist()
    assert make(3, 4, seed=43).tolist() != a.tolist()
    for name in tnm.available_backends():
        np.testing.assert_array_equal(make(3, 4, seed=42, backend=name).numpy(), a.numpy())
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    x1, x2 = make(5, generator=g1), make(5, generator=g1)
    assert x1.tolist() != x2.tolist()                   # the generator advances
    assert make(5, generator=g2).tolist() == x1.tolist()  # same seed, same stream
    tnm.manual_seed(3)
    m1 = make(4)
    tnm.manual_seed(3)
    assert make(4).tolist() == m1.tolist()
    assert make(2, 2, seed=1, dtype="float64").dtype == "float64"
    assert make(2, seed=1, requires_grad=True).requires_grad


def test_rand_and_randn_distributions(backend):
    u = Tensor.rand(400, seed=0).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.05
    n = Tensor.randn(400, seed=0).numpy()
    assert abs(n.mean()) < 0.15 and abs(n.std() - 1) < 0.15


def test_arange_and_eye(backend):
    a = Tensor.arange(5)
    assert a.dtype == "int64" and a.tolist() == [0, 1, 2, 3, 4]
    assert Tensor.arange(2, 8, 3).tolist() == [2, 5]
    f = Tensor.arange(0, 1, 0.25)
    assert f.dtype == "float32" and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert Tensor.arange(3, dtype="float64").dtype == "float64"
    assert Tensor.arange(5, 0, -2).tolist() == [5, 3, 1]
    e = Tensor.eye(3)
    assert e.dtype == "float32" and e.tolist() == np.eye(3).tolist()
    assert Tensor.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]


# --- attributes ---------------------------------------------------------------------------------------
def test_attributes(backend):
    t = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert t.ndim == 2 and t.size() == (2, 3) and t.size(-1) == 3 and t.numel() == 6 and len(t) == 2
    assert t.backend == backend and t.dtype == "float32"
    assert t.requires_grad is False and t.grad is None and t.is_leaf
    s = Tensor(1.0)
    assert s.shape == () and s.ndim == 0 and s.size() == () and s.numel() == 1
    w = Tensor([1.0], requires_grad=True)
    y = w * 2
    assert w.is_leaf and not y.is_leaf and y.requires_grad
    with tnm.no_grad():
        assert (w * 2).is_leaf
    assert (t * 2).is_leaf  # results that need no gradient are leaves, as in PyTorch


# --- conversions ---------------------------------------------------------------------------------------
def test_conversions(backend):
    t = Tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    n = t.numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.float32 and n.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(t), n)
    assert np.array(t, dtype=np.float64).dtype == np.float64
    assert np.sum(np.asarray(t)) == 10.5 and np.allclose(np.exp(np.asarray(t)), np.exp(n))
    one = Tensor([[2.5]])
    assert one.item() == 2.5 and isinstance(one.item(), float)
    assert float(one) == 2.5 and float(Tensor(3)) == 3.0
    assert Tensor(7).item() == 7 and isinstance(Tensor(7).item(), int)
    assert int(Tensor([4])) == 4
    assert bool(Tensor([1.0])) is True and bool(Tensor(0.0)) is False and bool(Tensor([[0]])) is False
    assert Tensor(True).item() is True
    assert Tensor([1, 2])[1].item() == 2 and Tensor(2.0).tolist() == 2.0
    r = Tensor([1.0, 2.0], requires_grad=True)
    assert r.detach().numpy().tolist() == [1.0, 2.0] and r.tolist() == [1.0, 2.0]
    assert float(r[0]) == 1.0 and r[1].item() == 2.0


def test_int_tensor_as_python_index(backend):
    assert [10, 20, 30][Tensor(2)] == 30
    assert list(range(5))[Tensor([1])] == 1


def test_repr_shows_values_shape_dtype_backend(backend):
    r = repr(Tensor([[1.5, -2.0], [3.25, 4.0]]))
    for part in ("1.5", "-2.", "3.25", "(2, 2)", "float32", backend):
        assert part in r, f"{part!r} missing from {r}"
    r = repr(Tensor([1, 2], dtype="int64"))
    assert "int64" in r and "1" in r
    assert "requires_grad=True" in repr(Tensor([1.0], requires_grad=True))
    assert "grad_fn" in repr(Tensor([1.0], requires_grad=True) * 2)


def test_to_another_backend_and_dtype(backend):
    t = Tensor([[1.0, 2.0]], dtype="float64")
    for name in tnm.available_backends():
        u = t.to(name)
        assert u.backend == name and u.dtype == "float64" and u.tolist() == [[1.0, 2.0]]
    f = t.to("float32")
    assert f.dtype == "float32" and f.backend == backend
    assert Tensor([1.5, 2.5]).long().tolist() == [1, 2] and Tensor([1, 2]).float().dtype == "float32"


# --- operators ----------------------------------------------------------------------------------------
A = [[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]]
B = [[2.0, 0.5, -1.0], [1.0, 2.0, 4.0]]


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a + 2, lambda a, b: 2 + a, lambda a, b: a - 2, lambda a, b: 2 - a, lambda a, b: 3 * a,
    lambda a, b: a * 3, lambda a, b: a / 4, lambda a, b: 4 / a, lambda a, b: a ** 2, lambda a, b: 2 ** a,
    lambda a, b: abs(a) ** 0.5, lambda a, b: -a, lambda a, b: +a, lambda a, b: a @ b.T, lambda a, b: a.T @ b,
    lambda a, b: a + b[0], lambda a, b: a[:, :1] * b, lambda a, b: 1.5 - a * b / 2 + a ** 3,
], ids=lambda f: "op")
def test_operators_match_numpy(backend, op):
    a, b = np.array(A, dtype=np.float32), np.array(B, dtype=np.float32)
    out = op(Tensor(A), Tensor(B))
    expected = op(a, b)
    assert out.shape == expected.shape and out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_operators_with_array_likes(backend):
    t = Tensor([1.0, 2.0])
    assert (t + [1.0, 1.0]).tolist() == [2.0, 3.0]
    assert ([1.0, 1.0] - t).tolist() == [0.0, -1.0]
    assert (t * np.array([2.0, 3.0], dtype=np.float32)).tolist() == [2.0, 6.0]
    assert (np.float32(2) * t).tolist() == [2.0, 4.0]  # NumPy scalars defer to the Tensor
    assert ([3.0, 4.0] @ t).item() == 11.0


def test_math_methods_match_numpy(backend):
    x = np.array([0.1, 0.5, 0.9], dtype=np.float64)
    t = Tensor(x)
    for ours, ref in [(t.exp(), np.exp(x)), (t.log(), np.log(x)), (t.sqrt(), np.sqrt(x)), (t.abs(), x),
                      ((-t).abs(), x), (t.atanh(), np.arctanh(x)), (t.tanh(), np.tanh(x)),
                      (t.sigmoid(), 1 / (1 + np.exp(-x))), ((t - 0.5).relu(), np.maximum(x - 0.5, 0)),
                      (t.sum(), x.sum()), (t.mean(), x.mean()), (t.max(), x.max())]:
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12)
    assert Tensor([1, 2, 3]).exp().dtype == "float32"  # float-only math lifts ints
    assert Tensor([1, 2, 3]).sum().dtype == "int64" and Tensor([1, 2, 3]).sum().item() == 6
    assert Tensor([1, 2, 4]).mean().item() == pytest.approx(7 / 3)
    assert Tensor([[1, 5], [3, 2]]).max(axis=0).tolist() == [3, 5]


def test_sum_of_bools_counts(backend):
    correct = Tensor([1, 2, 3, 4]) == Tensor([1, 0, 3, 4])
    s = correct.sum()
    assert s.dtype == "int64" and s.item() == 3 and s.tolist() == 3
    assert (Tensor([[True, False], [True, True]]).sum(axis=0)).tolist() == [2, 1]
    assert correct.float().mean().item() == 0.75 and correct.mean().item() == 0.75


def test_comparisons_return_non_differentiable_bool_tensors(backend):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c, expected in [(x < 2, [1, 0, 0]), (x <= 2, [1, 1, 0]), (x > 2, [0, 0, 1]), (x >= 2, [0, 1, 1]),
                        (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1]), (2 < x, [0, 0, 1]), (2.0 >= x, [1, 1, 0]),
                        (x == Tensor([1.0, 0.0, 3.0]), [1, 0, 1]), (x < Tensor([[2.0], [4.0]]), [[1, 0, 0], [1, 1, 1]])]:
        assert c.dtype == "bool" and not c.requires_grad and c.grad_fn is None
        assert c.tolist() == np.array(expected, dtype=bool).tolist()
    assert (Tensor([1, 2]) < 1.5).tolist() == [True, False]


def test_python_max_with_a_tensor(backend):
    t = Tensor(0.5, requires_grad=True)
    r = max(0, t)
    assert r is t
    r.backward()
    assert t.grad.item() == 1.0
    assert max(0, Tensor(-0.5)) == 0
    assert max(0, Tensor(-0.5) * 2) == 0 and max(Tensor(3.0), 1).item() == 3.0
    assert min(Tensor(2.0), 5) .item() == 2.0


def test_tensors_are_hashable(backend):
    a, b = Tensor([1.0]), Tensor([1.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and a in {a}


# --- in-place --------------------------------------------------------------------------------------
def test_inplace_ops_mutate_storage(backend):
    t = Tensor([1.0, 2.0, 4.0])
    view, same = t.data, t
    t += 1
    t -= Tensor([0.5, 0.5, 0.5])
    t *= 2
    t /= Tensor([1.0, 2.0, 4.0])
    assert t is same and t.tolist() == [3.0, 2.5, 2.25]
    assert view.tolist() == [3.0, 2.5, 2.25]  # one storage
    i = Tensor([1, 2])
    i += 3
    assert i.dtype == "int64" and i.tolist() == [4, 5]
    m = Tensor([[1.0, 2.0], [3.0, 4.0]])
    m += Tensor([10.0, 20.0])  # broadcast into the tensor's shape
    assert m.tolist() == [[11.0, 22.0], [13.0, 24.0]]


def test_inplace_on_a_leaf_allowed_under_no_grad(backend):
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    same = w
    with tnm.no_grad():
        w -= 0.25 * w.grad
        w *= 2
    assert w is same and w.requires_grad and w.is_leaf
    assert w.tolist() == [1.0, 2.0]  # (1 - 0.5) * 2, (2 - 1) * 2
    (w * 3).sum().backward()  # still a working leaf
    assert w.grad.tolist() == [5.0, 7.0]


def test_inplace_inside_a_graph_records_the_op(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y += 1
    y *= x
    y.sum().backward()  # y = (2x + 1) x, dy/dx = 4x + 1
    assert x.grad.tolist() == [5.0, 9.0]
    out = 0.0
    out += x[0] * 3.0  # a Python float that becomes a Tensor
    out += x[1]
    assert isinstance(out, Tensor)
    out.backward()
    assert x.grad.tolist() == [8.0, 10.0]
    acc = Tensor(0.0)
    acc += x[0]  # a constant accumulating a value that needs a gradient
    acc.backward()
    assert x.grad.tolist() == [9.0, 10.0]


# --- indexing ---------------------------------------------------------------------------------------
X = np.arange(24, dtype=np.float32).reshape(4, 6)


@pytest.mark.parametrize("key", [0, -1, 3, slice(1, 3), slice(None, None, 2), slice(-3, None), (1, 2), (-1, -6),
                                 (slice(None), 0), (slice(1, None), slice(None, 4, 3)), None, (None, 1),
                                 (slice(None), None), Ellipsis, (Ellipsis, 2), (2, Ellipsis),
                                 [0, 3, 0], np.array([2, 1]), (slice(None), [5, 0, 5]), (2, [1, 1]),
                                 [-1, -4], (), slice(5, 10), slice(3, 1)], ids=repr)
def test_getitem_matches_numpy(backend, key):
    out = Tensor(X)[key]
    expected = X[key]
    assert out.shape == expected.shape and out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("key", [(1, slice(None), [0, 3, 3]), ([1, 0], slice(None), 2), (0, [2, 1], 3),
                                 (slice(None), 1, [0, 3]), ([0, 1], 2, slice(1, 3)), (1, slice(None), [2])],
                         ids=repr)
def test_int_and_int_array_index_order_is_pytorchs(backend, key):
    # PyTorch applies the ints first, so a slice between an int and the int array leaves the array's
    # axis in place: x[1, :, [0, 3]] has shape (3, 2) (NumPy would give (2, 3)); reading and writing agree
    torch = pytest.importorskip("torch")
    x = torch.arange(24.0, dtype=torch.float64).reshape(2, 3, 4)
    t = Tensor(x.numpy())
    out = t[key]
    assert out.shape == tuple(x[key].shape)
    np.testing.assert_array_equal(out.numpy(), x[key].numpy())
    if any(isinstance(k, list) and len(set(k)) < len(k) for k in key):
        return  # which write wins at a repeated index is unspecified (parallel backends race)
    value = -torch.arange(x[key].numel(), dtype=torch.float64).reshape(x[key].shape) - 1
    t[key] = Tensor(value.numpy())
    x[key] = value
    x = x.numpy()
    np.testing.assert_array_equal(t.numpy(), x)


def test_getitem_with_tensor_and_numpy_int_index(backend):
    t = Tensor(X)
    assert t[Tensor([3, 0])].tolist() == X[[3, 0]].tolist()
    assert t[Tensor(2)].tolist() == X[2].tolist()
    assert t[np.int64(1), np.int32(2)].item() == X[1, 2]
    assert Tensor([5.0, 6.0])[1].shape == ()
    assert [v.item() for v in Tensor([1.0, 2.0, 3.0])] == [1.0, 2.0, 3.0]


def test_setitem_writes_storage(backend):
    t = Tensor(np.zeros((3, 4), dtype=np.float32))
    view = t.data
    t[0] = 5
    t[1, 2] = -1.5
    t[2] = Tensor([1.0, 2.0, 3.0, 4.0])
    t[:, 3] = [7.0, 8.0, 9.0]
    t[1, :2] = Tensor([0.5])  # broadcasts
    expected = np.zeros((3, 4), dtype=np.float32)
    expected[0] = 5
    expected[1, 2] = -1.5
    expected[2] = [1, 2, 3, 4]
    expected[:, 3] = [7, 8, 9]
    expected[1, :2] = 0.5
    np.testing.assert_array_equal(t.numpy(), expected)
    np.testing.assert_array_equal(view.numpy(), expected)
    t[[0, 2], 1] = 0.0
    assert t[0, 1].item() == 0.0 and t[2, 1].item() == 0.0
    i = Tensor([1, 2, 3])
    i[1] = 2.7  # stored as the tensor's dtype
    assert i.dtype == "int64" and i.tolist() == [1, 2, 3]
    s = Tensor(1.0)
    s[()] = 4.0
    assert s.item() == 4.0


def test_setitem_on_a_leaf_that_requires_grad_under_no_grad(backend):
    w = Tensor([1.0, 2.0], requires_grad=True)
    with tnm.no_grad():
        w[0] = 10.0
    assert w.tolist() == [10.0, 2.0] and w.requires_grad


# --- .data, detach, requires_grad_, zero_ --------------------------------------------------------
def test_data_is_a_view_for_the_walkthrough_update(backend):
    w = Tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True)
    x = [0.2, 0.5, 0.4, 0.7]
    out = 0.0
    for i in range(4):
        out += x[i] * w[i]
    out.backward()
    for i in range(4):
        w.data[i] -= 0.1 * w.grad.data[i]
    np.testing.assert_allclose(w.detach().numpy(), np.array([0.98, 0.4, 0.86, -0.08]) - 0.1 * np.array(x),
                               rtol=1e-6)
    d = w.data
    assert not d.requires_grad and d.grad_fn is None and d.shape == (4,)
    w.grad.zero_()
    assert w.grad.tolist() == [0.0] * 4 and w.requires_grad and w.is_leaf


def test_data_view_of_a_0d_leaf(backend):
    b = Tensor(0.5, requires_grad=True)
    (b * 4).backward()
    b.data -= 0.1 * b.grad.data
    assert b.item() == pytest.approx(0.1)
    b.grad.zero_()
    assert b.grad.item() == 0.0


def test_data_and_detach_are_views_for_0d_results(backend):
    t = Tensor([1.0, 2.0])[1] * 3  # a 0-d result of ops
    v = t.data
    v += 1
    assert t.item() == 7.0 and v.item() == 7.0
    d = t.detach()
    d[()] = 9.0
    assert t.item() == 9.0 and t.data.item() == 9.0
    b = (Tensor(1.0) * 2).detach().requires_grad_()  # a 0-d parameter made by ops
    (b * 3).backward()
    (b * 3).backward()  # the accumulated gradient is itself an op result
    step = b.data
    step -= 0.1 * b.grad.data
    assert b.item() == pytest.approx(1.4)
    b.grad.data.zero_()  # the old-PyTorch idiom
    assert b.grad.item() == 0.0


def test_data_setter(backend):
    w = Tensor([1.0, 2.0], requires_grad=True)
    w.data = Tensor([3.0, 4.0])
    assert w.tolist() == [3.0, 4.0] and w.requires_grad and w.is_leaf


def test_detach_shares_storage_and_cuts_the_graph(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 7.0  # same storage, as in PyTorch
    assert x.tolist() == [7.0, 2.0]
    y = (x * 2).detach() * x
    y.sum().backward()
    assert x.grad.tolist() == [14.0, 4.0]


def test_requires_grad_(backend):
    x = Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    x.requires_grad_(False)
    assert not x.requires_grad
    assert Tensor([1.0], requires_grad=True).requires_grad


# --- sum of a list, movement, matmul -------------------------------------------------------------
def test_python_sum_of_tensors(backend):
    ts = [Tensor([1.0, 2.0]), Tensor([3.0, 4.0]), Tensor([5.0, 6.0])]
    s = sum(ts)
    assert isinstance(s, Tensor) and s.tolist() == [9.0, 12.0]
    xs = [Tensor(float(i), requires_grad=True) for i in range(5)]
    total = sum(x * x for x in xs)
    total.backward()
    assert total.item() == 30.0 and [x.grad.item() for x in xs] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert sum([Tensor(1.0)], 10.0).item() == 11.0


def test_movement_matches_numpy(backend):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = Tensor(a)
    for ours, ref in [(t.reshape(6, 4), a.reshape(6, 4)), (t.reshape((4, -1)), a.reshape(4, -1)),
                      (t.reshape(-1), a.reshape(-1)), (t.reshape(2, 3, 4), a), (t.view(3, 8), a.reshape(3, 8)),
                      (t.transpose(), a.transpose()), (t.T, a.T), (t.transpose(0, 1), a.swapaxes(0, 1)),
                      (t.transpose(-1, -2), a.swapaxes(-1, -2)), (t.permute(2, 0, 1), a.transpose(2, 0, 1)),
                      (t.permute((1, 0, 2)), a.transpose(1, 0, 2)), (t.flatten(), a.reshape(-1)),
                      (t.flatten(1), a.reshape(2, 12)), (t.permute(2, 1, 0).reshape(4, 6), a.transpose(2, 1, 0).reshape(4, 6)),
                      (Tensor(5.0).reshape(1, 1), np.array([[5.0]])), (Tensor([[5.0]]).reshape(()), np.array(5.0))]:
        assert ours.shape == ref.shape
        np.testing.assert_array_equal(ours.numpy(), ref)
    m = Tensor([[1.0, 2.0, 3.0]])
    assert m.T.shape == (3, 1) and Tensor([1.0, 2.0]).T.shape == (2,)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                                   ((1, 1), (1, 5)), ((4, 1), (1, 3)), ((0, 3), (3, 2)), ((2, 0), (0, 3))])
def test_matmul_shapes_as_numpy(backend, sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = Tensor(a, dtype="float64") @ Tensor(b, dtype="float64")
    expected = a @ b
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Tensor(a, dtype="float64").matmul(b).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_matmul_dtypes(backend):
    i = Tensor([[1, 2], [3, 4]])
    r = i @ i
    assert r.dtype == "int64" and r.tolist() == [[7, 10], [15, 22]]
    assert (i @ Tensor([[0.5], [0.5]])).dtype == "float32"
    assert (Tensor([1.0, 2.0]) @ Tensor([1.0, 1.0], dtype="float64")).dtype == "float64"


# --- backends: registry and selection --------------------------------------------------------------
def test_backend_selection(backend):
    names = tnm.available_backends()
    assert "python" in names and "numpy" in names and backend in names
    assert tnm.get_backend() == backend
    assert Tensor([1.0]).backend == backend
    other = "python" if backend != "python" else "numpy"
    with tnm.use_backend(other):
        assert tnm.get_backend() == other and Tensor([1.0]).backend == other
        assert Tensor.zeros(2).backend == other and Tensor.rand(2, seed=0).backend == other
    assert tnm.get_backend() == backend
    previous = tnm.get_backend()
    try:
        tnm.set_backend(other)
        assert Tensor(1.0).backend == other
    finally:
        tnm.set_backend(previous)
    assert tnm.get_backend() == backend


def test_use_backend_restores_after_an_exception(backend):
    with pytest.raises(KeyError):
        with tnm.use_backend("python"):
            raise KeyError
    assert tnm.get_backend() == backend


def test_result_stays_on_the_operands_backend(backend):
    other = "python" if backend != "python" else "numpy"
    t = Tensor([1.0, 2.0])
    with tnm.use_backend(other):
        assert (t * 2 + t).backend == backend and t.sum().backend == backend


@pytest.mark.parametrize("make", [lambda: Tensor.zeros(()), lambda: Tensor(0.0), lambda: Tensor([3.0])[0] * 1.0],
                         ids=["zeros", "literal", "op-result"])
def test_setitem_of_a_0d_tensor_keeps_its_shape(backend, make):
    t = make()
    t[...] = Tensor([5.0])  # one element, written into a 0-d tensor
    assert t.shape == () and t.numpy().shape == () and t.item() == 5.0


def test_numpy_reductions_on_a_tensor(backend):
    # np.sum/np.mean/np.max call the tensor's own methods with NumPy's dtype= and out= arguments
    t = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    s = np.sum(t)
    assert isinstance(s, Tensor) and s.item() == 10.0
    assert np.mean(t, axis=0).tolist() == [2.0, 3.0] and np.max(t).item() == 4.0
    assert np.sum(t, dtype=np.float64).dtype == "float64"
    s.backward()
    assert t.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    with pytest.raises(TypeError, match="out="):
        np.sum(t, out=np.zeros(()))
    assert t.detach().tolist() == [[1.0, 2.0], [3.0, 4.0]]
