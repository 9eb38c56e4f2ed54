"""Checkpoints: a model's parameters, its optimizer's (and learning-rate scheduler's) state, the
epoch and a little metadata in one .npz file, written atomically.

    checkpoint.save("run.npz", model, optimizer, epoch=3, meta={"task": "digits"}, scheduler=sched)
    ckpt = checkpoint.load("run.npz")          # CheckpointError if truncated or foreign
    ckpt.restore(model, optimizer, sched)      # all or nothing

Atomic: the file is written under a temporary name in the same directory, flushed to disk, then
renamed over the target with os.replace, which is atomic on POSIX and Windows. A crash at any
moment leaves either the previous checkpoint or the new one, never a mix. A process killed
mid-save cannot delete its temporary file: the next save to the same path does (the name holds
the writer's process id, so a save still running in another process keeps its own).

Loading checks everything before anything is changed: a damaged zip, a foreign file, arrays of
the wrong kind (strings, complex numbers, a vector where a count belongs) all raise
CheckpointError naming the file and the entry, and `restore` changes the model, the optimizer and
the scheduler all or none.
"""
import copy
import json
import os
import re
import tempfile
import time
import zipfile
import zlib

import numpy as np

from tinygrad_nm import statetree

FORMAT = "tinygrad_nm checkpoint v1"


class CheckpointError(ValueError):
    """A file that is not a complete tinygrad_nm checkpoint, or one that does not fit the model."""


def save(path, model, optimizer=None, epoch=0, meta=None, scheduler=None):
    """Write model.state_dict(), optimizer.state_dict(), `epoch`, `meta` (JSON-able) and
    scheduler.state_dict() to `path`."""
    arrays = {"format": np.array(FORMAT), "epoch": np.asarray(epoch, dtype=np.int64),
              "meta": np.array(json.dumps(meta or {}))}
    arrays.update({"model/" + k: v for k, v in model.state_dict().items()})
    if optimizer is not None:
        # the optimizer's nested state dict as flat arrays; Optimizer.load_state_dict takes them back
        arrays.update({"optimizer/" + k: v for k, v in statetree.flatten(optimizer.state_dict()).items()})
    if scheduler is not None:  # numbers and lists only: all in the structure entry
        arrays.update({"scheduler/" + k: v for k, v in statetree.flatten(scheduler.state_dict()).items()})
    _write_atomically(path, arrays)


def _write_atomically(path, arrays):
    directory, name = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(directory, name)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # a file object: savez adds no ".npz" to the name
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove_stale_temporaries(directory, name):
    """Delete what interrupted saves to `name` left: `.<name>.<pid>.<random>.tmp` files whose writer
    process is gone. (Where a process cannot be asked whether it lives, Windows, files an hour old.)"""
    pattern = re.compile(re.escape(f".{name}.") + r"(\d+)\.[^.]+\.tmp")
    for entry in os.listdir(directory):
        match = pattern.fullmatch(entry)
        if match and _writer_is_gone(int(match.group(1)), os.path.join(directory, entry)):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:  # removed meanwhile by another save, or not ours to remove: harmless
                pass


def _writer_is_gone(pid, tmp):
    if pid == os.getpid():  # this process: a save of ours still running in another thread
        return False
    if os.name != "posix":  # os.kill(pid, 0) is no harmless probe there
        return time.time() - os.path.getmtime(tmp) > 3600
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # exists but belongs to someone else
        return False
    return False


def _file_mode(path):
    """Keep an existing checkpoint's permissions; a new one gets the usual 0666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


class Checkpoint:
    """What `load` read: `model`, `optimizer` and `scheduler` state dicts (flat, as stored),
    `epoch`, `meta`, and the `path`."""

    def __init__(self, path, model, optimizer, epoch, meta, scheduler=None):
        self.path, self.model, self.optimizer, self.epoch, self.meta = path, model, optimizer, epoch, meta
        self.scheduler = scheduler or {}

    def restore(self, model, optimizer=None, scheduler=None):
        """Load the state into `model` (and `optimizer`, `scheduler`): if any refuses, all stay as
        they were."""
        # copies, not views of the live storage that loading is about to overwrite
        before = copy.deepcopy((model.state_dict(), optimizer.state_dict() if optimizer is not None else None,
                                scheduler.state_dict() if scheduler is not None else None))
        try:
            saved_schedule = self._scheduler_state(scheduler)  # checked before anything changes
            model.load_state_dict(self.model)
            if optimizer is not None:
                optimizer.load_state_dict(self.optimizer)
            if scheduler is not None:
                scheduler.load_state_dict(saved_schedule)
        except Exception as e:  # whatever refused: put back what was already changed
            model.load_state_dict(before[0])
            if optimizer is not None:
                optimizer.load_state_dict(before[1])
            if scheduler is not None:
                scheduler.load_state_dict(before[2])
            raise CheckpointError(f"{self.path}: does not fit this model/optimizer/scheduler: {e}") from None

    def _scheduler_state(self, scheduler):
        """The saved scheduler state, checked against `scheduler`'s own: the same entries, each a
        value of the same kind (a scheduler's load_state_dict takes whatever it is given)."""
        if scheduler is None:
            if self.scheduler:
                raise ValueError("the checkpoint holds a learning-rate scheduler's state, and this run has none")
            return None
        kind = type(scheduler).__name__
        if not self.scheduler:
            raise ValueError(f"the checkpoint holds no learning-rate scheduler state for this run's {kind}")
        try:
            saved = statetree.unflatten(self.scheduler)
        except statetree.StateTreeError as e:
            raise ValueError(f"the scheduler state: {e}") from None
        own = scheduler.state_dict()
        if not isinstance(saved, dict) or set(saved) != set(own):
            keys = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
            raise ValueError(f"the saved scheduler state has entries {keys}; a {kind} has {sorted(own)}")
        wrong = [k for k in own if _kind(saved[k]) != _kind(own[k])]
        if wrong:
            raise ValueError(f"the saved scheduler state's {', '.join(map(repr, wrong))} "
                             f"{'is' if len(wrong) == 1 else 'are'} not what a {kind} keeps "
                             f"({', '.join(f'{_kind(saved[k])}, not {_kind(own[k])}' for k in wrong)})")
        return saved


# what reading a damaged archive raises: zipfile's own errors, NotImplementedError for an unknown
# compression method, RuntimeError for an encrypted member, zlib.error for a broken deflate stream,
# ValueError/OSError/EOFError from NumPy's .npy parser on a cut-off member
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, zlib.error,
            ValueError, OSError, EOFError, KeyError, UnicodeDecodeError)


def load(path):
    """Read a checkpoint written by `save`; CheckpointError naming the file (and the entry) if it is
    damaged, truncated, some other kind of file, or holds values of the wrong kind."""
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: a directory, not a checkpoint file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: a single NumPy array, not a tinygrad_nm checkpoint")
        with archive:
            arrays = {k: archive[k] for k in archive.files}  # reads (and CRC-checks) every member now
    except CheckpointError:
        raise
    except _DAMAGED as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, damaged, or not an .npz "
                              f"file): {type(e).__name__}: {e}") from None
    if "format" not in arrays or str(arrays["format"]) != FORMAT:
        found = str(arrays["format"]) if "format" in arrays else f"no 'format' entry; keys {sorted(arrays)[:8]}"
        raise CheckpointError(f"{path}: an .npz file but not a {FORMAT!r} file ({found})")
    epoch = _count(path, "epoch", arrays.get("epoch"))
    try:
        meta = json.loads(str(arrays["meta"]))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint header: 'meta' ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: damaged checkpoint header: 'meta' is a {type(meta).__name__}, not a dict")
    for key, value in arrays.items():
        name = key.split("/", 1)[-1]  # entries named like __structure__ describe the layout: text by design
        if key.startswith(("model/", "optimizer/", "scheduler/")) and value.dtype.kind not in "biuf" and \
                not (name.startswith("__") and name.endswith("__")):
            raise CheckpointError(f"{path}: damaged checkpoint: {key!r} holds {value.dtype} "
                                  f"({_KINDS.get(value.dtype.kind, 'not numbers')}), not real numbers")
        if key.startswith("optimizer/") and name.split(".")[0] in ("steps", "step"):
            _count(path, key, value)  # a step count, whole or per parameter: one whole number
    model, optimizer, scheduler = ({k[len(part) + 1:]: v for k, v in arrays.items() if k.startswith(part + "/")}
                                   for part in ("model", "optimizer", "scheduler"))
    return Checkpoint(path, model, optimizer, epoch, meta, scheduler)


def _kind(value):
    """A scheduler state value's kind: a number (int or float: a float lr may be saved as 0), a
    list (or tuple), a dict, a string, a switch, or nothing."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):  # MultiStepLR's milestones: a Counter, saved as a dict
        return "a dict"
    return {str: "text", type(None): "None"}.get(type(value), type(value).__name__)


_KINDS = {"U": "text", "S": "bytes", "c": "complex numbers", "O": "Python objects", "M": "dates", "m": "time spans"}


def _count(path, key, value):
    """A count stored as a 0-d array (an integer, or a float holding one): the int, or CheckpointError."""
    problem = None
    if value is None:
        problem = "is missing"
    elif value.shape != ():
        problem = f"is an array of shape {value.shape}, not a single number"
    elif value.dtype.kind not in "biuf":
        problem = f"holds {value.dtype} ({_KINDS.get(value.dtype.kind, 'not numbers')}), not a number"
    elif not (np.isfinite(value) and value >= 0 and value == np.floor(value)):
        problem = f"is {value.item()!r}, not a non-negative whole number"
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint: {key!r} {problem}")
    return int(value)
