"""Next step 2: biases, and two hidden layers of different sizes.

    python -m tinygrad_nm.examples.layers [--backend numpy]

The walkthrough's single neuron (no bias, no activation) can only compute a weighted sum, so it
learns the average of a rectangle's pixels and nothing that is not a weighted sum. Here the same
2x2 rectangles get two targets:

- the average (a weighted sum): the neuron and the network both learn it;
- the darkest pixel, max(x): not a weighted sum, so the neuron stalls while a network with
  biases and two ReLU hidden layers, 4 -> 16 -> 8 -> 1, gets close.
"""
import argparse

import numpy as np

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, data, nn, optim
from tinygrad_nm import functional as F


def fit(model, x, y, epochs=200, lr=0.01, seed=0):
    """Adam on mini-batches of 32; returns the loss on (x, y) after training."""
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = data.DataLoader(x, y, batch_size=32, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            F.mse_loss(model(xb), yb).backward()
            opt.step()
    with tnm.no_grad():
        return F.mse_loss(model(Tensor(x)), Tensor(y)).item()


def compare(epochs=200, n=1000, seed=0):
    """{target: (neuron's loss, network's loss)} for the average and the darkest pixel."""
    x, average = data.rectangles(n, 2, seed=seed)
    darkest = x.max(axis=1, keepdims=True)
    results = {}
    for name, y in (("average", average), ("darkest pixel", darkest)):
        generator = np.random.default_rng(seed + 1)
        neuron = nn.Linear(4, 1, bias=False, generator=generator)             # the walkthrough's
        network = nn.MLP([4, 16, 8, 1], activation="relu", generator=generator)  # with biases
        results[name] = (fit(neuron, x, y, epochs), fit(network, x, y, epochs))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default=None, help="default: $TINYGRAD_NM_BACKEND or numpy")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args(argv)
    with tnm.use_backend(args.backend or tnm.get_backend()) as be:
        print(f"2x2 rectangles on {be.NAME}, {args.epochs} epochs, mean squared error:")
        print(f"  {'target':<14} {'neuron 4->1':>12} {'MLP 4->16->8->1':>16}")
        for name, (neuron, network) in compare(args.epochs).items():
            print(f"  {name:<14} {neuron:>12.2e} {network:>16.2e}")


if __name__ == "__main__":
    main()
