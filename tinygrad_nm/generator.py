"""torch.Generator and torch.get_rng_state/set_rng_state: PyTorch's handles on the NumPy
generators every random draw here comes from (host.py: drawn on the host, so a seed gives the
same numbers on every backend)."""
import json

import numpy as np

from tinygrad_nm import host
from tinygrad_nm.tensor import Tensor


class Generator:
    """torch.Generator: a NumPy PCG64 generator behind PyTorch's methods, for the generator=
    arguments (randperm, random_split, DataLoader, ...). Its draws are NumPy's, not PyTorch's."""

    def __init__(self, device="cpu"):
        self.device = device
        self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))

    def manual_seed(self, seed):
        """Any int, negative ones too (PyTorch keeps them modulo 2^64)."""
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed % 2 ** 64)
        return self

    def seed(self):
        """A new random seed, used and returned."""
        seed = int(np.random.SeedSequence().entropy % 2**63)
        self.manual_seed(seed)
        return seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return Tensor(_state_bytes(self.rng))

    def set_state(self, state):
        self.rng = _from_state_bytes(state, "Generator.set_state")
        return self


def _state_bytes(rng):
    """A generator's state as bytes in a 1-D array (PyTorch's ByteTensor, stored here as int64)."""
    return np.frombuffer(json.dumps(rng.bit_generator.state).encode(), np.uint8).astype(np.int64)


def _from_state_bytes(state, what):
    try:
        values = state.tolist() if hasattr(state, "tolist") else list(state)
        decoded = json.loads(bytes(values).decode())
        rng = np.random.Generator(getattr(np.random, decoded["bit_generator"])())
        rng.bit_generator.state = decoded
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise RuntimeError(f"{what}: not a state from get_state()/get_rng_state() ({type(e).__name__}: {e})") from None
    return rng


def get_rng_state():
    """The global generator's state (torch.get_rng_state), for set_rng_state."""
    return Tensor(_state_bytes(host._global_rng[0]))


def set_rng_state(state):
    host._global_rng[0] = _from_state_bytes(state, "set_rng_state")
