"""One training epoch on the digits (the MLP, and the CNN of `--model cnn`), tinygrad_nm against PyTorch
CPU on one thread, in the same run.

The issue's target: an epoch of a 64-128-64-10 MLP (ReLU) on the 1438 training digits, batch 32,
SGD with momentum, on the NumPy backend takes at most as long as PyTorch CPU with
torch.set_num_threads(1). Both sides do the same work per batch: slice the host arrays in a
shuffled order, make tensors, zero the gradients, forward, cross-entropy, backward, step.

- `test_digits_epoch_torch`: PyTorch's epoch, pytest-benchmark's row for the reference.
- `test_digits_epoch[backend]`: ours, through `napkin_bench` (a row in the napkin table too).
  Then the two are timed again in alternation, PyTorch epoch, our epoch, PyTorch epoch, ...:
  on a shared machine the load changes from second to second, and alternating exposes both to
  the same load. The fastest epoch of each and the ratio torch / ours (above 1: we are faster)
  go into extra_info; the target is met when ours <= torch.
"""
import time

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings
from tinygrad_nm import Tensor, data, functional as F, nn, optim
from pairing import best as _best, one_torch_thread as _one_torch_thread

try:
    import torch
except ImportError:
    torch = None

SIZES, BATCH, LR, MOMENTUM = [64, 128, 64, 10], 32, 0.05, 0.9
OP, SIZE = "digits epoch", f"MLP {'-'.join(map(str, SIZES))} b{BATCH} SGD momentum"
GROUP = f"{OP} {SIZE}"  # the group napkin_bench gives our side: both rows sit in one table
PAIRED_ROUNDS = 5 if settings.bench_mode == "quick" else 15
CPU_BACKENDS = [b for b in tnm.available_backends() if b != "numba_cuda"]
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: no reference to compare with")


def _digits():
    pytest.importorskip("sklearn", reason="the digits need scikit-learn (the digits extra)")
    x, y = data.digits()
    x_train, y_train, _, _ = data.split(x, y, 0.2, seed=0, stratify=True)
    return x_train, y_train


def _batches(n, epoch):
    order = np.random.default_rng((0, epoch)).permutation(n)
    return [order[i:i + BATCH] for i in range(0, n, BATCH)]


def _epoch(model, opt, x, y, tensor):
    """One epoch of `model` as a closure, each call the next shuffle: a tinygrad_nm model, whose batch
    tensors `tensor` makes, or (`tensor` None) a PyTorch one, fed torch.from_numpy."""
    counter = [0]

    def epoch():
        model.train()
        for idx in _batches(len(x), counter[0]):
            opt.zero_grad()
            loss = F.cross_entropy(model(tensor(x[idx])), tensor(y[idx])) if tensor is not None else \
                torch.nn.functional.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            loss.backward()
            opt.step()
        counter[0] += 1
        return loss
    epoch()  # warm up: the first epoch allocates the momentum buffers (and the CNN's cached offsets)
    return epoch


def _epoch_ours(x, y, backend):
    model = nn.MLP(SIZES, activation="relu", backend=backend, generator=np.random.default_rng(0))
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    return _epoch(model, opt, x, y, lambda a: Tensor(a, backend=backend))


def _epoch_torch(x, y):
    """PyTorch's epoch; call it with torch.set_num_threads(1) in force."""
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(SIZES) - 2 else [])
    model = torch.nn.Sequential(*layers)
    return _epoch(model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM), x, y, None)


def _paired(reference, epoch, rounds):
    """The fastest of `rounds` alternating epochs of each, PyTorch's first: (ours, PyTorch's) seconds."""
    ours_s, torch_s = [], []
    for _ in range(rounds):
        for fn, times in ((reference, torch_s), (epoch, ours_s)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(ours_s), min(torch_s)


@needs_torch
def test_digits_epoch_torch(benchmark):
    benchmark.group = GROUP
    x, y = _digits()
    with _one_torch_thread():
        loss = benchmark(_epoch_torch(x, y))
    benchmark.extra_info.update(framework="torch", threads=1, seconds=_best(benchmark), final_loss=loss.item())


@pytest.mark.napkin
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_digits_epoch(napkin_bench, benchmark, backend):
    if backend == "python" and settings.bench_mode == "quick":
        pytest.skip("the python backend's epoch takes seconds: only in --full mode")
    x, y = _digits()
    epoch = _epoch_ours(x, y, backend)
    loss = napkin_bench(epoch, backend=backend, op=OP, size=SIZE)
    benchmark.extra_info.update(seconds=_best(benchmark), final_loss=loss.item())
    if torch is None or _best(benchmark) is None:  # no reference, or timing disabled (CI)
        return
    rounds = 2 if backend == "python" else PAIRED_ROUNDS
    with _one_torch_thread():
        ours, ref = _paired(_epoch_torch(x, y), epoch, rounds)
    benchmark.extra_info.update(paired_rounds=rounds, paired_seconds=ours, paired_torch_seconds=ref,
                                torch_over_ours=ref / ours, target="ours <= PyTorch CPU, 1 thread",
                                meets_target=ours <= ref)
    print(f"\n{GROUP}, alternating {rounds} rounds: {backend} {ours * 1e3:.2f} ms vs PyTorch CPU 1 thread "
          f"{ref * 1e3:.2f} ms -> torch/ours {ref / ours:.2f}")


# --- the digits CNN (tinygrad-nm train --task digits --model cnn) --------------------------------
# The CLI's network (tasks.cnn: conv 1->32, pool, conv 32->64, pool, linear 256->64->10, batch norms)
# and its optimizer (SGD momentum 0.9, weight decay 5e-4, lr 0.05), on the unshifted 8x8 images: the
# shifts are host NumPy, outside what is compared. PyTorch builds the same layers.
CNN_OP, CNN_SIZE = "digits CNN epoch", "conv 32-64 b32 SGD momentum"
CNN_GROUP = f"{CNN_OP} {CNN_SIZE}"
CNN_PAIRED_ROUNDS = 2 if settings.bench_mode == "quick" else 5


def _cnn_epoch_ours(x, y, backend):
    from tinygrad_nm import tasks
    with tnm.use_backend(backend):
        model = tasks.cnn(8, 10, [32, 64], "float32", np.random.default_rng(0))
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=5e-4)
    return _epoch(model, opt, x, y, lambda a: Tensor(a, backend=backend))


def _cnn_epoch_torch(x, y):
    """PyTorch's epoch of the same network; call it with torch.set_num_threads(1) in force."""
    torch.manual_seed(0)
    nn_ = torch.nn
    model = nn_.Sequential(nn_.Conv2d(1, 32, 3, padding=1), nn_.BatchNorm2d(32), nn_.ReLU(), nn_.MaxPool2d(2),
                           nn_.Conv2d(32, 64, 3, padding=1), nn_.BatchNorm2d(64), nn_.ReLU(), nn_.MaxPool2d(2),
                           nn_.Flatten(), nn_.Linear(256, 64), nn_.ReLU(), nn_.Linear(64, 10))
    return _epoch(model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=5e-4), x, y, None)


def _images():
    x, y = _digits()
    return np.ascontiguousarray(x.reshape(-1, 1, 8, 8)), y


@needs_torch
def test_digits_cnn_epoch_torch(benchmark):
    benchmark.group = CNN_GROUP
    x, y = _images()
    with _one_torch_thread():
        loss = benchmark(_cnn_epoch_torch(x, y))
    benchmark.extra_info.update(framework="torch", threads=1, seconds=_best(benchmark), final_loss=loss.item())


@pytest.mark.napkin
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_digits_cnn_epoch(napkin_bench, benchmark, backend):
    if backend == "python":
        pytest.skip("the python backend takes about 6 s a step, 5 minutes an epoch (bench/README.md): too long "
                    "for pytest-benchmark's rounds")
    x, y = _images()
    epoch = _cnn_epoch_ours(x, y, backend)
    loss = napkin_bench(epoch, backend=backend, op=CNN_OP, size=CNN_SIZE)
    benchmark.extra_info.update(seconds=_best(benchmark), final_loss=loss.item())
    if torch is None or _best(benchmark) is None:  # no reference, or timing disabled (CI)
        return
    with _one_torch_thread():
        ours, ref = _paired(_cnn_epoch_torch(x, y), epoch, CNN_PAIRED_ROUNDS)
    benchmark.extra_info.update(paired_rounds=CNN_PAIRED_ROUNDS, paired_seconds=ours, paired_torch_seconds=ref,
                                torch_over_ours=ref / ours)
    print(f"\n{CNN_GROUP}, alternating {CNN_PAIRED_ROUNDS} rounds: {backend} {ours * 1e3:.1f} ms vs PyTorch CPU "
          f"1 thread {ref * 1e3:.1f} ms -> torch/ours {ref / ours:.3f}")
