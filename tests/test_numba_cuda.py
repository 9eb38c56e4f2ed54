"""Tests of the numba_cuda backend itself: its kernels against NumPy on awkward shapes and
layouts, both matmul kernels, reductions and softmax rows across block and chunk boundaries,
that tensors stay on the device, and the error when the backend cannot run.

The backend-agnostic suite (the `backend` fixture) covers the Tensor API on numba_cuda; these
tests call the kernels directly, as ops.py does. Without a GPU they run in Numba's CUDA
simulator, in a pytest process started with NUMBA_ENABLE_CUDASIM=1:

    NUMBA_ENABLE_CUDASIM=1 TINYGRAD_NM_TEST_BACKENDS=numba_cuda python -m pytest tests

In a process without the simulator and without a GPU, the kernel tests skip and others run
instead: the unavailable-backend errors, and every kernel compiled to PTX and assembled for
sm_80 and sm_90 (libNVVM and ptxas come with numba-cuda[cu12], in the test extra).
"""
import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, backends
from tinygrad_nm import dtypes as dt

try:
    nc = backends.load("numba_cuda")
except backends.BackendUnavailableError:  # the reason is tested below, in a subprocess
    nc = None

needs_backend = pytest.mark.skipif(nc is None, reason="numba_cuda cannot run in this process (no GPU, and "
                                   "NUMBA_ENABLE_CUDASIM=1 was not set before Python started)")

DTYPES = {"float32": dt.float32, "float64": dt.float64, "int64": dt.int64, "bool": dt.bool_}


@pytest.fixture
def small_blocks(monkeypatch):
    """A launch policy with tiny blocks, so that small data crosses block, grid and chunk
    boundaries: 3-thread blocks, at most 3 of them, 2-thread reductions that split rows
    longer than 4 elements into chunks, 2x2 matmul tiles and 4x4 register-blocked tiles."""
    p = dataclasses.replace(nc.policy(), threads=3, thread_items=1, max_blocks=3, reduce_threads=2, reduce_items=2,
                            serial_row_max=2, tile=2, blocking=(4, 4, 2, 2, 2))
    monkeypatch.setattr(nc.device, "POLICY", p)
    return p


def dev(array, dtype=None):
    array = np.asarray(array)
    return nc.from_numpy(array, DTYPES[dtype or array.dtype.name])


def host(buf):
    return nc.to_numpy(buf)


SPECIAL = np.array([[0.0, -0.0, 1.5, -2.25, np.nan], [np.inf, -np.inf, 30.0, -30.0, 1e-3]])


def views(a):
    """The same values as a contiguous buffer, a transposed view, a sliced view and a broadcast view."""
    b = dev(a)
    yield "contiguous", b, a
    yield "transposed", nc.permute(dev(np.ascontiguousarray(a.T)), (1, 0)), a
    padded = np.zeros((a.shape[0] + 1, a.shape[1] * 2), a.dtype)
    padded[1:, ::2] = a
    yield "sliced", nc.getitem(dev(padded), (slice(1, None), slice(None, None, 2))), a
    yield "broadcast", nc.expand(dev(a[:1]), a.shape), np.broadcast_to(a[:1], a.shape)


# --- elementwise ------------------------------------------------------------------------------
UNARY_REF = {"neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
             "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
             "atanh": np.arctanh}


@needs_backend
@pytest.mark.parametrize("name", sorted(UNARY_REF))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_matches_numpy_on_special_values_and_layouts(name, dtype):
    a = SPECIAL.astype(dtype)
    if name == "atanh":
        a = np.where(np.abs(a) > 1, a / 40, a)  # keep some values inside (-1, 1)
    with np.errstate(all="ignore"):
        for layout, buf, ref in views(a):
            out = getattr(nc, name)(buf)
            assert out.shape == ref.shape and out.dtype is DTYPES[dtype]
            np.testing.assert_allclose(host(out), UNARY_REF[name](ref), rtol=2e-6, atol=1e-30,
                                       err_msg=f"{name} on a {layout} {dtype} buffer")


@needs_backend
@pytest.mark.parametrize("name", ["neg", "abs", "sign", "relu"])
def test_integer_unary(name):
    a = np.array([[-3, 0, 7], [2, -1, 5]], dtype=np.int64)
    out = getattr(nc, name)(dev(a))
    assert out.dtype is dt.int64
    np.testing.assert_array_equal(host(out), UNARY_REF[name](a))


BINARY_REF = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
              "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal,
              "ne": np.not_equal}
SHAPES = [((3, 5), (3, 5)), ((3, 1), (1, 5)), ((2, 3, 4), (4,)), ((), (2, 3)), ((1,), ()), ((4, 1, 3), (2, 1)),
          ((0, 3), (1, 3))]


@needs_backend
@pytest.mark.parametrize("name", sorted(BINARY_REF))
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_broadcasts_like_numpy(name, sa, sb, rng):
    a = rng.uniform(0.5, 2.0, sa).astype(np.float32)
    b = rng.uniform(-2.0, 2.0, sb).astype(np.float32)
    if name in ("lt", "le", "gt", "ge", "eq", "ne"):
        b = np.round(b)  # some equal elements
        a = np.round(a)
    out = getattr(nc, name)(dev(a), dev(b))
    ref = BINARY_REF[name](a, b)
    assert out.shape == ref.shape and out.dtype.name == ref.dtype.name
    np.testing.assert_allclose(host(out), ref, rtol=1e-6)


@needs_backend
@pytest.mark.parametrize("name,dtype", [(n, d) for d in ("float32", "float64", "int64")
                                        for n in ("add", "sub", "mul", "div", "pow", "lt", "ge", "eq")
                                        if d != "int64" or n not in ("div", "pow")])  # ops.py: floats only
def test_python_scalar_on_either_side(name, dtype, rng):
    a = rng.integers(1, 5, (2, 3)).astype(dtype)
    s = 3 if dtype == "int64" else 1.5
    for out, ref in [(getattr(nc, name)(dev(a), s), BINARY_REF[name](a, s)),
                     (getattr(nc, name)(s, dev(a)), BINARY_REF[name](s, a))]:
        assert out.dtype.name == ref.dtype.name, "a Python scalar keeps the buffer's dtype"
        np.testing.assert_allclose(host(out), ref, rtol=1e-6)


@needs_backend
def test_compare_int_buffer_with_float_scalar_uses_the_scalars_value():
    a = np.array([1, 2, 3], dtype=np.int64)
    np.testing.assert_array_equal(host(nc.lt(dev(a), 2.5)), [True, True, False])
    np.testing.assert_array_equal(host(nc.eq(dev(np.array([True, False])), 2)), [False, False])


@needs_backend
def test_activation_backward_and_where(rng):
    x = rng.uniform(-2, 2, (4, 3)).astype(np.float32)
    g = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    y = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(host(nc.relu_backward(dev(x), dev(g))), np.where(x > 0, g, 0))
    np.testing.assert_allclose(host(nc.sigmoid_backward(dev(y), dev(g))), g * y * (1 - y), rtol=1e-6)
    np.testing.assert_allclose(host(nc.tanh_backward(dev(y), dev(g))), g * (1 - y * y), rtol=1e-6)
    c = x > 0
    np.testing.assert_array_equal(host(nc.where(dev(c), dev(x), dev(g))), np.where(c, x, g))
    np.testing.assert_array_equal(host(nc.where(dev(c), dev(x[:1]), 0.5)), np.where(c, x[:1], np.float32(0.5)))
    np.testing.assert_array_equal(host(nc.where(dev(c), -1.0, dev(g))), np.where(c, np.float32(-1), g))


@needs_backend
@pytest.mark.parametrize("src,dst", [("float32", "float64"), ("float64", "float32"), ("float32", "int64"),
                                     ("int64", "float32"), ("float32", "bool"), ("bool", "float32"),
                                     ("int64", "bool"), ("bool", "int64")])
def test_astype(src, dst):
    a = np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 7.0]]).astype(src)
    for layout, buf, ref in views(a):
        out = nc.astype(buf, DTYPES[dst])
        assert out.dtype is DTYPES[dst]
        np.testing.assert_array_equal(host(out), ref.astype(dst), err_msg=layout)


@needs_backend
@pytest.mark.parametrize("dtype,value", [("float32", 2.5), ("float64", float("nan")), ("int64", -7), ("bool", True)])
def test_full_copy_item(dtype, value):
    out = nc.full((2, 3), value, DTYPES[dtype])
    np.testing.assert_array_equal(host(out), np.full((2, 3), value, dtype))
    c = nc.copy(out)
    assert c.data is not out.data
    got = nc.item(nc.getitem(c, (1, 2)))
    assert type(got) is type(np.array(value, dtype).item())
    np.testing.assert_equal(got, np.array(value, dtype).item())


# --- reductions -----------------------------------------------------------------------------------
AXES = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]


@needs_backend
@pytest.mark.parametrize("kind", ["sum", "max"])
@pytest.mark.parametrize("axes", AXES)
@pytest.mark.parametrize("policy", ["default", "small_blocks"])
def test_reductions_over_any_axes_and_layout(kind, axes, policy, request, rng):
    if policy == "small_blocks":
        request.getfixturevalue("small_blocks")
    a = rng.standard_normal((5, 7, 6))
    buf = nc.permute(dev(np.ascontiguousarray(a.transpose(2, 0, 1))), (1, 2, 0))  # a strided view of a
    for keepdims in (False, True):
        out = getattr(nc, kind)(buf, axes, keepdims)
        ref = getattr(np, kind)(a, axis=axes, keepdims=keepdims)
        assert out.shape == ref.shape
        np.testing.assert_allclose(host(out), ref, rtol=1e-12)


@needs_backend
@pytest.mark.parametrize("n", [1, 5, 8, 9, 1000])
def test_sum_and_max_across_blocks_and_passes(n, small_blocks, rng):
    """Rows longer than reduce_threads * reduce_items are split in chunks over several blocks,
    and the partial results reduced again, until one value per row is left."""
    a = rng.standard_normal((3, n)).astype(np.float32)
    np.testing.assert_allclose(host(nc.sum(dev(a), (1,), False)), a.sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(host(nc.max(dev(a), (1,), True)), a.max(1, keepdims=True))
    np.testing.assert_allclose(host(nc.sum(dev(a), (0, 1), False)), a.sum(), rtol=1e-5, atol=1e-4)


@needs_backend
def test_reduction_dtypes_and_nan():
    b = np.array([[True, False, True], [True, True, True]])
    out = nc.sum(dev(b), (1,), False)
    assert out.dtype is dt.int64  # as np.sum: a count
    np.testing.assert_array_equal(host(out), [2, 3])
    np.testing.assert_array_equal(host(nc.max(dev(b), (0,), False)), [True, True, True])
    i = np.array([[-5, 3], [2, -9]], dtype=np.int64)
    np.testing.assert_array_equal(host(nc.max(dev(i), (0, 1), False)), -(-i).min())
    f = np.array([[1.0, np.nan, 3.0], [-np.inf, -np.inf, -np.inf]])
    np.testing.assert_array_equal(host(nc.max(dev(f), (1,), False)), [np.nan, -np.inf])
    np.testing.assert_array_equal(host(nc.sum(dev(np.zeros((2, 0))), (1,), False)), [0.0, 0.0])


@needs_backend
def test_float32_sum_of_many_elements_is_accurate(rng):
    a = rng.uniform(0, 1, 20000).astype(np.float32)
    np.testing.assert_allclose(nc.item(nc.sum(dev(a), (0,), False)), a.astype(np.float64).sum(), rtol=1e-5)


# --- softmax family -----------------------------------------------------------------------------
def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@needs_backend
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("policy", ["default", "small_blocks"])
def test_softmax_family_both_row_kernels(axis, policy, request, rng):
    if policy == "small_blocks":  # rows longer than 2 take the block-per-row kernel
        request.getfixturevalue("small_blocks")
    x = rng.standard_normal((3, 5, 4)) * 20
    g = rng.standard_normal((3, 5, 4))
    xv = nc.permute(dev(np.ascontiguousarray(x.transpose(1, 2, 0))), (2, 0, 1))  # strided input
    y = _softmax(x, axis)
    logy = np.log(y)
    np.testing.assert_allclose(host(nc.softmax(xv, axis)), y, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(host(nc.log_softmax(xv, axis)), logy, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(host(nc.softmax_backward(dev(y), dev(g), axis)),
                               y * (g - (g * y).sum(axis, keepdims=True)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(host(nc.log_softmax_backward(dev(logy), dev(g), axis)),
                               g - y * g.sum(axis, keepdims=True), rtol=1e-9, atol=1e-12)


@needs_backend
@pytest.mark.parametrize("policy", ["default", "small_blocks"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_forward_and_backward(policy, dtype, request, rng):
    if policy == "small_blocks":
        request.getfixturevalue("small_blocks")
    logits = (rng.standard_normal((6, 7)) * 10 + 100).astype(dtype)
    labels = np.array([0, 6, 3, 3, 1, 5])
    loss, probs = nc.cross_entropy(dev(logits), dev(labels))
    ref_p = _softmax(logits.astype(np.float64), 1)
    assert loss.shape == () and loss.dtype is DTYPES[dtype]
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(nc.item(loss), -np.log(ref_p[np.arange(6), labels]).mean(), rtol=tol)
    np.testing.assert_allclose(host(probs), ref_p, rtol=tol, atol=1e-7 if dtype == "float32" else 0)
    g = nc.full((), 2.0, DTYPES[dtype])
    onehot = np.eye(7)[labels]
    np.testing.assert_allclose(host(nc.cross_entropy_backward(probs, dev(labels), g)),
                               2.0 * (ref_p - onehot) / 6, rtol=tol, atol=1e-7 if dtype == "float32" else 0)


@needs_backend
@pytest.mark.parametrize("policy", ["default", "small_blocks"])
def test_log_softmax_and_cross_entropy_keep_float32_precision_at_large_logits(policy, request):
    """(x - max) - log(sum), not x - (max + log(sum)): in float32, 1e4 + log(2) rounds to
    10000.6934 before the subtraction, and the loss came out 0.693359375 (issue 19)."""
    if policy == "small_blocks":  # rows longer than 2 take the block-per-row kernels
        request.getfixturevalue("small_blocks")
    from tinygrad_nm import functional as F
    with tnm.use_backend("numba_cuda"):
        loss = F.cross_entropy(Tensor(np.array([[1e4, 1e4]], np.float32)), Tensor(np.array([0])))
        assert loss.dtype is dt.float32 and np.float32(loss.item()) == np.float32(0.6931472)
    x = np.array([[1e4, 1e4, 1e4 - 3], [-2e4, -2e4 + 0.5, -2e4 + 1]], np.float32)
    ref = x.astype(np.float64) - x.max(1, keepdims=True) - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True))
    np.testing.assert_allclose(host(nc.log_softmax(dev(x), 1)), ref, rtol=1e-6)
    loss, _ = nc.cross_entropy(dev(x), dev(np.array([0, 2])))
    np.testing.assert_allclose(nc.item(loss), -(ref[0, 0] + ref[1, 2]) / 2, rtol=1e-6)


# --- matmul -----------------------------------------------------------------------------------------
MATMUL_SHAPES = [(1, 1, 1), (5, 3, 7), (9, 17, 10), (8, 8, 8), (16, 4, 12), (16, 8, 32), (3, 1, 2), (2, 0, 3)]


@needs_backend
@pytest.mark.parametrize("kernel", ["matmul_direct", "matmul_tiled", "matmul_register_blocked"])
@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES)
def test_matmul_kernels_on_awkward_shapes(kernel, m, k, n, rng):
    """Shapes below, at and across the tile sizes (in the simulator a 4x4 tile, a 16x16 block tile
    with 8 along K): the bounds-checked and the unchecked (exact multiple) variants."""
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = getattr(nc, kernel)(dev(a), dev(b))
    assert out.shape == (m, n)
    np.testing.assert_allclose(host(out), a @ b, rtol=1e-5, atol=1e-5)


@needs_backend
@pytest.mark.parametrize("kernel", ["matmul_direct", "matmul_tiled", "matmul_register_blocked"])
def test_matmul_small_tiles_transposed_inputs_and_dtypes(kernel, small_blocks, rng):
    a = rng.standard_normal((7, 5))
    b = rng.standard_normal((9, 5))
    bt = nc.permute(dev(b), (1, 0))  # the backward pass's B^T: a strided view
    np.testing.assert_allclose(host(getattr(nc, kernel)(dev(a), bt)), a @ b.T, rtol=1e-12)
    i = rng.integers(-3, 4, (6, 5))
    j = rng.integers(-3, 4, (5, 3))
    np.testing.assert_array_equal(host(getattr(nc, kernel)(dev(i), dev(j))), i @ j)
    p, q = i > 0, j > 0
    np.testing.assert_array_equal(host(getattr(nc, kernel)(dev(p), dev(q))), p @ q)


@needs_backend
def test_matmul_picks_the_kernel_by_shape(monkeypatch, rng):
    chosen = []
    real = nc.gemm.matmul_with
    monkeypatch.setattr(nc.gemm, "matmul_with", lambda a, b, kind: chosen.append(kind) or real(a, b, kind))
    p = dataclasses.replace(nc.policy(), tile=4, tiled_min=6, blocking=(16, 8, 4, 4, 4))
    monkeypatch.setattr(nc.device, "POLICY", p)
    for m, n in [(16, 8), (15, 8), (16, 1), (33, 11), (6, 6), (5, 50)]:
        a = rng.standard_normal((m, 3)).astype(np.float32)
        b = rng.standard_normal((3, n)).astype(np.float32)
        np.testing.assert_allclose(host(nc.matmul(dev(a), dev(b))), a @ b, rtol=1e-5, atol=1e-5)
    assert chosen == ["register_blocked", "tiled", "direct", "register_blocked", "tiled", "direct"]


# --- movement and indexing -----------------------------------------------------------------------
@needs_backend
def test_views_share_storage_and_reshape_copies_only_when_needed(rng):
    a = rng.standard_normal((4, 6))
    buf = dev(a)
    for view in (nc.permute(buf, (1, 0)), nc.getitem(buf, (slice(1, 3), slice(None, None, 2))),
                 nc.getitem(buf, (2,)), nc.expand(nc.reshape(buf, (1, 4, 6)), (3, 4, 6)), nc.reshape(buf, (24,))):
        assert view.data is buf.data, "movement ops are views, no kernel, no copy"
    t = nc.permute(buf, (1, 0))
    r = nc.reshape(t, (3, 8))
    assert r.data is not buf.data
    np.testing.assert_array_equal(host(r), a.T.reshape(3, 8))
    np.testing.assert_array_equal(host(nc.getitem(buf, (slice(1, 3), slice(None, None, 2)))), a[1:3, ::2])


@needs_backend
def test_repeated_indices_the_last_write_wins_and_equal_writes_skip_the_extra_pass(monkeypatch, rng):
    """Threads racing to one element leave any of their values: where the values differ along the
    indexed axis, a last-writer pass picks NumPy's (the last); a scalar or broadcast value needs
    none, and allocates no buffer the size of the axis (a mask write reaches here flattened)."""
    from tinygrad_nm.backends.numba_cuda import indexing
    a = rng.standard_normal((5, 3))
    idx = np.array([4, 1, 4, 4])
    values = rng.standard_normal((4, 3))
    buf, ref = dev(a), a.copy()
    nc.setitem(buf, (dev(idx.astype(np.int64)),), dev(values))
    ref[idx] = values
    np.testing.assert_array_equal(host(buf), ref)
    made = []
    monkeypatch.setattr(indexing, "full", lambda *args: made.append(args) or nc.full(*args))
    for value in (2.5, dev(values[0])):  # a scalar; one row broadcast along the indexed axis
        nc.setitem(buf, (dev(idx.astype(np.int64)),), value)
        ref[idx] = host(value) if not isinstance(value, float) else value
        np.testing.assert_array_equal(host(buf), ref)
    assert [args for args in made if args[2] is dt.int64] == [], "no last-writer buffer for equal values"


@needs_backend
@pytest.mark.parametrize("key", [
    (np.array([2, 0, 2]),), (slice(None), np.array([5, 5, 0])), (1, np.array([0, 3])),
    (np.array([3, 1]), 2), (slice(1, 4), np.array([1, 1]), 0), (1, slice(None), np.array([2, 0])),
    (np.array([0, 2]), slice(None), 1), (slice(0, 0), np.array([1])), (np.array([], dtype=np.int64),),
])
def test_integer_array_indexing_like_numpy(key, rng):
    a = rng.standard_normal((4, 6, 3))
    dkey = tuple(dev(k.astype(np.int64)) if isinstance(k, np.ndarray) else k for k in key)
    ref = a[key]
    out = nc.getitem(dev(a), dkey)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(host(out), ref)
    # setitem with a broadcast value, then with a scalar
    b = a.copy()
    value = rng.standard_normal(ref.shape[-1:]) if ref.ndim else rng.standard_normal(())
    b[key] = value
    buf = dev(a)
    nc.setitem(buf, dkey, dev(value))
    np.testing.assert_array_equal(host(buf), b)
    b[key] = -1.0
    nc.setitem(buf, dkey, -1.0)
    np.testing.assert_array_equal(host(buf), b)
    # index_add: repeated indices accumulate, in the accumulator's own storage
    g = rng.standard_normal(ref.shape)
    expected = a.copy()
    np.add.at(expected, key, g)
    acc = dev(a)
    assert nc.index_add(acc, dkey, dev(g)) is acc
    np.testing.assert_allclose(host(acc), expected, rtol=1e-12)


@needs_backend
def test_setitem_basic_index_writes_through_and_handles_overlap(rng):
    a = rng.standard_normal((5, 4))
    buf = dev(a)
    nc.setitem(buf, (slice(1, None),), nc.getitem(buf, (slice(None, -1),)))  # overlapping shift
    b = a.copy()
    b[1:] = a[:-1]
    np.testing.assert_array_equal(host(buf), b)
    nc.setitem(buf, (slice(None), 2), 7.0)
    b[:, 2] = 7.0
    np.testing.assert_array_equal(host(buf), b)
    acc = nc.index_add(nc.full((5, 4), 0, tnm.float64), (3,), dev(np.ones(4)))
    np.testing.assert_array_equal(host(acc), np.eye(5)[3][:, None] * np.ones(4))


@needs_backend
def test_assign_in_place_and_into_a_broadcast_view():
    buf = dev(np.zeros((2, 3)))
    assert nc.assign(buf, dev(np.array([1.0, 2.0, 3.0]))) is buf
    np.testing.assert_array_equal(host(buf), [[1, 2, 3], [1, 2, 3]])
    row = dev(np.array([[5.0, 6.0, 7.0]]))
    wide = nc.expand(row, (2, 3))
    out = nc.assign(wide, dev(np.arange(6.0).reshape(2, 3)))
    assert out is not wide  # a broadcast view gets storage of its own instead of clobbering row
    np.testing.assert_array_equal(host(out), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(host(row), [[5, 6, 7]])
    zero_d = nc.full((), 1.0, dt.float32)
    assert nc.assign(zero_d, 0) is zero_d and nc.item(zero_d) == 0.0


# --- staying on the device ---------------------------------------------------------------------------
@needs_backend
def test_training_step_never_copies_to_the_host(monkeypatch):
    """A forward + backward + update of a small MLP launches kernels only: no device-to-host
    copy until the loss is read, and no host-to-device copy after the tensors are created."""
    array_type = type(nc.from_numpy(np.zeros(1), dt.float32).data)
    rng = np.random.default_rng(0)
    with tnm.use_backend("numba_cuda"):
        x = Tensor(rng.standard_normal((6, 4)))
        y = Tensor(rng.standard_normal((6, 2)))
        w1 = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
        b1 = Tensor(np.zeros(5), requires_grad=True)
        w2 = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
        copies = []
        real_copy = array_type.copy_to_host
        monkeypatch.setattr(array_type, "copy_to_host", lambda self, *a, **k: copies.append("d2h") or
                            real_copy(self, *a, **k))
        from numba import cuda
        real_to_device = cuda.to_device
        monkeypatch.setattr(cuda, "to_device", lambda *a, **k: copies.append("h2d") or real_to_device(*a, **k))
        for _ in range(2):
            h = (x @ w1 + b1).relu()
            out = (h @ w2).sigmoid().softmax(-1)
            loss = ((out - y) ** 2).mean() + (h.max(axis=1) * 0.1).sum()
            loss.backward()
            with tnm.no_grad():
                for p in (w1, b1, w2):
                    p -= 0.1 * p.grad
                    p.grad.zero_()
        for t in (loss, h, out, w1, w1.grad, b1):
            assert isinstance(t._buf, nc.CudaBuffer) and isinstance(t._buf.data, array_type)
        assert copies == [], "an op copied data between host and device"
        loss.item()
        assert copies == ["d2h"]


# --- without a GPU and without the simulator -------------------------------------------------------
def _run(code, env_changes):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_unavailable_without_gpu_or_simulator_says_how_to_fix():
    proc = _run("""
        from numba import cuda
        if cuda.is_available():
            print("GPU")
        else:
            import tinygrad_nm as tnm
            assert "numba_cuda" not in tnm.available_backends()
            try:
                tnm.set_backend("numba_cuda")
            except tnm.BackendUnavailableError as e:
                print(e)
    """, {})
    if proc.stdout.strip() == "GPU":
        pytest.skip("a CUDA GPU is present: the backend is available without the simulator")
    assert proc.returncode == 0, proc.stderr
    assert "numba_cuda" in proc.stdout and "no usable CUDA GPU" in proc.stdout
    assert "NUMBA_ENABLE_CUDASIM=1" in proc.stdout


def test_unavailable_when_the_simulator_is_asked_for_too_late():
    proc = _run("""
        import os
        import numba
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        from numba import cuda
        if cuda.is_available():
            print("GPU")
        else:
            from tinygrad_nm.backends import numba_cuda
            print(numba_cuda.unavailable_reason())
    """, {})
    if proc.stdout.strip() == "GPU":
        pytest.skip("a CUDA GPU is present: the backend is available without the simulator")
    assert proc.returncode == 0, proc.stderr
    assert "after numba had been imported" in proc.stdout


def test_unavailable_without_numba_cuda_installed():
    proc = _run("""
        import sys
        sys.modules["numba_cuda"] = None  # as if the package were not installed
        import tinygrad_nm as tnm
        assert "numba_cuda" not in tnm.available_backends()
        try:
            tnm.Tensor([1.0], backend="numba_cuda")
        except tnm.BackendUnavailableError as e:
            print(e)
    """, {"NUMBA_ENABLE_CUDASIM": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "numba-cuda is not installed" in proc.stdout and "pip install" in proc.stdout


# --- every kernel compiles for a real GPU ------------------------------------------------------------
@pytest.mark.slow
def test_every_kernel_compiles_and_assembles_for_sm80_and_sm90_without_spills():
    """The simulator runs the kernels as Python, so it cannot tell whether Numba can type and
    compile them for a GPU, nor what they cost it. resources.table() finds every specialisation the
    backend launches (every kernel in kernels.py, each dtype, contiguous and strided, every row and
    matmul path), compiles each to PTX with libNVVM for sm_80 (A100) and sm_90 (H100/H200) and
    assembles it with ptxas -v. It fails on a spill in the matmul, reduction and softmax kernels
    and on registers or shared memory that keep a kernel below the occupancy its launch policy
    assumes (device.ASSUMED_OCCUPANCY). About a minute of CPU, shared among processes."""
    from numba import config
    if config.ENABLE_CUDASIM:
        pytest.skip("this process runs Numba's CUDA simulator, which compiles nothing")
    from tinygrad_nm.backends.kernels import TABLE
    from tinygrad_nm.backends.numba_cuda import resources
    missing = resources.toolchain_missing()
    assert missing is None, f"{missing} (the test extra installs numba-cuda[cu12], which brings libNVVM and ptxas)"
    rows = resources.table()
    assert {r.arch for r in rows} == {"sm_80", "sm_90"} and len(rows) == 2 * len(resources.launches()) > 300
    compute = {n for n, k in TABLE.items() if k.family in ("unary", "binary", "reduce", "matmul", "fused", "conv", "pool")}
    for dtype in ("float32", "float64"):  # every compute kernel of the table reached a compiled kernel
        served = {n for r in rows if r.dtype == dtype for n in r.served.split(",")}
        assert compute <= served, sorted(compute - served)
    problems = resources.problems(rows)
    assert not problems, "\n".join(problems)
    from tinygrad_nm.backends.numba_cuda import pricing, report
    toolchain, stored = pricing.stored()
    if toolchain == report.toolchain():  # another compiler may allocate registers differently
        assert pricing.fold(rows) == stored, "numba_cuda/resources.json is stale: tinygrad-nm cuda-report --write-facts"
    for r in rows:  # the register tile stays in registers and its inner loop is FMAs and shared loads
        if r.kind == "matmul_register_blocked" and r.dtype == "float32":
            assert r.fmas >= 64 and r.instructions <= 1.6 * r.fmas, \
                f"{r.arch} inner loop: {r.instructions} instructions for {r.fmas} FMAs"


def test_resource_problems_flag_spills_and_occupancy_below_the_policy():
    from tinygrad_nm.backends.numba_cuda import resources
    from tinygrad_nm.backends.numba_cuda.device import ASSUMED_OCCUPANCY

    def row(kind, registers, spill=0, block=256, shared=0):
        occ, limiter = resources.occupancy(registers, shared, block, "sm_90")
        return resources.Resources("k", kind, "relu", "float32", "sm_90", registers, shared, spill, 0, block, occ, limiter)
    assert resources.problems([row("elementwise", 64), row("rows", 40), row("matmul_register_blocked", 255)]) == []
    assert ASSUMED_OCCUPANCY["elementwise"] == 0.5
    (below,) = resources.problems([row("elementwise", 72)])  # 72 registers: 3 blocks of 8 warps, 37.5%
    assert "occupancy 38%" in below and "below the 50%" in below
    (spilled,) = resources.problems([row("rows", 40, spill=16)])
    assert "16 bytes spilled" in spilled
    assert resources.problems([row("elementwise", 40, spill=16)]) == []  # spills fail only where SPILL_FREE


def test_cuda_report_refuses_the_simulator_with_one_line():
    proc = _run("""
        import sys
        from tinygrad_nm.cli import main
        sys.exit(main(["cuda-report"]))
    """, {"NUMBA_ENABLE_CUDASIM": "1"})
    assert proc.returncode == 2, proc.stderr
    assert "cannot compile for a GPU here" in proc.stderr and "simulator" in proc.stderr


def test_pricing_facts_name_the_kernel_the_policy_runs():
    """What napkin's GPU model prices a call with (stored by cuda-report; no GPU, no compiler)."""
    from tinygrad_nm.backends.numba_cuda import pricing
    toolchain, rows = pricing.stored()
    assert toolchain and {r["arch"] for r in rows} == {"sm_80", "sm_90"}
    big = pricing.kernel_resources("matmul", ((4096, 4096), (4096, 4096)), "float32", "sm_90")
    assert big["kind"] == "matmul_register_blocked" and big["fmas"] == 64 and big["spill_bytes"] == 0
    assert pricing.kernel_resources("matmul", ((64, 784), (784, 64)), "float32", "sm_80")["kind"] == "matmul_tiled"
    assert pricing.kernel_resources("matmul", ((4, 784), (784, 10)), "float32", "sm_80")["kind"] == "matmul_direct"
    assert pricing.kernel_resources("matmul", ((512, 512), (512, 512)), "int64", "sm_90")["kind"] == "matmul_tiled"
    relu = pricing.kernel_resources("relu", ((1 << 20,),), "float32", "sm_90")
    assert "contiguous [relu]" in relu["kernel"] and relu["block"] == 256
    assert pricing.kernel_resources("permute", ((4, 6),), "float32", "sm_90") is None  # a view: no kernel
    assert backends.pricing("numba_cuda")[0]["kernel_resources"] is pricing.kernel_resources
