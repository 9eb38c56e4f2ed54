"""A convolution and its activation as one kernel each way: the kernel table's conv2d_act /
conv2d_act_backward called directly on every backend against PyTorch over hypothesis-drawn
geometries (the cython kernel also with forced tiles and threads), nn.Sequential pairing a Conv1d /
Conv2d with the ReLU, Sigmoid or Tanh after it exactly as it pairs a Linear (same values as the
unfused layers, hooks keep them apart), the gradients each wanted alone, float64 finite
differences, a write into the output refused before backward, bad arguments, costs."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import fuzz  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
from nn_torch_helpers import compare  # noqa: E402
from test_conv_fused import TOL, conv_kernel_case, torch_conv  # noqa: E402
import tinygrad_nm as tnm  # noqa: E402
from tinygrad_nm import Tensor, conv, dtypes, nn  # noqa: E402
from tinygrad_nm.backends import kernels  # noqa: E402

torch = pytest.importorskip("torch")
ACTS = kernels.ACTIVATIONS
LAYERS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def torch_conv_act(x, w, b, geometry, act, g):
    """PyTorch's act(conv2d(...)) and its gradients (x, w, b) for g."""
    y, tx, tw, tb = torch_conv(x, w, b, *geometry)
    y = getattr(torch, act)(y)
    y.backward(torch.tensor(g))
    return [t.detach().numpy() for t in (y, tx.grad, tw.grad, tb.grad)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
@fuzz(8)
@given(data=st.data())
def test_conv2d_act_kernels_match_torch(backend, dtype, act, data):
    xs, ws, *geometry = data.draw(conv_kernel_case(backend), label="case")
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    be, dt = tnm.backends.load(backend), getattr(dtypes, dtype)
    up = [be.from_numpy(a, dt) for a in (x, w, b)]
    y = be.conv2d_act(*up, *geometry, act)
    g = rng.standard_normal(be.to_numpy(y).shape).astype(dtype)
    dx, dw, db = be.conv2d_act_backward(up[0], up[1], y, be.from_numpy(g, dt), *geometry, act, True, True)
    theirs = torch_conv_act(x, w, b, geometry, act, g)
    for name, a, t in zip(("y", "dx", "dw", "db"), (y, dx, dw, db), theirs):
        np.testing.assert_allclose(be.to_numpy(a), t, **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("act", ACTS)
def test_conv2d_act_backward_leaves_out_what_is_not_wanted(backend, act):
    be = tnm.backends.load(backend)
    x, w = (be.from_numpy(np.ones(s), dtypes.float64) for s in ((1, 2, 4, 4), (3, 2, 2, 2)))
    y = be.conv2d_act(x, w, None, (1, 1), (1, 1), ((0, 0), (0, 0)), 1, act)
    g = be.from_numpy(np.ones((1, 3, 3, 3)), dtypes.float64)
    dx, dw, db = be.conv2d_act_backward(x, w, y, g, (1, 1), (1, 1), ((0, 0), (0, 0)), 1, act, False, False)
    assert dx is None and db is None
    slope = {"relu": 1.0, "sigmoid": 1 / (1 + np.exp(-8)) * (1 - 1 / (1 + np.exp(-8))), "tanh": 1 - np.tanh(8) ** 2}
    np.testing.assert_allclose(be.to_numpy(dw), np.full((3, 2, 2, 2), 9 * slope[act]), rtol=1e-9)  # y = 8 each (tanh: 1 - y^2 cancels)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("rows,samples,threads", [(1, 1, 1), (3, 1, 3), (0, 0, 1), (0, 0, 2), (0, 3, 2)])
@pytest.mark.parametrize("xs,ws,geometry", [
    ((5, 4, 11, 9), (6, 2, 3, 2), ((1, 2), (2, 1), ((1, 2), (0, 3)), 2)),   # groups, dilation, uneven padding
    ((3, 2, 9, 9), (2, 2, 2, 2), ((3, 3), (1, 1), ((0, 0), (0, 0)), 1)),    # stride larger than the kernel
])
def test_cython_act_tiles_and_threads_give_the_same_numbers(dtype, act, rows, samples, threads, xs, ws, geometry):
    """The native kernel with an activation, cut into tiles of a few rows or of several samples, on
    several threads: the epilogue on every tile's rows of y, act' on every sample's g."""
    if "cython" not in tnm.available_backends():
        pytest.skip("the native kernels are not built here")
    native = tnm.backends.load("cython")._native
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    g = rng.standard_normal(torch_conv(x, w, b, *geometry)[0].shape).astype(dtype)
    theirs = torch_conv_act(x, w, b, geometry, act, g)
    y = np.full(g.shape, np.nan, dtype)
    native.conv2d(x, w, b, y, *geometry, threads, rows, samples, act=act)
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, np.nan), np.full_like(b, np.nan)
    native.conv2d_backward(x, w, g, dx, dw, db, *geometry, threads, rows, samples, act=act, y=y)
    for name, a, t in zip(("y", "dx", "dw", "db"), (y, dx, dw, db), theirs):
        np.testing.assert_allclose(a, t, **TOL[dtype], err_msg=name)


def test_cython_act_entry_points_check_their_arguments():
    if "cython" not in tnm.available_backends():
        pytest.skip("the native kernels are not built here")
    native = tnm.backends.load("cython")._native
    x, w = np.zeros((2, 4, 6, 6), np.float32), np.zeros((4, 4, 3, 3), np.float32)
    geometry = ((1, 1), (1, 1), ((0, 0), (0, 0)))
    y, dw = np.zeros((2, 4, 4, 4), np.float32), np.zeros_like(w)
    with pytest.raises(ValueError, match="conv2d: unknown activation 'gelu'"):
        native.conv2d(x, w, None, y, *geometry, act="gelu")
    with pytest.raises(ValueError, match="with act='relu', y must have the gradient's shape"):
        native.conv2d_backward(x, w, y, None, dw, None, *geometry, act="relu")


def _pair(backend, act, dims=2, fused=True, bias=True):
    """A Conv (dims 1 or 2) then the activation in nn.Sequential; fused=False puts an Identity
    between them, so that the two run as their own ops."""
    layer = (nn.Conv1d if dims == 1 else nn.Conv2d)(4, 6, 3, padding=1, groups=2, bias=bias, backend=backend,
                                                    generator=np.random.default_rng(0))
    return nn.Sequential(layer, LAYERS[act]()) if fused else nn.Sequential(layer, nn.Identity(), LAYERS[act]())


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dims", [1, 2])
def test_sequential_pairs_a_conv_with_its_activation(backend, act, dims):
    """Conv + activation in nn.Sequential is conv2d_act and its backward, one call each (no
    separate activation kernel), with the values and gradients of the two layers run apart."""
    shape = (2, 4, 7) if dims == 1 else (2, 4, 5, 6)
    results = []
    for fused in (True, False):
        model = _pair(backend, act, dims, fused)
        x = Tensor(uniform(shape), dtype="float32", backend=backend, requires_grad=True)
        with tnm.napkin.collecting() as traced:
            out = model(x)
            (out * Tensor(uniform(out.shape, seed=1), dtype="float32", backend=backend)).sum().backward()
        ops = [c.op for c in traced.calls]
        if fused:
            assert ops.count("conv2d_act") == 1 and ops.count("conv2d_act_backward") == 1, ops
            assert not {act, f"{act}_backward", "conv2d", "conv2d_backward"} & set(ops), ops
        results.append([t.detach().numpy() for t in (out, x.grad, model[0].weight.grad, model[0].bias.grad)])
    for name, a, b in zip(("y", "dx", "dw", "db"), *results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)


def test_hooks_keep_the_conv_and_its_activation_apart(backend):
    model = _pair(backend, "relu")
    seen = []
    model[0].register_forward_hook(lambda module, args, out: seen.append(out.shape))
    with tnm.napkin.collecting() as traced:
        model(Tensor(uniform((1, 4, 5, 6)), dtype="float32", backend=backend))
    ops = [c.op for c in traced.calls]
    assert seen == [(1, 6, 5, 6)] and "conv2d" in ops and "relu" in ops and "conv2d_act" not in ops, ops


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("grads", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, False, True), (False, True, True)])
def test_each_gradient_alone(backend, act, grads):
    """Any subset of input, weight and bias wanting a gradient (the bias alone: act' of g summed)."""
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    compare(lambda x, w, b: conv.convolution("conv2d", x, w, b, kw["stride"], kw["padding"], kw["dilation"],
                                             kw["groups"], 2, activation=act),
            lambda x, w, b: getattr(torch, act)(torch.nn.functional.conv2d(x, w, b, **kw)),
            [uniform((2, 4, 5, 6)), uniform((2, 2, 2, 2), seed=1), uniform((2,), seed=2)], grads=list(grads))


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])  # smooth: relu's kink would meet a finite difference
def test_float64_finite_differences_through_the_kernels(backend, act):
    check_grad(lambda x, w, b: conv.convolution("conv2d", x, w, b, (1, 3), (2, 0), 1, 3, 2, activation=act),
               uniform((2, 3, 4, 5)), uniform((3, 1, 3, 2), seed=1), uniform((3,), seed=2))
    check_grad(lambda x, w: conv.convolution("conv1d", x, w, None, 1, "same", 2, 1, 1, activation=act),
               uniform((1, 2, 6)), uniform((3, 2, 2), seed=1))


def test_float64_finite_differences_relu_away_from_its_kink(backend):
    """relu's gradient where no output lies near 0 (a bias of +-3 over small inputs)."""
    check_grad(lambda x, w, b: conv.convolution("conv2d", x, w, b, 1, 1, 1, 1, 2, activation="relu"),
               uniform((2, 2, 4, 4), -0.2, 0.2), uniform((4, 2, 3, 3), -0.2, 0.2, seed=1),
               np.array([3.0, -3.0, 3.0, -3.0]))


def test_a_write_into_the_output_is_refused_before_backward(backend):
    model = _pair(backend, "relu")
    x = Tensor(uniform((1, 4, 5, 6)), dtype="float32", backend=backend, requires_grad=True)
    out = model(x)
    out.detach().mul_(2.0)  # a view sharing out's storage; relu's backward reads it: PyTorch refuses, so do we
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()
    assert x.grad is None and model[0].weight.grad is None


def test_integers_take_the_activation_as_its_own_op():
    x, w = Tensor(np.arange(16).reshape(1, 1, 4, 4) - 8), Tensor(np.array([[[[1, -1], [2, 0]]]]))
    out = conv.convolution("conv2d", x, w, None, 1, 0, 1, 1, 2, activation="relu")
    expected = np.maximum(conv.convolution("conv2d", x, w, None, 1, 0, 1, 1, 2).numpy(), 0)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out.numpy(), expected)


def test_an_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="conv2d: unknown activation 'gelu'; expected None or one of relu"):
        conv.convolution("conv2d", Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2))), None, 1, 0, 1, 1, 2,
                         activation="gelu")


@pytest.mark.parametrize("act", ACTS)
def test_costs_are_the_convs_and_the_activations(act):
    B = kernels.c.Buf
    geometry = ((1, 1), (1, 1), ((0, 0), (0, 0)), 1)
    x, w, b, y = B((64, 32, 26, 26)), B((64, 32, 3, 3)), B((64,)), B((64, 64, 24, 24))
    base, fused = kernels.kernel_cost("conv2d", (x, w, b, *geometry)), kernels.kernel_cost("conv2d_act", (x, w, b, *geometry, act))
    one = kernels.kernel_cost(act, (y,))
    assert fused.elements == base.elements and fused.bytes == base.bytes  # y written once, as conv2d's
    assert fused.flops == base.flops + one.flops and fused.transcendentals == one.transcendentals
    back = kernels.kernel_cost("conv2d_backward", (x, w, y, *geometry, True, True))
    fused_back = kernels.kernel_cost("conv2d_act_backward", (x, w, y, y, *geometry, act, True, True))
    act_back = kernels.kernel_cost(f"{act}_backward", (y, y))
    assert fused_back.elements == back.elements and fused_back.bytes == back.bytes + y.nbytes
    assert fused_back.flops == back.flops + act_back.flops
