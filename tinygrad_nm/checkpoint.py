"""Checkpoints: a model's parameters, its optimizer's state, the epoch and a little metadata in one
.npz file, written atomically.

    checkpoint.save("run.npz", model, optimizer, epoch=3, meta={"task": "digits"})
    ckpt = checkpoint.load("run.npz")          # CheckpointError if truncated or foreign
    ckpt.restore(model, optimizer)             # all or nothing

Atomic: the file is written under a temporary name in the same directory, flushed to disk, then
renamed over the target with os.replace, which is atomic on POSIX and Windows. A crash at any
moment leaves either the previous checkpoint or the new one, never a mix. A process killed
mid-save cannot delete its temporary file: the next save to the same path does (the name holds
the writer's process id, so a save still running in another process keeps its own).

Loading checks everything before anything is changed: a damaged zip, a foreign file, arrays of
the wrong kind (strings, complex numbers, a vector where a count belongs) all raise
CheckpointError naming the file and the entry, and `restore` changes the model and the optimizer
both or neither.
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


def save(path, model, optimizer=None, epoch=0, meta=None):
    """Write model.state_dict(), optimizer.state_dict(), `epoch` and `meta` (JSON-able) to `path`."""
    arrays = {"format": np.array(FORMAT), "epoch": np.asarray(epoch, dtype=np.int64),
              "meta": np.array(json.dumps(meta or {}))}
    arrays.update({"model/" + k: v for k, v in model.state_dict().items()})
    if optimizer is not None:
        # the optimizer's nested state dict as flat arrays; Optimizer.load_state_dict takes them back
        arrays.update({"optimizer/" + k: v for k, v in statetree.flatten(optimizer.state_dict()).items()})
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
    """What `load` read: `model` and `optimizer` state dicts, `epoch`, `meta`, and the `path`."""

    def __init__(self, path, model, optimizer, epoch, meta):
        self.path, self.model, self.optimizer, self.epoch, self.meta = path, model, optimizer, epoch, meta

    def restore(self, model, optimizer=None):
        """Load the state into `model` (and `optimizer`): if either refuses, both stay as they were."""
        # copies, not views of the live storage that loading is about to overwrite
        before = copy.deepcopy((model.state_dict(), optimizer.state_dict() if optimizer is not None else None))
        try:
            model.load_state_dict(self.model)
            if optimizer is not None:
                optimizer.load_state_dict(self.optimizer)
        except Exception as e:  # whatever refused: put back what was already changed
            model.load_state_dict(before[0])
            if optimizer is not None:
                optimizer.load_state_dict(before[1])
            raise CheckpointError(f"{self.path}: does not fit this model/optimizer: {e}") from None


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
        if key.startswith(("model/", "optimizer/")) and value.dtype.kind not in "biuf" and \
                not (name.startswith("__") and name.endswith("__")):
            raise CheckpointError(f"{path}: damaged checkpoint: {key!r} holds {value.dtype} "
                                  f"({_KINDS.get(value.dtype.kind, 'not numbers')}), not real numbers")
        if key.startswith("optimizer/") and name.split(".")[0] in ("steps", "step"):
            _count(path, key, value)  # a step count, whole or per parameter: one whole number
    model = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    optimizer = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
    return Checkpoint(path, model, optimizer, epoch, meta)


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
