"""Checkpoints against damage and misuse: malformed state refused before anything changes, damaged
zips named, one line and exit 2 from the command line, stale temporary files removed, and a resume
that keeps the recorded learning-rate schedule (equal to an uninterrupted run) or refuses."""
import os
import struct

import numpy as np
import pytest

from tinygrad_nm import checkpoint, nn, optim
from tinygrad_nm.cli import main

from test_train import SMALL, arrays, assert_same_weights, small_model_and_optimizer, train


def rewrite(path, drop=(), **changes):
    """Write the checkpoint at `path` back with entries changed ("optimizer/steps"=...) or dropped."""
    content = {k: v for k, v in arrays(path).items() if k not in drop}
    content.update({k.replace("__", "/"): v for k, v in changes.items()})
    np.savez(path, **content)


def snapshot(model, opt):
    return {**{"m/" + k: v for k, v in model.state_dict().items()},
            **{"o/" + k: v for k, v in opt.state_dict().items()}}


def assert_unchanged(model, opt, before):
    after = snapshot(model, opt)
    assert sorted(after) == sorted(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v, err_msg=k)


# --- malformed state: refused with the key and the file, nothing changed ----------------------
@pytest.mark.parametrize("key,value,message", [
    ("optimizer__steps", np.array([1, 2, 3]), r"'optimizer/steps' is an array of shape \(3,\), not a single number"),
    ("optimizer__steps", np.array("seven"), r"'optimizer/steps' holds <U5 \(text\)"),
    ("optimizer__steps", np.array(-1), r"'optimizer/steps' is -1, not a non-negative whole number"),
    ("optimizer__steps", np.array(2.5), r"'optimizer/steps' is 2.5, not a non-negative whole number"),
    ("optimizer__exp_avg.0", np.zeros((4, 3), dtype=np.complex128),
     r"'optimizer/exp_avg.0' holds complex128 \(complex numbers\)"),
    ("optimizer__exp_avg_sq.1", np.array(["a", "b", "c", "d"]), r"'optimizer/exp_avg_sq.1' holds <U1 \(text\)"),
    ("model__layers.0.weight", np.full((4, 3), b"x"), r"'model/layers.0.weight' holds \|S1 \(bytes\)"),
    ("epoch", np.array([3, 4]), r"'epoch' is an array of shape \(2,\)"),
    ("epoch", np.array(-2), r"'epoch' is -2"),
    ("meta", np.array("[1, 2]"), r"'meta' is a list, not a dict"),
    ("meta", np.array("{not json"), r"damaged checkpoint header: 'meta'"),
])
def test_malformed_state_is_refused_naming_key_and_file(backend, tmp_path, key, value, message):
    model, opt = small_model_and_optimizer()
    path = str(tmp_path / "run.npz")
    checkpoint.save(path, model, opt, epoch=1)
    rewrite(path, **{key: value})
    fresh, fresh_opt = nn.MLP([3, 4, 2]), None
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.01)
    before = snapshot(fresh, fresh_opt)
    with pytest.raises(checkpoint.CheckpointError, match="run.npz: .*" + message):
        checkpoint.load(path).restore(fresh, fresh_opt)
    assert_unchanged(fresh, fresh_opt, before)


def test_restore_is_all_or_nothing_whatever_the_optimizer_raises(tmp_path, monkeypatch):
    model, opt = small_model_and_optimizer()
    path = str(tmp_path / "run.npz")
    checkpoint.save(path, model, opt, epoch=1)
    fresh = nn.MLP([3, 4, 2])
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.01)
    before = snapshot(fresh, fresh_opt)

    real_load, calls = fresh_opt.load_state_dict, []

    def half_done_then_type_error(state):  # changes part of itself, then fails; the put-back works
        calls.append(1)
        if len(calls) > 1:
            return real_load(state)
        fresh_opt.state["exp_avg"][0] = None
        raise TypeError("unexpected value")
    monkeypatch.setattr(fresh_opt, "load_state_dict", half_done_then_type_error)
    with pytest.raises(checkpoint.CheckpointError, match="run.npz: does not fit .*unexpected value"):
        checkpoint.load(path).restore(fresh, fresh_opt)
    monkeypatch.undo()
    assert_unchanged(fresh, fresh_opt, before)  # the model loaded first was put back, and the optimizer


# --- damaged zips -----------------------------------------------------------------------------
def patch_zip(raw, flags=None, method=None):
    """Set the flag bits and/or compression method of every member, in the local headers and the
    central directory alike (what a damaged or foreign archive looks like to zipfile)."""
    out = bytearray(raw)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(signature)
        while at >= 0:
            if flags is not None:
                out[at + flag_at:at + flag_at + 2] = struct.pack("<H", flags)
            if method is not None:
                out[at + flag_at + 2:at + flag_at + 4] = struct.pack("<H", method)
            at = out.find(signature, at + 4)
    return bytes(out)


def test_damaged_zips_give_one_clear_error_naming_the_file(tmp_path, capsys):
    good = str(tmp_path / "good.npz")
    assert train(capsys, *SMALL, "--epochs", "1", "--no-plot", "--save", good)[0] == 0
    raw = open(good, "rb").read()
    cases = {"method.npz": patch_zip(raw, method=99),  # zipfile: NotImplementedError
             "encrypted.npz": patch_zip(raw, flags=1),  # zipfile: RuntimeError, password required
             "deflate.npz": patch_zip(raw, method=8),  # stored bytes read as deflate: zlib.error
             "truncated.npz": raw[:len(raw) - 40],
             "cut_member.npz": raw[:300]}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(checkpoint.CheckpointError, match=f"{name}: not a readable checkpoint"):
            checkpoint.load(str(path))
        code, out, err = train(capsys, "--resume", str(path), "--no-plot", "--no-progress")
        assert code == 2 and "Traceback" not in err and "epoch" not in out, (name, err)
        assert err.count("\n") == 1 and err.startswith(f"tinygrad-nm train: error: {path}: not a readable"), err
        assert path.read_bytes() == content


@pytest.mark.parametrize("config,message", [
    ("not a dict", "its 'config' is not a dict naming a known task"),
    ({"task": "cifar"}, "its 'config' is not a dict naming a known task"),
    ({"task": "average", "epochs": "3"}, "setting 'epochs' is '3'"),
    ({"task": "average", "epochs": 0}, "setting 'epochs' is 0: expected a positive integer, got 0"),
    ({"task": "average", "lr": -1.0}, r"setting 'lr' is -1.0: expected a number in \(0, inf\)"),
    ({"task": "average", "scheduler": "linear"}, "setting 'scheduler' is 'linear': not one of none, cosine, step"),
    ({"task": "average", "optimizer": "lbfgs"}, "setting 'optimizer' is 'lbfgs': not one of sgd, adam, adamw"),
    ({"task": "average", "nesterov": "yes"}, "setting 'nesterov' is 'yes': not true or false"),
    ({"task": "digits", "hidden": ["128"]}, r"setting 'hidden' is \['128'\]"),
    ({"task": "average", "size": None}, "setting 'size' is None"),
])
def test_a_damaged_config_exits_2_with_one_line(tmp_path, capsys, config, message):
    import json
    path = str(tmp_path / "run.npz")
    assert train(capsys, *SMALL, "--epochs", "1", "--no-plot", "--save", path)[0] == 0
    rewrite(path, meta=np.array(json.dumps({"config": config, "history": {}})))
    code, out, err = train(capsys, "--resume", path, "--no-plot", "--no-progress")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert f"{path}: damaged checkpoint: " in err
    assert __import__("re").search(message, err), err


def test_the_cli_gives_one_line_and_exit_2_for_a_malformed_optimizer_state(tmp_path, capsys):
    path = str(tmp_path / "run.npz")
    assert train(capsys, *SMALL, "--epochs", "1", "--no-plot", "--save", path)[0] == 0
    rewrite(path, optimizer__steps=np.array([1, 2]))
    before = open(path, "rb").read()
    code, _, err = main(["train", "--resume", path, "--save", path, "--no-plot"]), *capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "'optimizer/steps' is an array of shape (2,)" in err
    assert open(path, "rb").read() == before


# --- stale temporary files ----------------------------------------------------------------------
def gone_pid():
    """A process id no process has: a finished child's (pid reuse within the test is not plausible)."""
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="elsewhere stale files are recognised by age (an hour)")
def test_a_save_removes_temporaries_an_interrupted_save_left(tmp_path):
    model, opt = small_model_and_optimizer()
    path = tmp_path / "run.npz"
    stale = tmp_path / f".run.npz.{gone_pid()}.k3j_x9q.tmp"  # as a save killed mid-write leaves it
    stale.write_bytes(b"PK\x03\x04" + b"\0" * 1000)
    alive = tmp_path / f".run.npz.{os.getppid()}.a1b2c3.tmp"  # a save still running elsewhere: kept
    alive.write_bytes(b"PK")
    others = [tmp_path / f".other.npz.{gone_pid()}.abc.tmp", tmp_path / ".run.npz.notes.tmp",
              tmp_path / f".run.npz.2.{gone_pid()}.abc.tmp"]  # another file's, not a save's, run.npz.2's
    for f in others:
        f.write_bytes(b"keep")
    checkpoint.save(str(path), model, opt, epoch=1)
    assert not stale.exists() and alive.exists() and all(f.exists() for f in others)
    assert sorted(os.listdir(tmp_path)) == sorted(["run.npz", alive.name, *[f.name for f in others]])
    assert checkpoint.load(str(path)).epoch == 1


def test_temporary_names_carry_the_writers_pid(tmp_path, monkeypatch):
    model, opt = small_model_and_optimizer()
    seen = []
    real_savez = np.savez

    def spy(f, **content):
        seen.extend(os.listdir(tmp_path))
        real_savez(f, **content)
    monkeypatch.setattr(checkpoint.np, "savez", spy)
    checkpoint.save(str(tmp_path / "run.npz"), model, opt)
    assert len(seen) == 1 and seen[0].startswith(f".run.npz.{os.getpid()}.") and seen[0].endswith(".tmp")


# --- resume keeps the recorded schedule ------------------------------------------------------------
def test_stop_after_then_resume_equals_an_uninterrupted_cosine_run(tmp_path, capsys):
    # the README's example, on the small task: a run given its full length, stopped early, resumed
    base = [*SMALL, "--no-plot", "--seed", "5", "--scheduler", "cosine"]
    straight, pieces = str(tmp_path / "straight.npz"), str(tmp_path / "pieces.npz")
    assert train(capsys, *base, "--epochs", "5", "--save", straight)[0] == 0
    code, out, _ = train(capsys, *base, "--epochs", "5", "--stop-after", "2", "--save", pieces)
    assert code == 0 and f"stopped after epoch 2 of 5; continue with --resume {pieces}" in out
    assert checkpoint.load(pieces).epoch == 2
    code, out, err = train(capsys, "--resume", pieces, "--stop-after", "3", "--save", pieces, "--no-plot",
                           "--no-progress")
    assert code == 0 and [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["3/5"], err
    code, out, err = train(capsys, "--resume", pieces, "--epochs", "5", "--save", pieces, "--no-plot", "--no-progress")
    assert code == 0 and [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["4/5", "5/5"]
    assert_same_weights(straight, pieces)
    a, b = checkpoint.load(straight).meta, checkpoint.load(pieces).meta
    assert a["config"] == b["config"] and a["history"]["train_loss"] == b["history"]["train_loss"]


@pytest.mark.slow
def test_the_readmes_resume_example_gives_the_uninterrupted_weights(tmp_path, capsys):
    pytest.importorskip("sklearn")
    straight, run = str(tmp_path / "straight.npz"), str(tmp_path / "run.npz")
    quiet = ["--no-plot", "--no-progress"]
    code, out, _ = train(capsys, "--task", "digits", "--epochs", "30", "--save", straight, *quiet)
    assert code == 0 and float(out.split("held-out accuracy after 30 epochs: ")[1].split("%")[0]) >= 97  # the default
    # README: train --task digits --epochs 30 --stop-after 10 --save run.npz; train --resume run.npz --epochs 30
    assert train(capsys, "--task", "digits", "--epochs", "30", "--stop-after", "10", "--save", run, *quiet)[0] == 0
    code, out, err = train(capsys, "--resume", run, "--epochs", "30", "--save", run, *quiet)
    assert code == 0 and "resumed from" in out and "epoch  30/30" in out, err
    assert_same_weights(straight, run)


def test_a_different_horizon_is_refused_with_how_to_extend(tmp_path, capsys):
    path = str(tmp_path / "run.npz")
    assert train(capsys, *SMALL, "--epochs", "2", "--no-plot", "--scheduler", "cosine", "--save", path)[0] == 0
    before = open(path, "rb").read()
    for extra, flags in ((["--epochs", "3"], "--epochs 3"), (["--lr", "0.5"], "--lr 0.5"),
                         (["--scheduler", "none", "--epochs", "4"], "--scheduler none --epochs 4")):
        code, out, err = train(capsys, "--resume", path, *extra, "--save", path, "--no-plot")
        assert code == 2 and "epoch" not in out and err.count("\n") == 1
        assert (f"{path}: the checkpoint's run follows a cosine schedule from lr 0.0625 over 2 epochs; {flags} "
                "would change its learning rates (the schedule the 2 epochs already trained followed)") in err
        assert f"To continue this run, leave out {flags}" in err and "--epochs N --stop-after M" in err
    assert open(path, "rb").read() == before


def test_a_constant_schedule_extends_exactly(tmp_path, capsys):
    base = [*SMALL, "--no-plot", "--scheduler", "none"]
    straight, pieces = str(tmp_path / "straight.npz"), str(tmp_path / "pieces.npz")
    assert train(capsys, *base, "--epochs", "3", "--save", straight)[0] == 0
    assert train(capsys, *base, "--epochs", "2", "--save", pieces)[0] == 0
    code, out, err = train(capsys, "--resume", pieces, "--epochs", "3", "--save", pieces, "--no-plot", "--no-progress")
    assert code == 0 and "epoch   3/3" in out, err
    assert_same_weights(straight, pieces)


def test_stop_after_past_the_last_epoch_is_refused(tmp_path, capsys):
    code, out, err = train(capsys, *SMALL, "--epochs", "2", "--stop-after", "3", "--no-plot")
    assert code == 2 and "--stop-after 3 is past the run's last epoch (--epochs 2)" in err and "epoch 1" not in out


def test_resume_from_a_directory_or_an_unreadable_file_exits_2(tmp_path, capsys):
    code, out, err = train(capsys, "--resume", str(tmp_path), "--no-plot")
    assert code == 2 and err.count("\n") == 1 and f"{tmp_path}: a directory, not a checkpoint file" in err
    path = tmp_path / "run.npz"
    assert train(capsys, *SMALL, "--epochs", "1", "--no-plot", "--save", str(path))[0] == 0
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who reads any file (root)")
        code, out, err = train(capsys, "--resume", str(path), "--no-plot")
        assert code == 2 and err.count("\n") == 1
        assert "run.npz: not a readable checkpoint" in err and "Permission" in err
    finally:
        path.chmod(0o644)


def test_save_to_a_directory_fails_before_training(tmp_path, capsys):
    code, out, err = train(capsys, *SMALL, "--epochs", "1", "--no-plot", "--save", str(tmp_path))
    assert code == 2 and "a directory, not a file name" in err and "epoch" not in out
