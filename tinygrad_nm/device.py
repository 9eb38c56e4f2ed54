"""`tnm.device`: PyTorch's device names mapped onto backends, so `t.to("cuda")`, `t.cpu()` and
`tensor(..., device=...)` work in a program written for PyTorch.

"cpu" is the default backend when it computes on the host (else the NumPy one); "cuda" is the
Numba CUDA backend (the mapping lives in backends/__init__.py). A backend name ("python",
"cython", ...) is accepted wherever a device is, and `device.backend` names the backend meant.
"""
from tinygrad_nm import backends


class device:
    """device("cpu"), device("cuda"), device("cuda:0"), device("cuda", 0), or a backend name."""
    __slots__ = ("type", "index", "_backend")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda', got {type!r}")
        if ":" in type:
            type, _, number = type.partition(":")
            if not number.isdigit() or index is not None:
                raise ValueError(f"device: invalid device string {type + ':' + number!r}")
            index = int(number)
        if type in backends.known_backends():  # a backend named directly
            self._backend = type
            type = backends.device_type(backends.load(type))
        else:
            self._backend = None
        if type not in backends.device_types():
            raise ValueError(f"device: unknown device type {type!r}; device types: "
                             f"{', '.join(backends.device_types())}, or a backend: {', '.join(backends.known_backends())}")
        if index not in (None, 0):
            raise ValueError(f"device: only device index 0 exists here, got {index}")
        self.type, self.index = type, index

    @property
    def backend(self):
        """The name of the backend this device stands for."""
        return (backends.load(self._backend) if self._backend else backends.for_device(self.type)).NAME

    def __repr__(self):
        return f"device(type={self.type!r}{'' if self.index is None else f', index={self.index}'})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, device) and self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash(self.type)


def backend_of(spec):
    """The backend module a device spec (a device, "cpu", "cuda:0", a backend name) stands for."""
    if spec is None:
        return backends.default()
    d = spec if isinstance(spec, device) else device(spec)
    return backends.load(d.backend)


def backend_name(device, backend):
    """The backend name for a constructor's device= / backend= (neither: None, the default
    backend): nn.Linear(..., device="cuda") as nn.Linear(..., backend="numba_cuda")."""
    if device is not None and backend is not None:
        raise TypeError(f"pass device= or backend=, not both (got {device!r} and {backend!r})")
    return backend if device is None else backend_of(device).NAME


def of_backend(be):
    """The device a tensor on backend module `be` is on."""
    d = device(be.NAME)  # its type is "cpu" or "cuda"; it remembers the backend itself
    d.index = None if d.type == "cpu" else 0
    return d
