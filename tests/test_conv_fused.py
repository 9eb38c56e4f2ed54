"""The kernel table's conv2d / conv2d_backward (fused on cython, composed of im2col + matmul +
col2im elsewhere) called directly on every backend against PyTorch, over hypothesis-drawn
geometries with uneven padding and groups; the cython kernel's tiles and threads (forced small
tiles, more threads than samples) giving the same numbers; the layers sending F.conv2d through the
one kernel each way; the bias / weight / input gradients each wanted alone; costs."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import fuzz  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
from nn_torch_helpers import compare  # noqa: E402
import tinygrad_nm as tnm  # noqa: E402
import tinygrad_nm.nn.functional as F  # noqa: E402
from tinygrad_nm import Tensor, dtypes  # noqa: E402
from tinygrad_nm.backends import kernels  # noqa: E402

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = {"float32": dict(rtol=2e-4, atol=2e-4), "float64": dict(rtol=1e-10, atol=1e-10)}


@st.composite
def conv_kernel_case(draw, backend):
    """(x shape, w shape, stride, dilation, padding ((top, bottom), (left, right)), groups)."""
    groups = draw(st.integers(1, 3))
    c, o = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(2))  # larger than the kernel too
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - sum(p)), 7 if backend == "python" else 13))
                    for k, d, p in zip(kernel, dilation, padding))
    return (draw(st.integers(1, 3)), c, *spatial), (o, c // groups, *kernel), stride, dilation, padding, groups


def torch_conv(x, w, b, stride, dilation, padding, groups):
    """PyTorch's conv2d on x padded unevenly first, its output and its three gradients for g."""
    (top, bottom), (left, right) = padding
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    y = TF.conv2d(TF.pad(tx, (left, right, top, bottom)), tw, tb, stride=stride, dilation=dilation, groups=groups)
    return y, tx, tw, tb


def run_kernels(backend, x, w, b, geometry, seed=3):
    """(y, dx, dw, db) from the backend's two kernels, and PyTorch's, for the same random g."""
    be = tnm.backends.load(backend)
    dtype = getattr(dtypes, x.dtype.name)
    up = [be.from_numpy(a, dtype) for a in (x, w, b)]
    y = be.conv2d(*up, *geometry)
    ty, tx, tw, tb = torch_conv(x, w, b, *geometry)
    g = np.random.default_rng(seed).standard_normal(tuple(ty.shape)).astype(x.dtype)
    ty.backward(torch.tensor(g))
    dx, dw, db = be.conv2d_backward(up[0], up[1], be.from_numpy(g, dtype), *geometry, True, True)
    ours = [be.to_numpy(t) for t in (y, dx, dw, db)]
    return ours, [t.detach().numpy() for t in (ty, tx.grad, tw.grad, tb.grad)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@fuzz(20)
@given(data=st.data())
def test_conv2d_kernels_match_torch(backend, dtype, data):
    xs, ws, *geometry = data.draw(conv_kernel_case(backend), label="case")
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    ours, theirs = run_kernels(backend, x, w, b, geometry)
    for name, a, t in zip(("y", "dx", "dw", "db"), ours, theirs):
        np.testing.assert_allclose(a, t, **TOL[dtype], err_msg=name)


def test_conv2d_backward_leaves_out_what_is_not_wanted(backend):
    be = tnm.backends.load(backend)
    x, w = (be.from_numpy(np.ones(s), dtypes.float64) for s in ((1, 2, 4, 4), (3, 2, 2, 2)))
    g = be.from_numpy(np.ones((1, 3, 3, 3)), dtypes.float64)
    dx, dw, db = be.conv2d_backward(x, w, g, (1, 1), (1, 1), ((0, 0), (0, 0)), 1, False, False)
    assert dx is None and db is None and be.to_numpy(dw).shape == (3, 2, 2, 2)
    np.testing.assert_array_equal(be.to_numpy(dw), np.full((3, 2, 2, 2), 9.0))  # 9 positions of 1 * 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows,samples,threads", [(1, 1, 1), (2, 1, 2), (3, 1, 3), (0, 0, 1), (0, 0, 2), (5, 1, 4),
                                                  (0, 2, 1), (0, 3, 2), (0, 4, 3)])
@pytest.mark.parametrize("xs,ws,geometry", [
    ((5, 4, 11, 9), (6, 2, 3, 2), ((1, 2), (2, 1), ((1, 2), (0, 3)), 2)),   # groups, dilation, uneven padding
    ((1, 3, 12, 10), (4, 3, 3, 3), ((1, 1), (1, 1), ((1, 1), (1, 1)), 1)),  # batch 1: fewer samples than threads
    ((3, 2, 9, 9), (2, 2, 2, 2), ((3, 3), (1, 1), ((0, 0), (0, 0)), 1)),    # stride larger than the kernel
    ((2, 3, 6, 5), (4, 3, 6, 5), ((1, 1), (1, 1), ((0, 0), (0, 0)), 1)),    # kernel as large as the input
    ((2, 6, 7, 8), (6, 1, 1, 1), ((1, 1), (1, 1), ((0, 0), (0, 0)), 6)),    # 1x1 depthwise
])
def test_cython_tiles_and_threads_give_the_same_numbers(dtype, rows, samples, threads, xs, ws, geometry):
    """The native kernel cut into tiles of a few output rows (rows), or of several whole samples
    side by side (samples, groups = 1 only; 0 and 0: its own choice) on several threads (more than
    the samples too) against PyTorch: each tile's rows of y, its share of dW and db, and its
    contribution to dx (col2im of one tile adds to the next one's rows)."""
    if "cython" not in tnm.available_backends():
        pytest.skip("the native kernels are not built here")
    native = tnm.backends.load("cython")._native
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    ty, tx, tw, tb = torch_conv(x, w, b, *geometry)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(g))
    y = np.full(tuple(ty.shape), np.nan, dtype)
    native.conv2d(x, w, b, y, *geometry, threads, rows, samples)
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full_like(b, np.nan)
    native.conv2d_backward(x, w, g, dx, dw, db, *geometry, threads, rows, samples)
    for name, a, t in zip(("y", "dx", "dw", "db"), (y, dx, dw, db), (ty, tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(a, t.detach().numpy(), **TOL[dtype], err_msg=name)


def test_cython_entry_points_check_their_arguments():
    if "cython" not in tnm.available_backends():
        pytest.skip("the native kernels are not built here")
    native = tnm.backends.load("cython")._native
    x, w = np.zeros((2, 4, 6, 6), np.float32), np.zeros((4, 2, 3, 3), np.float32)
    geometry = ((1, 1), (1, 1), ((0, 0), (0, 0)))
    y = np.zeros((2, 4, 4, 4), np.float32)
    with pytest.raises(ValueError, match="do not fit groups=1"):
        native.conv2d(x, w, None, y, *geometry, 1)
    with pytest.raises(ValueError, match=r"must have shape \(2, 4, 4, 4\), got \(2, 4, 5, 4\)"):
        native.conv2d(x, w, None, np.zeros((2, 4, 5, 4), np.float32), *geometry, 2)
    with pytest.raises(ValueError, match="bias has 2 elements"):
        native.conv2d(x, w, np.zeros(2, np.float32), y, *geometry, 2)
    with pytest.raises(ValueError, match="dw must have the weight's shape"):
        native.conv2d_backward(x, w, y, None, np.zeros((4, 2, 3, 2), np.float32), None, *geometry, 2)
    with pytest.raises(ValueError, match="num_threads must be at least 1"):
        native.conv2d(x, w, None, y, *geometry, 2, 0)


def test_f_conv2d_runs_one_kernel_each_way(backend):
    """F.conv2d forward and backward are the table's conv2d and conv2d_backward (fused on cython:
    no column matrix, no separate matmul), called once each, the bias's gradient included."""
    x = Tensor(np.ones((2, 3, 6, 6)), requires_grad=True)
    w, b = Tensor(np.ones((4, 3, 3, 3)), requires_grad=True), Tensor(np.ones(4), requires_grad=True)
    with tnm.napkin.collecting() as traced:
        F.conv2d(x, w, b, padding=1).sum().backward()
    ops = [c.op for c in traced.calls]
    assert ops.count("conv2d") == 1 and ops.count("conv2d_backward") == 1, ops
    assert not {"im2col", "col2im", "matmul"} & set(ops), ops
    assert x.grad.shape == x.shape and w.grad.shape == w.shape and b.grad.shape == b.shape


@pytest.mark.parametrize("grads", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, False, True), (False, True, True)])
def test_each_gradient_alone(backend, grads):
    """Any subset of input, weight and bias wanting a gradient (the bias alone: no conv node)."""
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    compare(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
            [uniform((2, 4, 5, 6)), uniform((2, 2, 2, 2), seed=1), uniform((2,), seed=2)], grads=list(grads))


def test_float64_finite_differences_through_the_kernels(backend):
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 3), padding=(2, 0), groups=3),
               uniform((2, 3, 4, 5)), uniform((3, 1, 3, 2), seed=1), uniform((3,), seed=2))
    check_grad(lambda x, w: F.conv1d(x, w, padding="same", dilation=2), uniform((1, 2, 6)), uniform((3, 2, 2), seed=1))


def test_mixed_dtypes_promote_as_before():
    out = F.conv2d(Tensor(np.ones((1, 1, 3, 3)), dtype="float32"), Tensor(np.ones((1, 1, 2, 2)), dtype="float64"))
    assert out.dtype == "float64"
    np.testing.assert_array_equal(out.numpy(), np.full((1, 1, 2, 2), 4.0))


def test_costs_count_the_products_not_the_columns():
    B = kernels.c.Buf
    fwd = kernels.kernel_cost("conv2d", (B((64, 32, 26, 26)), B((64, 32, 3, 3)), B((64,)), (1, 1), (1, 1),
                                         ((0, 0), (0, 0)), 1))
    madds = 64 * 64 * 24 * 24 * 32 * 9
    assert fwd.flops == 2 * madds + 64 * 64 * 24 * 24 and fwd.elements == madds
    assert fwd.bytes == 4 * (64 * 32 * 26 * 26 + 64 * 32 * 9 + 64 + 64 * 64 * 24 * 24)  # no column matrix
    bwd = kernels.kernel_cost("conv2d_backward", (B((64, 32, 26, 26)), B((64, 32, 3, 3)), B((64, 64, 24, 24)),
                                                  (1, 1), (1, 1), ((0, 0), (0, 0)), 1, True, True))
    assert bwd.elements == 2 * madds and bwd.flops == 4 * madds + 288 * 64 * 576 + 64 * 64 * 576
    only_dw = kernels.kernel_cost("conv2d_backward", (B((64, 32, 26, 26)), B((64, 32, 3, 3)), B((64, 64, 24, 24)),
                                                      (1, 1), (1, 1), ((0, 0), (0, 0)), 1, False, False))
    assert only_dw.elements == madds and only_dw.flops == 2 * madds
