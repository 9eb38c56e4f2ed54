"""Next step 1: program 5 as matrices. The same 1000 rectangles and the same four weights, but the
loop over pixels and rectangles becomes one matrix product, as program 7 says it really is.

    python -m tinygrad_nm.examples.matrices [--backend numpy] [--epochs 300]

The loop version records ~10,000 scalar ops per epoch; this one records five (matmul, subtract,
multiply, sum, divide) on whole arrays, so the kernels do the looping in native code. Same
answer: the weights approach the average's [0.25, 0.25, 0.25, 0.25].
"""
import argparse
import time

import tinygrad_nm as tnm
from tinygrad_nm import Tensor
from tinygrad_nm.examples.walkthrough import gradient_descent, make_rectangles


def matrix_gradient_descent(epochs=300, lr=0.1, n=1000, seed=0):
    """Program 5 with X (n, 4) @ w (4, 1) in place of the scalar loops; returns (weights, losses)."""
    xs, ys = make_rectangles(n, seed)
    X = Tensor(xs)                      # (1000, 4): one rectangle per row
    y = Tensor(ys).reshape(-1, 1)       # (1000, 1)
    w = Tensor([[0.98], [0.4], [0.86], [-0.08]], requires_grad=True)
    losses = []
    for _ in range(epochs):
        diff = X @ w - y
        loss = (diff * diff).sum() / n  # the walkthrough's mean squared error
        loss.backward()
        with tnm.no_grad():
            w -= lr * w.grad            # all four weights at once
        w.grad.zero_()
        losses.append(loss.item())
    return w.reshape(-1).tolist(), losses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default=None, help="default: $TINYGRAD_NM_BACKEND or numpy")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--loop-epochs", type=int, default=10, help="epochs of the scalar loop to time against")
    args = parser.parse_args(argv)
    with tnm.use_backend(args.backend or tnm.get_backend()) as be:
        start = time.perf_counter()
        weights, losses = matrix_gradient_descent(args.epochs)
        matrix_s = (time.perf_counter() - start) / args.epochs
        print(f"as matrices on {be.NAME}: {args.epochs} epochs, loss {losses[-1]:.2g}, "
              f"weights {[round(v, 3) for v in weights]}, {matrix_s * 1e3:.2f} ms per epoch")
        start = time.perf_counter()
        loop_weights, loop_losses = gradient_descent(epochs=args.loop_epochs)
        loop_s = (time.perf_counter() - start) / args.loop_epochs
        _, check = matrix_gradient_descent(args.loop_epochs)
        print(f"as scalar loops (program 5): {loop_s * 1e3:.1f} ms per epoch, {loop_s / matrix_s:.0f}x slower; "
              f"after {args.loop_epochs} epochs loss {loop_losses[-1]:.4g} (matrices: {check[-1]:.4g})")


if __name__ == "__main__":
    main()
