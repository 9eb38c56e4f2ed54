"""The walkthrough's programs 1-8 typed against tinygrad_nm, with its numbers, on every backend.

The programs are written out here as a reader of the walkthrough would type them
(scalar loops, `w[i]`, `+=` on a Python float, `max(0, t)`, `w.data[i] -= ...`),
and checked against the walkthrough's answers and against NumPy on the same data.
"""
import math
import os
import random

import numpy as np
import pytest

from tinygrad_nm import Tensor

X0 = [0.2, 0.5, 0.4, 0.7]
W0 = [0.98, 0.4, 0.86, -0.08]


def rectangles(n=1000, seed=0):
    """Program 2's data: each pixel round(random.random(), 1), target the mean of the four."""
    rng = random.Random(seed)
    xs = [[round(rng.random(), 1) for _ in range(4)] for _ in range(n)]
    ys = [sum(x) / 4 for x in xs]
    return xs, ys


def neuron(x, w):
    out = 0
    for i in range(len(x)):
        out += x[i] * w[i]
    return out


def loop_loss(xs, ys, w):
    total = 0
    for x, y in zip(xs, ys):
        diff = neuron(x, w) - y
        total += diff * diff
    return total / len(xs)


# --- 1. one neuron ----------------------------------------------------------------------------------
def test_program1_one_neuron(backend):
    assert neuron(X0, W0) == pytest.approx(0.684)  # the plain-Python original
    for x in (X0, Tensor(X0)):  # the same loop over tensor weights (and tensor inputs)
        out = neuron(x, Tensor(W0))
        assert isinstance(out, Tensor) and out.shape == () and out.backend == backend
        assert out.item() == pytest.approx(0.684, abs=1e-6)
        assert neuron(x, Tensor([0.25] * 4)).item() == pytest.approx(0.45, abs=1e-6)  # the average


# --- 2. training data and the untrained loss -----------------------------------------------------
def test_program2_untrained_loss(backend):
    xs, ys = rectangles()
    assert len(xs) == 1000 and all(len(x) == 4 and all(v in [k / 10 for k in range(11)] for v in x) for x in xs)
    loss = loop_loss(xs, ys, Tensor(W0))
    X, Y = np.array(xs), np.array(ys)
    reference = np.mean((X @ np.array(W0) - Y) ** 2)
    assert loss.item() == pytest.approx(reference, rel=1e-5)
    # "about 0.42": the expected value over random rectangles is 0.4245; one draw of 1000 is within ~0.03
    assert loss.item() == pytest.approx(0.42, abs=0.04)


# --- 3. autograd on a scalar -----------------------------------------------------------------------
def test_program3_scalar_autograd(backend):
    x = Tensor(2., requires_grad=True)
    y = x ** 2
    y.backward()
    assert x.grad.item() == 4.0


# --- 4. autograd on a random mix ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_program4_random_mix_matches_the_analytic_derivative(backend, seed):
    rng = random.Random(seed)
    values = [0.2, 0.3, 0.8, 0.1]
    x = Tensor(values, requires_grad=True)
    terms, derivs = [], []
    for _ in range(rng.randint(2, 6)):
        kind = rng.choice(["pow", "sqrt", "atanh", "log"])
        if kind == "pow":
            k = rng.randint(2, 4)
            terms.append(x ** k)
            derivs.append(lambda v, k=k: k * v ** (k - 1))
        elif kind == "sqrt":
            terms.append(x.sqrt())
            derivs.append(lambda v: 0.5 / math.sqrt(v))
        elif kind == "atanh":
            terms.append(x.atanh())
            derivs.append(lambda v: 1 / (1 - v * v))
        else:
            terms.append(x.log())
            derivs.append(lambda v: 1 / v)
    y = sum(terms).mean()
    y.backward()
    expected = [sum(d(v) for d in derivs) / len(values) for v in values]
    np.testing.assert_allclose(x.grad.tolist(), expected, rtol=1e-5)


def test_program4_each_function_alone(backend):
    values = np.array([0.2, 0.3, 0.8, 0.1])
    for f, d in [(lambda t: t ** 3, lambda v: 3 * v ** 2), (lambda t: t.sqrt(), lambda v: 0.5 / np.sqrt(v)),
                 (lambda t: t.atanh(), lambda v: 1 / (1 - v * v)), (lambda t: t.log(), lambda v: 1 / v)]:
        x = Tensor(values.tolist(), requires_grad=True)
        f(x).mean().backward()
        np.testing.assert_allclose(x.grad.numpy(), d(values) / 4, rtol=1e-5)


# --- 5. gradient descent -------------------------------------------------------------------------------
def _needs_many_launches(backend):
    if backend == "numba_cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("300 epochs of scalar ops are ~10 million kernel launches: too many for the CUDA "
                    "simulator (this test runs on a real GPU)")


def test_program5_first_gradient_matches_numpy(backend):
    xs, ys = rectangles(200)
    w = Tensor(W0, requires_grad=True)
    loss = loop_loss(xs, ys, w)
    loss.backward()
    X, Y, W = np.array(xs), np.array(ys), np.array(W0)
    np.testing.assert_allclose(w.grad.numpy(), 2 / len(xs) * X.T @ (X @ W - Y), rtol=1e-4)


def test_program5_gradient_descent(backend):
    _needs_many_launches(backend)
    # the walkthrough's 300 epochs; the pure-Python backend runs the first 30 (300 take a minute there,
    # the longest test of the suite) and is held to the same float64 NumPy trajectory
    epochs = 30 if backend == "python" else 300
    xs, ys = rectangles()
    w = Tensor(W0, requires_grad=True)
    losses = []
    for epoch in range(epochs):
        loss = loop_loss(xs, ys, w)
        loss.backward()
        for i in range(4):
            w.data[i] -= 0.1 * w.grad.data[i]
        w.grad.zero_()
        losses.append(loss.item())
    assert w.is_leaf and w.requires_grad and w.dtype == "float32"
    assert all(b < a for a, b in zip(losses, losses[1:])), "the loss must fall every epoch"
    learned = w.tolist()
    if epochs == 300:
        assert 1e-3 < losses[99] < 4e-3, f"after 100 epochs the loss is about 2e-3, got {losses[99]:.3g}"
        assert losses[-1] < 1e-5, f"after 300 epochs the loss is about 2e-6, got {losses[-1]:.3g}"
        assert all(abs(v - 0.25) < 0.01 for v in learned), f"weights {learned} are not all within 0.01 of 0.25"
    # the same epochs of full-batch gradient descent in NumPy (float64) land on the same weights and losses
    X, Y, W = np.array(xs), np.array(ys), np.array(W0)
    reference = []
    for _ in range(epochs):
        reference.append(np.mean((X @ W - Y) ** 2))
        W = W - 0.1 * (2 / len(xs) * X.T @ (X @ W - Y))
    np.testing.assert_allclose(learned, W, atol=2e-4)
    np.testing.assert_allclose(losses[:30], reference[:30], rtol=1e-3)


# --- 6. activation with Python's max ------------------------------------------------------------------
def test_program6_relu_with_python_max(backend):
    w = Tensor(W0, requires_grad=True)
    out = max(0, neuron(X0, w))
    assert isinstance(out, Tensor) and out.item() == pytest.approx(0.684, abs=1e-6)
    out.backward()
    np.testing.assert_allclose(w.grad.numpy(), X0, rtol=1e-6)
    negative = max(0, neuron(X0, Tensor([-1.0, -1.0, -1.0, -1.0], requires_grad=True)))
    assert negative == 0 and not isinstance(negative, Tensor)


# --- 7. the loop as a matrix product ----------------------------------------------------------------
def test_program7_matrix_form_equals_the_loop(backend):
    xs, ys = rectangles(200)
    w = Tensor(W0, requires_grad=True)
    pred = Tensor(xs) @ w
    assert pred.shape == (200,) and pred.backend == backend
    loop = [neuron(x, w.detach()).item() for x in xs]
    np.testing.assert_allclose(pred.detach().numpy(), loop, rtol=1e-5, atol=1e-6)
    matrix_loss = ((pred - Tensor(ys)) ** 2).mean()
    matrix_loss.backward()
    matrix_grad = w.grad.numpy().copy()
    w.grad = None
    loop_l = loop_loss(xs, ys, w)
    loop_l.backward()
    assert matrix_loss.item() == pytest.approx(loop_l.item(), rel=1e-5)
    np.testing.assert_allclose(matrix_grad, w.grad.numpy(), rtol=1e-4)
    # rectangles as a (N, 4) matrix, weights as a column
    col = Tensor(xs) @ Tensor(W0).reshape(4, 1)
    assert col.shape == (200, 1)
    np.testing.assert_allclose(col.numpy()[:, 0], loop, rtol=1e-5, atol=1e-6)


# --- 8. a layer as a matrix ------------------------------------------------------------------------------
def test_program8_layer(backend):
    x = Tensor([2, 5, 7, 3])
    W = Tensor([[2, 1, 1, -1], [1, 1, 1, 1]])
    b = Tensor([-9, -7])
    out = x @ W.T + b
    assert out.tolist() == [4, 10] and out.dtype == "int64"
    assert (out[1] - out[0]).item() > 0  # the last node classifies by the sign of the difference
    outf = Tensor([2.0, 5.0, 7.0, 3.0]) @ Tensor([[2.0, 1, 1, -1], [1, 1, 1, 1]]).T + Tensor([-9.0, -7.0])
    assert outf.tolist() == [4.0, 10.0]
    other = Tensor([9, 1, 1, 1]) @ W.T + b  # a second input lands on the other side
    assert other.tolist() == [10, 5] and (other[1] - other[0]).item() < 0


def test_program8_layer_with_activations(backend):
    x = Tensor([2.0, 5.0, 7.0, 3.0])
    W = Tensor([[2.0, 1, 1, -1], [1, 1, 1, 1]], requires_grad=True)
    b = Tensor([-9.0, -7.0], requires_grad=True)
    h = x @ W.T + b
    for act, ref in [(lambda t: t.relu(), [4.0, 10.0]), (lambda t: t.sigmoid(), 1 / (1 + np.exp([-4.0, -10.0]))),
                     (lambda t: t.tanh(), np.tanh([4.0, 10.0]))]:
        np.testing.assert_allclose(act(h).detach().numpy(), ref, rtol=1e-6)
    diff = h.sigmoid()[1] - h.sigmoid()[0]
    diff.backward()
    s = 1 / (1 + np.exp(-np.array([4.0, 10.0])))
    ds = s * (1 - s) * np.array([-1.0, 1.0])
    # float32 sigmoid'(10) = s (1 - s) loses digits to cancellation (as in PyTorch): absolute tolerance
    np.testing.assert_allclose(b.grad.numpy(), ds, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(W.grad.numpy(), np.outer(ds, [2.0, 5.0, 7.0, 3.0]), rtol=1e-5, atol=1e-6)


# --- the example module the README and `dev.sh train` run ------------------------------------------------
def test_examples_module_programs(backend):
    from tinygrad_nm.examples import walkthrough as wt
    assert wt.one_neuron() == pytest.approx(0.684) and wt.one_neuron(w=[0.25] * 4) == pytest.approx(0.45)
    assert wt.scalar_autograd() == 4.0
    got, expected = wt.autograd_mix()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    out, positive = wt.layer()
    assert out == [4, 10] and positive
