"""Every differentiable op: gradient against central finite differences (float64), forward against NumPy.

Each case runs on every backend (the `backend` fixture). Shapes stay small: the
finite differences evaluate the forward twice per input element.
"""
import numpy as np
import pytest

from gradcheck import away_from_zero, check_grad, uniform
from tinygrad_nm import Tensor
from tinygrad_nm import functional as F


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def case(name, fn, ref, *inputs, atol=1e-6):
    return pytest.param(fn, ref, inputs, atol, id=name)


S = (2, 3)
POS = dict(low=0.5, high=2.0)

UNARY = [
    case("neg", lambda x: -x, lambda x: -x, uniform(S)),
    case("exp", lambda x: x.exp(), np.exp, uniform(S)),
    case("log", lambda x: x.log(), np.log, uniform(S, **POS)),
    case("sqrt", lambda x: x.sqrt(), np.sqrt, uniform(S, **POS)),
    case("abs", lambda x: x.abs(), np.abs, away_from_zero(S)),
    case("atanh", lambda x: x.atanh(), np.arctanh, uniform(S, -0.8, 0.8)),
    case("sin", lambda x: x.sin(), np.sin, uniform(S, -4, 4)),
    case("cos", lambda x: x.cos(), np.cos, uniform(S, -4, 4)),
    case("tanh", lambda x: x.tanh(), np.tanh, uniform(S)),
    case("sigmoid", lambda x: x.sigmoid(), _sigmoid, uniform(S, -4, 4)),
    case("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), away_from_zero(S)),
    case("F.relu", F.relu, lambda x: np.maximum(x, 0), away_from_zero(S)),
    case("F.sigmoid", F.sigmoid, _sigmoid, uniform(S)),
    case("F.tanh", F.tanh, np.tanh, uniform(S)),
    case("pow2", lambda x: x ** 2, lambda x: x ** 2, uniform(S)),
    case("pow3", lambda x: x ** 3, lambda x: x ** 3, uniform(S)),
    case("pow_int_neg", lambda x: x ** -2, lambda x: x ** -2.0, away_from_zero(S)),
    case("pow_half", lambda x: x ** 0.5, lambda x: x ** 0.5, uniform(S, **POS)),
    case("pow_float", lambda x: x ** -1.5, lambda x: x ** -1.5, uniform(S, **POS)),
    case("pow1", lambda x: x ** 1, lambda x: x, uniform(S)),
    case("pow0", lambda x: x ** 0, lambda x: x ** 0, uniform(S, **POS)),
    case("rpow", lambda x: 2.5 ** x, lambda x: 2.5 ** x, uniform(S)),
    case("rpow_int", lambda x: 3 ** x, lambda x: 3.0 ** x, uniform(S)),
    case("cast_to_float64", lambda x: x.double(), lambda x: x, uniform(S)),
]

SCALAR_SIDES = [
    case("t+2", lambda x: x + 2, lambda x: x + 2, uniform(S)),
    case("2+t", lambda x: 2 + x, lambda x: 2 + x, uniform(S)),
    case("t-1.5", lambda x: x - 1.5, lambda x: x - 1.5, uniform(S)),
    case("1.5-t", lambda x: 1.5 - x, lambda x: 1.5 - x, uniform(S)),
    case("t*3", lambda x: x * 3, lambda x: x * 3, uniform(S)),
    case("0.5*t", lambda x: 0.5 * x, lambda x: 0.5 * x, uniform(S)),
    case("t*0.5", lambda x: x * 0.5, lambda x: x * 0.5, uniform(S)),
    case("3*t", lambda x: 3 * x, lambda x: 3 * x, uniform(S)),
    case("t/4", lambda x: x / 4, lambda x: x / 4, uniform(S)),
    case("3/t", lambda x: 3 / x, lambda x: 3 / x, away_from_zero(S)),
    case("2.5/t", lambda x: 2.5 / x, lambda x: 2.5 / x, away_from_zero(S)),
    case("np_scalar*t", lambda x: np.float64(2.0) * x, lambda x: 2.0 * x, uniform(S)),
]

# (shape of a, shape of b): same shape, broadcast both ways, against a row, with scalars (0-d tensors)
BROADCAST = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 3), (2, 1)),
             ((), (2, 3)), ((2, 3), ()), ((), ()), ((2, 1, 3), (4, 1)), ((1,), (3,))]
BINARY_OPS = {
    "add": (lambda a, b: a + b, np.add, {}, {}),
    "sub": (lambda a, b: a - b, np.subtract, {}, {}),
    "mul": (lambda a, b: a * b, np.multiply, {}, {}),
    "div": (lambda a, b: a / b, np.divide, {}, POS),
    "pow": (lambda a, b: a ** b, np.power, POS, dict(low=-2.0, high=2.0)),
}
BINARY = [case(f"{name}{sa}{sb}", fn, ref, uniform(sa, seed=1, **da), uniform(sb, seed=2, **db))
          for name, (fn, ref, da, db) in BINARY_OPS.items() for sa, sb in BROADCAST]
BINARY += [
    case("x*x", lambda x: x * x, lambda x: x * x, uniform(S)),
    case("x/x", lambda x: x / x.exp(), lambda x: x / np.exp(x), uniform(S)),
    case("x**x", lambda x: x ** x, lambda x: x ** x, uniform(S, **POS)),
    case("self_broadcast", lambda x: x * x[:, :1], lambda x: x * x[:, :1], uniform(S)),
]

X3 = uniform((2, 3, 4))
AXES = [None, 0, 1, 2, -1, (0, 2), (0, 1, 2), (-1, -2)]
REDUCE = []
for ax in AXES:
    for kd in (False, True):
        ref_axis = tuple(a % 3 for a in ax) if isinstance(ax, tuple) else ax
        REDUCE.append(case(f"sum(axis={ax},keepdims={kd})", lambda x, ax=ax, kd=kd: x.sum(ax, kd),
                           lambda x, ax=ref_axis, kd=kd: x.sum(axis=ax, keepdims=kd), X3))
        REDUCE.append(case(f"mean(axis={ax},keepdims={kd})", lambda x, ax=ax, kd=kd: x.mean(axis=ax, keepdims=kd),
                           lambda x, ax=ref_axis, kd=kd: x.mean(axis=ax, keepdims=kd), X3))
        REDUCE.append(case(f"max(axis={ax},keepdims={kd})", lambda x, ax=ax, kd=kd: x.max(axis=ax, keepdims=kd),
                           lambda x, ax=ref_axis, kd=kd: x.max(axis=ax, keepdims=kd), X3))
REDUCE += [
    case("sum_0d", lambda x: x.sum(), lambda x: x, uniform(())),
    case("max_0d", lambda x: x.max(), lambda x: x, uniform(())),
    case("sum_1d", lambda x: x.sum(0), lambda x: x.sum(0), uniform((5,))),
]

SOFTMAX = []
for ax in (0, 1, 2, -1, -3):
    SOFTMAX.append(case(f"softmax(axis={ax})", lambda x, ax=ax: x.softmax(ax), lambda x, ax=ax: _softmax(x, ax), X3))
    SOFTMAX.append(case(f"log_softmax(axis={ax})", lambda x, ax=ax: x.log_softmax(ax),
                        lambda x, ax=ax: _log_softmax(x, ax), X3))
SOFTMAX += [
    case("softmax_default_axis", lambda x: x.softmax(), lambda x: _softmax(x, -1), uniform((3, 4))),
    case("F.softmax", lambda x: F.softmax(x, 0), lambda x: _softmax(x, 0), uniform((3, 4))),
    case("F.log_softmax", lambda x: F.log_softmax(x), lambda x: _log_softmax(x, -1), uniform((3, 4))),
    case("softmax_1d", lambda x: x.softmax(), lambda x: _softmax(x, 0), uniform((5,))),
    case("softmax_large", lambda x: x.softmax(), lambda x: _softmax(x, -1), uniform((2, 3)) * 50 + 500),
    case("log_softmax_large", lambda x: x.log_softmax(), lambda x: _log_softmax(x, -1), uniform((2, 3)) * 50 - 500),
]

LABELS = [2, 0, 4, 2]


def _np_cross_entropy(x, labels=LABELS):
    return -_log_softmax(x, 1)[np.arange(len(labels)), labels].mean()


LOSSES = [
    case("cross_entropy", lambda x: F.cross_entropy(x, Tensor(LABELS)), _np_cross_entropy, uniform((4, 5))),
    case("cross_entropy_list_labels", lambda x: F.cross_entropy(x, LABELS), _np_cross_entropy, uniform((4, 5))),
    case("cross_entropy_large_logits", lambda x: F.cross_entropy(x, LABELS), _np_cross_entropy,
         uniform((4, 5)) * 30 + 300),
    case("cross_entropy_one_row", lambda x: F.cross_entropy(x, [1]), lambda x: _np_cross_entropy(x, [1]),
         uniform((1, 3))),
    case("mse_loss", F.mse_loss, lambda p, t: ((p - t) ** 2).mean(), uniform((3, 4)), uniform((3, 4), seed=5)),
    case("mse_loss_const_target", lambda p: F.mse_loss(p, [[0.5, -1.0], [2.0, 0.0]]),
         lambda p: ((p - np.array([[0.5, -1.0], [2.0, 0.0]])) ** 2).mean(), uniform((2, 2))),
    case("binary_cross_entropy", lambda p, t: F.binary_cross_entropy(p.sigmoid(), t),
         lambda p, t: -(t * np.log(_sigmoid(p)) + (1 - t) * np.log(1 - _sigmoid(p))).mean(),
         uniform((2, 3)), uniform((2, 3), 0, 1, seed=3), atol=1e-5),
]

X2 = uniform((4, 5))
INDEX_KEYS = [1, -1, slice(1, 3), slice(None, None, 2), slice(-2, None), (slice(None), 1), (1, 2), (-1, -2),
              None, (slice(None), None, slice(1, 4)), (Ellipsis, 1), (1, Ellipsis), [0, 2, 0],
              (slice(None), [3, 0, 3, 3]), (1, [0, 0, 4]), [-1, 0, -1], (slice(1, 3), [2, 2]),
              np.array([3, 3, 1]), (slice(0, 0),)]
INDEX = [case(f"getitem[{k!r}]", lambda x, k=k: x[k], lambda x, k=k: x[k], X2) for k in INDEX_KEYS]
INDEX += [
    case("getitem[Tensor]", lambda x: x[Tensor([2, 1, 2])], lambda x: x[[2, 1, 2]], X2),
    case("getitem_1d_int", lambda x: x[3], lambda x: x[3], uniform((5,))),
    # PyTorch applies the int first, so the array's axis stays in place (NumPy would move it first)
    case("getitem_int_slice_array_3d", lambda x: x[1, :, [0, 3, 3]], lambda x: x[1][:, [0, 3, 3]], X3),
    case("getitem_array_slice_int_3d", lambda x: x[[1, 0, 1], :, 2], lambda x: x[[1, 0, 1], :, 2], X3),
    case("getitem_array_int_3d", lambda x: x[:, [2, 2, 0], 1], lambda x: x[:, [2, 2, 0], 1], X3),
    case("getitem_chain", lambda x: x[1:][::2][0], lambda x: x[1:][::2][0], X2),
    case("getitem_scalar_loop", lambda x: x[0] * x[1] + x[2] * x[0], lambda x: x[0] * x[1] + x[2] * x[0],
         uniform((3,))),
]

MATMUL = [case(f"matmul{sa}@{sb}", lambda a, b: a @ b, np.matmul, uniform(sa, seed=1), uniform(sb, seed=2))
          for sa, sb in [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((1, 3), (3, 1)),
                         ((3, 1), (1, 2)), ((1, 1), (1, 1))]]
MATMUL += [
    case("matmul_method", lambda a, b: a.matmul(b), np.matmul, uniform((2, 3)), uniform((3, 2), seed=2)),
    case("dot", lambda a, b: a.dot(b), np.dot, uniform((3,)), uniform((3,), seed=2)),
    case("matmul_T", lambda a, b: a @ b.T, lambda a, b: a @ b.T, uniform((2, 3)), uniform((4, 3), seed=2)),
    case("matmul_same", lambda a: a @ a, lambda a: a @ a, uniform((3, 3))),
    case("rmatmul_list", lambda a: [1.0, -2.0] @ a, lambda a: np.array([1.0, -2.0]) @ a, uniform((2, 3))),
]

MOVEMENT = [
    case("reshape", lambda x: x.reshape(6, 4), lambda x: x.reshape(6, 4), X3),
    case("reshape_tuple", lambda x: x.reshape((4, -1, 2)), lambda x: x.reshape(4, -1, 2), X3),
    case("reshape_flat", lambda x: x.reshape(-1), lambda x: x.reshape(-1), X3),
    case("reshape_0d", lambda x: x.reshape(()), lambda x: x.reshape(()), uniform((1, 1))),
    case("view", lambda x: x.view(4, 6), lambda x: x.reshape(4, 6), X3),
    case("flatten", lambda x: x.flatten(), lambda x: x.reshape(-1), X3),
    case("flatten1", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), X3),
    case("transpose", lambda x: x.transpose(), lambda x: x.transpose(), X3),
    case("transpose02", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2), X3),
    case("transpose-1", lambda x: x.transpose(-1, 0), lambda x: x.swapaxes(-1, 0), X3),
    case(".T", lambda x: x.T, lambda x: x.T, X2),
    case("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), X3),
    case("permute_tuple", lambda x: x.permute((1, 2, 0)), lambda x: x.transpose(1, 2, 0), X3),
    case("permute_then_reshape", lambda x: x.permute(1, 0, 2).reshape(3, 8), lambda x: x.transpose(1, 0, 2).reshape(3, 8), X3),
]

COMPOSITE = [
    case("mlp_cross_entropy",
         lambda x, w1, b1, w2: F.cross_entropy((x @ w1 + b1).relu() @ w2, [1, 0, 2]),
         lambda x, w1, b1, w2: _np_cross_entropy(np.maximum(x @ w1 + b1, 0) @ w2, [1, 0, 2]),
         uniform((3, 4), seed=1), uniform((4, 5), seed=2), uniform((5,), 0.5, 1.0, seed=3), uniform((5, 3), seed=4)),
    case("diamond", lambda x: (x * 2).exp() * (x * 2).tanh() + x,
         lambda x: np.exp(x * 2) * np.tanh(x * 2) + x, uniform(S, -1, 1)),
    case("norm", lambda x: (x * x).sum(axis=1, keepdims=True).sqrt(), lambda x: np.sqrt((x * x).sum(1, keepdims=True)),
         uniform(S, **POS)),
    case("standardize", lambda x: (x - x.mean(0)) / (((x - x.mean(0)) ** 2).mean(0) + 1e-3).sqrt(),
         lambda x: (x - x.mean(0)) / np.sqrt(((x - x.mean(0)) ** 2).mean(0) + 1e-3), uniform((4, 3))),
    case("sum_of_list", lambda x: sum([x[0], x[1] * 2, x[2] ** 2]), lambda x: x[0] + 2 * x[1] + x[2] ** 2,
         uniform((3,))),
    case("max_of_softmax", lambda x: x.softmax(0).max(axis=1), lambda x: _softmax(x, 0).max(axis=1), uniform((3, 4))),
]

ALL = UNARY + SCALAR_SIDES + BINARY + REDUCE + SOFTMAX + LOSSES + INDEX + MATMUL + MOVEMENT + COMPOSITE


@pytest.mark.parametrize("fn,ref,inputs,atol", ALL)
def test_gradient_matches_finite_differences(backend, fn, ref, inputs, atol):
    out = check_grad(fn, *inputs, atol=atol)
    assert out.backend == backend
    if ref is not None:
        expected = np.asarray(ref(*[np.array(a, dtype=np.float64) for a in inputs]))
        assert out.shape == expected.shape, f"forward shape {out.shape}, NumPy gives {expected.shape}"
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-7, atol=max(atol, 1e-9),
                                   err_msg="forward value differs from NumPy")


# --- points where finite differences are not defined: the convention is checked directly ---
@pytest.mark.parametrize("values,expected", [
    ([1.0, 3.0, 3.0, 2.0], [0.0, 0.5, 0.5, 0.0]),
    ([3.0, 3.0, 3.0, 2.0], [1 / 3, 1 / 3, 1 / 3, 0.0]),
    ([-1.0, -1.0, -1.0, -1.0], [0.25] * 4),
    ([5.0, 1.0, 2.0, 4.0], [1.0, 0.0, 0.0, 0.0]),
])
def test_max_ties_share_the_gradient(backend, values, expected):
    x = Tensor(values, requires_grad=True, dtype="float64")
    y = x.max()
    y.backward()
    assert y.item() == max(values)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_max_ties_along_an_axis(backend):
    x = Tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 2.0], [0.0, 5.0, 1.0]], requires_grad=True)
    m = x.max(axis=1)
    (m * Tensor([1.0, 2.0, 3.0])).sum().backward()
    assert m.tolist() == [1.0, 2.0, 5.0]
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5, 0], [1, 0, 1], [0, 3, 0]])
    x.grad = None
    x.max(axis=0, keepdims=True).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [1, 0, 1], [0, 1, 0]])


def test_kinks_take_the_subgradient_pytorch_uses(backend):
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    x.grad = None
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_pow_gradients_with_a_tensor_exponent_broadcast(backend):
    # d/da a^b = b a^(b-1), d/db a^b = a^b ln a: checked by formula as well as by differences
    a = Tensor([[0.5], [2.0]], requires_grad=True, dtype="float64")
    b = Tensor([1.0, -2.0, 3.0], requires_grad=True, dtype="float64")
    (a ** b).sum().backward()
    A, B = np.array([[0.5], [2.0]]), np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(a.grad.numpy(), (B * A ** (B - 1)).sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), (A ** B * np.log(A)).sum(0), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns on log(0) and 0 ** -1
def test_pow_gradients_at_a_zero_base_follow_pytorch(backend):
    # where the formulas meet 0 * inf: d/da is 0 where b = 0; d/db is 0 where a = 0 and b >= 0
    a = Tensor([0.0, 0.0, 0.0, 2.0], requires_grad=True, dtype="float64")
    b = Tensor([2.0, 0.0, -1.0, 3.0], requires_grad=True, dtype="float64")
    (a ** b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0, -np.inf, 12.0]
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0, -np.inf, 8 * np.log(2)], rtol=1e-12)
    e = Tensor([2.0, 0.0, -1.0], requires_grad=True, dtype="float64")
    (0.0 ** e).sum().backward()  # a Python number as the base
    assert e.grad.tolist() == [0.0, 0.0, -np.inf]


def test_getitem_repeated_indices_accumulate(backend):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    w = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (w[:, [1, 1]] * Tensor([[1.0, 10.0], [100.0, 1000.0]])).sum().backward()
    assert w.grad.tolist() == [[0.0, 11.0], [0.0, 1100.0]]


def test_scalar_indexing_loop_gradient(backend):
    # the walkthrough's w[i] pattern: each w[i] used once per "rectangle"
    w = Tensor([0.5, -1.0, 2.0, 0.25], requires_grad=True)
    xs = [[0.2, 0.5, 0.4, 0.7], [1.0, 0.0, 0.3, 0.1]]
    total = 0.0
    for x in xs:
        out = 0.0
        for i in range(4):
            out += x[i] * w[i]
        total += out
    total.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.sum(xs, axis=0), rtol=1e-6)


@pytest.mark.parametrize("key", [1, -1, slice(0, 2), (slice(None), 1), (2, 0), [0, 2, 0]],
                         ids=["int", "negative", "slice", "column", "element", "int-array"])
def test_indexing_adds_into_an_existing_grad(backend, key):
    # once a leaf has a .grad, indexing's backward adds into it in place (as PyTorch accumulates
    # .grad): two passes give twice the scatter-add of the upstream gradient, repeats counted
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2))
    c = rng.standard_normal(w0[key].shape)
    w = Tensor(w0, requires_grad=True)
    for _ in range(2):
        (w[key] * Tensor(c)).sum().backward()
    expected = np.zeros_like(w0)
    np.add.at(expected, key if not isinstance(key, list) else np.array(key), c)
    np.testing.assert_allclose(w.grad.numpy(), 2 * expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(w.detach().numpy(), w0)  # the weights themselves untouched


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cross_entropy_of_an_empty_batch_is_nan(backend):
    # PyTorch's mean over no rows; every backend agrees and backward gives an empty gradient
    logits = Tensor(np.zeros((0, 3)), requires_grad=True)
    loss = F.cross_entropy(logits, Tensor(np.zeros(0, dtype=np.int64)))
    assert loss.shape == () and np.isnan(loss.item())
    loss.backward()
    assert logits.grad.shape == (0, 3)


def test_gradients_keep_float32(backend):
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = Tensor([0.5, 0.5], requires_grad=True)
    ((x @ x.T + b).softmax().log() * 2).sum().backward()
    assert x.grad.dtype == "float32" and b.grad.dtype == "float32"
    assert x.grad.shape == (2, 2) and b.grad.shape == (2,)


def test_cast_gradient_goes_back_to_the_input_dtype(backend):
    x = Tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    y = x.float() * 3.0
    assert y.dtype == "float32"
    y.sum().backward()
    assert x.grad.dtype == "float64" and x.grad.tolist() == [3.0, 3.0]
    z = Tensor([1.0, 2.0], requires_grad=True)
    (z.double() * Tensor([1.0, 2.0], dtype="float64")).sum().backward()
    assert z.grad.dtype == "float32" and z.grad.tolist() == [1.0, 2.0]


def test_mixed_dtype_binary_gradients(backend):
    a = Tensor([1.0, 2.0], requires_grad=True)                   # float32
    b = Tensor([3.0, 4.0], requires_grad=True, dtype="float64")  # float64
    c = a * b
    assert c.dtype == "float64"
    c.sum().backward()
    assert a.grad.dtype == "float32" and a.grad.tolist() == [3.0, 4.0]
    assert b.grad.dtype == "float64" and b.grad.tolist() == [1.0, 2.0]


def test_int_tensor_in_float_graph_gets_no_gradient(backend):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    k = Tensor([2, 3, 4])
    (x * k + k / 2).sum().backward()
    assert x.grad.tolist() == [2.0, 3.0, 4.0]
    assert k.grad is None and not k.requires_grad


def test_sigmoid_and_tanh_saturate_without_nan(backend):
    x = Tensor([-200.0, -50.0, 0.0, 50.0, 200.0], requires_grad=True, dtype="float64")
    y = x.sigmoid()
    np.testing.assert_allclose(y.detach().numpy(), _sigmoid(np.array([-200.0, -50.0, 0.0, 50.0, 200.0])),
                               rtol=1e-12, atol=1e-300)
    y.sum().backward()
    g = x.grad.numpy()
    assert np.all(np.isfinite(g)) and g[2] == 0.25 and g[0] < 1e-80
    x.grad = None
    x.tanh().sum().backward()
    assert np.all(np.isfinite(x.grad.numpy())) and x.grad.tolist()[2] == 1.0
