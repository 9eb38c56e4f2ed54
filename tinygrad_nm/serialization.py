"""tnm.save / tnm.load, and safetensors files for exchanging weights with PyTorch.

    tnm.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, "run.tnm")
    state = tnm.load("run.tnm")                   # the same nesting; tensors on the default backend
    tnm.save_safetensors(model.state_dict(), "w.safetensors")   # torch: safetensors.torch.load_file
    model.load_state_dict(tnm.load_safetensors("w.safetensors"))

tnm.save writes an .npz archive (the checkpoint module's atomic write: a temporary file renamed
over the target) holding the arrays and a JSON description of the nesting; tnm.load reads it with
pickling disabled, so loading a file never runs code from it. Tensors, NumPy arrays, numbers,
strings, None and dicts/lists/tuples of them can be saved: state dicts of models, optimizers and
schedulers (whose lambdas are not saved, as in PyTorch).
"""
import os
import zipfile

import numpy as np

from tinygrad_nm import checkpoint, statetree
from tinygrad_nm.device import backend_name, device
from tinygrad_nm.tensor import Tensor

FORMAT = "tinygrad_nm save v1"


class LoadError(checkpoint.CheckpointError):
    """A file that tnm.load (or load_safetensors) cannot read: damaged, truncated or foreign."""


def save(obj, f):
    """Write `obj` (tensors, arrays, numbers, strings, None, nested in dicts/lists/tuples) to path f,
    atomically. Anything else (a function, a Module) is refused before the file is touched."""
    arrays = statetree.flatten(obj)
    arrays["__format__"] = np.array(FORMAT)
    checkpoint._write_atomically(os.fspath(f), arrays)


def load(f, backend=None, map_location=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Read what save() wrote; tensors are made on `backend` (default: the current default).
    weights_only and mmap are accepted as PyTorch's: the file holds arrays and their names only,
    never pickled objects, so it is always loaded as weights_only=True would."""
    path = os.fspath(f)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tnm.load: {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise LoadError(f"{path}: a single NumPy array, not a file written by tnm.save")
            arrays = {k: archive[k] for k in archive.files}  # reads (and CRC-checks) every member now
    except LoadError:
        raise
    except AttributeError:  # np.load of a plain .npy returns an array, which is no context manager
        raise LoadError(f"{path}: a single NumPy array, not a file written by tnm.save") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, NotImplementedError, RuntimeError) as e:
        raise LoadError(f"{path}: not readable (truncated, damaged, or not a tnm.save file): "
                        f"{type(e).__name__}: {e}") from None
    if str(arrays.pop("__format__", "")) != FORMAT:
        raise LoadError(f"{path}: not a {FORMAT!r} file (keys {sorted(arrays)[:8]})")
    if map_location is not None and not isinstance(map_location, (str, device)):
        raise TypeError(f"tnm.load: map_location must be a device or its name (\"cpu\", \"cuda\"), got a "
                        f"{type(map_location).__name__}; a dict or function is not supported")
    try:
        return statetree.unflatten(arrays, backend=backend_name(map_location, backend) if map_location else backend)
    except statetree.StateTreeError as e:
        raise LoadError(f"{path}: {e}") from None


# --- safetensors -------------------------------------------------------------------------------
def _safetensors_numpy():
    try:
        from safetensors import numpy as st
    except ImportError:
        raise ImportError("safetensors files need the safetensors package: pip install safetensors "
                          "(or pip install 'tinygrad_nm[safetensors]')") from None
    return st


def save_safetensors(tensors, path, metadata=None):
    """Write a flat {name: Tensor or array} dict (a state dict) as a .safetensors file, atomically."""
    st = _safetensors_numpy()
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors: expected a dict of name -> tensor, got {type(tensors).__name__}")
    host = {}
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: names must be strings, got {name!r}")
        if not isinstance(t, (Tensor, np.ndarray)):
            raise TypeError(f"save_safetensors: {name!r} is a {type(t).__name__}, not a tensor")
        host[name] = np.array(t.detach().numpy() if isinstance(t, Tensor) else t, order="C")  # keeps 0-d as 0-d
    data = st.save(host, metadata=metadata)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_safetensors(path, backend=None):
    """{name: Tensor} from a .safetensors file (dtypes float16/float32/float64/int64/bool; other integer
    widths become int64, bfloat16 is refused, and so is float16 on a backend that does not hold it)."""
    st = _safetensors_numpy()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_safetensors: {path!r} does not exist")
    try:
        with open(path, "rb") as f:
            arrays = st.load(f.read())
    except Exception as e:  # the library raises its own SafetensorError for damaged headers
        raise LoadError(f"{path}: not a readable safetensors file: {type(e).__name__}: {e}") from None
    out = {}
    for name, a in arrays.items():
        try:
            out[name] = Tensor(a, backend=backend)
        except TypeError as e:  # a dtype tinygrad_nm (or this backend) does not hold
            raise LoadError(f"{path}: {name!r} is {a.dtype}: {e}") from None
    return out
