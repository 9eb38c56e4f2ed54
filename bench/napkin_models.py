"""The models the napkin step and growth benchmarks train (test_napkin_steps.py, test_napkin_growth.py):
one training step each (zero_grad, forward, cross-entropy, backward, SGD with momentum), built on
a backend from a seed, on random data of the digits' shapes.

- mlp(sizes): nn.Linear layers with tanh between them (the digits task's model: 64-128-64-10);
- cnn(channels): LeNet's shape on 8x8 images (examples/cnn_digits.py at channels=32):
  conv 1->c, batch norm, relu, max pool, conv c->2c, batch norm, relu, max pool, linear 8c->64, relu,
  linear 64->10.
"""
import numpy as np

from tinygrad_nm import Tensor, nn, optim
from tinygrad_nm.benchmarks.cases import classifier_step


def mlp(sizes, backend, rng):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, backend=backend, generator=rng))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers), (sizes[0],), sizes[-1]


def cnn(channels, backend, rng):
    c = channels
    model = nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1, generator=rng), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1, generator=rng), nn.BatchNorm2d(2 * c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * c, 64, generator=rng), nn.ReLU(), nn.Linear(64, 10, generator=rng))
    return model.to(backend), (1, 8, 8), 10


def training_step(build, arg, batch, backend, seed=0):
    """(step, model, x, y): step() runs one training step of build(arg) on a batch of random data."""
    rng = np.random.default_rng(seed)
    model, in_shape, classes = build(arg, backend, rng)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = Tensor(rng.standard_normal((batch, *in_shape)).astype(np.float32), backend=backend)
    y = Tensor(rng.integers(0, classes, batch), backend=backend)

    step = classifier_step(model, opt, x, y)
    step()  # the first step makes the gradients and the momentum buffers: measure the steady state
    return step
