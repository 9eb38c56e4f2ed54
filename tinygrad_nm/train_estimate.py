"""`tinygrad-nm train --estimate`: how long a training run will take, on every backend here,
predicted before it starts (napkin math on a shape-only trace of one step), and afterwards the
measured time beside the prediction.

A step is priced by running the real code (forward, loss, backward, optimizer step, the loss read
back) on the shape-only backend and pricing every kernel it calls, plus tinygrad_nm's own
per-call overhead (napkin's "framework" rates, by who made the call); an epoch is that times the steps per epoch plus
the held-out evaluation. The data loader, the progress bar and the accuracy count run on the host
and are not priced: the measured epoch includes them.
"""
import math

import numpy as np

from tinygrad_nm import backends, napkin
from tinygrad_nm.autograd import no_grad
from tinygrad_nm.napkin import fmt, rates as rates_mod
from tinygrad_nm.tensor import Tensor

EVAL_BATCH = 1000  # train.evaluate's batch size


def predict(task, config, make_optimizer, names=None):
    """({backend: {"step", "train_epoch", "epoch", "run": seconds}}, steps per epoch, batch size)."""
    names = names or backends.available_backends()
    batch = min(config["batch_size"], len(task.x_train))
    steps = math.ceil(len(task.x_train) / batch)
    x = (batch, *task.x_train.shape[1:])
    y = Tensor(np.asarray(task.y_train[:batch]))
    n_test = len(task.x_test)

    def step(model, x, y):
        opt = make_optimizer(config, model.parameters())  # its state is made on the first step, as here
        opt.zero_grad()
        loss = task.loss(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    def held_out(model, x, y):
        model.eval()
        with no_grad():
            task.loss(model(x), y).item()

    out = {}
    for name in names:
        est = napkin.estimate(step, task.model, x, y, backend=name)
        step_s = est.total_seconds
        evals = []
        for start in range(0, n_test, EVAL_BATCH):
            rows = min(EVAL_BATCH, n_test - start)
            e = napkin.estimate(held_out, task.model, (rows, *task.x_test.shape[1:]),
                                Tensor(np.asarray(task.y_test[start:start + rows])), backend=name)
            evals.append(e.total_seconds)
        epoch_s = steps * step_s + sum(evals)
        out[name] = {"step": step_s, "train_epoch": steps * step_s, "epoch": epoch_s, "run": epoch_s * config["epochs"]}
    return out, steps, batch


def describe(predictions, steps, batch, config, task):
    lines = [f"napkin estimate before training: {task.name}, {len(task.x_train)} examples, batch {batch}, "
             f"{steps} steps per epoch, {config['epochs']} epochs ({rates_mod.current().describe()})",
             f"  {'backend':<12} {'step':>10} {'epoch':>10} {'whole run':>10}"]
    for name, p in predictions.items():
        lines.append(f"  {name:<12} {fmt.seconds(p['step']):>10} {fmt.seconds(p['epoch']):>10} {fmt.seconds(p['run']):>10}")
    return "\n".join(lines)


def measured_beside(predictions, backend, history, epochs_run):
    """One line: the measured training passes beside their prediction, for the backend that ran."""
    if backend not in predictions or not epochs_run or len(history.get("seconds", ())) < epochs_run:
        return None
    measured = sum(history["seconds"][-epochs_run:])
    predicted = predictions[backend]["train_epoch"] * epochs_run
    return (f"measured {fmt.seconds(measured)} for the training passes of {epochs_run} epoch(s) on {backend} "
            f"(data loading and progress bar included), predicted {fmt.seconds(predicted)}: measured/predicted "
            f"{measured / predicted:.2f}")
