"""Forward and backward of every op compared with PyTorch (CPU), on every backend, float32 and float64.

Skipped where torch is not installed; CI installs torch==2.13.0 (the `test` extra).
Each case is (ours, theirs): `theirs` is left out where PyTorch spells the call the same way.
"""
import numpy as np
import pytest

from tinygrad_nm import Tensor
from tinygrad_nm import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def rnd(shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def signed(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def pos(shape, seed=0):
    return rnd(shape, 0.5, 2.0, seed)


def case(name, ours, theirs, *inputs):
    return pytest.param(ours, theirs or ours, inputs, id=name)


LABELS = [3, 0, 1, 3, 2]
CASES = [
    case("add_bcast", lambda a, b: a + b, None, rnd((3, 1)), rnd((1, 4), seed=1)),
    case("sub_row", lambda a, b: a - b, None, rnd((2, 3)), rnd((3,), seed=1)),
    case("mul_scalar_tensor", lambda a, b: a * b, None, rnd(()), rnd((2, 3), seed=1)),
    case("div_bcast", lambda a, b: a / b, None, rnd((2, 1, 3)), pos((4, 1), seed=1)),
    case("pow_tensor", lambda a, b: a ** b, None, pos((2, 3)), rnd((2, 3), seed=1)),
    case("pow_scalar", lambda a: a ** 3 - 2 * a ** 0.5, None, pos((2, 3))),
    case("rpow", lambda a: 2.0 ** a, None, rnd((4,))),
    case("pow0_at_zero", lambda a: a ** 0 + a ** 1 + a ** 2, None, np.array([0.0, 1.5, -2.0])),
    case("python_numbers", lambda a: (1 - a) / 3 + 2 * a - a / 2 + 4 / (a + 5), None, rnd((2, 3))),
    case("neg_exp_log", lambda a: (-a).exp() + a.log(), None, pos((2, 3))),
    case("sqrt_abs", lambda a: a.abs().sqrt(), None, signed((2, 3))),
    case("tanh_sigmoid_relu", lambda a: a.tanh() * a.sigmoid() + a.relu(), None, signed((3, 4))),
    case("relu_at_zero", lambda a: a.relu() + a.abs(), None, np.array([-1.0, 0.0, 0.0, 2.0])),
    case("atanh", lambda a: a.atanh(), None, rnd((5,), -0.9, 0.9)),
    case("sum_axis", lambda a: a.sum(1), None, rnd((2, 3, 4))),
    case("sum_keepdims", lambda a: a.sum((0, 2), True) * a, None, rnd((2, 3, 4))),
    case("mean", lambda a: a.mean(), None, rnd((2, 3, 4))),
    case("mean_axis", lambda a: a.mean(-1, True), None, rnd((2, 3, 4))),
    case("max_all", lambda a: a.max(), lambda a: a.amax(), rnd((3, 4))),
    case("max_axis", lambda a: a.max(axis=0), lambda a: a.amax(0), rnd((3, 4))),
    case("max_keepdims", lambda a: a.max(axis=(0, 2), keepdims=True), lambda a: a.amax((0, 2), True), rnd((2, 3, 4))),
    case("max_ties", lambda a: a.max(axis=1), lambda a: a.amax(1),
         np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 0.0]])),
    case("softmax_last", lambda a: a.softmax(), lambda a: a.softmax(-1), rnd((3, 4))),
    case("softmax_axis0", lambda a: a.softmax(0), None, rnd((3, 4))),
    case("softmax_axis1_3d", lambda a: a.softmax(1), None, rnd((2, 3, 4))),
    case("log_softmax_last", lambda a: a.log_softmax(), lambda a: a.log_softmax(-1), rnd((3, 4))),
    case("log_softmax_axis0_3d", lambda a: a.log_softmax(0), None, rnd((2, 3, 4))),
    case("log_softmax_extreme", lambda a: a.log_softmax(-1), None, rnd((2, 4)) * 100),
    case("cross_entropy", lambda a: F.cross_entropy(a, LABELS),
         lambda a: TF.cross_entropy(a, torch.tensor(LABELS)), rnd((5, 4))),
    case("cross_entropy_extreme", lambda a: F.cross_entropy(a, LABELS),
         lambda a: TF.cross_entropy(a, torch.tensor(LABELS)), rnd((5, 4)) * 80),
    case("mse_loss", F.mse_loss, TF.mse_loss, rnd((3, 4)), rnd((3, 4), seed=1)),
    case("binary_cross_entropy", lambda p, t: F.binary_cross_entropy(p.sigmoid(), t, eps=0.0),
         lambda p, t: TF.binary_cross_entropy(p.sigmoid(), t), rnd((2, 3)), rnd((2, 3), 0, 1, seed=1)),
    case("matmul_2d", lambda a, b: a @ b, None, rnd((2, 3)), rnd((3, 4), seed=1)),
    case("matmul_1d_2d", lambda a, b: a @ b, None, rnd((3,)), rnd((3, 4), seed=1)),
    case("matmul_2d_1d", lambda a, b: a @ b, None, rnd((2, 3)), rnd((3,), seed=1)),
    case("matmul_1d_1d", lambda a, b: a @ b, None, rnd((3,)), rnd((3,), seed=1)),
    case("linear_layer", lambda x, w, b: x @ w.T + b, None, rnd((4, 3)), rnd((2, 3), seed=1), rnd((2,), seed=2)),
    case("reshape_permute", lambda a: a.reshape(4, 6).T.reshape(2, 12).permute(1, 0), None, rnd((2, 3, 4))),
    case("transpose_pair", lambda a: a.transpose(0, 2) * 2, None, rnd((2, 3, 4))),
    case("flatten", lambda a: a.flatten(1), None, rnd((2, 3, 4))),
    case("getitem_basic", lambda a: a[1:, ::2] * a[0, 1] + a[-1, 1::2], None, rnd((3, 4))),
    case("getitem_none_ellipsis", lambda a: a[None, ..., 1], None, rnd((3, 4))),
    case("getitem_int_array", lambda a: a[[2, 0, 2, 2]], lambda a: a[torch.tensor([2, 0, 2, 2])], rnd((3, 4))),
    case("getitem_int_array_axis1", lambda a: a[:, [1, 1, 0]], lambda a: a[:, torch.tensor([1, 1, 0])], rnd((3, 4))),
    case("getitem_array_slice_int", lambda a: a[[1, 0], :, 2], lambda a: a[torch.tensor([1, 0]), :, 2], rnd((2, 3, 4))),
    case("mlp", lambda x, w1, w2: F.cross_entropy((x @ w1).relu() @ w2, [1, 0, 1]),
         lambda x, w1, w2: TF.cross_entropy((x @ w1).relu() @ w2, torch.tensor([1, 0, 1])),
         rnd((3, 4)), rnd((4, 5), seed=1), rnd((5, 2), seed=2)),
    case("scalar_loop", lambda x, w: sum([x[i] * w[i] for i in range(4)]) ** 2, None,
         rnd((4,)), rnd((4,), seed=1)),
]

TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("ours,theirs,inputs", CASES)
def test_matches_pytorch(backend, dtype, ours, theirs, inputs):
    ts = [Tensor(a, dtype=dtype, requires_grad=True) for a in inputs]
    ps = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in inputs]
    out, ref = ours(*ts), theirs(*ps)
    assert out.shape == tuple(ref.shape), f"forward shape {out.shape}, PyTorch {tuple(ref.shape)}"
    assert out.dtype == dtype and out.backend == backend
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL[dtype], err_msg="forward")
    grad = np.random.default_rng(7).uniform(-1, 1, size=out.shape)
    out.backward(Tensor(grad, dtype=dtype))
    ref.backward(torch.tensor(grad, dtype=getattr(torch, dtype)))
    for i, (t, p) in enumerate(zip(ts, ps)):
        assert t.grad is not None and t.grad.shape == tuple(p.grad.shape) and t.grad.dtype == dtype
        np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), **TOL[dtype], err_msg=f"grad of input {i}")


@pytest.mark.parametrize("data", [1, 2.5, [1, 2], [1.0, 2], [[1, 2], [3, 4.5]], True, [True, False]])
def test_dtype_inference_matches_pytorch(backend, data):
    assert Tensor(data).dtype == str(torch.tensor(data).dtype).removeprefix("torch.")


@pytest.mark.parametrize("a,b", [("int64", "float32"), ("float32", "float64"), ("int64", "float64"),
                                 ("bool", "int64"), ("bool", "float32")])
def test_promotion_matches_pytorch(backend, a, b):
    x, y = Tensor([1, 0], dtype=a), Tensor([1, 1], dtype=b)
    tx, ty = torch.tensor([1, 0], dtype=getattr(torch, a)), torch.tensor([1, 1], dtype=getattr(torch, b))
    for op in (lambda p, q: p + q, lambda p, q: q * p, lambda p, q: p / q):
        assert op(x, y).dtype == str(op(tx, ty).dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", ["int64", "float32", "float64"])
@pytest.mark.parametrize("scalar", [2, 2.5])
def test_python_scalar_promotion_matches_pytorch(backend, dtype, scalar):
    x, tx = Tensor([1, 2], dtype=dtype), torch.tensor([1, 2], dtype=getattr(torch, dtype))
    for op in (lambda p: p + scalar, lambda p: scalar - p, lambda p: p * scalar, lambda p: p / scalar,
               lambda p: scalar / p, lambda p: p ** scalar):
        ours, theirs = op(x), op(tx)
        assert ours.dtype == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_walkthrough_scalar_program_matches_pytorch(backend):
    # program 5's loop on a few rectangles: same loss and gradient as the same loop in PyTorch
    xs = [[0.2, 0.5, 0.4, 0.7], [1.0, 0.0, 0.3, 0.1], [0.6, 0.6, 0.0, 0.9]]
    ys = [sum(x) / 4 for x in xs]
    results = []
    for w in (Tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True),
              torch.tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True)):
        total = 0.0
        for x, y in zip(xs, ys):
            out = 0.0
            for i in range(4):
                out += x[i] * w[i]
            total += (out - y) * (out - y)
        loss = total / len(xs)
        loss.backward()
        results.append((loss.item(), np.asarray(w.grad.tolist())))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)
