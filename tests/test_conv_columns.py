"""The composed conv2d (backends/conv_compose.py) keeps the forward's column matrix for the backward
while gradients are enabled: the backward then runs no im2col and gives the same numbers as one that
makes its own; nothing is kept under no_grad; a kept matrix is used only for the same x and the same
geometry, once, and goes when x does. On backends whose conv2d is not composed (cython's fused
kernel calls no im2col) there is nothing to keep and the test says so."""
import gc
import weakref

import numpy as np
import pytest

import tinygrad_nm as tnm
import tinygrad_nm.nn.functional as F
from tinygrad_nm import Tensor, dtypes

GEOMETRY = ((1, 1), (1, 1), ((1, 0), (0, 1)), 1)  # stride, dilation, padding (uneven), groups


@pytest.fixture
def spy(backend, monkeypatch):
    """The backend module, with its im2col calls counted (conv_compose looks it up at each call)."""
    module = tnm.backends.load(backend)
    calls = []
    real = module.im2col

    def im2col(*args):
        cols = real(*args)
        try:
            calls.append(weakref.ref(cols))
        except TypeError:  # a buffer type without weak references
            calls.append(None)
        return cols
    monkeypatch.setattr(module, "im2col", im2col)
    monkeypatch.setattr(module, "calls", calls, raising=False)
    return module


def to(module, a):
    return module.from_numpy(np.asarray(a, dtype=np.float64), dtypes.float64)


def back(module, buf):
    return np.asarray(module.to_numpy(buf))


def _composed(module, rng):
    x = to(module, rng.standard_normal((1, 1, 3, 3)))
    with tnm.no_grad():
        module.conv2d(x, to(module, np.ones((1, 1, 1, 1))), None, *GEOMETRY)
    composed = bool(module.calls)
    module.calls.clear()
    if not composed:
        pytest.skip("this backend's conv2d is not composed of im2col: it keeps no column matrix")


def test_backward_reuses_the_forwards_columns_with_the_same_numbers(spy, rng):
    _composed(spy, rng)
    x, w = to(spy, rng.standard_normal((2, 3, 6, 5))), to(spy, rng.standard_normal((4, 3, 3, 2)))
    y = spy.conv2d(x, w, None, *GEOMETRY)
    g = to(spy, rng.standard_normal(back(spy, y).shape))
    assert len(spy.calls) == 1
    reused = spy.conv2d_backward(x, w, g, *GEOMETRY, True, True)
    assert len(spy.calls) == 1  # no second im2col
    fresh = spy.conv2d_backward(x, w, g, *GEOMETRY, True, True)  # taken once: this one makes its own
    assert len(spy.calls) == 2
    for a, b in zip(reused, fresh):
        np.testing.assert_allclose(back(spy, a), back(spy, b), rtol=1e-12, atol=1e-12)


def test_nothing_kept_under_no_grad_nor_for_another_x_or_geometry(spy, rng):
    _composed(spy, rng)
    x, w = to(spy, rng.standard_normal((2, 3, 6, 5))), to(spy, rng.standard_normal((4, 3, 3, 2)))
    g = to(spy, rng.standard_normal(back(spy, spy.conv2d(x, w, None, *GEOMETRY)).shape))
    spy.conv2d_backward(x, w, g, *GEOMETRY, True, False)  # takes what that forward kept
    spy.calls.clear()
    with tnm.no_grad():
        spy.conv2d(x, w, None, *GEOMETRY)
    spy.conv2d_backward(x, w, g, *GEOMETRY, True, False)
    assert len(spy.calls) == 2  # the no_grad forward kept nothing
    spy.conv2d(x, w, None, *GEOMETRY)
    other = to(spy, back(spy, x))  # equal values, another array
    spy.conv2d_backward(other, w, g, *GEOMETRY, True, False)
    assert len(spy.calls) == 4
    spy.conv2d(x, w, None, (1, 1), (1, 1), ((0, 0), (0, 0)), 1)  # kept for the unpadded geometry
    spy.conv2d_backward(x, w, g, *GEOMETRY, True, False)  # the padded one: not that matrix
    assert len(spy.calls) == 6


def test_kept_columns_go_with_x(spy, rng):
    _composed(spy, rng)
    w = to(spy, rng.standard_normal((4, 3, 3, 2)))
    x = to(spy, rng.standard_normal((2, 3, 6, 5)))
    spy.conv2d(x, w, None, *GEOMETRY)
    kept = spy.calls[-1]
    if kept is None:
        pytest.skip("this backend's column matrix takes no weak reference: cannot watch it go")
    assert kept() is not None  # kept for a backward
    del x
    gc.collect()
    assert kept() is None  # x gone: its columns too
    x = to(spy, rng.standard_normal((2, 3, 6, 5)))  # perhaps at the old one's address
    spy.calls.clear()
    spy.conv2d_backward(x, w, to(spy, rng.standard_normal((2, 4, 5, 5))), *GEOMETRY, True, False)
    assert len(spy.calls) == 1  # makes its own columns


def test_layers_against_torch_with_the_kept_columns(backend, rng):
    """F.conv2d forward + backward (the op's path, the columns kept) against PyTorch."""
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, w, b))
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    up = rng.standard_normal((2, 4, 5, 7))
    (F.relu(F.conv2d(tx, tw, tb, padding=(0, 1))) * Tensor(up)).sum().backward()
    (torch.relu(torch.nn.functional.conv2d(px, pw, pb, padding=(0, 1))) * torch.tensor(up)).sum().backward()
    for ours, ref in ((tx, px), (tw, pw), (tb, pb)):
        np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("chunk", [1, 1500, 10 ** 9])  # 1 sample per chunk (672 entries each), 2, all
@pytest.mark.parametrize("groups", [1, 2])
def test_numpy_input_gradient_in_chunks_of_samples_against_torch(monkeypatch, rng, chunk, groups):
    """The numpy backend makes dx a few samples at a time (numpy_conv.conv_input_grad); every chunk size
    gives PyTorch's dx, with groups, stride, dilation and uneven padding."""
    torch = pytest.importorskip("torch")
    from tinygrad_nm.backends import numpy as nb, numpy_conv
    monkeypatch.setattr(numpy_conv, "DX_CHUNK", chunk)
    x, w = rng.standard_normal((5, 4, 9, 8)), rng.standard_normal((6, 4 // groups, 3, 2))
    stride, dilation, padding = (2, 1), (1, 2), ((1, 2), (0, 1))
    px = torch.tensor(np.pad(x, ((0, 0), (0, 0), *padding)), requires_grad=True)
    y = torch.nn.functional.conv2d(px, torch.tensor(w), stride=stride, dilation=dilation, groups=groups)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    dx, dw, _ = nb.conv2d_backward(x, w, g, stride, dilation, padding, groups, True, False)
    np.testing.assert_allclose(dx, px.grad.numpy()[:, :, 1:-2, :-1], rtol=1e-10, atol=1e-10)


def test_numpy_reuses_the_columns_a_backward_is_done_with(monkeypatch, rng):
    """The numpy backend's next im2col of the same size and dtype writes into the column matrix
    conv2d_backward was done with (its pages mapped already) and gives the same numbers as a fresh
    one; one of another dtype or size is not used; a few sizes (a model's layers) are kept at once."""
    from tinygrad_nm.backends import numpy_conv
    be = tnm.backends.load("numpy")
    monkeypatch.setattr(numpy_conv, "_spare", {})
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    kernel, geometry = (3, 2), GEOMETRY[:3]
    be.conv2d_backward(x, w, rng.standard_normal((2, 4, 5, 5)), *GEOMETRY, True, True)
    (spare,) = numpy_conv._spare.values()
    x2 = rng.standard_normal((2, 3, 6, 5))
    assert not np.shares_memory(be.im2col(x2.astype(np.float32), kernel, *geometry), spare)  # another dtype
    cols = be.im2col(x2, kernel, *geometry)
    assert np.shares_memory(cols, spare) and not numpy_conv._spare
    monkeypatch.setattr(numpy_conv, "_spare", {})
    np.testing.assert_array_equal(cols, be.im2col(x2, kernel, *geometry))
    for n in range(1, 7):  # six sizes recycled: the last four kept
        numpy_conv.recycle(np.zeros((n, 5)))
    assert sorted(k[0] for k in numpy_conv._spare) == [15, 20, 25, 30]


@pytest.mark.parametrize("layout", ["contiguous", "permuted", "sliced", "empty"])
def test_numpy_strided_view_is_as_strideds_view(layout, rng):
    """numpy_conv.strided_view (im2col's and max_pool2d's windows) makes the view as_strided makes,
    read-only, its memory kept alive by the view, from any layout of its input."""
    from tinygrad_nm.backends.numpy_conv import strided_view
    base = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    a = {"contiguous": base, "permuted": base.transpose(1, 0, 2, 3), "sliced": base[:, :, 1:5, ::2],
         "empty": base[:0]}[layout]
    sn, sc, sh, sw = a.strides
    shape = (a.shape[1], 2, 2, a.shape[0], a.shape[2] - 1, a.shape[3] - 1)
    strides = (sc, sh, sw, sn, sh, sw)
    view = strided_view(a, shape, strides)
    expect = np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False).copy()
    assert view.shape == shape and view.strides == strides and not view.flags.writeable
    np.testing.assert_array_equal(view, expect)
    del a, base  # the view alone keeps its memory
    gc.collect()
    np.testing.assert_array_equal(view, expect)
