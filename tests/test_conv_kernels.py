"""The kernel table's `conv` family called directly on every backend: im2col against PyTorch's
unfold (after F.pad for uneven padding), col2im against fold, and the two as each other's adjoint;
geometries drawn by hypothesis with awkward strides, dilations and uneven padding; through the
ops (ops_conv.py), float64 finite differences; costs and napkin's prices of a convolution."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import fuzz  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
import tinygrad_nm as tnm  # noqa: E402
from tinygrad_nm import dtypes  # noqa: E402
from tinygrad_nm.backends import costs, kernels, windows  # noqa: E402
from tinygrad_nm.conv import columns  # noqa: E402
from tinygrad_nm.ops_conv import Col2im  # noqa: E402

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@st.composite
def window_case(draw, backend):
    """(image shape, kernel, stride, dilation, padding) whose windows fit the padded image."""
    small = backend == "python"
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))  # uneven too
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - sum(p)), 6 if small else 10))
                    for k, d, p in zip(kernel, dilation, padding))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial), kernel, stride, dilation, padding


def torch_columns(x, kernel, stride, dilation, padding):
    """im2col's layout (C * kh * kw, N * L) from PyTorch's unfold (N, C * kh * kw, L)."""
    (top, bottom), (left, right) = padding
    t = TF.unfold(TF.pad(torch.tensor(x), (left, right, top, bottom)), kernel, dilation=dilation, stride=stride)
    return t.permute(1, 0, 2).reshape(t.shape[1], -1).numpy()


def torch_image(cols, shape, kernel, stride, dilation, padding):
    """col2im from PyTorch's fold on the padded image, then the padding cut off."""
    (top, bottom), (left, right) = padding
    n, _, h, w = shape
    t = torch.tensor(cols).reshape(cols.shape[0], n, -1).permute(1, 0, 2)
    image = TF.fold(t, (h + top + bottom, w + left + right), kernel, dilation=dilation, stride=stride)
    return image[:, :, top:top + h, left:left + w].numpy()


def run(backend, name, *args):
    """Call kernel `name` on the backend with its first argument uploaded; the result as NumPy."""
    be = tnm.backends.load(backend)
    first = be.from_numpy(args[0], getattr(dtypes, args[0].dtype.name))
    return be.to_numpy(getattr(be, name)(first, *args[1:]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@fuzz(25)
@given(data=st.data())
def test_im2col_and_col2im_match_torch(backend, dtype, data):
    shape, *window = data.draw(window_case(backend), label="case")
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    cols = run(backend, "im2col", x, *window)
    assert cols.shape == windows.matrix_shape(shape, *window) and cols.dtype == dtype
    np.testing.assert_array_equal(cols, torch_columns(x, *window))  # copies: exact
    g = np.random.default_rng(1).standard_normal(cols.shape).astype(dtype)
    image = run(backend, "col2im", g, shape, *window)
    assert image.shape == shape and image.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(image, torch_image(g, shape, *window), **tol)
    # adjoint: <im2col(x), g> == <x, col2im(g)>
    assert np.sum(cols.astype(np.float64) * g) == pytest.approx(np.sum(x.astype(np.float64) * image), rel=1e-5)


@pytest.mark.parametrize("case", [
    ((1, 1, 1, 1), (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))),      # one pixel, 1x1 kernel
    ((2, 2, 5, 4), (5, 4), (1, 1), (1, 1), ((0, 0), (0, 0))),      # kernel as large as the image
    ((1, 3, 7, 7), (2, 2), (4, 5), (1, 1), ((0, 0), (0, 0))),      # stride larger than the kernel
    ((2, 1, 3, 3), (3, 3), (1, 1), (3, 3), ((3, 3), (3, 3))),      # windows that start and end in padding
    ((1, 2, 4, 6), (3, 2), (2, 3), (1, 2), ((2, 0), (0, 3))),      # padding on one side only
])
def test_awkward_windows(backend, case):
    shape, *window = case
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) + 1
    np.testing.assert_array_equal(run(backend, "im2col", x, *window), torch_columns(x, *window))
    g = np.arange(np.prod(windows.matrix_shape(shape, *window)), dtype=np.float64).reshape(
        windows.matrix_shape(shape, *window))
    np.testing.assert_allclose(run(backend, "col2im", g, shape, *window), torch_image(g, shape, *window))


def test_non_contiguous_image(backend):
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 5)).transpose(1, 0, 3, 2)  # (2, 3, 5, 6), strided
    window = ((2, 3), (1, 2), (2, 1), ((1, 0), (0, 2)))
    t = tnm.Tensor(np.ascontiguousarray(x.transpose(1, 0, 3, 2)), dtype="float64").permute(1, 0, 3, 2)
    np.testing.assert_array_equal(columns(t, *window).numpy(), torch_columns(np.ascontiguousarray(x), *window))


def test_im2col_and_col2im_gradients_by_finite_differences(backend):
    window = ((2, 3), (2, 1), (1, 2), ((1, 0), (2, 1)))
    shape = (2, 2, 5, 6)
    check_grad(lambda x: columns(x, *window), uniform(shape))
    rows, cols = windows.matrix_shape(shape, *window)
    check_grad(lambda c: c._apply(Col2im, c.dtype, (c,), shape, *window), uniform((rows, cols)))


def test_costs_count_the_column_matrix():
    image, window = costs.Buf((64, 32, 26, 26)), ((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
    up = kernels.kernel_cost("im2col", (image, *window))
    assert up.out_bytes == 288 * 64 * 24 * 24 * 4  # the extra footprint: 9x the image's interior
    assert up.bytes == image.nbytes + up.out_bytes and up.flops == 0
    down = kernels.kernel_cost("col2im", (costs.Buf((288, 64 * 576)), image.shape, *window))
    assert down.flops == 288 * 64 * 576 and down.out_bytes == image.nbytes


def test_napkin_prices_a_cnn_step_per_layer():
    """estimate of a conv -> relu -> conv step on the shape-only backend: each layer's conv2d and
    conv2d_backward are recorded and priced, on every backend that declares pricing."""
    from tinygrad_nm import nn

    def step(x):
        with tnm.use_backend(tnm.backends.shape_only().NAME):
            net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3))
        net(x).sum().backward()

    for name in tnm.backends.known_backends():
        if tnm.backends.pricing(name)[0] is None:
            continue
        est = tnm.napkin.estimate(step, (2, 1, 12, 12), backend=name)
        assert {"conv2d", "conv2d_backward"} <= set(est.kernels) and est.seconds > 0, name


def test_columns_never_share_the_image_storage(backend):
    """A 1x1 kernel's column matrix has the image's layout: it is still a copy (PyTorch's unfold
    returns new storage), so writing into it leaves the image alone."""
    x = tnm.Tensor(np.arange(6.0).reshape(1, 1, 2, 3))
    cols = columns(x, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))
    cols[0, 0] = 100.0
    assert x.numpy()[0, 0, 0, 0] == 0.0 and cols.numpy()[0, 0] == 100.0


def test_native_entry_points_check_their_arguments():
    """The compiled im2col / col2im refuse a column matrix of the wrong shape and a window that
    does not fit, naming the shapes, before any C code runs."""
    if "cython" not in tnm.available_backends():
        pytest.skip("the native kernels are not built here")
    native = tnm.backends.load("cython")._native
    image = np.zeros((1, 2, 4, 4), np.float32)
    window = ((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
    with pytest.raises(ValueError, match=r"must have shape \(18, 4\).*got \(18, 5\)"):
        native.im2col(image, np.zeros((18, 5), np.float32), *window)
    with pytest.raises(ValueError, match="does not fit"):
        native.col2im(np.zeros((50, 1), np.float32), image, (5, 5), (1, 1), (1, 1), ((0, 0), (0, 0)))
    with pytest.raises(ValueError, match="non-negative"):
        native.im2col(image, np.zeros((18, 4), np.float32), (3, 3), (1, 1), (1, 1), ((-1, 0), (0, 0)))
