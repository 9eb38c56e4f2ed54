"""`tinygrad-nm train`'s optimizers and learning-rate schedules: the --optimizer and --scheduler
choices, the settings each one takes with their defaults, and the objects they build from
tinygrad_nm.optim and optim.lr_scheduler.

An epoch-stepped scheduler steps once after each epoch (plateau: on the held-out loss); onecycle
steps after every batch, as PyTorch's OneCycleLR is meant to be used.
"""
from tinygrad_nm import optim
from tinygrad_nm.optim import lr_scheduler

# per optimizer: its class and the settings it takes, with their defaults (PyTorch's; SGD's
# momentum and lr are this command's: 0.9 and the task's lr). Every optimizer takes --lr and
# --weight-decay (the task's default, or AdamW's 1e-2).
OPTIMIZERS = {
    "sgd": (optim.SGD, dict(momentum=0.9, nesterov=False)),
    "adam": (optim.Adam, dict(lr=1e-3, betas=[0.9, 0.999], eps=1e-8, amsgrad=False)),
    "adamw": (optim.AdamW, dict(lr=1e-3, betas=[0.9, 0.999], eps=1e-8, amsgrad=False, weight_decay=1e-2)),
    "rmsprop": (optim.RMSprop, dict(lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, centered=False)),
    "adagrad": (optim.Adagrad, dict(lr=1e-2, eps=1e-10, lr_decay=0.0)),
    "adadelta": (optim.Adadelta, dict(lr=1.0, rho=0.9, eps=1e-6)),
}
# per scheduler: the settings it takes, with their defaults (None: must be given)
SCHEDULERS = {
    "none": {},                                  # --lr throughout
    "cosine": dict(eta_min=0.0),                 # CosineAnnealingLR over --epochs: lr -> eta_min
    "step": dict(step_size=10, gamma=0.1),       # StepLR: lr *= gamma every step_size epochs
    "multistep": dict(milestones=None, gamma=0.1),  # MultiStepLR: lr *= gamma at each milestone epoch
    "exponential": dict(gamma=0.9),              # ExponentialLR: lr *= gamma every epoch
    "onecycle": dict(pct_start=0.3),             # OneCycleLR per batch: up to --lr, then down
    "plateau": dict(factor=0.1, patience=10),    # ReduceLROnPlateau on the held-out loss
}
OPTIMIZER_SETTINGS = ("momentum", "nesterov", "betas", "eps", "amsgrad", "alpha", "centered", "lr_decay", "rho")
SCHEDULER_SETTINGS = ("eta_min", "step_size", "gamma", "milestones", "pct_start", "factor", "patience")
# schedules whose learning rates depend on the run's length (and onecycle's on the batches per epoch)
SPANS_THE_RUN = ("cosine", "onecycle")


def flag(key):
    return "--" + key.replace("_", "-")


def takes(key, config):
    """Whether the run's optimizer or scheduler uses setting `key` (lr and weight_decay: always)."""
    if key in OPTIMIZER_SETTINGS:
        return key in OPTIMIZERS[config["optimizer"]][1]
    if key in SCHEDULER_SETTINGS:
        return key in SCHEDULERS[config["scheduler"]]
    return True


def defaults(config):
    """The chosen optimizer's and scheduler's defaults, for resolve() to layer under the command line."""
    return {**OPTIMIZERS[config["optimizer"]][1], **SCHEDULERS[config["scheduler"]]}


def check(config, given):
    """Refuse settings the chosen optimizer or scheduler does not take, and missing or inconsistent
    ones, naming the flag and the choices that do take it."""
    for key in (*OPTIMIZER_SETTINGS, *SCHEDULER_SETTINGS):
        if key in given and not takes(key, config):
            table, kind = (OPTIMIZERS, "optimizer") if key in OPTIMIZER_SETTINGS else (SCHEDULERS, "scheduler")
            users = [name for name, entry in table.items() if key in (entry[1] if kind == "optimizer" else entry)]
            raise ValueError(f"{flag(key)} is not a setting of --{kind} {config[kind]}; it is one of "
                             f"--{kind} {', '.join(users)}")
    if config["scheduler"] == "multistep" and not config.get("milestones"):
        raise ValueError("--scheduler multistep needs --milestones, the epochs at which lr is multiplied by --gamma "
                         "(e.g. --milestones 10,20)")
    if config.get("nesterov") and not config.get("momentum"):
        raise ValueError("--nesterov needs a --momentum above 0")


def make_optimizer(config, params):
    """The optimizer `config` names, over `params`."""
    cls, own = OPTIMIZERS[config["optimizer"]]
    kwargs = {key: config[key] for key in own if key not in ("lr", "weight_decay")}
    return cls(params, lr=config["lr"], weight_decay=config["weight_decay"], **kwargs)


def make_scheduler(config, opt, steps_per_epoch):
    """The scheduler `config` names, driving `opt` (None for --scheduler none)."""
    name = config["scheduler"]
    if name == "cosine":  # epoch e: eta_min + (lr - eta_min) (1 + cos(pi e / epochs)) / 2
        return lr_scheduler.CosineAnnealingLR(opt, T_max=config["epochs"], eta_min=config["eta_min"])
    if name == "step":
        return lr_scheduler.StepLR(opt, step_size=config["step_size"], gamma=config["gamma"])
    if name == "multistep":
        return lr_scheduler.MultiStepLR(opt, milestones=config["milestones"], gamma=config["gamma"])
    if name == "exponential":
        return lr_scheduler.ExponentialLR(opt, gamma=config["gamma"])
    if name == "onecycle":
        # momentum (Adam's beta1) cycles too, as in PyTorch, where the optimizer has one in use
        cycle = "betas" in opt.defaults or config.get("momentum", 0) > 0
        return lr_scheduler.OneCycleLR(opt, max_lr=config["lr"], epochs=config["epochs"],
                                       steps_per_epoch=steps_per_epoch, pct_start=config["pct_start"],
                                       cycle_momentum=cycle)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(opt, factor=config["factor"], patience=config["patience"])
    return None


def per_batch(scheduler):
    return isinstance(scheduler, lr_scheduler.OneCycleLR)


def end_of_epoch(scheduler, held_out_loss):
    """Step an epoch-stepped scheduler once the epoch is trained and evaluated."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(held_out_loss)
    elif scheduler is not None and not per_batch(scheduler):
        scheduler.step()


def describe(config):
    """'sgd momentum 0.9, lr 0.1 cosine': the optimizer, the settings that make it this one, the schedule."""
    name = config["optimizer"]
    text = name
    if name == "sgd":
        text += f" momentum {config['momentum']:g}" + (" nesterov" if config["nesterov"] else "")
    elif name in ("adam", "adamw"):
        text += f" betas {config['betas'][0]:g},{config['betas'][1]:g}" + (" amsgrad" if config["amsgrad"] else "")
    elif name == "rmsprop" and config["momentum"]:
        text += f" momentum {config['momentum']:g}"
    if config["weight_decay"]:
        text += f" weight decay {config['weight_decay']:g}"
    text += f", lr {config['lr']:.3g}"
    if config["scheduler"] != "none":
        text += f" {config['scheduler']}"
    return text
