"""`tinygrad-nm train`'s settings: the command line's flags, and the run's settings resolved from the
command line, a checkpoint and the defaults, with the checks a resume has to pass."""
import argparse

import tinygrad_nm as tnm
from tinygrad_nm import tasks, train_optim
from tinygrad_nm.checkpoint import CheckpointError
from tinygrad_nm.train_optim import OPTIMIZERS, SCHEDULERS, flag

# settings read from the command line, a checkpoint, or the defaults, in that order
SETTINGS = ("task", "model", "size", "samples", "hidden", "activation", "channels", "augment", "label_smoothing",
            "optimizer", "lr",
            "weight_decay", *train_optim.OPTIMIZER_SETTINGS, "scheduler", *train_optim.SCHEDULER_SETTINGS,
            "batch_size", "epochs", "seed", "data_dir", "dtype")
FALLBACK = dict(task="digits", model="mlp", augment="none", label_smoothing=0.0, weight_decay=0.0, seed=0,
                data_dir=None, optimizer="sgd", scheduler="none", dtype="float32")
# what a resume may not change: the run would match no uninterrupted one (see check_resume)
RUN_KEYS = ("optimizer", "weight_decay", *train_optim.OPTIMIZER_SETTINGS, "augment", "label_smoothing")
SCHEDULE_KEYS = ("scheduler", "lr", *train_optim.SCHEDULER_SETTINGS)


# --- argument types ----------------------------------------------------------------------------
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


def _number(low, high=None, low_inclusive=False, high_inclusive=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value < low if low_inclusive else value <= low
        too_high = high is not None and (value > high if high_inclusive else value >= high)
        if too_low or too_high or value != value:
            bounds = (f"{'[' if low_inclusive else '('}{low}, {high if high is not None else 'inf'}"
                      f"{']' if high_inclusive else ')'}")
            raise argparse.ArgumentTypeError(f"expected a number in {bounds}, got {text}")
        return value
    return parse


def _size(text):
    value = _positive_int(text)
    if not 2 <= value <= 100:
        raise argparse.ArgumentTypeError(f"rectangle size must be from 2 to 100, got {value}")
    return value


def _int_list(what, example, count=None, increasing=False):
    def parse(text):
        try:
            values = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            values = []
        bad = not values or any(v < 1 for v in values) or (count is not None and len(values) != count)
        if bad or (increasing and any(a >= b for a, b in zip(values, values[1:]))):
            raise argparse.ArgumentTypeError(f"expected {what} like {example}, got {text!r}")
        return values
    return parse


def _betas(text):
    try:
        values = [float(s) for s in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 2 or not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected two numbers in [0, 1) like 0.9,0.999, got {text!r}")
    return values


_hidden = _int_list("comma-separated positive layer sizes", "128,64")
_channels = _int_list("two comma-separated positive channel counts", "32,64", count=2)
_milestones = _int_list("increasing comma-separated epochs", "10,20", increasing=True)


def add_arguments(parser, doc):
    parser.description = doc.split("\n\n")[0]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n\n".join(doc.split("\n\n")[1:])
    task = parser.add_argument_group("task and model")
    task.add_argument("--task", choices=list(tasks.DEFAULTS), help="what to learn (default: digits)")
    task.add_argument("--model", choices=["mlp", "cnn"], help="digits/mnist: a multi-layer perceptron, or a "
                      "LeNet-shaped convolutional network (default: mlp)")
    task.add_argument("--size", type=_size, help="average: rectangle side in pixels, 2-100 (default: 100)")
    task.add_argument("--samples", type=_positive_int, help="average: number of rectangles (default: 1000)")
    task.add_argument("--hidden", type=_hidden, help="mlp: hidden layer sizes (default: 128,64)")
    task.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], help="mlp (default: tanh)")
    task.add_argument("--channels", type=_channels, help="cnn: the two convolutions' channels (default: 32,64)")
    task.add_argument("--augment", choices=["none", "shift"], help="cnn: move each training image by up to a "
                      "pixel, a new draw every epoch (default: shift for cnn, none otherwise)")
    task.add_argument("--label-smoothing", dest="label_smoothing", type=_number(0, 1, low_inclusive=True),
                      help="digits/mnist: cross-entropy against targets mixed with the uniform distribution, "
                      "as PyTorch's (default: 0; cnn 0.1)")
    task.add_argument("--data-dir", dest="data_dir", help="mnist: directory holding the four IDX files "
                      "(raw or .gz); nothing is downloaded")
    opt = parser.add_argument_group("optimisation", "each optimizer and scheduler takes only its own settings; "
                                    "the defaults are PyTorch's but for sgd's momentum and lr")
    opt.add_argument("--epochs", type=_positive_int, help="train until this many epochs in total "
                     "(default: 20 average, 30 digits, 10 mnist; cnn 30)")
    opt.add_argument("--stop-after", dest="stop_after", type=_positive_int, metavar="EPOCH",
                     help="stop after this epoch, leaving the rest of the --epochs schedule to --resume")
    opt.add_argument("--batch-size", dest="batch_size", type=_positive_int, help="(default: 32; mnist 64)")
    opt.add_argument("--optimizer", choices=list(OPTIMIZERS), help="(default: sgd)")
    opt.add_argument("--lr", type=_number(0), help="learning rate; onecycle's peak (default: sgd 0.1, cnn 0.05, "
                     "average 1/pixels; adam, adamw 1e-3; rmsprop, adagrad 1e-2; adadelta 1)")
    opt.add_argument("--weight-decay", dest="weight_decay", type=_number(0, low_inclusive=True),
                     help="L2 penalty; adamw: decoupled decay (default: 0; cnn 5e-4; adamw 1e-2)")
    opt.add_argument("--momentum", type=_number(0, 1, low_inclusive=True), help="sgd, rmsprop (default: sgd 0.9, "
                     "rmsprop 0)")
    opt.add_argument("--nesterov", action="store_true", default=None, help="sgd: Nesterov momentum")
    opt.add_argument("--betas", type=_betas, help="adam, adamw: B1,B2 (default: 0.9,0.999)")
    opt.add_argument("--eps", type=_number(0), help="adam, adamw, rmsprop, adagrad, adadelta: added to the "
                     "denominator (default: PyTorch's)")
    opt.add_argument("--amsgrad", action="store_true", default=None, help="adam, adamw: the AMSGrad variant")
    opt.add_argument("--alpha", type=_number(0, 1, low_inclusive=True, high_inclusive=True),
                     help="rmsprop: smoothing constant (default: 0.99)")
    opt.add_argument("--centered", action="store_true", default=None, help="rmsprop: centered variant")
    opt.add_argument("--lr-decay", dest="lr_decay", type=_number(0, low_inclusive=True),
                     help="adagrad (default: 0)")
    opt.add_argument("--rho", type=_number(0, 1, low_inclusive=True, high_inclusive=True),
                     help="adadelta: running-average coefficient (default: 0.9)")
    opt.add_argument("--scheduler", choices=list(SCHEDULERS), help="the learning rate over the run: cosine decays "
                     "it to --eta-min by the last epoch; step/multistep multiply it by --gamma every --step-size "
                     "epochs / at --milestones; exponential by --gamma every epoch; onecycle rises to --lr over "
                     "--pct-start of the batches then anneals; plateau multiplies it by --factor when the held-out "
                     "loss has not improved for --patience epochs (default: cosine)")
    opt.add_argument("--eta-min", dest="eta_min", type=_number(0, low_inclusive=True), help="cosine (default: 0)")
    opt.add_argument("--step-size", dest="step_size", type=_positive_int, help="step (default: 10)")
    opt.add_argument("--gamma", type=_number(0), help="step, multistep (default: 0.1), exponential (default: 0.9)")
    opt.add_argument("--milestones", type=_milestones, help="multistep: epochs, e.g. 10,20")
    opt.add_argument("--pct-start", dest="pct_start", type=_number(0, 1), help="onecycle (default: 0.3)")
    opt.add_argument("--factor", type=_number(0, 1), help="plateau (default: 0.1)")
    opt.add_argument("--patience", type=_nonnegative_int, help="plateau (default: 10)")
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


# --- which settings a run uses ------------------------------------------------------------------
def applies(key, config):
    """Whether setting `key` means something for the run `config` describes; the others are None."""
    task, model = config.get("task"), config.get("model") or "mlp"
    if key in ("size", "samples"):
        return task == "average"
    if key in ("model", "augment", "label_smoothing"):
        return task != "average"
    if key in ("hidden", "activation"):
        return task != "average" and model == "mlp"
    if key == "channels":
        return task != "average" and model == "cnn"
    if key == "data_dir":
        return task == "mnist"
    if config.get("optimizer") in OPTIMIZERS and config.get("scheduler") in SCHEDULERS:
        return train_optim.takes(key, config)
    return True


def resolve(args, saved=None):
    """The run's settings: the command line first, then the checkpoint's (`saved`), then the
    defaults (the optimizer's and scheduler's, the model's, the task's). Settings the run does
    not use are None; one given on the command line is refused, naming the flag."""
    given = {k: getattr(args, k) for k in SETTINGS if getattr(args, k, None) is not None}
    saved = {k: v for k, v in (saved or {}).items() if v is not None}
    if saved:
        if "task" in given and given["task"] != saved["task"]:
            raise ValueError(f"{args.resume}: the checkpoint is for task {saved['task']!r}, not {given['task']!r}")
        for key in tasks.MODEL_KEYS[saved["task"]]:
            if key in given and given[key] != saved.get(key, FALLBACK.get(key)):
                raise ValueError(f"{args.resume}: the checkpoint's model has {key} {saved.get(key)!r}; "
                                 f"{flag(key)} {given[key]!r} would need a new model")
    task = given.get("task") or saved.get("task") or FALLBACK["task"]
    if task not in tasks.DEFAULTS:
        raise ValueError(f"{args.resume}: the checkpoint names an unknown task {task!r}")
    choice = {**FALLBACK, **tasks.DEFAULTS[task], **saved, **given, "task": task}  # decides which defaults apply
    if choice["model"] == "cnn" and task == "average":
        raise ValueError("--model cnn: the average task's model is the walkthrough's neuron; cnn is for "
                         "--task digits and --task mnist")
    model_defaults = tasks.CNN_DEFAULTS if choice["model"] == "cnn" else {}
    config = {**FALLBACK, **tasks.DEFAULTS[task], **model_defaults, **train_optim.defaults(choice), **saved,
              **given, "task": task}
    if config["lr"] is None:
        config["lr"] = tasks.default_lr(config)
    for key in SETTINGS:
        if not applies(key, config):
            if key in given and key in ("size", "samples", "hidden", "activation", "channels", "augment", "model",
                                        "label_smoothing"):
                raise ValueError(f"{flag(key)} is not a setting of {_what(config)}")
            config[key] = None
    train_optim.check(config, given)
    if config.get("augment") == "shift" and config["model"] != "cnn":
        raise ValueError("--augment shift moves images: it needs --model cnn (the MLP sees rows of pixels)")
    return {k: config.get(k) for k in SETTINGS}


def _what(config):
    return "--task average" if config["task"] == "average" else f"--model {config['model']}"


def saved_config(ckpt, parser):
    """The settings a checkpoint recorded, after the same checks the command line's get: a damaged or
    hand-edited file fails here, naming the file and the setting, not as a traceback mid-run."""
    saved = ckpt.meta.get("config")
    if not isinstance(saved, dict) or saved.get("task") not in tasks.DEFAULTS:
        raise CheckpointError(f"{ckpt.path}: damaged checkpoint: its 'config' is not a dict naming a known task "
                              f"(got {saved!r:.80})")
    if "schedule" in saved and "scheduler" not in saved:
        raise CheckpointError(f"{ckpt.path}: written by an earlier tinygrad-nm train (its config has 'schedule', "
                              "not 'scheduler', and it holds no scheduler state), so it cannot be resumed exactly; "
                              "start a new run")
    actions = {action.dest: action for action in parser._actions}
    for key in SETTINGS:
        if key not in saved or (saved[key] is None and (FALLBACK.get(key, "") is None or not applies(key, saved))):
            continue  # missing: resolve() falls back to the default; None where the run does not use it
        value, action = saved[key], actions[key]
        if action.nargs == 0:  # a switch (--nesterov): True or False
            parsed, problem = value, "" if isinstance(value, bool) else "not true or false"
        else:
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


def check_resume(args, ckpt, config):
    """Refuse a resume that changes how the checkpoint's run trains: its optimizer or settings, or
    its learning-rate schedule (the scheduler, lr, the scheduler's settings, and --epochs where the
    schedule spans the run: cosine, onecycle; onecycle counts batches, so --batch-size too). The
    checkpoint's optimizer and scheduler state carry on from where they were, and the result
    would match no uninterrupted run. (--scheduler none, step, ... do not depend on --epochs: such a
    run may be extended freely.)"""
    saved = ckpt.meta["config"]
    recorded = {**config, **{k: saved.get(k) for k in (*RUN_KEYS, *SCHEDULE_KEYS, "epochs", "batch_size")}}
    given = {k for k in SETTINGS if getattr(args, k, None) is not None}  # only these can differ
    changed = [k for k in RUN_KEYS if k in given and config[k] != recorded[k]]
    if changed:
        flags = _flags(changed, config)
        raise ValueError(f"{args.resume}: the checkpoint's run trains with {train_optim.describe(recorded)}"
                         f"{'' if config['augment'] is None else ', augment ' + str(recorded['augment'])}; "
                         f"{flags} would change how it trains from here on, and the result would match no "
                         f"uninterrupted run. To continue this run, leave out {flags}; for another recipe, start "
                         "a new run")
    spans = recorded["scheduler"] in train_optim.SPANS_THE_RUN
    keys = [*SCHEDULE_KEYS, *(("epochs",) if spans else ()), *(("batch_size",) if recorded["scheduler"] ==
                                                                 "onecycle" else ())]
    changed = [k for k in keys if k in given and config[k] != recorded[k]]
    if changed:
        flags = _flags(changed, config)
        horizon = f" over {recorded['epochs']} epochs" if spans else ""
        raise ValueError(
            f"{args.resume}: the checkpoint's run follows a {recorded['scheduler']} schedule from lr "
            f"{recorded['lr']:g}{horizon}; {flags} would change its learning rates (the schedule the "
            f"{ckpt.epoch} epochs already trained followed), and the result would match no uninterrupted run. To "
            f"continue this run, leave out {flags}; to train a longer run in pieces, give its full length from the "
            f"start and stop early: --epochs N --stop-after M --save PATH, then --resume PATH")


def _flags(keys, config):
    def text(value):
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return " ".join(flag(k) if isinstance(config[k], bool) else f"{flag(k)} {text(config[k])}" for k in keys)
