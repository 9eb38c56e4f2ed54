"""The backend-parametrized fixture every backend-agnostic test uses.

`backend` runs a test once per backend this machine can run (or those named in
TINYGRAD_NM_TEST_BACKENDS, comma-separated), with that backend as the default
for tensors created inside the test. A new backend inherits the whole suite.
"""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.settings import reload, settings


BACKENDS = tnm.backends.checked(settings.test_backends) or tnm.available_backends()


@pytest.fixture(autouse=True)
def _settings_follow_the_environment():
    """Settings are read from the environment once; a test that changes it (monkeypatch.setenv)
    sees the change, and leaves nothing cached for the next test."""
    reload()
    yield
    reload()


@pytest.fixture(params=BACKENDS)
def backend(request):
    with tnm.use_backend(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def default_rates():
    """napkin's estimates from the documented defaults, whatever this machine has cached."""
    from tinygrad_nm.napkin import rates as rates_mod
    previous = rates_mod._current
    rates = rates_mod.set_current(rates_mod.defaults())
    yield rates
    rates_mod._current = previous


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch
