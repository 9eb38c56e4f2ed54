"""Checkpoints: a model's parameters, its optimizer's state, the epoch and a little metadata in one
.npz file, written atomically.

    checkpoint.save("run.npz", model, optimizer, epoch=3, meta={"task": "digits"})
    ckpt = checkpoint.load("run.npz")          # CheckpointError if truncated or foreign
    ckpt.restore(model, optimizer)             # all or nothing

Atomic: the file is written under a temporary name in the same directory, flushed to disk, then
renamed over the target with os.replace, which is atomic on POSIX and Windows. A crash at any
moment leaves either the previous checkpoint or the new one, never a mix.
"""
import json
import os
import tempfile
import zipfile

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
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
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
        before = model.state_dict()
        try:
            model.load_state_dict(self.model)
            if optimizer is not None:
                optimizer.load_state_dict(self.optimizer)
        except ValueError as e:
            model.load_state_dict(before)
            raise CheckpointError(f"{self.path}: does not fit this model/optimizer: {e}") from None


def load(path):
    """Read a checkpoint written by `save`; CheckpointError naming the file if it is damaged,
    truncated, or some other kind of file."""
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
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, damaged, or not an .npz "
                              f"file): {e}") from None
    if "format" not in arrays or str(arrays["format"]) != FORMAT:
        found = str(arrays["format"]) if "format" in arrays else f"no 'format' entry; keys {sorted(arrays)[:8]}"
        raise CheckpointError(f"{path}: an .npz file but not a {FORMAT!r} file ({found})")
    try:
        epoch, meta = int(arrays["epoch"]), json.loads(str(arrays["meta"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint header ({e})") from None
    model = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    optimizer = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
    return Checkpoint(path, model, optimizer, epoch, meta)
