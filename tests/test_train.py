"""`tinygrad-nm train` end to end, and checkpoints: round trips, resume, bad files, bad arguments."""
import os

import numpy as np
import pytest

from tinygrad_nm import checkpoint, nn, optim
from tinygrad_nm.cli import main

from test_data import write_mnist

class SimulatedCrash(BaseException):
    """Stands for the process dying (power loss, kill -9): nothing catches it."""


# a small, fast average task: 4x4 rectangles
SMALL = ["--task", "average", "--size", "4", "--samples", "200", "--batch-size", "20", "--no-progress"]


def train(capsys, *argv):
    """Run the command; returns (exit code, stdout, stderr)."""
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def assert_same_weights(path_a, path_b):
    a, b = arrays(path_a), arrays(path_b)
    keys = sorted(k for k in a if k.startswith(("model/", "optimizer/")))
    assert keys == sorted(k for k in b if k.startswith(("model/", "optimizer/"))) and keys
    for k in keys:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # bit for bit


# --- end to end ------------------------------------------------------------------------------
def test_average_end_to_end(backend, tmp_path, capsys):
    plot, save = tmp_path / "curve.png", tmp_path / "run.npz"
    code, out, err = train(capsys, *SMALL, "--epochs", "3", "--backend", backend, "--plot", str(plot),
                           "--save", str(save))
    assert code == 0, err
    assert "task average: 4x4 rectangles, 160 train / 40 held out; model 16 -> 1" in out
    assert f"backend {backend}" in out
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and all("train loss" in line and "test loss" in line for line in lines)
    losses = [float(line.split("train loss ")[1].split()[0]) for line in lines]
    assert losses[-1] < losses[0]
    assert "held-out loss after 3 epochs" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "napkin estimate" in out and "measured" in out and "kernel calls" in out
    ckpt = checkpoint.load(str(save))
    assert ckpt.epoch == 3 and ckpt.meta["config"]["size"] == 4 and len(ckpt.meta["history"]["train_loss"]) == 3


@pytest.mark.slow  # hundreds of steps: minutes in the CUDA simulator (dev.sh skips slow there)
def test_digits_end_to_end_reports_accuracy(backend, tmp_path, capsys):
    pytest.importorskip("sklearn")
    code, out, err = train(capsys, "--task", "digits", "--epochs", "2", "--hidden", "16", "--backend", backend,
                           "--no-progress", "--no-plot")
    assert code == 0, err
    assert "model 64 -> 16 -> 10" in out
    acc = float(out.split("held-out accuracy after 2 epochs: ")[1].split("%")[0])
    assert acc > 70  # two epochs of a tiny MLP, far above the 10% of guessing
    assert not list(tmp_path.iterdir())


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    code, out, err = train(capsys, *[a for a in SMALL if a != "--no-progress"], "--progress", "--epochs", "1",
                           "--no-plot")
    assert code == 0 and "epoch 1/1" in err and "batch" in err


def test_mnist_task_reads_a_local_directory(tmp_path, capsys):
    write_mnist(tmp_path, n_train=40, n_test=10, gz=True)
    code, out, err = train(capsys, "--task", "mnist", "--data-dir", str(tmp_path), "--epochs", "1", "--hidden", "8",
                           "--batch-size", "16", "--no-progress", "--no-plot")
    assert code == 0, err
    assert "40 train / 10 held out; model 784 -> 8 -> 10" in out


def test_mnist_errors_are_clear(tmp_path, capsys):
    code, _, err = train(capsys, "--task", "mnist", "--epochs", "1", "--no-plot")
    assert code == 2 and "--task mnist needs --data-dir DIR" in err
    code, _, err = train(capsys, "--task", "mnist", "--data-dir", str(tmp_path), "--epochs", "1", "--no-plot")
    assert code == 2 and "'train-images-idx3-ubyte' (or train-images-idx3-ubyte.gz) not found" in err


# --- checkpoints -----------------------------------------------------------------------------
def small_model_and_optimizer():
    model = nn.MLP([3, 4, 2], generator=np.random.default_rng(0))
    opt = optim.Adam(model.parameters(), lr=0.01)
    for p in model.parameters():
        p.grad = p.detach() * 0.5
    opt.step()
    return model, opt


def test_checkpoint_round_trip_is_bit_exact(backend, tmp_path):
    model, opt = small_model_and_optimizer()
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, opt, epoch=7, meta={"note": "hi", "values": [0.1, 1e-300]})
    ckpt = checkpoint.load(path)
    assert ckpt.epoch == 7 and ckpt.meta == {"note": "hi", "values": [0.1, 1e-300]}
    fresh = nn.MLP([3, 4, 2], generator=np.random.default_rng(1))
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.01)
    ckpt.restore(fresh, fresh_opt)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=name)
    saved, restored = opt.state_dict(), fresh_opt.state_dict()
    assert saved["param_groups"] == restored["param_groups"]
    for i, entries in saved["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(restored["state"][i][key]), err_msg=f"{i}.{key}")
    assert [f for f in os.listdir(tmp_path)] == ["c.npz"]  # no temporary file left behind


def test_crash_during_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model, opt = small_model_and_optimizer()
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, opt, epoch=1)
    before = open(path, "rb").read()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise SimulatedCrash("mid-save")
    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(SimulatedCrash):
        checkpoint.save(path, model, opt, epoch=2)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["c.npz"]
    monkeypatch.undo()
    assert checkpoint.load(path).epoch == 1


def test_truncated_and_foreign_files_are_refused_naming_the_file(tmp_path):
    model, opt = small_model_and_optimizer()
    good = str(tmp_path / "good.npz")
    checkpoint.save(good, model, opt, epoch=1)
    raw = open(good, "rb").read()
    cases = {
        "truncated.npz": raw[: len(raw) // 2],
        "flipped.npz": raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:],  # CRC mismatch
        "empty.npz": b"",
        "text.npz": b"hello, not a checkpoint\n",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(checkpoint.CheckpointError, match=name):
            checkpoint.load(str(tmp_path / name))
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(checkpoint.CheckpointError, match=r"foreign.npz: an .npz file but not a 'tinygrad_nm checkpoint v1' file"):
        checkpoint.load(str(tmp_path / "foreign.npz"))
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(checkpoint.CheckpointError, match="array.npy: a single NumPy array"):
        checkpoint.load(str(tmp_path / "array.npy"))
    with pytest.raises(FileNotFoundError, match="checkpoint .*missing.npz' does not exist"):
        checkpoint.load(str(tmp_path / "missing.npz"))
    assert open(good, "rb").read() == raw


def test_restore_into_a_different_model_changes_nothing(tmp_path):
    model, opt = small_model_and_optimizer()
    path = str(tmp_path / "c.npz")
    checkpoint.save(path, model, opt)
    other = nn.MLP([3, 5, 2])
    other_opt = optim.Adam(other.parameters())
    before = other.state_dict()
    with pytest.raises(checkpoint.CheckpointError, match=r"(?s)c.npz: does not fit .*size mismatch for 0.weight: .*shape \(4, 3\)"):
        checkpoint.load(path).restore(other, other_opt)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # the model fits but the optimizer does not (SGD momentum vs Adam state): the model is put back
    same_shape = nn.MLP([3, 4, 2])
    before = same_shape.state_dict()
    with pytest.raises(checkpoint.CheckpointError, match="unexpected keys"):
        checkpoint.load(path).restore(same_shape, optim.SGD(same_shape.parameters(), lr=0.1, momentum=0.9))
    for k, v in same_shape.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# --- resume ----------------------------------------------------------------------------------
def test_resume_after_a_crash_equals_an_uninterrupted_run(backend, tmp_path, capsys, monkeypatch):
    # the python backend carries float32 tensors as doubles, which a float32 checkpoint rounds:
    # bit-exact there needs float64 (see train.py's docstring)
    dtype = "float64" if backend == "python" else "float32"
    args = [*SMALL, "--epochs", "4", "--backend", backend, "--no-plot", "--seed", "3", "--dtype", dtype]
    straight, resumed = str(tmp_path / "straight.npz"), str(tmp_path / "resumed.npz")
    assert train(capsys, *args, "--save", straight)[0] == 0

    real_savez, calls = np.savez, []

    def savez_then_crash(f, **arrays):  # the third save (after epoch 3) dies half-way
        calls.append(1)
        if len(calls) == 3:
            f.write(b"PK\x03\x04")
            raise SimulatedCrash("the power went out")
        real_savez(f, **arrays)
    monkeypatch.setattr(checkpoint.np, "savez", savez_then_crash)
    with pytest.raises(SimulatedCrash):
        main(["train", *args, "--save", resumed])
    monkeypatch.undo()
    capsys.readouterr()
    assert checkpoint.load(resumed).epoch == 2  # the previous checkpoint survived the crash

    code, out, err = train(capsys, "--resume", resumed, "--save", resumed, "--no-progress", "--no-plot",
                           "--backend", backend)  # every other setting comes from the checkpoint
    assert code == 0, err
    assert "resumed from" in out and "at epoch 2" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["3/4", "4/4"]
    assert_same_weights(straight, resumed)
    a, b = checkpoint.load(straight).meta, checkpoint.load(resumed).meta
    assert a["config"] == b["config"]
    assert a["history"]["train_loss"] == b["history"]["train_loss"]


def test_resume_continues_to_more_epochs_and_refuses_a_different_model(tmp_path, capsys):
    path = str(tmp_path / "c.npz")  # constant lr: more epochs change no epoch's lr (cosine: test_checkpoint.py)
    assert train(capsys, *SMALL, "--epochs", "2", "--scheduler", "none", "--no-plot", "--save", path)[0] == 0
    code, out, _ = train(capsys, "--resume", path, "--epochs", "3", "--no-progress", "--no-plot", "--save", path)
    assert code == 0 and "epoch   3/3" in out and checkpoint.load(path).epoch == 3
    code, out, _ = train(capsys, "--resume", path, "--epochs", "3", "--no-progress", "--no-plot")
    assert code == 0 and "already trained 3 epochs" in out
    before = open(path, "rb").read()
    code, _, err = train(capsys, "--resume", path, "--size", "5", "--no-plot")
    assert code == 2 and "c.npz: the checkpoint's model has size 4; --size 5 would need a new model" in err
    code, _, err = train(capsys, "--resume", path, "--task", "digits", "--no-plot")
    assert code == 2 and "the checkpoint is for task 'average', not 'digits'" in err
    assert open(path, "rb").read() == before


def test_resume_from_a_bad_file_is_refused_and_leaves_it(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    code, out, err = train(capsys, "--resume", str(path), "--save", str(path), "--no-plot")
    assert code == 2 and "bad.npz: not a readable checkpoint" in err and "epoch" not in out
    assert path.read_bytes() == b"PK\x03\x04 truncated"


# --- bad arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["--epochs", "two"], "--epochs: expected a positive integer, got 'two'"),
    (["--lr", "-0.1"], "--lr: expected a number in (0, inf), got -0.1"),
    (["--momentum", "1"], "--momentum: expected a number in [0, 1), got 1"),
    (["--size", "101"], "--size: rectangle size must be from 2 to 100, got 101"),
    (["--hidden", "128,x"], "--hidden: expected comma-separated positive layer sizes like 128,64, got '128,x'"),
    (["--seed", "-3"], "--seed: expected a non-negative integer, got '-3'"),
    (["--task", "cifar"], "--task: invalid choice: 'cifar'"),
])
def test_bad_arguments_exit_with_a_clear_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["train", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_backend_is_a_clear_error(capsys):
    code, _, err = train(capsys, *SMALL, "--epochs", "1", "--backend", "tpu", "--no-plot")
    assert code == 2 and "unknown backend 'tpu'" in err


def test_ctrl_c_says_how_to_resume(tmp_path, capsys, monkeypatch):
    from tinygrad_nm import train as train_module
    path = str(tmp_path / "c.npz")
    real_epoch, calls = train_module.train_epoch, []

    def interrupted_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)
    monkeypatch.setattr(train_module, "train_epoch", interrupted_second_epoch)
    code, out, err = train(capsys, *SMALL, "--epochs", "3", "--no-plot", "--save", path)
    assert code == 130 and f"interrupted; continue with --resume {path}" in err
    assert checkpoint.load(path).epoch == 1


def test_unwritable_destinations_fail_before_training(tmp_path, capsys):
    code, out, err = train(capsys, *SMALL, "--epochs", "1", "--save", str(tmp_path / "no" / "c.npz"))
    assert code == 2 and "--save" in err and "does not exist" in err and "epoch" not in out
    code, out, err = train(capsys, *SMALL, "--epochs", "1", "--plot", str(tmp_path / "no" / "c.png"))
    assert code == 2 and "--plot" in err and "does not exist" in err and "epoch" not in out


def test_estimate_before_training(capsys):
    """--estimate-only prints the predicted step, epoch and run on every backend here and trains
    nothing; --estimate trains and sets the measured time beside the prediction."""
    from tinygrad_nm import available_backends
    assert main(["train", "--task", "digits", "--epochs", "3", "--estimate-only", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "napkin estimate before training" in out and "whole run" in out and "epoch   1/3" not in out
    for name in available_backends():
        assert f"  {name} " in out
    # and every GPU napkin holds a datasheet for, priced whether or not a GPU is here
    from tinygrad_nm.napkin import gpu
    for device in gpu.DEVICES:
        row = next(line for line in out.splitlines() if f" {device} (datasheet)" in line)
        times = row.split("(datasheet)")[1].split()  # step, epoch, whole run: a number and its unit each
        assert len(times) == 6 and all(float(v) > 0 for v in times[::2]) and set(times[1::2]) <= {"ns", "us", "ms", "s"}
    assert "not measured here" in out
    assert main(["train", "--task", "digits", "--epochs", "1", "--estimate", "--no-plot", "--no-profile",
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "epoch   1/1" in out and "measured/predicted" in out


def test_estimate_prices_each_datasheet_gpu_with_its_own_rates():
    """A GPU row is the GPU backend priced on that GPU's datasheet: a model big enough to leave the
    launch-bound regime runs faster on the GPU with the more FLOP/s and bandwidth."""
    from tinygrad_nm import optim, tasks, train_estimate
    from tinygrad_nm.napkin import gpu
    rows = train_estimate.datasheet_gpus()
    assert [device for _, _, device in rows] == list(gpu.DEVICES)
    config = dict(tasks.DEFAULTS["digits"], task="digits", seed=0, data_dir=None, hidden=[2048, 2048], epochs=2)
    task = tasks.build(config)
    pred, steps, batch = train_estimate.predict(task, config, lambda c, p: optim.SGD(p, lr=0.1), names=["numpy"],
                                                gpus=[r for r in rows if r[2] in ("L4", "H200")])
    l4, h200 = (next(v for k, v in pred.items() if k.endswith(f" {d} (datasheet)")) for d in ("L4", "H200"))
    assert 0 < h200["step"] < l4["step"]
    for p in (l4, h200, pred["numpy"]):
        assert p["train_epoch"] == pytest.approx(steps * p["step"])
        assert p["run"] == pytest.approx(2 * p["epoch"] + p["warmup"])  # a GPU compiles its kernels once
    assert pred["numpy"]["warmup"] == 0 < h200["warmup"] == l4["warmup"]  # compiling is the host's work


def test_measured_beside_sets_the_run_and_its_fastest_epoch_beside_the_prediction():
    from tinygrad_nm import train_estimate
    predictions = {"numpy": {"train_epoch": 0.1}}
    line = train_estimate.measured_beside(predictions, "numpy", {"seconds": [0.5, 0.12, 0.15]}, 2)
    assert "measured 270 ms" in line and "predicted 200 ms: measured/predicted 1.35" in line
    assert "fastest epoch 120 ms against 100 ms: 1.20" in line
    one = train_estimate.measured_beside(predictions, "numpy", {"seconds": [0.12]}, 1)
    assert "fastest" not in one and "measured/predicted 1.20" in one
    assert train_estimate.measured_beside(predictions, "cython", {"seconds": [0.12]}, 1) is None
