"""The walkthrough's program 5 (gradient descent on four weights, scalar ops) as a standalone
program, one framework per process:

    python bench/scalar_program.py tinygrad_nm 300
    python bench/scalar_program.py torch 300

It prints one JSON line: the framework, the epochs, the training loop's seconds (imports and
data excluded), the final loss and the weights. bench/test_core.py runs it for both frameworks
in the same benchmark run. Each runs in its own fresh process, as a user runs a program: in one
shared process, the Python objects of one framework (torch brings ~160,000) make every full
garbage collection the other triggers walk them too.
"""
import json
import sys
import time

from tinygrad_nm.examples.walkthrough import loop_loss, make_rectangles

START_WEIGHTS = [0.98, 0.4, 0.86, -0.08]


def train(w, xs, ys, epochs, no_grad, lr=0.1):
    """The program itself, the same code for both frameworks."""
    for _ in range(epochs):
        loss = loop_loss(xs, ys, w)
        loss.backward()
        with no_grad():
            for i in range(4):
                w.data[i] -= lr * w.grad.data[i]
        w.grad.zero_()
    return loss


def weights_for(framework):
    """(w, no_grad) for `framework`: 'tinygrad_nm' (numpy backend) or 'torch' (CPU, one thread)."""
    if framework == "torch":
        import torch
        torch.set_num_threads(1)
        return torch.tensor(START_WEIGHTS, requires_grad=True), torch.no_grad
    if framework == "tinygrad_nm":
        import tinygrad_nm as tnm
        return tnm.Tensor(START_WEIGHTS, requires_grad=True, backend="numpy"), tnm.no_grad
    raise ValueError(f"unknown framework {framework!r}: expected 'tinygrad_nm' or 'torch'")


def main(argv):
    if len(argv) != 2 or not argv[1].isdigit():
        raise SystemExit("usage: python bench/scalar_program.py {tinygrad_nm|torch} EPOCHS")
    framework, epochs = argv[0], int(argv[1])
    xs, ys = make_rectangles()
    w, no_grad = weights_for(framework)
    start = time.perf_counter()
    loss = train(w, xs, ys, epochs, no_grad)
    seconds = time.perf_counter() - start
    print(json.dumps({"framework": framework, "epochs": epochs, "seconds": seconds,
                      "final_loss": float(loss.item()), "weights": [float(v) for v in w.tolist()]}))


if __name__ == "__main__":
    main(sys.argv[1:])
