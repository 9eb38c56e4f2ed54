"""`tinygrad-nm train`: train one of the walkthrough's networks, with a progress bar, a loss curve and
checkpoints, then set napkin math's estimate of a training step beside the measured time.

    tinygrad-nm train --task digits                        # MLP on 8x8 digits, 30 epochs
    tinygrad-nm train --task digits --model cnn            # a LeNet-shaped CNN, 20 epochs
    tinygrad-nm train --task average --size 100            # the neuron on 100x100 rectangles
    tinygrad-nm train --task digits --optimizer adamw --scheduler onecycle --lr 0.01
    tinygrad-nm train --task digits --epochs 30 --stop-after 10 --save run.npz
    tinygrad-nm train --resume run.npz --epochs 30         # continue to epoch 30

With --resume, every setting not given on the command line comes from the checkpoint, and the
run reaches, bit for bit, the weights an uninterrupted run would: each epoch's shuffle (and
image shifts) depend only on the seed and the epoch number, and the checkpoint carries the
optimizer's and the learning-rate scheduler's state. A resume that would change how the run
trains (the optimizer or its settings, the schedule, or --epochs where the schedule spans the
run: cosine, onecycle) is refused: a longer cosine run is started with its full --epochs and
--stop-after. (The python backend computes float32 tensors in double precision while a
checkpoint stores float32: resumed there, a run agrees to float32 rounding, and bit for bit with
--dtype float64.)
"""
import argparse
import copy
import os
import sys
import time

import tinygrad_nm as tnm
from tinygrad_nm import checkpoint, tasks, train_config, train_estimate, train_optim
from tinygrad_nm import train_report as report
from tinygrad_nm.data import DataLoader
from tinygrad_nm.train_config import resolve  # noqa: F401  (the settings, for tests and tools)
from tinygrad_nm.train_optim import make_optimizer


def add_arguments(parser):
    train_config.add_arguments(parser, __doc__)


def run(args):
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, ImportError, tnm.BackendUnavailableError) as e:
        # expected failures (bad checkpoint, missing data, unavailable backend): one clear line
        print(f"tinygrad-nm train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = f"; continue with --resume {args.save}" if args.save and os.path.exists(args.save) else ""
        print(f"\ntinygrad-nm train: interrupted{hint}", file=sys.stderr)
        return 130


def saved_history(ckpt, empty):
    """The per-epoch records a checkpoint carries (train_loss, ...), each a list of numbers."""
    history = ckpt.meta.get("history", {})
    if not isinstance(history, dict) or not all(isinstance(history.get(k, []), list) for k in empty):
        raise checkpoint.CheckpointError(f"{ckpt.path}: damaged checkpoint: its 'history' is not a dict of lists")
    return {k: v for k, v in history.items() if k in empty}


# --- the run ---------------------------------------------------------------------------------
def _check_directory(path, option):
    """Fail before training, not after the first epoch, if a file could not be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{option} {path}: the directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"{option} {path}: the directory {directory!r} is not writable")
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: a directory, not a file name")


def _run(args):
    if args.save:
        _check_directory(args.save, "--save")
    if args.plot and not args.no_plot:
        _check_directory(args.plot, "--plot")
    ckpt = checkpoint.load(args.resume) if args.resume else None
    config = resolve(args, train_config.saved_config(ckpt, _parser()) if ckpt else None)
    if ckpt is not None:
        train_config.check_resume(args, ckpt, config)
    stop = args.stop_after or config["epochs"]
    if stop > config["epochs"]:
        raise ValueError(f"--stop-after {stop} is past the run's last epoch (--epochs {config['epochs']})")
    backend = args.backend or tnm.get_backend()
    say = (lambda *a, **k: None) if args.quiet else print  # the lines --quiet leaves out
    progress = False if args.quiet else args.progress      # None: bars only on a terminal
    with tnm.use_backend(backend):
        task = tasks.build(config)
        model = task.model
        opt = make_optimizer(config, model.parameters())
        loader = tasks.loader(task, config)
        scheduler = train_optim.make_scheduler(config, opt, len(loader))
        history = {"train_loss": [], "test_loss": [], "train_acc": [], "test_acc": [], "seconds": []}
        start_epoch = 0
        if ckpt is not None:
            ckpt.restore(model, opt, scheduler)  # the optimizer's and scheduler's state go on from there
            start_epoch, history = ckpt.epoch, {**history, **saved_history(ckpt, history)}
            say(f"resumed from {args.resume} at epoch {start_epoch}")
        say(report.describe(config, task, backend))
        predicted = None
        if args.estimate or args.estimate_only:
            predicted, steps, batch = train_estimate.predict(task, config, make_optimizer)
            print(train_estimate.describe(predicted, steps, batch, config, task), flush=True)
            if args.estimate_only:
                return 0
        if start_epoch >= stop:
            print(f"the checkpoint has already trained {start_epoch} epochs "
                  f"({'--stop-after' if args.stop_after else '--epochs'} {stop}): nothing to do")
        for epoch in range(start_epoch, stop):
            loader.epoch = epoch  # the shuffle of epoch e depends on e alone: resuming replays it
            record = train_epoch(task, opt, loader, epoch, config["epochs"], progress=progress,
                                 scheduler=scheduler if train_optim.per_batch(scheduler) else None)
            record.update(evaluate(task))
            train_optim.end_of_epoch(scheduler, record["test_loss"])
            for key, value in record.items():
                history[key].append(value)
            say(report.epoch_line(task, epoch, config["epochs"], record), flush=True)
            if args.save:
                checkpoint.save(args.save, model, opt, epoch + 1, {"config": config, "history": history}, scheduler)
        if history["train_loss"]:
            report.final_report(task, history)
        if predicted is not None:
            print(train_estimate.measured_beside(predicted, backend, history, max(stop - start_epoch, 0)) or "")
        if not args.no_plot and history["train_loss"]:
            path = args.plot or f"{task.name}-loss.png"
            report.plot_history(history, path, f"{task.name} on {backend}")
            print(f"loss curve: {path}")
        if args.save and start_epoch < stop:
            print(f"checkpoint: {args.save} (epoch {stop})")
        if stop < config["epochs"] and start_epoch < stop:
            hint = f"; continue with --resume {args.save}" if args.save else " (no --save: nothing to resume)"
            print(f"stopped after epoch {stop} of {config['epochs']}{hint}")
        if not (args.quiet or args.no_profile):
            print(napkin_report(task, model, opt, loader, history))
    return 0


def _parser():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


def train_step(task, opt, x, y):
    """One optimisation step; returns the loss tensor and the model's output."""
    opt.zero_grad()
    out = task.model(x)
    loss = task.loss(out, y)
    loss.backward()
    opt.step()
    return loss, out


def train_epoch(task, opt, loader, epoch, epochs, progress=None, scheduler=None):
    """One pass over the training data; the mean loss (and accuracy) over its batches. A progress
    bar when `progress` is True, none when False; None: only when stderr is a terminal (so that
    logs and pipes get no carriage-return frames). `scheduler`: one stepped after every batch."""
    from tqdm import tqdm
    task.model.train()
    total_loss = correct = seen = 0
    bar = tqdm(loader, total=len(loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
               leave=False, disable=None if progress is None else not progress, file=sys.stderr)
    start = time.perf_counter()
    for i, (x, y) in enumerate(bar):
        loss, out = train_step(task, opt, x, y)
        if scheduler is not None:
            scheduler.step()
        n = len(x)
        total_loss += loss.item() * n
        seen += n
        if task.classify:
            correct += int((out.detach().numpy().argmax(axis=1) == y.numpy()).sum())
        if i % 10 == 0:
            bar.set_postfix(loss=f"{total_loss / seen:.4g}", refresh=False)
    seconds = time.perf_counter() - start
    bar.close()
    record = {"train_loss": total_loss / seen, "seconds": seconds}
    record["train_acc"] = correct / seen if task.classify else None
    return record


def evaluate(task, batch_size=1000):
    """Loss (and accuracy) on the held-out data, without recording a graph."""
    task.model.eval()
    total_loss = correct = 0
    with tnm.no_grad():
        for x, y in DataLoader(task.x_test, task.y_test, batch_size, shuffle=False):
            out = task.model(x)
            total_loss += task.loss(out, y).item() * len(x)
            if task.classify:
                correct += int((out.numpy().argmax(axis=1) == y.numpy()).sum())
    n = len(task.x_test)
    return {"test_loss": total_loss / n, "test_acc": correct / n if task.classify else None}


# --- napkin math's view of a step -------------------------------------------------------------
PROFILED_STEPS = 5


def napkin_report(task, model, opt, loader, history):
    """Napkin math's prediction for one training step beside the measured time. The profiled step
    really updates the weights, so they (and the optimizer's state) are put back afterwards."""
    from tinygrad_nm import napkin
    x, y = next(iter(DataLoader(task.x_train, task.y_train, loader.batch_size, shuffle=False)))
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())  # not views
    model.train()
    # the fastest of a few profiled steps, each right after an untraced one: the first one also pays
    # for cold caches and allocations, and each profile's bookkeeping leaves the caches cold
    table = min((napkin.profile(train_step, task, opt, x, y, warmup=1) for _ in range(PROFILED_STEPS)),
                key=lambda t: t.measured_seconds)
    model.load_state_dict(saved_model)
    opt.load_state_dict(saved_opt)
    lines = [str(table), f"one training step (batch {len(x)}): napkin estimate {1e3 * table.predicted_seconds:.3f} ms, "
             f"measured {1e3 * table.measured_seconds:.3f} ms (fastest of {PROFILED_STEPS} profiled steps)"]
    if history["seconds"]:
        per_step = history["seconds"][-1] / len(loader)
        lines[-1] += f", {1e3 * per_step:.3f} ms (mean step of the last epoch, incl. data and progress bar)"
    return "\n".join(lines)
