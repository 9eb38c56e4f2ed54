"""The backend-parametrized fixture every backend-agnostic test uses.

`backend` runs a test once per backend this machine can run (or those named in
TINYGRAD_NM_TEST_BACKENDS, comma-separated), with that backend as the default
for tensors created inside the test. A new backend inherits the whole suite.
"""
import numpy as np
import pytest

import tinygrad_nm as tnm


BACKENDS = tnm.backends.named_in_env("TINYGRAD_NM_TEST_BACKENDS") or tnm.available_backends()


@pytest.fixture(params=BACKENDS)
def backend(request):
    with tnm.use_backend(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch
