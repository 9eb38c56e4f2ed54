"""The kernel table is the one list of kernels: every backend implements all of it, napkin prices
every (backend, kernel) pair from it or says why not, and the package layers top-down."""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import backends, dtypes, nn
from tinygrad_nm import functional as F
from tinygrad_nm.backends import costs, strided
from tinygrad_nm.backends.kernels import FAMILIES, KERNELS, TABLE, kernel_cost, missing_from, of_family
from tinygrad_nm.napkin import model, rates as rates_mod

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _importable(name):
    """The backend's module if it imports here (it may still be unable to run: no GPU, not built)."""
    try:
        return importlib.import_module(backends._MODULES[name])
    except ImportError:
        return None


@pytest.mark.parametrize("name", backends.known_backends())
def test_every_backend_implements_every_kernel(name):
    module = _importable(name)
    if module is None:
        why = backends._unavailable.get(name) or "its module does not import here"
        pytest.skip(f"backend {name!r} does not import on this machine: {why}")
    assert missing_from(module) == []
    assert callable(module.unavailable_reason) and module.NAME == name


def test_table_rows_are_complete():
    assert set(KERNELS) == set(TABLE) and len(KERNELS) == len(set(KERNELS))
    for row in TABLE.values():
        assert row.family in FAMILIES and row.signature.startswith(row.name + "(") and row.doc
    assert sum(len(of_family(f)) for f in FAMILIES) == len(KERNELS)
    with pytest.raises(ValueError, match="unknown kernel family"):
        of_family("convolution")


@pytest.mark.parametrize("name", backends.known_backends())
def test_napkin_prices_every_kernel_or_says_why_not(name, monkeypatch):
    monkeypatch.setattr(rates_mod, "_current", rates_mod.defaults())
    facts, why = backends.pricing(name)
    rates = rates_mod.current()
    for kernel, args in _EXAMPLE_ARGS.items():
        cost = kernel_cost(kernel, args)
        p = model.predict(cost, name, rates, "float32")
        if facts is None:
            assert not p.priced and why in p.arithmetic()
        else:
            assert p.priced and p.seconds > 0 and p.seconds >= p.overhead_s, (name, kernel)


def test_a_backend_with_unknown_pricing_is_not_guessed():
    fake = type("Fake", (), {"NAME": "fake", "PRICING": {"family": "quantum"}})
    p = model.predict(kernel_cost("add", (costs.Buf((4,)), costs.Buf((4,)))), fake, rates_mod.defaults())
    assert not p.priced and "quantum" in p.arithmetic()


def test_example_args_cover_the_table():
    assert set(_EXAMPLE_ARGS) == set(KERNELS)


def test_estimate_of_a_step_is_the_sum_of_its_recorded_kernels(monkeypatch):
    monkeypatch.setattr(rates_mod, "_current", rates_mod.defaults())
    def step(x, y):
        with tnm.use_backend(backends.shape_only().NAME):
            net = nn.MLP([8, 16, 4], generator=np.random.default_rng(0))
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return loss

    est = tnm.napkin.estimate(step, (32, 8), tnm.Tensor(np.zeros(32, np.int64)), backend="numpy")
    calls, _ = tnm.napkin.trace_kernels(step, (32, 8), tnm.Tensor(np.zeros(32, np.int64)))
    assert [name for name, _, _ in calls] == est.kernels
    assert "matmul" in est.kernels and "cross_entropy_backward" in est.kernels  # forward and backward
    each = [tnm.napkin.estimate_kernel(n, a, "numpy", "float32", rates_mod.current(), o).prediction.seconds
            for n, a, o in calls]
    assert est.seconds == pytest.approx(sum(each))


def test_meta_backend_allocates_nothing_and_follows_shapes():
    meta = backends.shape_only()
    assert meta.NAME not in tnm.available_backends()  # it holds no values: tests don't run on it
    x = tnm.Tensor._make(meta.empty((1000, 1000), dtypes.float32), dtypes.float32, meta)
    y = (x @ x.T).relu().sum(axis=1)
    assert y.shape == (1000,) and y.backend == meta.NAME
    assert x.numpy().strides == (0, 0)  # a broadcast view of one zero, not a million-element array


@pytest.mark.parametrize("shape,index", [((5,), (2,)), ((3, 4), (slice(1, 3), [0, 2])),
                                         ((3, 4, 5), (0, slice(None), [1, 2])), ((3, 4, 5), ([2, 0],)),
                                         ((6, 2), (slice(None, None, 2),))])
def test_strided_index_rules_match_numpy(shape, index):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    offsets, out_shape = strided.index_offsets(shape, index)
    expected = a[tuple(np.array(e) if isinstance(e, list) else e for e in index)]
    assert out_shape == expected.shape == strided.indexed_shape(shape, index)
    assert offsets == expected.ravel().tolist()


def test_strided_broadcast_rule_names_the_shapes():
    with pytest.raises(ValueError, match="cannot be broadcast"):
        strided.broadcast_shapes((2, 3), (4,))


def test_layers_no_cycles_no_backend_names_above_backends_no_long_files():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "check_layers.py"), "--strict"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_settings_are_typed_and_scoped():
    from tinygrad_nm.settings import Context, describe, settings
    with Context(num_threads=3, debug=0):
        assert settings.num_threads == 3
    with pytest.raises(TypeError, match="unknown setting"):
        with Context(colour="blue"):
            pass
    assert "TINYGRAD_NM_BACKEND" in describe() and "TINYGRAD_NM_DEBUG" in describe()


def test_bad_setting_names_the_variable(monkeypatch):
    from tinygrad_nm.settings import reload, settings
    monkeypatch.setenv("TINYGRAD_NM_DEBUG", "loud")
    reload()
    with pytest.raises(ValueError, match="TINYGRAD_NM_DEBUG='loud': expected 0, 1 or 2"):
        settings.debug


# one call's arguments for every kernel, as shapes (costs.Buf), scalars and parameters
_B = costs.Buf
_EXAMPLE_ARGS = {
    "full": ((64, 64), 0.0, dtypes.float32), "from_numpy": (_B((64, 64)), dtypes.float32),
    "to_numpy": (_B((64, 64)),), "item": (_B(()),),
    **{k: (_B((64, 64)),) for k in of_family("unary") if k != "astype"}, "astype": (_B((64, 64)), dtypes.float64),
    **{k: (_B((64, 64)), _B((64, 64))) for k in of_family("binary") if k != "where"},
    "where": (_B((64, 64), 1), _B((64, 64)), 0.0),
    "sum": (_B((64, 64)), (1,), False), "max": (_B((64, 64)), (0, 1), True),
    "reshape": (_B((64, 64)), (4096,)), "permute": (_B((64, 64)), (1, 0)), "expand": (_B((1, 64)), (64, 64)),
    "getitem": (_B((64, 64)), (slice(0, 8),)), "setitem": (_B((64, 64)), (3,), 1.0),
    "index_add": (_B((64, 64)), (slice(0, 8),), _B((8, 64))), "assign": (_B((64, 64)), 0.0),
    "matmul": (_B((64, 32)), _B((32, 16))),
    **{k: (_B((64, 64)), _B((64, 64))) for k in ("relu_backward", "sigmoid_backward", "tanh_backward")},
    "softmax": (_B((64, 10)), 1), "log_softmax": (_B((64, 10)), 1),
    "softmax_backward": (_B((64, 10)), _B((64, 10)), 1), "log_softmax_backward": (_B((64, 10)), _B((64, 10)), 1),
    "cross_entropy": (_B((64, 10)), _B((64,), 8)), "cross_entropy_backward": (_B((64, 10)), _B((64,), 8), _B(())),
    "im2col": (_B((8, 3, 28, 28)), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    "col2im": (_B((27, 8 * 28 * 28)), (8, 3, 28, 28), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    "linear_act": (_B((64, 32)), _B((16, 32)), _B((16,)), "sigmoid"), "axpy": (_B((64, 64)), -0.1, _B((64, 64))),
    "max_pool2d": (_B((32, 32, 8, 8)), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),
    "max_pool2d_backward": (_B((32, 32, 4, 4)), _B((32, 32, 4, 4), 8), (32, 32, 8, 8), (2, 2), (2, 2), (1, 1),
                            ((0, 0), (0, 0))),
    "conv2d": (_B((8, 4, 28, 28)), _B((16, 2, 3, 3)), _B((16,)), (1, 1), (1, 1), ((1, 1), (1, 1)), 2),
    "conv2d_backward": (_B((8, 4, 28, 28)), _B((16, 2, 3, 3)), _B((8, 16, 28, 28)), (1, 1), (1, 1), ((1, 1), (1, 1)),
                        2, True, True),
    "conv2d_act": (_B((8, 4, 28, 28)), _B((16, 2, 3, 3)), _B((16,)), (1, 1), (1, 1), ((1, 1), (1, 1)), 2, "tanh"),
    "conv2d_act_backward": (_B((8, 4, 28, 28)), _B((16, 2, 3, 3)), _B((8, 16, 28, 28)), _B((8, 16, 28, 28)), (1, 1),
                            (1, 1), ((1, 1), (1, 1)), 2, "relu", True, True),
}
