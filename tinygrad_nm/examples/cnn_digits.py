"""A small convolutional network (LeNet's shape) on the 8x8 handwritten digits.

    python -m tinygrad_nm.examples.cnn_digits [--backend numpy] [--epochs 30] [--seed 0]

The MLP of examples/digits.py sees each image as 64 unrelated numbers; a convolution slides the
same 3x3 filters over every position, so a stroke is recognised wherever it is, and max pooling
keeps the strongest response of each 2x2 neighbourhood (a little robustness to shifts):

    (N, 1, 8, 8) -> Conv2d 1->32, 3x3, padding 1 -> BatchNorm -> ReLU -> MaxPool 2 -> (N, 32, 4, 4)
                 -> Conv2d 32->64, 3x3, padding 1 -> BatchNorm -> ReLU -> MaxPool 2 -> (N, 64, 2, 2)
                 -> Flatten -> Linear 256->64 -> ReLU -> Linear 64->10

The recipe is `tinygrad-nm train --task digits --model cnn`'s (tasks.CNN_DEFAULTS, where the
recipes tried are listed with their accuracies): every training image moved by up to one pixel
each epoch (tasks.ShiftedLoader), SGD with momentum 0.9, lr 0.05 with cosine decay, weight decay
5e-4, label smoothing 0.1, batch 32, 30 epochs. The network is tasks.cnn, written out here as a
plain program with the library's pieces.

The split, initial weights, shuffles and shifts come from the seed as in examples/digits.py
(tasks.seed_for), so a seed gives the same run every time on a backend.
"""
import argparse

import numpy as np

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, data, optim
from tinygrad_nm import functional as F
from tinygrad_nm.tasks import CNN_DEFAULTS, ShiftedLoader, cnn, seed_for


def accuracy(model, x, y):
    model.eval()  # batch norm's running statistics
    with tnm.no_grad():
        scores = model(Tensor(x)).numpy()
    return float((scores.argmax(axis=1) == y).mean())


def train_cnn_digits(epochs=CNN_DEFAULTS["epochs"], lr=CNN_DEFAULTS["lr"], batch_size=32,
                     weight_decay=CNN_DEFAULTS["weight_decay"], label_smoothing=CNN_DEFAULTS["label_smoothing"],
                     seed=0, log=print):
    """Returns the held-out accuracy after each epoch."""
    x, y = data.digits()
    x = x.reshape(-1, 1, 8, 8).astype(np.float32)  # NCHW: one grey channel
    x_train, y_train, x_test, y_test = data.split(x, y, 0.2, seed=seed_for(seed, 3), stratify=True)
    model = cnn(8, 10, CNN_DEFAULTS["channels"], tnm.float32, np.random.default_rng(seed_for(seed, 1)))
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)  # big steps early, settle at the end
    loader = ShiftedLoader(x_train, y_train, batch_size, seed=seed_for(seed, 4), shift_seed=seed_for(seed, 5))
    accuracies = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb, label_smoothing=label_smoothing)
            loss.backward()
            opt.step()
        schedule.step()
        accuracies.append(accuracy(model, x_test, y_test))
        log(f"epoch {epoch + 1:2d}  last batch loss {loss.item():.4f}  held-out accuracy {100 * accuracies[-1]:.1f}%")
    return accuracies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default=None, help="default: $TINYGRAD_NM_BACKEND or numpy")
    parser.add_argument("--epochs", type=int, default=CNN_DEFAULTS["epochs"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tnm.use_backend(args.backend or tnm.get_backend()) as be:
        print(f"CNN on the digits, backend {be.NAME}")
        accuracies = train_cnn_digits(args.epochs, seed=args.seed)
        print(f"held-out accuracy {100 * accuracies[-1]:.1f}% after {args.epochs} epochs")


if __name__ == "__main__":
    main()
