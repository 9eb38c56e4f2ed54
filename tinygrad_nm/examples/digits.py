"""Next step 4: handwritten digits. The training loop of `tinygrad-nm train --task digits`, written out.

    python -m tinygrad_nm.examples.digits [--backend numpy] [--epochs 30]
    python -m tinygrad_nm.examples.digits --mnist-dir DIR      # the same code on MNIST's 28x28

Each 8x8 image (scikit-learn's 1797 digits; 28x28 for MNIST) is flattened into one row of
pixels; an MLP with a non-linear activation turns it into ten scores, one per digit, and
cross-entropy trains the right score up. A fifth of the digits is held out to measure accuracy
on images the network never saw. With the same seed it reproduces `tinygrad-nm train --task
digits` exactly: the same split, initial weights and shuffles (tasks.seed_for), hence the same
accuracy.
"""
import argparse

import numpy as np

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, data, nn, optim
from tinygrad_nm import functional as F
from tinygrad_nm.tasks import seed_for


def accuracy(model, x, y):
    with tnm.no_grad():
        scores = model(Tensor(x)).numpy()
    return float((scores.argmax(axis=1) == y).mean())


def train_digits(epochs=30, lr=0.1, batch_size=32, hidden=(128, 64), seed=0, mnist_dir=None, log=print):
    """Returns the held-out accuracy after each epoch."""
    if mnist_dir:
        (x_train, y_train), (x_test, y_test) = data.mnist(mnist_dir, "train"), data.mnist(mnist_dir, "test")
    else:
        x, y = data.digits()
        x_train, y_train, x_test, y_test = data.split(x, y, 0.2, seed=seed_for(seed, 3), stratify=True)
    generator = np.random.default_rng(seed_for(seed, 1))  # one independent stream per use of the seed
    model = nn.MLP([x_train.shape[1], *hidden, 10], activation="tanh", generator=generator)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)  # big steps early, settle at the end
    loader = data.DataLoader(x_train, y_train, batch_size, seed=seed_for(seed, 4))
    accuracies = []
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        schedule.step()
        accuracies.append(accuracy(model, x_test, y_test))
        log(f"epoch {epoch + 1:2d}  last batch loss {loss.item():.4f}  held-out accuracy {100 * accuracies[-1]:.1f}%")
    return accuracies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default=None, help="default: $TINYGRAD_NM_BACKEND or numpy")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist-dir", default=None, help="a directory with the four MNIST IDX files")
    args = parser.parse_args(argv)
    with tnm.use_backend(args.backend or tnm.get_backend()) as be:
        print(f"{'MNIST' if args.mnist_dir else 'digits'} on {be.NAME}")
        accuracies = train_digits(args.epochs, seed=args.seed, mnist_dir=args.mnist_dir)
        print(f"held-out accuracy {100 * accuracies[-1]:.1f}% after {args.epochs} epochs")


if __name__ == "__main__":
    main()
