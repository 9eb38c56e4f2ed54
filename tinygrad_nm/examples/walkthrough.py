"""The "neural net from scratch" walkthrough's programs 1-8, typed against tinygrad_nm.

Run `python -m tinygrad_nm.examples.walkthrough` to see each one's answer.
The tests import these functions and check the walkthrough's numbers.
"""
import random
import time

import tinygrad_nm as tnm
from tinygrad_nm import Tensor


def one_neuron(x=(0.2, 0.5, 0.4, 0.7), w=(0.98, 0.4, 0.86, -0.08)):
    """Program 1: one neuron as a Python loop. The default weights give 0.684."""
    out = 0
    for i in range(len(x)):
        out += x[i] * w[i]
    return out


def make_rectangles(n=1000, seed=0):
    """Program 2: n random 2x2 'rectangles' (pixels rounded to 0.1) and their mean as target."""
    rng = random.Random(seed)
    xs = [[round(rng.random(), 1) for _ in range(4)] for _ in range(n)]
    ys = [sum(x) / 4 for x in xs]
    return xs, ys


def loop_model(x, w):
    """The neuron as scalar tensor ops: indexing w, float * Tensor, +=."""
    out = 0.0
    for i in range(len(x)):
        out += x[i] * w[i]
    return out


def loop_loss(xs, ys, w):
    """Mean squared error written as a Python loop over the outputs."""
    total = 0.0
    for x, y in zip(xs, ys):
        diff = loop_model(x, w) - y
        total += diff * diff
    return total / len(xs)


def scalar_autograd():
    """Program 3: x = 2, y = x ** 2, dy/dx = 4."""
    x = Tensor(2., requires_grad=True)
    y = x ** 2
    y.backward()
    return x.grad.item()


def autograd_mix(seed=0):
    """Program 4: a random mix of x**k, sqrt, atanh, log, then mean; returns (x.grad, analytic grad)."""
    import math
    rng = random.Random(seed)
    values = [0.2, 0.3, 0.8, 0.1]
    x = Tensor(values, requires_grad=True, dtype="float64")
    terms, derivs = [], []
    for _ in range(4):
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
    return x.grad.tolist(), expected


def gradient_descent(epochs=300, lr=0.1, n=1000, seed=0, log_every=0):
    """Program 5: train the loop model's four weights; returns (weights, losses per epoch)."""
    xs, ys = make_rectangles(n, seed)
    w = Tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True)
    losses = []
    for epoch in range(epochs):
        loss = loop_loss(xs, ys, w)
        loss.backward()
        for i in range(4):
            w.data[i] -= lr * w.grad.data[i]
        w.grad.zero_()
        losses.append(loss.item())
        if log_every and (epoch + 1) % log_every == 0:
            print(f"  epoch {epoch + 1:4d}  loss {losses[-1]:.3g}")
    return w.tolist(), losses


def relu_neuron(x, w):
    """Program 6: the activation written with Python's own max."""
    return max(0, loop_model(x, w))


def matrix_model(xs, w):
    """Program 7: the loop is really a matrix product."""
    return Tensor(xs) @ w


def layer(x=(2, 5, 7, 3), W=((2, 1, 1, -1), (1, 1, 1, 1)), b=(-9, -7)):
    """Program 8: a layer as a matrix, x @ W.T + b = [4, 10]; the sign of the difference classifies."""
    out = Tensor(list(x)) @ Tensor([list(r) for r in W]).T + Tensor(list(b))
    return out.tolist(), (out[1] - out[0]).item() > 0


def main():
    print(f"tinygrad_nm walkthrough on backend {tnm.get_backend()!r}")
    print(f"1. one neuron: {one_neuron():.3f}; all weights 0.25 (the average): {one_neuron(w=[0.25] * 4):.2f}")
    xs, ys = make_rectangles()
    w0 = Tensor([0.98, 0.4, 0.86, -0.08])
    print(f"2. 1000 rectangles, untrained loss {loop_loss(xs, ys, w0).item():.2f}")
    print(f"3. d(x**2)/dx at 2 = {scalar_autograd():.0f}")
    got, expected = autograd_mix()
    print(f"4. autograd on a random mix: {[round(g, 4) for g in got]} (analytic {[round(e, 4) for e in expected]})")
    start = time.perf_counter()
    print("5. gradient descent, 300 epochs over 1000 rectangles, scalar ops:")
    weights, losses = gradient_descent(log_every=100)
    print(f"   learned weights {[round(v, 3) for v in weights]} (the average is 0.25 each), "
          f"loss {losses[-1]:.2g}, {time.perf_counter() - start:.1f} s")
    print(f"6. relu(neuron) on the first rectangle: {relu_neuron(xs[0], Tensor(weights)).item():.3f} "
          f"(target {ys[0]:.3f})")
    pred = matrix_model(xs, Tensor(weights))
    print(f"7. as a matrix product: first predictions {[round(v, 3) for v in pred[:3].tolist()]}")
    out, positive = layer()
    print(f"8. [2, 5, 7, 3] @ W.T + b = {out}; class {'B' if positive else 'A'} (sign of the difference)")


if __name__ == "__main__":
    main()
