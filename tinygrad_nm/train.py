"""`tinygrad-nm train`: train one of the walkthrough's networks, with a progress bar, a loss curve and
checkpoints, then set napkin math's estimate of a training step beside the measured time.

    tinygrad-nm train --task digits                        # MLP on 8x8 digits, 30 epochs
    tinygrad-nm train --task average --size 100            # the neuron on 100x100 rectangles
    tinygrad-nm train --task digits --epochs 30 --stop-after 10 --save run.npz
    tinygrad-nm train --resume run.npz --epochs 30         # continue to epoch 30

With --resume, every setting not given on the command line comes from the checkpoint, and the
run reaches, bit for bit, the weights an uninterrupted run would: each epoch's shuffle and
learning rate depend only on the seed and the epoch number. The checkpoint records the run's
schedule (--schedule, --lr, and --epochs, the length a cosine decay spans), so a resume that would
change the learning rate of epochs already trained is refused: a longer cosine run is started with
its full --epochs and --stop-after. (The python backend computes float32 tensors in double
precision while a checkpoint stores float32: resumed there, a run agrees to float32 rounding, and
bit for bit with --dtype float64.)
"""
import argparse
import copy
import math
import os
import sys
import time

import tinygrad_nm as tnm
from tinygrad_nm import checkpoint, optim, tasks, train_estimate
from tinygrad_nm import train_report as report
from tinygrad_nm.checkpoint import CheckpointError
from tinygrad_nm.data import DataLoader

# settings read from the command line, a checkpoint, or the task's defaults, in that order
SETTINGS = ("task", "size", "samples", "hidden", "activation", "optimizer", "lr", "schedule", "momentum",
            "weight_decay", "batch_size", "epochs", "seed", "data_dir", "dtype")
FALLBACK = dict(task="digits", activation="relu", weight_decay=0.0, seed=0, momentum=0.0, data_dir=None,
                schedule="constant", dtype="float32")


# --- the command line ------------------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _number(low, high=None, low_inclusive=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value < low if low_inclusive else value <= low
        if too_low or (high is not None and value >= high) or value != value:
            bounds = f"{'[' if low_inclusive else '('}{low}, {high if high is not None else 'inf'})"
            raise argparse.ArgumentTypeError(f"expected a number in {bounds}, got {text}")
        return value
    return parse


def _size(text):
    value = _positive_int(text)
    if not 2 <= value <= 100:
        raise argparse.ArgumentTypeError(f"rectangle size must be from 2 to 100, got {value}")
    return value


def _hidden(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive layer sizes like 128,64, got {text!r}")
    return sizes


def add_arguments(parser):
    parser.description = __doc__.split("\n\n")[0]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    task = parser.add_argument_group("task and model")
    task.add_argument("--task", choices=list(tasks.DEFAULTS), help="what to learn (default: digits)")
    task.add_argument("--size", type=_size, help="average: rectangle side in pixels, 2-100 (default: 100)")
    task.add_argument("--samples", type=_positive_int, help="average: number of rectangles (default: 1000)")
    task.add_argument("--hidden", type=_hidden, help="digits/mnist: hidden layer sizes (default: 128,64)")
    task.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], help="digits/mnist (default: tanh)")
    task.add_argument("--data-dir", dest="data_dir", help="mnist: directory holding the four IDX files "
                      "(raw or .gz); nothing is downloaded")
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=_positive_int, help="train until this many epochs in total "
                     "(default: 20 average, 30 digits, 10 mnist)")
    opt.add_argument("--stop-after", dest="stop_after", type=_positive_int, metavar="EPOCH",
                     help="stop after this epoch, leaving the rest of the --epochs schedule to --resume")
    opt.add_argument("--batch-size", dest="batch_size", type=_positive_int, help="(default: 32; mnist 64)")
    opt.add_argument("--lr", type=_number(0), help="learning rate (default: 0.1; average 1/pixels)")
    opt.add_argument("--schedule", choices=["cosine", "constant"], help="learning rate over the epochs: "
                     "cosine decays it from --lr towards 0 by the last epoch (default: cosine)")
    opt.add_argument("--optimizer", choices=["sgd", "adam"], help="(default: sgd)")
    opt.add_argument("--momentum", type=_number(0, 1, low_inclusive=True), help="SGD momentum (default: 0.9)")
    opt.add_argument("--weight-decay", dest="weight_decay", type=_number(0, low_inclusive=True),
                     help="L2 penalty (default: 0)")
    opt.add_argument("--seed", type=_nonnegative_int, help="seeds initialisation, data and shuffling (default: 0)")
    run_ = parser.add_argument_group("running")
    run_.add_argument("--dtype", choices=["float32", "float64"], help="parameters and data (default: float32)")
    run_.add_argument("--backend", help=f"where the kernels run: one of {', '.join(tnm.backends._MODULES)} "
                      "(default: $TINYGRAD_NM_BACKEND or numpy)")
    run_.add_argument("--save", metavar="PATH", help="write a checkpoint (.npz) here after every epoch")
    run_.add_argument("--resume", metavar="PATH", help="continue from this checkpoint")
    run_.add_argument("--plot", metavar="PATH", help="loss-curve PNG (default: <task>-loss.png)")
    run_.add_argument("--no-plot", dest="no_plot", action="store_true", help="write no loss-curve PNG")
    out = parser.add_argument_group("output")
    bars = out.add_mutually_exclusive_group()
    bars.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="progress bars even when stderr is not a terminal (default: only on a terminal)")
    bars.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    out.add_argument("--no-profile", dest="no_profile", action="store_true",
                     help="skip the closing table of napkin estimates against a profiled training step")
    out.add_argument("--estimate", action="store_true", help="before training, napkin's prediction of the step, "
                     "epoch and run on every backend here; after it, the measured time beside it")
    out.add_argument("--estimate-only", dest="estimate_only", action="store_true",
                     help="print that prediction and stop, training nothing")
    out.add_argument("-q", "--quiet", action="store_true", help="print only the result and the files written: "
                     "no progress bars, no line per epoch, no profile")


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


def resolve(args, saved=None):
    """The run's settings: the command line first, then the checkpoint's (`saved`), then the task's
    defaults. Refuses a command line that would change the model a checkpoint holds."""
    given = {k: getattr(args, k) for k in SETTINGS if getattr(args, k, None) is not None}
    saved = saved or {}
    if saved:
        if "task" in given and given["task"] != saved["task"]:
            raise ValueError(f"{args.resume}: the checkpoint is for task {saved['task']!r}, not {given['task']!r}")
        task = saved["task"]
        for key in tasks.MODEL_KEYS[task]:
            if key in given and given[key] != saved.get(key):
                raise ValueError(f"{args.resume}: the checkpoint's model has {key} {saved.get(key)!r}; "
                                 f"--{key.replace('_', '-')} {given[key]!r} would need a new model")
    task = given.get("task") or saved.get("task") or FALLBACK["task"]
    if task not in tasks.DEFAULTS:
        raise ValueError(f"{args.resume}: the checkpoint names an unknown task {task!r}")
    config = {**FALLBACK, **tasks.DEFAULTS[task], **saved, **given, "task": task}
    if config["lr"] is None:
        config["lr"] = tasks.default_lr(config)
    return {k: config.get(k) for k in SETTINGS if k in config}


def saved_config(ckpt):
    """The settings a checkpoint recorded, after the same checks the command line's get: a damaged or
    hand-edited file fails here, naming the file and the setting, not as a traceback mid-run."""
    saved = ckpt.meta.get("config")
    if not isinstance(saved, dict) or saved.get("task") not in tasks.DEFAULTS:
        raise CheckpointError(f"{ckpt.path}: damaged checkpoint: its 'config' is not a dict naming a known task "
                              f"(got {saved!r:.80})")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    actions = {action.dest: action for action in parser._actions}
    for key in SETTINGS:
        if key not in saved or (saved[key] is None and FALLBACK.get(key, "") is None):
            continue  # missing: resolve() falls back to the default; None where None is the default
        value, action = saved[key], actions[key]
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            parsed = action.type(text) if action.type else text
        except argparse.ArgumentTypeError as e:
            parsed, problem = None, str(e)
        else:
            problem = "" if action.choices is None or parsed in action.choices else \
                f"not one of {', '.join(action.choices)}"
        if problem or parsed != value or type(parsed) is not type(value):
            raise CheckpointError(f"{ckpt.path}: damaged checkpoint: setting {key!r} is {value!r}"
                                  + (f": {problem}" if problem else ""))
    return saved


def saved_history(ckpt, empty):
    """The per-epoch records a checkpoint carries (train_loss, ...), each a list of numbers."""
    history = ckpt.meta.get("history", {})
    if not isinstance(history, dict) or not all(isinstance(history.get(k, []), list) for k in empty):
        raise CheckpointError(f"{ckpt.path}: damaged checkpoint: its 'history' is not a dict of lists")
    return {k: v for k, v in history.items() if k in empty}


def check_schedule(args, ckpt, config):
    """Refuse a resume whose --epochs/--lr/--schedule would change the learning rate of the epochs
    the checkpoint already trained: the result would match no uninterrupted run. (A constant
    schedule does not depend on --epochs, so a constant-lr run may be extended freely.)"""
    saved = ckpt.meta["config"]
    recorded = {**config, **{k: saved[k] for k in ("schedule", "lr", "epochs") if k in saved}}
    if all(learning_rate(recorded, e) == learning_rate(config, e) for e in range(ckpt.epoch)):
        return
    flags = " ".join(f"--{k} {config[k]}" for k in ("schedule", "lr", "epochs") if config[k] != recorded[k])
    raise ValueError(
        f"{args.resume}: the checkpoint's run follows a {recorded['schedule']} schedule from lr "
        f"{recorded['lr']:g} over {recorded['epochs']} epochs; {flags} would change the learning rate of the "
        f"{ckpt.epoch} epochs already trained, and the result would match no uninterrupted run. To continue "
        f"this run, leave out {flags}; to train a longer run in pieces, give its full length from the start "
        f"and stop early: --epochs N --stop-after M --save PATH, then --resume PATH")


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
    config = resolve(args, saved_config(ckpt) if ckpt else None)
    if ckpt is not None:
        check_schedule(args, ckpt, config)
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
        history = {"train_loss": [], "test_loss": [], "train_acc": [], "test_acc": [], "seconds": []}
        start_epoch = 0
        if ckpt is not None:
            ckpt.restore(model, opt)
            start_epoch, history = ckpt.epoch, {**history, **saved_history(ckpt, history)}
            say(f"resumed from {args.resume} at epoch {start_epoch}")
        loader = DataLoader(task.x_train, task.y_train, config["batch_size"], shuffle=True,
                            seed=tasks.seed_for(config["seed"], 4))
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
            opt.lr = learning_rate(config, epoch)  # likewise the learning rate
            record = train_epoch(task, opt, loader, epoch, config["epochs"], progress=progress)
            record.update(evaluate(task))
            for key, value in record.items():
                history[key].append(value)
            say(report.epoch_line(task, epoch, config["epochs"], record), flush=True)
            if args.save:
                checkpoint.save(args.save, model, opt, epoch + 1, {"config": config, "history": history})
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


def learning_rate(config, epoch):
    """The lr of `epoch` (0-based). cosine: lr * (1 + cos(pi * epoch / epochs)) / 2, PyTorch's
    CosineAnnealingLR stepped once per epoch: big steps early, small ones to settle at the end."""
    if config["schedule"] == "cosine":
        return config["lr"] * 0.5 * (1 + math.cos(math.pi * epoch / config["epochs"]))
    return config["lr"]


def make_optimizer(config, params):
    if config["optimizer"] == "adam":
        return optim.Adam(params, lr=config["lr"], weight_decay=config["weight_decay"])
    return optim.SGD(params, lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"])


def train_step(task, opt, x, y):
    """One optimisation step; returns the loss tensor and the model's output."""
    opt.zero_grad()
    out = task.model(x)
    loss = task.loss(out, y)
    loss.backward()
    opt.step()
    return loss, out


def train_epoch(task, opt, loader, epoch, epochs, progress=None):
    """One pass over the training data; the mean loss (and accuracy) over its batches. A progress
    bar when `progress` is True, none when False; None: only when stderr is a terminal (so that
    logs and pipes get no carriage-return frames)."""
    from tqdm import tqdm
    task.model.train()
    total_loss = correct = seen = 0
    bar = tqdm(loader, total=len(loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
               leave=False, disable=None if progress is None else not progress, file=sys.stderr)
    start = time.perf_counter()
    for i, (x, y) in enumerate(bar):
        loss, out = train_step(task, opt, x, y)
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
    # the fastest of a few profiled steps: the first one also pays for cold caches and allocations
    table = min((napkin.profile(train_step, task, opt, x, y) for _ in range(PROFILED_STEPS)),
                key=lambda t: t.measured_seconds)
    model.load_state_dict(saved_model)
    opt.load_state_dict(saved_opt)
    lines = [str(table), f"one training step (batch {len(x)}): napkin estimate {1e3 * table.predicted_seconds:.3f} ms, "
             f"measured {1e3 * table.measured_seconds:.3f} ms (fastest of {PROFILED_STEPS} profiled steps)"]
    if history["seconds"]:
        per_step = history["seconds"][-1] / len(loader)
        lines[-1] += f", {1e3 * per_step:.3f} ms (mean step of the last epoch, incl. data and progress bar)"
    return "\n".join(lines)
