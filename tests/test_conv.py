"""Convolution and pooling (F.unfold/fold/conv1d/conv2d/max_pool/avg_pool/adaptive_avg_pool2d
and their nn modules) against PyTorch, forward and backward, on every backend; hypothesis draws
shapes, strides, paddings, dilations and groups (derandomized; tiny sizes on the python backend)."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import fuzz  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
from nn_torch_helpers import compare, copy_weights, torch, vals  # noqa: E402
import tinygrad_nm.nn.functional as F  # noqa: E402
from tinygrad_nm import Tensor, nn  # noqa: E402

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own extra copy
# float32: sums of a few dozen products, rounded in a different order than PyTorch's
TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": {}}


def side(backend):
    """Largest spatial size drawn: the python backend runs its kernels element by element."""
    return 8 if backend == "python" else 11


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@st.composite
def conv_case(draw, backend, dims=2):
    """(input shape, weight shape, kwargs) of a valid convolution."""
    groups = draw(st.integers(1, 3))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    if draw(st.integers(0, 4)) == 0:
        padding, stride = draw(st.sampled_from(["same", "valid"])), (1,) * dims
        if padding == "same":  # PyTorch's "same" is for stride 1 only
            stride = 1
    else:
        padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
        stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    pads = (0,) * dims if isinstance(padding, str) else padding
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), side(backend)))
                    for k, d, p in zip(kernel, dilation, pads))
    n = draw(st.integers(1, 2))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return (n, c, *spatial), (o, c // groups, *kernel), kw


@fuzz(50)
@given(data=st.data())
def test_conv2d_matches_torch(backend, data):
    xs, ws, kw = data.draw(conv_case(backend), label="case")
    bias = data.draw(st.booleans(), label="bias")
    inputs = [randn(*xs), randn(*ws, seed=1)] + ([randn(ws[0], seed=2)] if bias else [])
    compare(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), inputs)


@fuzz(30)
@given(data=st.data())
def test_conv1d_matches_torch(backend, data):
    xs, ws, kw = data.draw(conv_case(backend, dims=1), label="case")
    inputs = [randn(*xs), randn(*ws, seed=1), randn(ws[0], seed=2)]
    compare(lambda *t: F.conv1d(*t, **kw), lambda *t: TF.conv1d(*t, **kw), inputs)


@fuzz(30)
@given(data=st.data())
def test_unfold_and_fold_match_torch(backend, data):
    xs, ws, kw = data.draw(conv_case(backend), label="case")
    if isinstance(kw["padding"], str):
        kw["padding"] = 0
    kw.pop("groups")
    kernel = ws[2:]
    compare(lambda x: F.unfold(x, kernel, **kw), lambda x: TF.unfold(x, kernel, **kw), [randn(*xs)])
    cols = TF.unfold(torch.tensor(randn(*xs)), kernel, **kw).numpy()
    compare(lambda c: F.fold(c, xs[2:], kernel, **kw), lambda c: TF.fold(c, xs[2:], kernel, **kw), [cols])


@st.composite
def pool_case(draw, backend, dilation=True):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = tuple(draw(st.integers(1, 2)) for _ in range(2)) if dilation else (1, 1)
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), side(backend)))
                    for k, d, p in zip(kernel, dil, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial)
    return shape, dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans())), dil


@fuzz(50)
@given(data=st.data())
def test_max_pool2d_matches_torch(backend, data):
    shape, kw, dilation = data.draw(pool_case(backend), label="case")
    kw["dilation"] = dilation
    x = randn(*shape)
    if data.draw(st.booleans(), label="ties"):  # ties: the gradient goes to the first maximum, as PyTorch's
        x = np.round(x)
    # a window wholly in the padding (dilation allows it) is -inf in both; PyTorch then sends its
    # gradient to a position outside the window's plane (another channel's element): not compared
    empty_window = np.isneginf(TF.max_pool2d(torch.tensor(x), **kw).numpy()).any()
    compare(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x], check_grads=not empty_window)
    ours = F.max_pool2d(Tensor(x), return_indices=True, **kw)[1]
    theirs = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)[1]
    assert ours.dtype == "int64"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@fuzz(50)
@given(data=st.data())
def test_avg_pool2d_matches_torch(backend, data):
    shape, kw, _ = data.draw(pool_case(backend, dilation=False), label="case")
    kw["count_include_pad"] = data.draw(st.booleans(), label="count_include_pad")
    kw["divisor_override"] = data.draw(st.sampled_from([None, 3]), label="divisor_override")
    compare(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [randn(*shape)])


@pytest.mark.parametrize("size,out", [((6, 6), (3, 2)), ((7, 5), (3, 4)), ((5, 5), 1), ((4, 6), (None, 4)),
                                      ((3, 2), (5, 3))])
def test_adaptive_avg_pool2d_matches_torch(backend, size, out):
    """Dividing and non-dividing sizes (overlapping windows), None, and an output larger than the input."""
    compare(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), [randn(2, 3, *size)])


@pytest.mark.parametrize("name,xs,ws,kw", [
    ("1x1 kernel", (2, 3, 5, 4), (4, 3, 1, 1), {}),
    ("kernel as large as the input", (1, 2, 4, 5), (3, 2, 4, 5), {}),
    ("stride larger than the kernel", (2, 2, 8, 7), (2, 2, 2, 2), dict(stride=3)),
    ("odd sizes, padding and stride", (1, 3, 7, 5), (5, 3, 3, 3), dict(stride=2, padding=1)),
    ("single channel, batch 1", (1, 1, 6, 6), (1, 1, 3, 3), dict(padding="same")),
    ("depthwise", (2, 4, 5, 5), (4, 1, 3, 3), dict(groups=4, padding=1)),
    ("even kernel, same padding, dilation", (1, 2, 6, 5), (2, 2, 2, 4), dict(padding="same", dilation=(2, 1))),
    ("unbatched", (3, 6, 5), (2, 3, 3, 2), dict(padding=(2, 0))),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_awkward_cases(backend, dtype, name, xs, ws, kw):
    out = compare(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
                  [randn(*xs), randn(*ws, seed=1), randn(ws[0], seed=2)], dtype, **TOL[dtype])
    assert out.dtype == dtype


@pytest.mark.parametrize("fn,theirs", [
    (lambda x: F.max_pool2d(x, 4), lambda x: TF.max_pool2d(x, 4)),  # the whole input in one window
    (lambda x: F.max_pool2d(x, 1, 3), lambda x: TF.max_pool2d(x, 1, 3)),  # stride larger than the kernel
    (lambda x: F.avg_pool2d(x, (1, 3), 2, (0, 1)), lambda x: TF.avg_pool2d(x, (1, 3), 2, (0, 1))),
    (lambda x: F.max_pool1d(x[0], 3, 2, 1), lambda x: TF.max_pool1d(x[0], 3, 2, 1)),
    (lambda x: F.avg_pool1d(x[0], 2, ceil_mode=True), lambda x: TF.avg_pool1d(x[0], 2, ceil_mode=True)),
    (lambda x: F.max_pool2d(x[0], 3, 1, 1), lambda x: TF.max_pool2d(x[0], 3, 1, 1)),  # unbatched
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pooling_awkward_cases(backend, dtype, fn, theirs):
    assert compare(fn, theirs, [randn(1, 2, 4, 4)], dtype, **TOL[dtype]).dtype == dtype


def test_non_contiguous_inputs(backend):
    """A transposed (permuted) input and weight, as views, give PyTorch's answer and gradients."""
    def ours(x, w):
        return F.max_pool2d(F.conv2d(x.permute(0, 1, 3, 2), w.transpose(2, 3), padding=1), 2)

    def theirs(x, w):
        return TF.max_pool2d(TF.conv2d(x.permute(0, 1, 3, 2), w.transpose(2, 3), padding=1), 2)
    compare(ours, theirs, [randn(2, 3, 5, 6), randn(4, 3, 2, 3, seed=1)])


@pytest.mark.parametrize("name,ours,theirs", [
    ("conv2d", lambda x: F.conv2d(x, Tensor(randn(3, 2, 2, 2)), padding=1),
     lambda x: TF.conv2d(x, torch.tensor(randn(3, 2, 2, 2)), padding=1)),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2)),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 3), lambda x: TF.adaptive_avg_pool2d(x, 3)),
    ("unfold", lambda x: F.unfold(x, 2), lambda x: TF.unfold(x, 2)),
])
def test_empty_batch(backend, name, ours, theirs):
    x = Tensor(np.zeros((0, 2, 4, 4)), requires_grad=True)
    out = ours(x)
    assert out.shape == tuple(theirs(torch.zeros(0, 2, 4, 4, dtype=torch.float64)).shape)
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_max_pool_propagates_nan_like_torch(backend):
    x = randn(1, 1, 4, 4)
    x[0, 0, 1, 2] = np.nan
    np.testing.assert_array_equal(vals(F.max_pool2d(Tensor(x), 2)), TF.max_pool2d(torch.tensor(x), 2).numpy())


def test_conv_pool_float64_finite_differences(backend):
    """autograd against central differences, independent of PyTorch."""
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
               uniform((1, 4, 4, 5)), uniform((2, 2, 2, 2), seed=1), uniform((2,), seed=2))
    check_grad(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), uniform((1, 2, 5, 4), seed=3))
    check_grad(lambda x: F.avg_pool2d(x, 2, 1, 1, count_include_pad=False), uniform((1, 1, 3, 4), seed=4))
    check_grad(lambda c: F.fold(c, (3, 4), 2, padding=1, stride=(1, 2)), uniform((1, 4, 12), seed=5))


# --- modules -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
    lambda m: m.Conv2d(3, 4, (2, 3), padding="same", dilation=(2, 1), bias=False),
    lambda m: m.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
    lambda m: m.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="circular"),
    lambda m: m.Conv2d(2, 3, 3, padding="same", padding_mode="replicate"),
    lambda m: m.Conv1d(2, 4, 3, stride=2, padding=2, dilation=2),
    lambda m: m.MaxPool2d(2), lambda m: m.MaxPool2d(3, 1, 1, ceil_mode=True), lambda m: m.MaxPool1d(3, 2),
    lambda m: m.AvgPool2d(3, 2, 1, count_include_pad=False), lambda m: m.AvgPool1d(2),
    lambda m: m.AdaptiveAvgPool2d((2, 3)), lambda m: m.AdaptiveAvgPool2d(1),
])
def test_modules_match_torch_forward_backward_and_repr(backend, make):
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    ours.double()
    theirs.double()
    copy_weights(ours, theirs)
    one_d = isinstance(ours, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d))
    x = randn(2, ours.in_channels if hasattr(ours, "in_channels") else 2, *((7,) if one_d else (6, 7)))
    compare(ours, theirs, [x])
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(vals(p.grad), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_conv_initialisation_is_pytorchs():
    """weight and bias uniform in +-1/sqrt(fan_in), fan_in = in_channels / groups * kernel area."""
    conv = nn.Conv2d(16, 64, (3, 5), groups=2)
    bound = 1 / np.sqrt(8 * 15)
    for p in (conv.weight, conv.bias):
        v = vals(p)
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.9 * bound
    assert conv.weight.shape == (64, 8, 3, 5) and conv.bias.shape == (64,)
    assert abs(vals(conv.weight).std() - bound / np.sqrt(3)) < 0.05 * bound  # a uniform's std
    assert nn.Conv1d(3, 5, 4, bias=False).bias is None


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,words", [
    (lambda: F.conv2d(Tensor(randn(1, 3, 5, 5)), Tensor(randn(2, 2, 3, 3))), ["conv2d", "(1, 3, 5, 5)", "(2, 2, 3, 3)", "channels"]),
    (lambda: F.conv2d(Tensor(randn(1, 2, 3, 3)), Tensor(randn(2, 2, 4, 2))), ["conv2d", "kernel", "(1, 2, 3, 3)", "padding"]),
    (lambda: F.conv2d(Tensor(randn(1, 2, 3, 3)), Tensor(randn(2, 2, 1, 1)), padding=-1), ["conv2d", "padding", "-1"]),
    (lambda: F.conv2d(Tensor(randn(2, 1, 2, 3, 3)), Tensor(randn(2, 2, 1, 1))), ["conv2d", "4-D", "(2, 1, 2, 3, 3)"]),
    (lambda: F.conv2d(Tensor(randn(1, 4, 3, 3)), Tensor(randn(3, 2, 1, 1)), groups=2), ["conv2d", "groups=2", "(3, 2, 1, 1)"]),
    (lambda: F.conv2d(Tensor(randn(1, 2, 3, 3)), Tensor(randn(2, 2, 1, 1)), stride=2, padding="same"), ["conv2d", "same", "stride"]),
    (lambda: F.conv2d(Tensor(randn(1, 2, 3, 3)), Tensor(randn(2, 2, 1, 1)), padding="full"), ["conv2d", "padding", "'full'"]),
    (lambda: F.conv2d(Tensor(randn(1, 2, 3, 3)), Tensor(randn(2, 2, 1, 1)), Tensor(randn(3))), ["conv2d", "bias", "(2,)"]),
    (lambda: F.conv1d(Tensor(randn(1, 2, 3)), Tensor(randn(2, 2, 3, 3))), ["conv1d", "weight", "3-D"]),
    (lambda: F.conv2d(Tensor(randn(1, 2, 3, 3)), Tensor(randn(2, 2, 1, 1)), stride=0), ["conv2d", "stride", "positive"]),
    (lambda: F.max_pool2d(Tensor(randn(1, 1, 4, 4)), 2, padding=2), ["max_pool2d", "padding", "half"]),
    (lambda: F.max_pool2d(Tensor(randn(1, 1, 2, 2)), 5, padding=1), ["max_pool2d", "kernel", "(1, 1, 2, 2)"]),
    (lambda: F.avg_pool2d(Tensor(randn(4, 4)), 2), ["avg_pool2d", "3-D", "(4, 4)"]),
    (lambda: F.adaptive_avg_pool2d(Tensor(randn(1, 1, 4, 4)), (0, 2)), ["adaptive_avg_pool2d", "output_size"]),
    (lambda: F.unfold(Tensor(randn(1, 1, 4, 4)), (2, 2, 2)), ["unfold", "kernel_size", "(2, 2, 2)"]),
    (lambda: F.fold(Tensor(randn(1, 5, 9)), (4, 4), 2), ["fold", "(1, 5, 9)", "kernel_size", "output_size"]),
    (lambda: nn.Conv2d(3, 4, 3)(Tensor(randn(1, 2, 8, 8), dtype="float32")), ["Conv2d(3, 4", "(1, 2, 8, 8)", "channels"]),
    (lambda: nn.MaxPool2d(3)(Tensor(randn(1, 1, 2, 2))), ["MaxPool2d(kernel_size=3", "(1, 1, 2, 2)"]),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ["Conv2d", "divisible by groups"]),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ["Conv2d", "padding_mode", "'mirror'"]),
    (lambda: nn.Conv1d(3, 4, 3, stride=2, padding="same"), ["Conv1d", "same", "stride"]),
])
def test_bad_input_names_the_layer_the_shapes_and_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    for word in words:
        assert word in str(err.value), (word, str(err.value))


# --- the example ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_cnn_digits_example_reaches_98_5_percent_held_out():
    """examples/cnn_digits.py, seed 0, on the default backend: a LeNet-shaped CNN on the 8x8 digits."""
    pytest.importorskip("sklearn", reason="the digits need scikit-learn (the digits extra)")
    from tinygrad_nm.examples.cnn_digits import train_cnn_digits
    accuracies = train_cnn_digits(seed=0, log=lambda line: None)
    assert accuracies[-1] >= 0.985, accuracies
