"""Advanced indexing, boolean masks, scatter_add / scatter / index_add (tinygrad_nm/indexing.py)
against PyTorch, forward and backward, on every backend; float64 finite differences; the errors.

Hypothesis draws the shapes, the integer-array indices (several per key, broadcasting against
each other, of 0 to 2 dims), masks, ints, slices, None and Ellipsis around them, and the value
written; the profile and sizes are tests/fuzz_torch_helpers.py's (smaller on the python backend).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import DTYPES, close, compare, fuzz, max_side, shapes, values  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
import tinygrad_nm as tnm  # noqa: E402
from tinygrad_nm import Tensor, no_grad  # noqa: E402
from tinygrad_nm.indexing import is_advanced  # noqa: E402
from tinygrad_nm.napkin.trace import recording  # noqa: E402


# --- drawing keys ------------------------------------------------------------------------------
@st.composite
def advanced_key(draw, shape):
    """A key for a tensor of `shape` with integer arrays (host arrays, to be turned into each
    library's index type) broadcasting against each other, a mask sometimes, ints and slices
    between them, Nones inserted and sometimes an Ellipsis. The first array has the broadcast
    shape, the others a suffix of it with some sides 1."""
    base = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))  # the arrays' broadcast shape
    kinds = draw(st.lists(st.sampled_from(["array", "array", "int", "slice", "mask"]), min_size=1,
                          max_size=len(shape)))
    entries, axis, rng, first = [], 0, np.random.default_rng(draw(st.integers(0, 2 ** 16))), True
    for kind in kinds:
        if axis >= len(shape):
            break
        n = shape[axis]
        if kind == "mask":
            m = draw(st.integers(1, len(shape) - axis))
            entries.append(rng.random(shape[axis:axis + m]) < 0.6)
            axis += m
            continue
        if kind == "array":
            kept = base if first else base[len(base) - draw(st.integers(0, len(base))):]
            own = kept if first else tuple(1 if draw(st.booleans()) else d for d in kept)
            entries.append(rng.integers(-n, n, size=own))
            first = False
        elif kind == "int":
            entries.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.none() | st.integers(-n - 1, n + 1)
            entries.append(slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 2))))
        axis += 1
    if axis < len(shape) and draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), Ellipsis)
    for _ in range(draw(st.integers(0, 1))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    key = tuple(entries)
    assume(is_advanced(key))  # the rest is the core's one-array path, tested elsewhere
    return key


def ours(key, kind="tensor"):
    """The key with its arrays as tinygrad_nm tensors, NumPy arrays or nested lists."""
    def one(k):
        if not isinstance(k, np.ndarray):
            return k
        return Tensor(k) if kind == "tensor" else k if kind == "numpy" else k.tolist()
    return tuple(one(k) for k in key)


def theirs(key):
    return tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)


def draw_case(data, backend, min_dims=1):
    shape = shapes(data.draw, backend, min_dims=min_dims, min_side=1)
    key = data.draw(advanced_key(shape), label="key")
    try:  # PyTorch decides what is a valid key: one it rejects is a case for the error tests
        torch.zeros(shape)[theirs(key)]
    except (IndexError, RuntimeError, ValueError):
        assume(False)
    return shape, key


# --- reading: forward and backward against PyTorch -----------------------------------------------
@fuzz(30)
@given(data=st.data())
def test_advanced_read_matches_torch(backend, data):
    shape, key = draw_case(data, backend)
    kind = data.draw(st.sampled_from(["tensor", "numpy", "list"]), label="index type")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    compare(lambda x: x[ours(key, kind)], lambda x: x[theirs(key)], [values(data.draw, shape)], dtype)


# --- writing: x[key] = v ------------------------------------------------------------------------
@fuzz(25)
@given(data=st.data())
def test_advanced_write_matches_torch(backend, data):
    shape, key = draw_case(data, backend)
    positions = torch.arange(int(np.prod(shape))).reshape(shape)[theirs(key)]
    assume(len(set(positions.reshape(-1).tolist())) == positions.numel())  # repeats: PyTorch's order is open
    out_shape = tuple(positions.shape)
    if data.draw(st.booleans(), label="scalar value"):
        value = data.draw(st.sampled_from([1.5, -2, True]))
        theirs_value = ours_value = value
    else:
        kept = out_shape[len(out_shape) - data.draw(st.integers(0, len(out_shape))):]
        vshape = tuple(1 if data.draw(st.booleans()) else d for d in kept)
        value = values(data.draw, vshape)
        theirs_value, ours_value = torch.tensor(value), Tensor(value)
    start = values(data.draw, shape)
    x, ref = Tensor(start), torch.tensor(start)
    x[ours(key)] = ours_value
    ref[theirs(key)] = theirs_value
    close(x.numpy(), ref.numpy(), "float64", "after the write")


def test_write_cases(backend):
    x = Tensor(np.zeros((3, 4)))
    x[tnm.arange(3), Tensor([1, 0, 3])] = Tensor([1.0, 2.0, 3.0])
    x[x == 0] = -1.0
    x[[0, 2], :][0] = 9.0  # reading with an array makes a copy: this writes nowhere (as in PyTorch)
    ref = torch.zeros(3, 4)
    ref[torch.arange(3), torch.tensor([1, 0, 3])] = torch.tensor([1.0, 2.0, 3.0])
    ref[ref == 0] = -1.0
    np.testing.assert_array_equal(x.numpy(), ref.numpy())
    y = Tensor(np.zeros((2, 3), dtype=np.int64))
    y[Tensor([True, False]), 1:] = Tensor([[7.9, 8.2]])  # a float value into an int tensor: truncated
    np.testing.assert_array_equal(y.numpy(), [[0, 7, 8], [0, 0, 0]])
    z, zref = Tensor(np.zeros((2, 2))), torch.zeros(2, 2, dtype=torch.float64)
    z[Tensor([[True, False], [False, True]])] = Tensor([[[4.0]]])  # leading dims of 1 in the value
    zref[torch.tensor([[True, False], [False, True]])] = torch.tensor([[[4.0]]], dtype=torch.float64)
    np.testing.assert_array_equal(z.numpy(), zref.numpy())


def test_write_through_a_view_reaches_the_base_as_a_one_array_write_does(backend):
    """A write through a basic view reaches its base (PyTorch's views share storage, on every
    backend); several arrays must behave as one array does."""
    one, many = Tensor(np.zeros((3, 4))), Tensor(np.zeros((3, 4)))
    one[:, 1:][Tensor([1])] = 5.0
    many[:, 1:][Tensor([1]), Tensor([2])] = 5.0
    assert one.numpy()[1, 1:].tolist() == [5.0, 5.0, 5.0] and one.numpy().sum() == 15.0
    assert many.numpy()[1, 3] == 5.0 and many.numpy().sum() == 5.0


def test_write_needs_no_grad(backend):
    w = Tensor(np.zeros((2, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[Tensor([0, 1]), Tensor([1, 0])] = 1.0
    with no_grad():
        w[Tensor([0, 1]), Tensor([1, 0])] = 1.0
    np.testing.assert_array_equal(w.detach().numpy(), [[0, 1], [1, 0]])


# --- masks --------------------------------------------------------------------------------------
def test_mask_reads_are_host_transfers_napkin_sees(backend):
    x = Tensor(np.arange(6.0).reshape(2, 3))
    mask = x > 2
    with recording() as calls:
        out = x[mask]
    assert "to_numpy" in [name for name, _, _ in calls]
    np.testing.assert_array_equal(out.numpy(), [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(x[:, Tensor([True, False, True])].numpy(), [[0, 2], [3, 5]])
    np.testing.assert_array_equal(x[Tensor([False, True])].numpy(), [[3, 4, 5]])


# --- float64 finite differences ------------------------------------------------------------------
@pytest.mark.parametrize("fn, shape", [
    (lambda x: x[tnm.arange(3), Tensor([2, 0, 2])], (3, 3)),
    (lambda x: x[Tensor([[0, 2], [1, 1]]), :, Tensor([1, 0])], (3, 3, 2)),
    (lambda x: x[:, Tensor([1, 0, 1]), Tensor([[0], [1]])], (3, 3, 2)),
    (lambda x: x[x.detach() > 0], (3, 3)),
    (lambda x: x[1, Tensor([True, False, True])] * 2, (3, 3)),
], ids=["arange_pair", "separated", "in_place", "mask", "int_and_mask"])
def test_read_gradients_match_finite_differences(backend, fn, shape):
    check_grad(fn, uniform(shape))


def test_scatter_family_gradients_match_finite_differences(backend):
    index = Tensor([[0, 2, 1], [0, 0, 2]])
    check_grad(lambda x, s: x.scatter_add(0, index, s), uniform((3, 3)), uniform((2, 3), seed=1))
    check_grad(lambda x, s: x.scatter(1, Tensor([[2, 0], [1, 2], [0, 1]]), s), uniform((3, 3)), uniform((3, 2), seed=2))
    check_grad(lambda x, s: x.index_add(1, Tensor([2, 0, 2]), s, alpha=0.5), uniform((2, 3)), uniform((2, 3), seed=3))
    check_grad(lambda x: x.gather(1, Tensor([[0, 0], [2, 1]])), uniform((2, 3)))


# --- gather, scatter_add, scatter, index_add against PyTorch -------------------------------------
def _dim_and_index(data, backend, unique):
    shape = shapes(data.draw, backend, min_dims=1, min_side=1)
    d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    ishape = tuple(data.draw(st.integers(1, s)) if a != d % len(shape) else data.draw(st.integers(1, max_side(backend)))
                   for a, s in enumerate(shape))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    if unique:  # distinct positions along dim for every other coordinate: scatter's writes never collide
        ishape = tuple(min(i, shape[d]) if a == d % len(shape) else i for a, i in enumerate(ishape))
        index = np.argsort(rng.random(ishape[:d % len(shape)] + (shape[d],) + ishape[d % len(shape) + 1:]), axis=d)
        index = np.take(index, range(ishape[d]), axis=d)
    else:
        index = rng.integers(0, shape[d], size=ishape)
    return shape, d, index


@fuzz(25)
@given(data=st.data())
def test_scatter_add_and_gather_match_torch(backend, data):
    shape, d, index = _dim_and_index(data, backend, unique=False)
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    x, src = values(data.draw, shape), values(data.draw, index.shape)
    compare(lambda a, s: a.scatter_add(d, Tensor(index), s), lambda a, s: a.scatter_add(d, torch.tensor(index), s),
            [x, src], dtype)
    compare(lambda a: a.gather(d, Tensor(index)), lambda a: a.gather(d, torch.tensor(index)), [x], dtype)
    big = values(data.draw, tuple(i + 1 for i in index.shape))  # src larger than index: its leading block
    close(Tensor(x).scatter_add(d, Tensor(index), Tensor(big)).numpy(),
          torch.tensor(x).scatter_add(d, torch.tensor(index), torch.tensor(big)).numpy(), "float64", "larger src")


@fuzz(20)
@given(data=st.data())
def test_scatter_and_index_add_match_torch(backend, data):
    shape, d, index = _dim_and_index(data, backend, unique=True)
    x, src = values(data.draw, shape), values(data.draw, index.shape)
    compare(lambda a, s: a.scatter(d, Tensor(index), s), lambda a, s: a.scatter(d, torch.tensor(index), s),
            [x, src], "float64")
    close(Tensor(x).scatter(d, Tensor(index), 2.5).numpy(),
          torch.tensor(x).scatter(d, torch.tensor(index), 2.5).numpy(), "float64", "scatter of a value")
    rows = np.random.default_rng(0).integers(0, shape[d], size=data.draw(st.integers(0, 4)))
    source = values(data.draw, shape[:d % len(shape)] + (len(rows),) + shape[d % len(shape) + 1:])
    compare(lambda a, s: a.index_add(d, Tensor(rows), s, alpha=1.5),
            lambda a, s: a.index_add(d, torch.tensor(rows), s, alpha=1.5), [x, source], "float64")


def test_in_place_forms_and_functions(backend):
    x, ref = tnm.zeros(2, 3), torch.zeros(2, 3)
    index, src = [[0, 1, 0]], np.arange(3, dtype=np.float32).reshape(1, 3) + 1
    assert x.scatter_add_(0, Tensor(index), Tensor(src)) is x
    ref.scatter_add_(0, torch.tensor(index), torch.tensor(src, dtype=torch.float32))
    x.scatter_(1, Tensor([[2], [0]]), Tensor([[9.0], [8.0]]))
    ref.scatter_(1, torch.tensor([[2], [0]]), torch.tensor([[9.0], [8.0]]))
    x.index_add_(0, Tensor([1]), Tensor([[1.0, 1.0, 1.0]]), alpha=2)
    ref.index_add_(0, torch.tensor([1]), torch.tensor([[1.0, 1.0, 1.0]]), alpha=2)
    np.testing.assert_array_equal(x.numpy(), ref.numpy())
    np.testing.assert_array_equal(tnm.scatter_add(x, 0, Tensor(index), Tensor(src)).numpy(),
                                  torch.scatter_add(ref, 0, torch.tensor(index), torch.tensor(src, dtype=torch.float32)))
    leaf = Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.scatter_add_(0, Tensor([0]), Tensor([1.0]))


# --- errors: named, and nothing changed ---------------------------------------------------------
def _state(t):
    return t.numpy().copy(), t.shape, t.dtype, None if t._version is None else t._version[0]


@pytest.mark.parametrize("action, error, fragments", [
    (lambda x: x[Tensor([True, False, True])], IndexError, ["(3,)", "(2, 3)"]),
    (lambda x: x.__setitem__(Tensor([[True, False, True]]), 1.0), IndexError, ["(1, 3)", "(2, 3)"]),
    (lambda x: x[Tensor([0, 1]), Tensor([3, 0])], IndexError, ["3", "dim 1", "size 3"]),
    (lambda x: x.__setitem__((Tensor([-3, 0]), Tensor([[0]])), 1.0), IndexError, ["-3", "dim 0", "size 2"]),
    (lambda x: x[Tensor([0, 1]), Tensor([0, 1, 2])], IndexError, ["(2,)", "(3,)"]),
    (lambda x: x.__setitem__((Tensor([0, 1]), Tensor([0, 1, 2])), 1.0), IndexError, ["(2,)", "(3,)"]),
    (lambda x: x.__setitem__((Tensor([0, 1]), Tensor([0, 1])), Tensor([1.0, 2.0, 3.0])), ValueError,
     ["(3,)", "(2,)"]),
    (lambda x: x.scatter_add_(1, Tensor([[3]]), Tensor([[1.0]])), IndexError, ["3", "dim 1", "size 3"]),
    (lambda x: x.scatter_add(0, Tensor([0]), Tensor([1.0])), ValueError, ["2 dims", "(1,)"]),
    (lambda x: x.scatter_(0, Tensor([[0, 1]]), Tensor([[1.0]])), ValueError, ["(1, 2)", "(1, 1)"]),
    (lambda x: x.index_add_(1, Tensor([0, 1]), Tensor(np.ones((2, 3)))), ValueError, ["(2, 3)", "(2, 2)"]),
    (lambda x: x[Tensor([[0.5]]), Tensor([0])], IndexError, ["float"]),
], ids=["mask_shape", "mask_shape_write", "out_of_range", "out_of_range_write", "mismatch", "mismatch_write",
        "value_shape", "scatter_range", "scatter_dims", "scatter_src_shape", "index_add_shape", "float_index"])
def test_bad_keys_raise_naming_the_problem_and_change_nothing(backend, action, error, fragments):
    x = Tensor(np.arange(6.0).reshape(2, 3))
    before = _state(x)
    with pytest.raises(error) as info:
        action(x)
    for f in fragments:
        assert f in str(info.value), f"{f!r} missing from {str(info.value)!r}"
    after = _state(x)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1:] == before[1:]
