"""Next step 3: far larger rectangles, up to 100x100, on every backend this machine has.

    python -m tinygrad_nm.examples.large_rectangles [--sizes 2,10,50,100] [--backends numpy,python]

The neuron learns the average of size x size rectangles (1000 of them, 20% held out) as a
matrix product. For each size and backend it prints the held-out loss reached and the time per
epoch, so the cost of the data's size, and the speed-up of native kernels (and of a GPU, where
one is available) over pure Python, can be watched growing with it.

The weights start at zero, not at random: at 100x100 the right answer is 1e-4 per pixel, a
hundred times smaller than a usual random start, and the directions of weight space the training
images do not span would keep their random start forever (tasks.py explains more).
"""
import argparse
import time

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, data, nn, optim
from tinygrad_nm import functional as F


def train_average(size, epochs=20, n=1000, batch_size=32, seed=0):
    """SGD with momentum, lr 1/pixels; returns (held-out loss, seconds per epoch)."""
    x, y = data.rectangles(n, size, seed=seed)
    x_train, y_train, x_test, y_test = data.split(x, y, 0.2, seed=seed + 1)
    model = nn.Linear(size * size, 1, bias=False)
    model.weight.data = model.weight.data * 0.0
    opt = optim.SGD(model.parameters(), lr=1.0 / (size * size), momentum=0.9)
    loader = data.DataLoader(x_train, y_train, batch_size, seed=seed + 2)
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            F.mse_loss(model(xb), yb).backward()
            opt.step()
    seconds = (time.perf_counter() - start) / epochs
    with tnm.no_grad():
        return F.mse_loss(model(Tensor(x_test)), Tensor(y_test)).item(), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2,10,50,100", help="rectangle sides, comma-separated (2-100)")
    parser.add_argument("--backends", default=None, help="comma-separated (default: every available one)")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",") if args.backends else tnm.available_backends()
    print(f"the average of size x size rectangles, {args.epochs} epochs; held-out loss and ms per epoch")
    print(f"{'size':>8} " + " ".join(f"{b:>22}" for b in backends))
    for size in sizes:
        cells, times = [], {}
        for backend in backends:
            with tnm.use_backend(backend):
                loss, seconds = train_average(size, args.epochs)
            times[backend] = seconds
            cells.append(f"{loss:9.1e} {seconds * 1e3:9.1f} ms")
        line = f"{size:>4}x{size:<3} " + " ".join(f"{c:>22}" for c in cells)
        if "python" in times and len(times) > 1:
            fastest = min(times, key=times.get)
            line += f"   {fastest} {times['python'] / times[fastest]:.0f}x faster than python"
        print(line, flush=True)


if __name__ == "__main__":
    main()
