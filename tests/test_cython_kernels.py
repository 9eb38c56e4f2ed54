"""The cython backend's compiled kernels against NumPy, on awkward shapes and layouts.

Tolerances: "relative 1e-5 in float32, 1e-12 in float64", measured the way the
error of each computation is bounded:
- matmul: |ours - ref| <= rtol * (|a| @ |b|), the rounding bound of a dot product
  (a plain relative test is meaningless where the sum cancels to nearly zero);
- elementwise and row kernels: |ours - ref| <= rtol * (|ref| + scale), scale the size
  of the terms a difference cancels (e.g. g in g * (1 - y*y) where y*y ~ 1; the
  compiled kernels fuse multiply-adds, NumPy rounds the product first).
The reference is NumPy in float64, and NumPy's own result in the same dtype
(the numpy backend) is held to the same bound.

Every kernel test that takes the `isa` fixture runs once per instruction-set variant of the
compiled module (baseline, avx2, avx512: what TINYGRAD_NM_ISA selects), on a CPU that runs it.
"""
import importlib
import warnings

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.backends import numpy as npb

cy = pytest.importorskip("tinygrad_nm.backends.cython")
if cy.unavailable_reason():
    pytest.skip(f"cython backend not available: {cy.unavailable_reason()}", allow_module_level=True)
_native = cy._native

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = (np.float32, np.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def variant(isa):
    """The compiled module for `isa`; skips where this CPU cannot run it, fails where it can but
    the build left it out (then the backend would silently use a lower one)."""
    if not _native.cpu_supports(isa):
        pytest.skip(f"this CPU does not support {isa}")
    return importlib.import_module(f"tinygrad_nm._native_{isa}")


@pytest.fixture(params=cy.ISAS)
def isa(request, monkeypatch):
    """Route the backend's kernels through the module built for each instruction set."""
    module = variant(request.param)
    assert module.ISA == request.param
    monkeypatch.setattr(cy, "_native", module)
    return request.param


def assert_within(ours, ref, rtol, scale=0.0):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    bound = rtol * (np.abs(ref) + scale)
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: caught by == below
        err = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    both_nan = np.isnan(ours) & np.isnan(ref)
    bad = ~((err <= bound) | both_nan | (ours == ref))  # == covers infinities
    assert not bad.any(), (f"{bad.sum()} of {bad.size} elements off; worst: ours {ours[bad][:3]} "
                           f"ref {ref[bad][:3]}")


# --- matmul ---------------------------------------------------------------------------------------
def check_matmul(a, b):
    out = cy.matmul(a, b)
    dtype = np.result_type(a, b).type
    assert out.dtype == dtype and out.shape == (a.shape[0], b.shape[1])
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bound = RTOL[dtype] * (np.abs(a64) @ np.abs(b64))
    for result in (out, np.matmul(a, b)):  # ours, and NumPy's own, within the same bound
        assert (np.abs(result - a64 @ b64) <= bound).all()
    return out


# Primes on both sides of every block size of every variant. The blocks follow the caches (here,
# 48 KiB L1 and 2 MiB L2: MR 4, 6, 12; NR 4 to 32; KC 128, 256, 384, 512, 768; MC 64 to 504; NC 128 to
# 1024; the first rows are around the sizes of a 32 KiB L1 / 1 MiB L2 machine), and the
# serial/parallel threshold.
SHAPES = [(1, 1, 1), (7, 13, 5), (1, 300, 1), (3, 1, 40), (5, 17, 33), (11, 31, 7), (13, 37, 29),
          (23, 191, 61), (29, 193, 97), (59, 383, 67), (61, 389, 131), (83, 761, 163), (89, 773, 173),
          (167, 97, 331), (173, 101, 337), (331, 199, 673), (337, 211, 677), (673, 67, 1327),
          (677, 71, 1361), (127, 131, 127), (131, 127, 131),
          (61, 257, 127), (67, 251, 131), (127, 509, 257), (131, 521, 251), (251, 1021, 509),
          (257, 1031, 521), (503, 131, 1021), (509, 127, 1031)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul_shapes(m, k, n, dtype, isa, rng):
    check_matmul(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_1025x1023x1027(dtype, isa, rng):
    check_matmul(rng.standard_normal((1025, 1023)).astype(dtype),
                 rng.standard_normal((1023, 1027)).astype(dtype))


def layouts(x):
    """The same matrix in several memory layouts (all equal to x)."""
    yield "C", np.ascontiguousarray(x)
    yield "Fortran", np.asfortranarray(x)
    yield "transposed", np.ascontiguousarray(x.T).T
    big = np.zeros((2 * x.shape[0] + 1, 3 * x.shape[1] + 2), x.dtype)
    big[1::2, 2::3] = x
    yield "sliced", big[1::2, 2::3]
    yield "reversed", np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]
    ro = x.copy()
    ro.flags.writeable = False
    yield "read-only", ro


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_any_layout(dtype, isa, rng):
    a = rng.standard_normal((37, 300)).astype(dtype)
    b = rng.standard_normal((300, 45)).astype(dtype)
    ref = cy.matmul(a, b)
    for (la, a2), (lb, b2) in zip(layouts(a), layouts(b)):
        np.testing.assert_array_equal(cy.matmul(a2, b2), ref, err_msg=f"{la} @ {lb}")
    # a broadcast row (stride 0) and a transposed view straight from the tensor ops
    row = np.broadcast_to(a[:1], a.shape)
    assert_within(cy.matmul(row, b), np.broadcast_to(a[:1] @ b, ref.shape), RTOL[dtype], 1)
    check_matmul(b.T, a.T)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(37, 1000, 1), (5, 2003, 3), (1000, 4, 1), (64, 70, 4), (3, 15, 2),
                                   (130, 129, 4)])
def test_matmul_thin(m, k, n, dtype, isa, rng):
    """At most 4 columns: the dot-product path (row-contiguous a), and the general one (not)."""
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    ref = check_matmul(a, b)
    for (la, a2), (lb, b2) in zip(layouts(a), layouts(b)):
        np.testing.assert_allclose(cy.matmul(a2, b2), ref, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * np.sqrt(k),
                                   err_msg=f"{la} @ {lb}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(256, 128, 10), (500, 33, 13), (97, 200, 5), (10, 300, 700), (1, 50, 999),
                                   (3001, 700, 7), (9, 900, 1201)])
def test_matmul_narrow_output(m, k, n, dtype, isa, rng):
    """Few columns (or rows): at most one vector of them runs the narrow kernel (A read in place,
    on C^T = B^T @ A^T for few rows, writing C through its column stride; the last two shapes on
    every thread, with rows left over); else the cost model may pick C^T (tnm_gemm_body.h,
    tnm_cost); every layout agrees."""
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    for (la, a2), (lb, b2) in zip(layouts(a), layouts(b)):
        check_matmul(a2, b2)  # each layout within the rounding bound of the float64 product


def test_matmul_mixed_and_integer_dtypes(rng):
    a32 = rng.standard_normal((9, 14)).astype(np.float32)
    b64 = rng.standard_normal((14, 6))
    assert check_matmul(a32, b64).dtype == np.float64  # float32 with float64 promotes, as the core does
    ai = rng.integers(-5, 5, (9, 14))
    bi = rng.integers(-5, 5, (14, 6))
    np.testing.assert_array_equal(cy.matmul(ai, bi), ai @ bi)  # exact: NumPy's integer matmul
    ab, bb = ai > 0, bi > 0
    np.testing.assert_array_equal(cy.matmul(ab, bb), ab @ bb)


def test_matmul_empty_and_k_zero():
    for m, k, n in [(0, 3, 4), (3, 4, 0), (3, 0, 4), (0, 0, 0)]:
        out = cy.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32))
        np.testing.assert_array_equal(out, np.zeros((m, n), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_one_row_block_any_layout(dtype, isa, rng):
    """A product of at most MC rows and many columns (a convolution's 64 x 288 @ 288 x 36864): each
    column group packs its own B slice by slice (tnm_gemm_body.h, private_b), on every thread."""
    a = rng.standard_normal((61, 301)).astype(dtype)
    b = rng.standard_normal((301, 3001)).astype(dtype)
    for (la, a2), (lb, b2) in zip(layouts(a), layouts(b)):
        check_matmul(a2, b2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_deep_any_layout(dtype, isa, rng):
    """A small C over a long K (a convolution's weight gradient): K cut into chunks, each its own
    task and partial C, summed in order (tnm_deep_body.h); K past every variant's threshold."""
    a = rng.standard_normal((37, 13001)).astype(dtype)
    b = rng.standard_normal((13001, 45)).astype(dtype)
    for (la, a2), (lb, b2) in zip(layouts(a), layouts(b)):
        check_matmul(a2, b2)


def test_matmul_same_result_on_any_thread_count(rng):
    a = rng.standard_normal((300, 700)).astype(np.float32)
    b = rng.standard_normal((700, 200)).astype(np.float32)[:, ::-1]  # a reversed view, packed from its strides
    before = cy.num_threads()
    try:
        cy.set_num_threads(1)
        one = cy.matmul(a, b)
        cy.set_num_threads(3)
        three = cy.matmul(a, b)
    finally:
        cy.set_num_threads(before)
    np.testing.assert_array_equal(one, three)  # tiling changes, each sum's order does not
    deep_a = rng.standard_normal((40, 20000)).astype(np.float32)
    deep_b = rng.standard_normal((20000, 50)).astype(np.float32)
    try:  # a deep product: its K chunks are the same on any thread count
        cy.set_num_threads(1)
        one = cy.matmul(deep_a, deep_b)
        cy.set_num_threads(3)
        three = cy.matmul(deep_a, deep_b)
    finally:
        cy.set_num_threads(before)
    np.testing.assert_array_equal(one, three)


# --- activations ----------------------------------------------------------------------------------
def awkward_values(dtype, rng):
    """Normal values plus zeros, tiny, huge, the saturation ranges, +-inf and NaN."""
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.3, -0.3, 0.6249, 0.6251, -0.6251, 5, -5, 9,
               -9, 20, -20, 44, -44, 87, -87, 88.7, -103, -104, 300, -300, 708, -744, -750, 1e30,
               -1e30, np.inf, -np.inf, np.nan]
    x = np.concatenate([rng.standard_normal(5000) * 4, rng.uniform(-0.7, 0.7, 2000), special])
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_activations(dtype, isa, rng):
    x = awkward_values(dtype, rng)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        refs = {"relu": np.maximum(x64, 0), "tanh": np.tanh(x64), "sigmoid": npb.sigmoid(x64)}
    tiny = np.finfo(dtype).tiny  # below the smallest normal number, compare absolutely
    for name, ref in refs.items():
        ours = getattr(cy, name)(x)
        assert ours.dtype == dtype and ours.shape == x.shape
        assert_within(ours, ref, RTOL[dtype], tiny / RTOL[dtype])
        assert_within(getattr(npb, name)(x), ref, RTOL[dtype], tiny / RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_activations(dtype, isa, rng):
    x = rng.standard_normal(20000).astype(dtype) * 4
    g = rng.standard_normal(20000).astype(dtype)
    y_sig, y_tanh = cy.sigmoid(x), cy.tanh(x)
    rtol = RTOL[dtype]
    for name, y in [("relu_backward", x), ("sigmoid_backward", y_sig), ("tanh_backward", y_tanh)]:
        ours = getattr(cy, name)(y, g)
        ref = getattr(npb, name)(y.astype(np.float64), g.astype(np.float64))
        assert ours.dtype == dtype
        assert_within(ours, ref, rtol, np.abs(g))
        assert_within(getattr(npb, name)(y, g), ref, rtol, np.abs(g))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations_any_layout_and_shape(name, rng):
    x = rng.standard_normal((13, 301)).astype(np.float32)
    ref = getattr(cy, name)(x)
    for label, x2 in layouts(x):
        np.testing.assert_array_equal(getattr(cy, name)(x2), ref, err_msg=label)
    x3 = rng.standard_normal((3, 4, 5)).astype(np.float64)
    np.testing.assert_array_equal(getattr(cy, name)(x3.transpose(2, 0, 1)),
                                  getattr(cy, name)(x3).transpose(2, 0, 1))
    for empty in (np.zeros((0,), np.float32), np.zeros((3, 0), np.float64)):
        assert getattr(cy, name)(empty).shape == empty.shape
    zero_d = np.array(-0.5, np.float32)
    assert_within(getattr(cy, name)(zero_d), getattr(npb, name)(zero_d), 1e-6)


def test_backward_mixed_layouts_and_dtypes(rng):
    x = rng.standard_normal((50, 60)).astype(np.float32)
    g = rng.standard_normal((60, 50)).astype(np.float64).T  # transposed, and float64
    out = cy.relu_backward(x, g)
    assert out.dtype == np.float64  # promoted
    np.testing.assert_array_equal(out, np.where(x > 0, g, 0))
    y = cy.tanh(x)
    assert_within(cy.tanh_backward(y[:, ::2], g[:, ::2]), g[:, ::2] * (1 - y[:, ::2].astype(np.float64) ** 2),
                  1e-12, np.abs(g[:, ::2]))


def test_activations_leave_other_dtypes_to_numpy():
    ints = np.array([-2, 0, 3])
    np.testing.assert_array_equal(cy.relu(ints), [0, 0, 3])
    assert cy.relu(ints).dtype == np.int64
    assert cy.relu(np.float32(-2.0)) == 0  # a NumPy scalar (the numpy backend's 0-d results)
    assert abs(cy.tanh(np.float64(0.5)) - np.tanh(0.5)) < 1e-15
    np.testing.assert_array_equal(cy.relu_backward(np.array([1.0, -1.0]), np.float64(2.0)), [2.0, 0.0])


def test_threads_give_the_same_activations(rng):
    x = rng.standard_normal(300_000).astype(np.float32)  # several chunks
    before = cy.num_threads()
    try:
        cy.set_num_threads(1)
        one = [cy.sigmoid(x), cy.tanh(x)]
        cy.set_num_threads(4)
        four = [cy.sigmoid(x), cy.tanh(x)]
    finally:
        cy.set_num_threads(before)
    for a, b in zip(one, four):
        np.testing.assert_array_equal(a, b)


# --- softmax family -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((1, 1), 1), ((7, 13), 1), ((7, 13), 0), ((4, 5, 6), 1),
                                        ((3, 1000), 1), ((2, 3, 4), 2), ((100, 50), 1)])
def test_softmax_family(shape, axis, dtype, isa, rng):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    rtol = RTOL[dtype]
    sm, lsm = cy.softmax(x, axis), cy.log_softmax(x, axis)
    assert sm.dtype == dtype and sm.shape == shape
    assert_within(sm, npb.softmax(x64, axis), rtol, np.finfo(dtype).tiny / rtol)
    # log(sum) carries an absolute error of ~eps however small the result: scale 1
    assert_within(lsm, npb.log_softmax(x64, axis), rtol, 1.0)
    y, ly = npb.softmax(x64, axis), npb.log_softmax(x64, axis)
    terms = np.abs(y) * (np.abs(g64) + np.sum(np.abs(g64 * y), axis=axis, keepdims=True))
    assert_within(cy.softmax_backward(y.astype(dtype), g, axis), npb.softmax_backward(y, g64, axis), rtol, terms)
    terms = np.abs(g64) + np.exp(ly) * np.sum(np.abs(g64), axis=axis, keepdims=True)
    assert_within(cy.log_softmax_backward(ly.astype(dtype), g, axis), npb.log_softmax_backward(ly, g64, axis),
                  rtol, terms)


def test_softmax_extremes_and_layouts(rng):
    x = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, 0.0, 1.0], [3e38, 3e38, 0.0]], np.float32)
    np.testing.assert_allclose(cy.softmax(x, 1), npb.softmax(x, 1), rtol=1e-6)
    np.testing.assert_allclose(cy.log_softmax(x, 1), npb.log_softmax(x, 1), rtol=1e-6)
    with np.errstate(invalid="ignore"):
        nan_row = np.array([[0.0, np.nan, 1.0]])
        assert np.isnan(cy.softmax(nan_row, 1)).all() and np.isnan(npb.softmax(nan_row, 1)).all()
    x = rng.standard_normal((20, 30))
    for label, x2 in layouts(x):
        np.testing.assert_array_equal(cy.softmax(x2, 1), cy.softmax(x, 1), err_msg=label)
        np.testing.assert_array_equal(cy.log_softmax(x2, 0), cy.log_softmax(x, 0), err_msg=label)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 10), (128, 10), (7, 1000), (3000, 13)])
def test_cross_entropy(n, c, dtype, isa, rng):
    logits = (rng.standard_normal((n, c)) * 4).astype(dtype)
    labels = rng.integers(0, c, n)
    loss, probs = cy.cross_entropy(logits, labels)
    ref_loss, ref_probs = npb.cross_entropy(logits.astype(np.float64), labels)
    rtol = RTOL[dtype]
    assert loss.dtype == dtype and loss.shape == () and probs.dtype == dtype
    assert_within(loss, ref_loss, rtol, 1.0)
    assert_within(probs, ref_probs, rtol, np.finfo(dtype).tiny / rtol)
    g = np.asarray(0.7, dtype)
    grad = cy.cross_entropy_backward(probs, labels, g)
    ref = npb.cross_entropy_backward(ref_probs, labels, np.float64(0.7))
    assert_within(grad, ref, rtol, 0.7 / n)


def test_cross_entropy_errors_and_edges(rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    probs = np.empty_like(logits)
    for bad in ([0, 1, 3, 0], [0, -1, 2, 0]):
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
            _native.cross_entropy(logits, np.array(bad, np.int64), probs, 2)
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
            _native.cross_entropy_backward(logits, np.array(bad, np.int64), 1.0, probs, 1)
    with warnings.catch_warnings():  # NumPy warns about the mean of nothing, as the numpy backend does
        warnings.simplefilter("ignore", RuntimeWarning)
        loss, p = cy.cross_entropy(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    assert np.isnan(loss) and p.shape == (0, 3)
    # labels of another integer width, and transposed logits
    labels = np.array([2, 0, 1, 1], np.int32)
    wide = rng.standard_normal((3, 4)).astype(np.float32).T
    ours, ref = cy.cross_entropy(wide, labels), npb.cross_entropy(wide.astype(np.float64), labels)
    assert_within(ours[0], ref[0], 1e-5, 1.0)
    assert_within(ours[1], ref[1], 1e-5)


def test_cross_entropy_through_tensors_matches_numpy(rng):
    logits = rng.standard_normal((64, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 64)
    grads = {}
    for name in ("numpy", "cython"):
        t = tnm.Tensor(logits, requires_grad=True, backend=name)
        loss = tnm.functional.cross_entropy(t, tnm.Tensor(labels, backend=name))
        loss.backward()
        grads[name] = (loss.item(), t.grad.numpy())
    assert abs(grads["cython"][0] - grads["numpy"][0]) < 1e-5 * abs(grads["numpy"][0])
    np.testing.assert_allclose(grads["cython"][1], grads["numpy"][1], rtol=1e-5, atol=1e-8)


# --- bad input to the compiled module raises, never crashes ----------------------------------------
def test_native_entry_points_reject_bad_arguments():
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="not aligned"):
        _native.matmul(f32, f32, np.empty((3, 4), np.float32), 1)
    with pytest.raises(ValueError, match="out has shape"):
        _native.matmul(f32, f32.T, np.empty((4, 4), np.float32), 1)
    with pytest.raises(ValueError, match="num_threads"):
        _native.matmul(f32, f32.T, np.empty((3, 3), np.float32), 0)
    with pytest.raises((TypeError, ValueError)):  # float64 out for float32 inputs
        _native.matmul(f32, f32.T, np.empty((3, 3), np.float64), 1)
    with pytest.raises((TypeError, ValueError)):  # an int array
        _native.relu(np.ones(3, np.int64), np.empty(3, np.int64), 1)
    with pytest.raises(ValueError):  # out must be C-contiguous
        _native.relu(np.ones(6, np.float32), np.empty(12, np.float32)[::2], 1)
    with pytest.raises(ValueError, match="same number of elements"):
        _native.relu_backward(np.ones(3), np.ones(4), np.empty(3), 1)
    with pytest.raises(ValueError, match="out has shape"):
        _native.softmax(f32, np.empty((4, 3), np.float32), 1)
    with pytest.raises(ValueError, match="labels"):
        _native.cross_entropy(f32, np.zeros(2, np.int64), np.empty_like(f32), 1)
    with pytest.raises(ValueError, match="not aligned"):
        cy.matmul(f32, f32)


def test_native_entry_points_read_only_what_numpy_says_the_array_is():
    """The hot entry points read dtype, shape and data from NumPy's array struct (no memoryview):
    what a memoryview would have refused they refuse too, and the arrays stay as they were."""
    f32 = np.ones((3, 4), np.float32)
    out = np.full((3, 3), 7.0, np.float32)
    with pytest.raises(TypeError, match="byte order"):  # big-endian float32: the same type number
        _native.matmul(f32.astype(">f4"), f32.T, out, 1)
    read_only = np.ones(4, np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _native.axpy(read_only, 1.0, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="read-only"):
        _native.relu(np.ones(4, np.float32), read_only)
    with pytest.raises(ValueError, match="2 dimensions"):
        _native.linear_act(f32.reshape(-1), f32.T, None, out, "relu", 1)
    with pytest.raises(TypeError, match="int64"):  # labels of another integer type
        _native.cross_entropy(f32, np.zeros(3, np.int32), np.empty_like(f32), 1)
    with pytest.raises(TypeError, match="bias"):
        _native.linear_act(f32, f32.T, np.zeros(3, np.float64), out, None, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _native.axpy(np.ones((4, 4), np.float32).T, 1.0, np.ones(16, np.float32))
    with pytest.raises(ValueError, match="16 elements, x 4"):
        _native.axpy(np.ones((4, 4), np.float32), 1.0, np.ones(4, np.float32))
    assert (out == 7).all() and (read_only == 1).all()
    # any C-contiguous shape for the elementwise ones: the same values as flat
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    y = np.empty_like(x)
    _native.relu(x, y, 1)
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_backend_implements_every_kernel():
    contract = importlib.import_module("tinygrad_nm.backends.kernels")  # backends.kernels is a function
    missing = [name for name in contract.KERNELS if not callable(getattr(cy, name, None))]
    assert not missing


def check_linear_act(m, k, n, dtype, rng):
    """linear_act with each activation against float64 (the dot product's rounding bound); returns x, w."""
    x, w = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    z = x.astype(np.float64) @ w.T.astype(np.float64) + b
    bound = RTOL[dtype] * (np.abs(x).astype(np.float64) @ np.abs(w.T) + np.abs(b) + 1)
    for act, ref in (("relu", np.maximum(z, 0)), ("sigmoid", 1 / (1 + np.exp(-z))), ("tanh", np.tanh(z))):
        assert (np.abs(cy.linear_act(x, w, b, act) - ref) <= bound).all(), act
    return x, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(5, 300, 700), (300, 40, 7), (3001, 70, 9), (1, 8, 20)])
def test_linear_act_narrow(m, k, n, dtype, isa, rng):
    """linear_act through the narrow kernel: few columns (bias along C's columns) or few rows (the
    bias along C^T's rows), edge rows, on every thread for the bigger ones; against float64."""
    check_linear_act(m, k, n, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(25, 64), (29, 70), (64, 96), (127, 33), (20, 64)])
def test_linear_act_bottom_edge_rows(m, n, dtype, isa, rng):
    """linear_act through the blocked kernel where the last row block is short (m % MR of 1, 5, 4,
    7 or 8 rows with MR = 12; 2 with MR = 6): the micro-kernel on a third or two thirds of MR rows,
    the bias and activation in its store, against float64."""
    x, w = check_linear_act(m, 50, n, dtype, rng)
    check_matmul(x, w.T)


def test_axpy_refuses_a_shifted_overlap_natively_and_the_backend_computes_it():
    """x[1:] and x[:-1] of one array: an elementwise pass would read elements it already wrote. The
    native call refuses (before writing), the backend's NumPy path computes it as if x were copied."""
    base = np.arange(8, dtype=np.float32)
    with pytest.raises(ValueError, match="overlap"):
        cy._native.axpy(base[1:], -1.0, base[:-1])
    assert base.tolist() == list(range(8))
    out = cy.axpy(base[1:], -1.0, base[:-1])
    assert out.tolist() == [1.0] * 7 and base.tolist() == [0.0] + [1.0] * 7
    same = np.arange(4, dtype=np.float32)
    cy._native.axpy(same, -1.0, same)  # the same elements: allowed
    assert not same.any()


@pytest.mark.parametrize("case", ["contiguous", "float64 a, float32 x", "transposed a", "transposed x"])
def test_axpy_in_place_on_every_layout(case):
    """The backend's axpy writes a = beta * a + alpha * x in a's own storage, natively or (mixed
    dtypes, strided views) through NumPy's calls, with the same values either way."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 6)).astype(np.float32)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    if case == "float64 a, float32 x":
        a = a.astype(np.float64)
    elif case == "transposed a":
        a = np.ascontiguousarray(a.T).T
    elif case == "transposed x":
        x = np.ascontiguousarray(x.T).T
    expected = 0.9 * a.astype(np.float64) + -0.5 * x.astype(np.float64)
    out = cy.axpy(a, -0.5, x, 0.9)
    assert out is a
    np.testing.assert_allclose(a, expected, rtol=1e-6)
