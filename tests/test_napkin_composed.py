"""napkin's price of a kernel a backend composes of its own kernels (the python backend's conv2d and
its backward, conv_compose.py): the parts it is priced as are the calls the composition makes."""
import sys

import numpy as np
import pytest

from tinygrad_nm import backends, dtypes
from tinygrad_nm.backends import conv_compose
from tinygrad_nm.backends.kernels import KERNELS, kernel_cost
from tinygrad_nm.napkin import model

GEOMETRY = ((1, 1), (1, 1), ((1, 1), (1, 1)), 1)  # stride, dilation, padding, groups


def _direct_calls(monkeypatch, be, fn, *args):
    """(kernel, elements, outputs) of each kernel call `fn` makes straight from conv_compose (not those
    a kernel makes inside itself), outputs counted where the backend prices work per output."""
    per_output = be.PRICING["per_output"]
    calls = []

    def wrap(name, original):
        def traced(*a):
            out = original(*a)
            if sys._getframe(1).f_globals.get("__name__") == conv_compose.__name__:
                cost = kernel_cost(name, a, out)
                calls.append((name, cost.elements, cost.out_bytes / cost.itemsize if name in per_output else 0))
            return out
        return traced
    for name in KERNELS:
        if name not in ("conv2d", "conv2d_backward") and callable(getattr(be, name, None)):
            monkeypatch.setattr(be, name, wrap(name, getattr(be, name)))
    fn(*args)
    return sorted(c for c in calls if be.PRICING["work"].get(c[0]) != {})  # reshapes: no work


@pytest.mark.parametrize("channels,input_grad", [(1, False), (3, True)])
def test_python_conv_is_priced_as_the_calls_it_makes(monkeypatch, default_rates, channels, input_grad):
    be = backends.load("python")
    rng = np.random.default_rng(0)
    x, w, b, g = (be.from_numpy(rng.random(s).astype(np.float32), dtypes.float32)
                  for s in ((2, channels, 5, 5), (4, channels, 3, 3), (4,), (2, 4, 5, 5)))
    forward = kernel_cost("conv2d", (x, w, b, *GEOMETRY), be.conv2d(x, w, b, *GEOMETRY))
    backward_args = (x, w, g, *GEOMETRY, input_grad, True)
    backward = kernel_cost("conv2d_backward", backward_args, be.conv2d_backward(*backward_args))
    for cost, fn, args in ((forward, be.conv2d, (x, w, b, *GEOMETRY)),
                           (backward, be.conv2d_backward, backward_args)):
        made = _direct_calls(monkeypatch, be, fn, *args)
        priced = sorted(p for p in conv_compose.parts(cost) if p[0] != "expand")  # expand: inside add
        assert {k for k, _, _ in made} >= {"matmul", "permute"}
        assert [(k, pytest.approx(n), pytest.approx(m)) for k, n, m in priced] == made
        monkeypatch.undo()
    # and priced as those parts at the interpreter's rates: the first conv (C = 1) pays mostly per output
    r = default_rates["interpreter"]
    p = model.predict(forward, "python", default_rates)
    outputs = 2 * 4 * 5 * 5
    assert p.seconds > forward.elements * r["madd_s"] + outputs * r["output_s"] + r["call_s"]
