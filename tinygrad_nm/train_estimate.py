"""`tinygrad-nm train --estimate`: how long a training run will take, on every backend here,
predicted before it starts (napkin math on a shape-only trace of one step), and afterwards the
measured time beside the prediction.

A step is priced by running the real code on the shape-only backend and pricing every kernel it
calls, plus tinygrad_nm's own cost around each call (napkin's "framework" rates, by who made the
call): what one pass of train.train_epoch's loop does per batch, the batch's tensors made from
host arrays, forward, loss, backward, optimizer step, the loss and the output read back for the
running loss and accuracy. The loop's own NumPy calls on the host (the loader's two fancy-indexed
batch slices; argmax, compare and sum for the accuracy) are priced at NumPy's call costs. An epoch
is that times the steps per epoch plus the held-out evaluation; the whole run adds, once, what the
backend compiles at a kernel's first launch (Numba CUDA: each distinct kernel). The progress bar is not priced
(off unless stderr is a terminal). Rows follow for each GPU backend on each GPU napkin holds a
datasheet for (napkin/gpu.py), priced from the datasheet, whether or not a GPU is here.
"""
import math

import numpy as np

from tinygrad_nm import backends, napkin
from tinygrad_nm.grad_mode import no_grad
from tinygrad_nm.napkin import fmt, gpu, model, price_array_calls, price_gpu, rates as rates_mod
from tinygrad_nm.tensor import Tensor

EVAL_BATCH = 1000  # train.evaluate's batch size
# the loop's NumPy calls on host arrays per batch: the loader's x[idx], y[idx]; argmax, ==, sum
HOST_CALLS_PER_BATCH = ("index", "index")
ACCURACY_CALLS = ("reduce", "ufunc", "reduce")


def host_seconds(classify, rates=None):
    """The training loop's own NumPy calls per batch (module docstring), at NumPy's call costs."""
    r = (rates or rates_mod.current()).section(price_array_calls.FAMILY)
    calls = HOST_CALLS_PER_BATCH + (ACCURACY_CALLS if classify else ())
    return sum(price_array_calls.call_cost(r, kind) for kind in calls)


def datasheet_gpus():
    """[(row label, backend, device)]: each GPU backend this package has (a backend whose pricing is
    napkin's GPU family, whether or not a GPU is here) on each GPU whose datasheet napkin holds."""
    out = []
    for name in backends.known_backends():
        facts, _ = backends.pricing(name)
        if facts and facts.get("family") == price_gpu.FAMILY:
            out += [(f"{name} {device} (datasheet)", name, device) for device in gpu.DEVICES]
    return out


def predict(task, config, make_optimizer, names=None, gpus=None):
    """({row: {"step", "train_epoch", "epoch", "run": seconds}}, steps per epoch, batch size): a row per
    backend in `names` (default: every one that can run here), then per (label, backend, device) in
    `gpus` (default: datasheet_gpus(); a GPU backend that can run here is priced as it is calibrated
    too, under its own name)."""
    names = names or backends.available_backends()
    gpus = datasheet_gpus() if gpus is None else gpus
    batch = min(config["batch_size"], len(task.x_train))
    steps = math.ceil(len(task.x_train) / batch)
    x_host = np.asarray(task.x_train[:batch], dtype=np.float32)
    y_host = np.asarray(task.y_train[:batch])
    n_test = len(task.x_test)
    host = host_seconds(task.classify)

    def step(model):
        x, y = Tensor(x_host), Tensor(y_host)  # the loader's batch, made on the backend priced
        opt = make_optimizer(config, model.parameters())  # its state is made on the first step, as here
        opt.zero_grad()
        out = model(x)
        loss = task.loss(out, y)
        loss.backward()
        opt.step()
        loss.item()
        if task.classify:  # train_epoch's accuracy count reads the output and the labels back
            out.detach().numpy()
            y.numpy()

    def held_out(model, x, y):
        model.eval()
        with no_grad():
            task.loss(model(x), y).item()

    out = {}
    for label, name, device in [(n, n, None) for n in names] + list(gpus):
        first = napkin.estimate(step, task.model, backend=name, device=device)
        step_s = first.total_seconds + host
        evals, eval_kernels = [], set()
        for start in range(0, n_test, EVAL_BATCH):
            rows = min(EVAL_BATCH, n_test - start)
            e = napkin.estimate(held_out, task.model, (rows, *task.x_test.shape[1:]),
                                Tensor(np.asarray(task.y_test[start:start + rows])), backend=name, device=device)
            evals.append(e.total_seconds)
            eval_kernels |= e.compiled
        # kernels compiled at their first launch: the step's in the first epoch's training pass, the
        # held-out pass's own (those the step did not launch) in its first evaluation
        kernels = first.compiled | eval_kernels
        warmup = model.warmup_seconds(kernels, name, first.rates)  # the compiler loads once
        epoch_s = steps * step_s + sum(evals)
        out[label] = {"step": step_s, "train_epoch": steps * step_s, "epoch": epoch_s,
                      "train_warmup": first.warmup_seconds, "warmup": warmup, "compiled": len(kernels),
                      "run": epoch_s * config["epochs"] + warmup}
    return out, steps, batch


def describe(predictions, steps, batch, config, task):
    width = max([12, *(len(name) for name in predictions)])
    lines = [f"napkin estimate before training: {task.name}, {len(task.x_train)} examples, batch {batch}, "
             f"{steps} steps per epoch, {config['epochs']} epochs ({rates_mod.current().describe()})",
             f"  {'backend':<{width}} {'step':>10} {'epoch':>10} {'whole run':>10}"]
    for name, p in predictions.items():
        lines.append(f"  {name:<{width}} {fmt.seconds(p['step']):>10} {fmt.seconds(p['epoch']):>10} {fmt.seconds(p['run']):>10}")
    told = set()
    for name, p in predictions.items():
        backend = name.split()[0]  # the datasheet rows share their backend's compile, a host cost
        if p.get("warmup") and backend not in told:
            told.add(backend)
            lines.append(f"  {backend}: the whole run includes compiling {p['compiled']} kernels at their first launch, "
                         f"{fmt.seconds(p['warmup'])} (once per process: the host compiles, so every GPU row pays the same)")
    if any(name.endswith("(datasheet)") for name in predictions):
        lines.append("  (datasheet: the GPU's published rates, kernel launches and host-device copies priced; not measured here)")
    return "\n".join(lines)


def measured_beside(predictions, backend, history, epochs_run):
    """One line: the measured training passes beside their prediction, for the backend that ran; with
    more than one epoch, also the fastest epoch beside one epoch's prediction (a prediction is of
    undisturbed time: on a shared machine whole epochs run slower while another program competes for
    the caches and memory, and the fastest one says how far the model itself is off)."""
    if backend not in predictions or not epochs_run or len(history.get("seconds", ())) < epochs_run:
        return None
    seconds = history["seconds"][-epochs_run:]
    measured, per_epoch = sum(seconds), predictions[backend]["train_epoch"]
    predicted = per_epoch * epochs_run + predictions[backend].get("train_warmup", 0.0)  # this process compiles anew
    line = (f"measured {fmt.seconds(measured)} for the training passes of {epochs_run} epoch(s) on {backend} "
            f"(the whole loop: batches, steps, loss and accuracy), predicted {fmt.seconds(predicted)}: measured/predicted "
            f"{measured / predicted:.2f}")
    if epochs_run > 1:
        line += f"; fastest epoch {fmt.seconds(min(seconds))} against {fmt.seconds(per_epoch)}: {min(seconds) / per_epoch:.2f}"
    return line
