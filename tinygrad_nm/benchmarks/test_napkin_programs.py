"""Whole programs against the sum of their kernels' napkin estimates.

- an MLP training step: forward, cross-entropy, backward, SGD update (nn.MLP + optim.SGD);
- the walkthrough's scalar program (program 5): one epoch of the loop model over the rectangles,
  scalar Tensor ops all the way, then backward and the per-weight update.
The estimate is the sum over every kernel call the step makes (traced once) plus tinygrad_nm's
own per-call overhead; the accuracy goal is the step within 2x of that sum.
"""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, nn, optim
from tinygrad_nm.examples.walkthrough import loop_loss, make_rectangles

from tinygrad_nm.benchmarks.cases import QUICK, cases, classifier_step

# (batch, sizes of the layers)
MLP = {
    "interpreter": [(16, (64, 32, 10))] if QUICK else [(16, (64, 32, 10)), (32, (128, 64, 10))],
    "host": [(128, (784, 256, 10))] if QUICK else [(64, (784, 128, 10)), (128, (784, 256, 10)), (512, (784, 512, 10))],
    "gpu": [(512, (784, 512, 10))] if QUICK else [(512, (784, 512, 10)), (4096, (784, 2048, 10))],
}
RECTANGLES = {"interpreter": (100,) if QUICK else (1000,), "host": (100,) if QUICK else (1000,), "gpu": (100,)}


def _mlp_step(backend, batch, sizes):
    rng = np.random.default_rng(0)
    model = nn.MLP(list(sizes), backend=backend, generator=rng)
    opt = optim.SGD(model.parameters(), lr=0.01)
    x = Tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32), backend=backend)
    labels = Tensor(rng.integers(0, sizes[-1], batch), backend=backend)

    return classifier_step(model, opt, x, labels)


@pytest.mark.napkin
@pytest.mark.parametrize("backend,shape", cases(MLP), ids=lambda v: str(v))
def test_mlp_training_step(napkin_bench, backend, shape):
    batch, sizes = shape
    step = _mlp_step(backend, batch, sizes)
    step()  # the first step allocates the gradients: benchmark the steady state
    loss = napkin_bench(step, backend=backend, op="mlp_step",
                        size=f"b{batch} " + "-".join(map(str, sizes)))
    assert np.isfinite(loss.item())


def _scalar_epoch(backend, n):
    xs, ys = make_rectangles(n)
    w = Tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True, backend=backend)

    def epoch():
        loss = loop_loss(xs, ys, w)
        loss.backward()
        with tnm.no_grad():
            for i in range(4):
                w.data[i] -= 0.1 * w.grad.data[i]
        w.grad.zero_()
        return loss
    return epoch


@pytest.mark.napkin
@pytest.mark.parametrize("backend,n", cases(RECTANGLES), ids=lambda v: str(v))
def test_walkthrough_scalar_epoch(napkin_bench, backend, n):
    epoch = _scalar_epoch(backend, n)
    epoch()
    loss = napkin_bench(epoch, backend=backend, op="scalar_epoch", size=f"{n} rectangles")
    assert loss.item() < 1
