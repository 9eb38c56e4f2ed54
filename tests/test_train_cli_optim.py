"""`tinygrad-nm train` on the library's optimizers and schedulers (--optimizer, --scheduler and their
settings), their state in checkpoints (a resumed run equals an uninterrupted one), and the CNN
model (--model cnn) with its shifted-image augmentation."""
import json
import math

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import checkpoint, data, optim, tasks, train_optim
from tinygrad_nm import functional as F
from tinygrad_nm.cli import main

from test_checkpoint import rewrite
from test_data import write_mnist
from test_train import SMALL, arrays, assert_same_weights, train

QUIET = ["--no-plot", "--no-progress", "--no-profile"]

# every optimizer, each with a scheduler (all of them appear) and a setting of its own
RECIPES = [
    ("sgd", ["--nesterov", "--scheduler", "step", "--step-size", "2", "--gamma", "0.5"]),
    ("adam", ["--amsgrad", "--lr", "0.01", "--scheduler", "onecycle", "--pct-start", "0.4"]),
    ("adamw", ["--betas", "0.8,0.99", "--lr", "0.01", "--scheduler", "cosine", "--eta-min", "0.001"]),
    ("rmsprop", ["--momentum", "0.5", "--centered", "--lr", "0.001", "--scheduler", "exponential", "--gamma", "0.8"]),
    ("adagrad", ["--lr-decay", "0.01", "--lr", "0.05", "--scheduler", "multistep", "--milestones", "1,3"]),
    ("adadelta", ["--rho", "0.8", "--scheduler", "plateau", "--patience", "0", "--factor", "0.5"]),
    ("sgd", ["--momentum", "0", "--scheduler", "none"]),
]


# --- resume: train N epochs == train k, resume, train N - k ---------------------------------------
@pytest.mark.parametrize("optimizer,extra", RECIPES, ids=[f"{o}-{e[e.index('--scheduler') + 1]}" for o, e in RECIPES])
def test_resume_equals_an_uninterrupted_run_for_every_optimizer_and_scheduler(tmp_path, capsys, optimizer, extra):
    args = [*SMALL, *QUIET, "--epochs", "4", "--seed", "2", "--optimizer", optimizer, *extra]
    straight, pieces = str(tmp_path / "straight.npz"), str(tmp_path / "pieces.npz")
    code, out, err = train(capsys, *args, "--save", straight)
    assert code == 0, err
    assert train(capsys, *args, "--stop-after", "1", "--save", pieces)[0] == 0
    code, out, err = train(capsys, "--resume", pieces, "--stop-after", "3", "--save", pieces, *QUIET)
    assert code == 0 and "at epoch 1" in out, err
    code, out, err = train(capsys, "--resume", pieces, "--save", pieces, *QUIET)
    assert code == 0 and [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["4/4"], err
    assert_same_weights(straight, pieces)  # parameters and the optimizer's state, bit for bit
    a, b = arrays(straight), arrays(pieces)
    assert sorted(k for k in a if k.startswith("scheduler/")) == sorted(k for k in b if k.startswith("scheduler/"))
    for key in (k for k in a if k.startswith("scheduler/")):
        assert str(a[key]) == str(b[key])  # the scheduler's state as well
    assert any(k.startswith("scheduler/") for k in a) == (extra[extra.index("--scheduler") + 1] != "none")
    a, b = checkpoint.load(straight).meta, checkpoint.load(pieces).meta
    assert a["config"] == b["config"] and a["config"]["optimizer"] == optimizer
    assert a["history"]["train_loss"] == b["history"]["train_loss"]


def test_resume_on_every_backend_with_adamw_and_onecycle(backend, tmp_path, capsys):
    dtype = "float64" if backend == "python" else "float32"  # see test_train's resume test
    args = [*SMALL, *QUIET, "--epochs", "3", "--backend", backend, "--dtype", dtype, "--optimizer", "adamw",
            "--lr", "0.02", "--scheduler", "onecycle"]
    straight, pieces = str(tmp_path / "straight.npz"), str(tmp_path / "pieces.npz")
    assert train(capsys, *args, "--save", straight)[0] == 0
    assert train(capsys, *args, "--stop-after", "2", "--save", pieces)[0] == 0
    code, out, err = train(capsys, "--resume", pieces, "--save", pieces, "--backend", backend, *QUIET)
    assert code == 0, err
    assert_same_weights(straight, pieces)


# --- the CLI runs the library's optimizer and scheduler, with the settings given ------------------
def _by_hand(optimizer, scheduler, epochs, seed=0, lr_from_step=False):
    """The SMALL average task trained with the library directly, as the CLI should: the weights."""
    config = dict(task="average", size=4, samples=200, seed=seed, dtype="float32")
    task = tasks.build(config)
    opt = optimizer(task.model.parameters())
    sched = scheduler(opt)
    loader = data.DataLoader(task.x_train, task.y_train, 20, shuffle=True, seed=tasks.seed_for(seed, 4))
    for epoch in range(epochs):
        loader.epoch = epoch
        for x, y in loader:
            opt.zero_grad()
            F.mse_loss(task.model(x), y).backward()
            opt.step()
        sched.step()
    return task.model.weight.detach().numpy()


@pytest.mark.parametrize("argv,optimizer,scheduler", [
    (["--optimizer", "adamw", "--lr", "0.01", "--weight-decay", "0.1", "--scheduler", "step", "--step-size", "1",
      "--gamma", "0.5"],
     lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1), lambda o: optim.lr_scheduler.StepLR(o, 1, gamma=0.5)),
    (["--optimizer", "sgd", "--nesterov", "--lr", "0.05", "--scheduler", "exponential", "--gamma", "0.7"],
     lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), lambda o: optim.lr_scheduler.ExponentialLR(o, 0.7)),
    ([],  # the defaults: SGD momentum 0.9, lr 1/pixels, cosine over --epochs
     lambda p: optim.SGD(p, lr=1 / 16, momentum=0.9), lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=3)),
])
def test_the_cli_trains_as_the_library_does(tmp_path, capsys, argv, optimizer, scheduler):
    path = str(tmp_path / "run.npz")
    code, out, err = train(capsys, *SMALL, *QUIET, "--epochs", "3", "--save", path, *argv)
    assert code == 0, err
    np.testing.assert_array_equal(checkpoint.load(path).model["weight"], _by_hand(optimizer, scheduler, 3))


def test_the_default_cosine_is_the_old_closed_form():
    """The CLI's schedule used to be lr (1 + cos(pi e / epochs)) / 2 per epoch; CosineAnnealingLR's
    recursive form gives the same rates to rounding (and the digits default the same 97.77%)."""
    opt = optim.SGD([tnm.Tensor([0.0], requires_grad=True)], lr=0.1, momentum=0.9)
    sched = train_optim.make_scheduler(dict(scheduler="cosine", epochs=30, eta_min=0.0), opt, 45)
    for epoch in range(30):
        assert math.isclose(opt.lr, 0.1 * 0.5 * (1 + math.cos(math.pi * epoch / 30)), rel_tol=1e-12, abs_tol=1e-16)
        sched.step()


def test_onecycle_steps_every_batch_and_plateau_follows_the_held_out_loss(tmp_path, capsys):
    from tinygrad_nm import statetree
    path = str(tmp_path / "run.npz")
    argv = [*SMALL, *QUIET, "--save", path]
    assert train(capsys, *argv, "--epochs", "2", "--scheduler", "onecycle", "--lr", "0.05")[0] == 0
    state = statetree.unflatten(checkpoint.load(path).scheduler)
    assert state["total_steps"] == 2 * 8 and state["last_epoch"] == 16  # 160 examples, batch 20: 8 an epoch
    # lr 0.2 overshoots: the held-out loss rises in epochs 3 and 4, and each rise halves the lr
    assert train(capsys, *argv, "--epochs", "4", "--scheduler", "plateau", "--patience", "0", "--factor", "0.5",
                 "--lr", "0.2")[0] == 0
    saved = checkpoint.load(path)
    losses = saved.meta["history"]["test_loss"]
    replay = optim.SGD([tnm.Tensor([0.0], requires_grad=True)], lr=0.2)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(replay, factor=0.5, patience=0)
    for loss in losses:
        plateau.step(loss)
    lrs = [g["lr"] for g in statetree.unflatten(saved.optimizer)["param_groups"]]
    assert lrs == [replay.lr] and replay.lr < 0.2


# --- bad choices: the flag and the choices named, nothing trained ---------------------------------
@pytest.mark.parametrize("argv,message", [
    (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs' (choose from 'sgd', 'adam', 'adamw', "
                               "'rmsprop', 'adagrad', 'adadelta')"),
    (["--scheduler", "warmup"], "argument --scheduler: invalid choice: 'warmup' (choose from 'none', 'cosine', "
                                "'step', 'multistep', 'exponential', 'onecycle', 'plateau')"),
    (["--milestones", "20,10"], "--milestones: expected increasing comma-separated epochs like 10,20, got '20,10'"),
    (["--betas", "0.9"], "--betas: expected two numbers in [0, 1) like 0.9,0.999, got '0.9'"),
    (["--channels", "32"], "--channels: expected two comma-separated positive channel counts like 32,64"),
    (["--pct-start", "1"], "--pct-start: expected a number in (0, 1), got 1"),
    (["--model", "rnn"], "argument --model: invalid choice: 'rnn' (choose from 'mlp', 'cnn')"),
])
def test_bad_choices_name_the_flag_and_the_choices(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["train", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--optimizer", "adam", "--nesterov"], "--nesterov is not a setting of --optimizer adam; it is one of "
                                            "--optimizer sgd"),
    (["--optimizer", "sgd", "--betas", "0.9,0.99"], "--betas is not a setting of --optimizer sgd; it is one of "
                                                    "--optimizer adam, adamw"),
    (["--optimizer", "adagrad", "--momentum", "0.5"], "--momentum is not a setting of --optimizer adagrad; it is one "
                                                      "of --optimizer sgd, rmsprop"),
    (["--scheduler", "cosine", "--gamma", "0.5"], "--gamma is not a setting of --scheduler cosine; it is one of "
                                                  "--scheduler step, multistep, exponential"),
    (["--scheduler", "multistep"], "--scheduler multistep needs --milestones"),
    (["--nesterov", "--momentum", "0"], "--nesterov needs a --momentum above 0"),
    (["--model", "cnn"], "--model cnn: the average task's model is the walkthrough's neuron"),
    (["--task", "digits", "--model", "cnn", "--hidden", "32"], "--hidden is not a setting of --model cnn"),
    (["--task", "digits", "--channels", "4,8"], "--channels is not a setting of --model mlp"),
    (["--task", "digits", "--augment", "shift"], "--augment shift moves images: it needs --model cnn"),
    (["--label-smoothing", "0.1"], "--label-smoothing is not a setting of --task average"),
])
def test_settings_the_choice_does_not_take_are_refused(tmp_path, capsys, argv, message):
    base = QUIET if "--task" in argv else [*SMALL, *QUIET]  # refused before any data is read
    code, out, err = train(capsys, *base, "--epochs", "1", *argv)
    assert code == 2 and "epoch" not in out and err.count("\n") == 1, err
    assert message in err


def test_a_resume_that_changes_the_optimizer_is_refused(tmp_path, capsys):
    path = str(tmp_path / "run.npz")
    assert train(capsys, *SMALL, *QUIET, "--epochs", "3", "--stop-after", "1", "--save", path)[0] == 0
    before = open(path, "rb").read()
    for extra, flags in ((["--momentum", "0.5"], "--momentum 0.5"), (["--optimizer", "adam"], "--optimizer adam"),
                         (["--weight-decay", "0.01"], "--weight-decay 0.01"), (["--nesterov"], "--nesterov")):
        code, out, err = train(capsys, "--resume", path, "--save", path, *QUIET, *extra)
        assert code == 2 and "epoch" not in out and err.count("\n") == 1, err
        assert (f"{path}: the checkpoint's run trains with sgd momentum 0.9, lr 0.0625 cosine; {flags} would "
                f"change how it trains from here on") in err and f"leave out {flags}" in err
    code, out, err = train(capsys, "--resume", path, "--save", path, *QUIET, "--scheduler", "step")
    assert code == 2 and "follows a cosine schedule from lr 0.0625 over 3 epochs; --scheduler step would change" in err
    assert open(path, "rb").read() == before


def test_a_step_schedule_extends_exactly_but_not_a_onecycle_one(tmp_path, capsys):
    base = [*SMALL, *QUIET, "--scheduler", "step", "--step-size", "2"]
    straight, pieces = str(tmp_path / "straight.npz"), str(tmp_path / "pieces.npz")
    assert train(capsys, *base, "--epochs", "4", "--save", straight)[0] == 0
    assert train(capsys, *base, "--epochs", "2", "--save", pieces)[0] == 0
    assert train(capsys, "--resume", pieces, "--epochs", "4", "--save", pieces, *QUIET)[0] == 0  # no horizon
    assert_same_weights(straight, pieces)
    assert train(capsys, *SMALL, *QUIET, "--scheduler", "onecycle", "--epochs", "2", "--save", pieces)[0] == 0
    for extra in (["--epochs", "4"], ["--batch-size", "10"]):
        code, _, err = train(capsys, "--resume", pieces, *extra, *QUIET)
        assert code == 2 and f"follows a onecycle schedule from lr 0.0625 over 2 epochs; {' '.join(extra)}" in err


# --- checkpoints: the scheduler's state, and files from before it ----------------------------------
def test_a_checkpoint_from_before_schedulers_is_refused_clearly(tmp_path, capsys):
    path = str(tmp_path / "run.npz")
    assert train(capsys, *SMALL, *QUIET, "--epochs", "1", "--save", path)[0] == 0
    meta = checkpoint.load(path).meta
    config = {k: v for k, v in meta["config"].items() if k not in ("scheduler", "eta_min")}
    rewrite(path, drop=[k for k in arrays(path) if k.startswith("scheduler/")],
            meta=np.array(json.dumps({**meta, "config": {**config, "schedule": "cosine"}})))
    before = open(path, "rb").read()
    code, out, err = train(capsys, "--resume", path, "--save", path, *QUIET)
    assert code == 2 and err.count("\n") == 1 and "epoch" not in out
    assert (f"{path}: written by an earlier tinygrad-nm train (its config has 'schedule', not 'scheduler', and it "
            "holds no scheduler state), so it cannot be resumed exactly; start a new run") in err
    assert open(path, "rb").read() == before  # the refused checkpoint is left as it was
    # older still: the optimizer's state as flat entries (optimizer/steps, optimizer/velocity.0)
    assert train(capsys, *SMALL, *QUIET, "--epochs", "1", "--save", path)[0] == 0
    rewrite(path, drop=[k for k in arrays(path) if k.startswith("optimizer/")], optimizer__steps=np.array(3),
            **{"optimizer__velocity.0": np.zeros((1, 16), np.float32)})
    code, out, err = train(capsys, "--resume", path, "--save", path, *QUIET)
    assert code == 2 and err.count("\n") == 1 and "does not fit this model/optimizer/scheduler" in err
    assert "expected a dict with 'state' and 'param_groups'" in err


@pytest.mark.parametrize("damage,message", [
    ("drop", "holds no learning-rate scheduler state for this run's CosineAnnealingLR"),
    ("foreign", "the saved scheduler state has entries ['gamma', "),
    ("kind", "the saved scheduler state's 'T_max' is not what a CosineAnnealingLR keeps (text, not a number)"),
    ("structure", "the scheduler state: damaged '__structure__' entry"),
])
def test_a_damaged_scheduler_state_is_refused_and_nothing_changes(tmp_path, capsys, damage, message):
    from tinygrad_nm import statetree
    path = str(tmp_path / "run.npz")
    assert train(capsys, *SMALL, *QUIET, "--epochs", "3", "--stop-after", "1", "--save", path)[0] == 0
    state = statetree.unflatten(checkpoint.load(path).scheduler)
    entries = [k for k in arrays(path) if k.startswith("scheduler/")]
    content = {k: v for k, v in arrays(path).items() if k not in entries}
    if damage == "structure":
        content["scheduler/__structure__"] = np.array("{not json")
    elif damage != "drop":
        replaced = {"gamma": 0.5, "step_size": 1} if damage == "foreign" else {**state, "T_max": "three"}
        content.update({"scheduler/" + k: v for k, v in statetree.flatten(replaced).items()})
    np.savez(path, **content)
    before = open(path, "rb").read()
    code, out, err = train(capsys, "--resume", path, "--save", path, *QUIET)
    assert code == 2 and err.count("\n") == 1 and "epoch" not in out, err
    assert f"{path}: does not fit this model/optimizer/scheduler: " in err and message in err
    assert open(path, "rb").read() == before


def test_restore_puts_the_scheduler_back_when_the_model_refuses(tmp_path):
    from tinygrad_nm import nn
    model = nn.MLP([3, 4, 2])
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, 2)
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, opt, 1, {}, sched)
    other = nn.MLP([3, 5, 2])
    other_opt = optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    other_sched = optim.lr_scheduler.StepLR(other_opt, 3)
    other_sched.step()
    before = dict(other_sched.state_dict())
    with pytest.raises(checkpoint.CheckpointError, match="size mismatch"):
        checkpoint.load(path).restore(other, other_opt, other_sched)
    assert other_sched.state_dict() == before


def test_label_smoothing_is_the_loss_trained_and_reported(tmp_path, capsys):
    write_mnist(tmp_path, n_train=40, n_test=10)
    path = str(tmp_path / "run.npz")
    code, out, err = train(capsys, "--task", "mnist", "--data-dir", str(tmp_path), "--hidden", "8", "--epochs", "1",
                           "--label-smoothing", "0.2", "--save", path, *QUIET)
    assert code == 0 and "label smoothing 0.2" in out, err
    saved = checkpoint.load(path)
    task = tasks.build(saved.meta["config"])
    task.model.load_state_dict(saved.model)
    with tnm.no_grad():
        expected = F.cross_entropy(task.model(tnm.Tensor(task.x_test)), tnm.Tensor(task.y_test), label_smoothing=0.2)
    assert saved.meta["history"]["test_loss"][0] == pytest.approx(expected.item(), rel=1e-6)
    code, _, err = train(capsys, "--resume", path, "--label-smoothing", "0", *QUIET)
    assert code == 2 and "--label-smoothing 0.0 would change how it trains" in err


# --- the CNN ------------------------------------------------------------------------------------------
def test_shifted_loader_moves_each_image_by_up_to_a_pixel_and_replays_an_epoch():
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4) + 1
    y = np.array([0, 1])
    loader = tasks.ShiftedLoader(x, y, batch_size=2, seed=0, shift_seed=7)
    for epoch in range(6):
        loader.epoch = epoch
        (xb, yb), = list(loader)
        xb, yb = xb.numpy(), yb.numpy()
        order = data.DataLoader(x, y, 2, seed=0).order(epoch)
        np.testing.assert_array_equal(yb, y[order])  # the plain loader's shuffle
        shifts = np.random.default_rng((7, epoch)).integers(-1, 2, size=(2, 2))
        for row, i in enumerate(order):
            dy, dx = shifts[i]
            expected = np.zeros((4, 4), np.float32)  # image i moved down dy, right dx, zeros shifted in
            expected[max(dy, 0):4 + min(dy, 0), max(dx, 0):4 + min(dx, 0)] = \
                x[i, 0, max(-dy, 0):4 + min(-dy, 0), max(-dx, 0):4 + min(-dx, 0)]
            np.testing.assert_array_equal(xb[row, 0], expected)
        loader.epoch = epoch
        np.testing.assert_array_equal(next(iter(loader))[0].numpy(), xb)  # replayed exactly
    np.testing.assert_array_equal(loader.x, x)  # the data set itself is left as it was


def test_cnn_on_mnist_idx_files_every_backend(backend, tmp_path, capsys):
    n_train, n_test = (8, 2) if backend == "numba_cuda" else (40, 10)  # the CUDA simulator: a thread per element
    written = write_mnist(tmp_path, n_train=n_train, n_test=n_test, gz=True)
    classes = 1 + max(int(labels.max()) for _, labels in written.values())
    argv = ["--task", "mnist", "--model", "cnn", "--data-dir", str(tmp_path), "--channels", "2,4", "--epochs", "2",
            "--batch-size", "20", "--backend", backend, *QUIET]
    code, out, err = train(capsys, *argv)
    assert code == 0, err
    assert (f"{n_train} train, shifted up to 1 pixel / {n_test} held out; model cnn 1x28x28 -> conv 2 -> pool -> "
            f"conv 4 -> pool -> 196 -> 64 -> {classes}; sgd momentum 0.9 weight decay 0.0005, lr 0.05 cosine, label "
            "smoothing 0.1") in out
    assert "held-out accuracy after 2 epochs" in out


def test_cnn_estimate_traces_the_step(capsys):
    pytest.importorskip("sklearn")
    assert main(["train", "--task", "digits", "--model", "cnn", "--estimate-only", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "model cnn 1x8x8 -> conv 32 -> pool -> conv 64 -> pool -> 256 -> 64 -> 10" in out
    assert "napkin estimate before training: digits, 1438 examples, batch 32, 45 steps per epoch, 30 epochs" in out
    for name in tnm.available_backends():
        assert f"  {name} " in out


def test_cnn_resume_replays_shifts_and_batch_norm_statistics(tmp_path, capsys):
    write_mnist(tmp_path, n_train=40, n_test=10)
    argv = ["--task", "mnist", "--model", "cnn", "--data-dir", str(tmp_path), "--channels", "2,4", "--epochs", "3",
            "--batch-size", "20", *QUIET]
    straight, pieces = str(tmp_path / "straight.npz"), str(tmp_path / "pieces.npz")
    assert train(capsys, *argv, "--save", straight)[0] == 0
    assert train(capsys, *argv, "--stop-after", "1", "--save", pieces)[0] == 0
    assert train(capsys, "--resume", pieces, "--save", pieces, *QUIET)[0] == 0
    assert_same_weights(straight, pieces)
    assert "model/1.running_mean" in arrays(straight)  # the batch norms' buffers travel too
    code, _, err = train(capsys, "--resume", pieces, "--channels", "4,8", *QUIET)
    assert code == 2 and "the checkpoint's model has channels [2, 4]; --channels [4, 8] would need a new model" in err


@pytest.mark.slow  # 30 epochs of the CNN: one to three minutes on numpy and cython
def test_cnn_digits_default_reaches_98_5_percent(backend, capsys):
    pytest.importorskip("sklearn")
    if backend == "python":
        pytest.skip("an epoch of the digits CNN takes minutes on the python backend (bench/README.md)")
    if backend == "numba_cuda":
        pytest.skip("20 epochs of convolutions in the CUDA simulator take hours")
    code, out, err = train(capsys, "--task", "digits", "--model", "cnn", "--backend", backend, *QUIET)
    assert code == 0, err
    assert float(out.split("held-out accuracy after 30 epochs: ")[1].split("%")[0]) >= 98.5
