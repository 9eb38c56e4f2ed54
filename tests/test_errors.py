"""Bad input: each error names the problem (shapes, names, values) and leaves its operands unchanged."""
import contextlib
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor
from tinygrad_nm import backends
from tinygrad_nm import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _state(t):
    vals = t.detach().numpy().copy() if t.requires_grad else t.numpy().copy()
    grad = None if t.grad is None else t.grad.numpy().copy()
    return (t.shape, str(t.dtype), t.backend, t.requires_grad, t.is_leaf, vals, grad)


@contextlib.contextmanager
def unchanged(*tensors):
    """Assert that nothing observable about `tensors` changed inside the block (even when it raises)."""
    before = [_state(t) for t in tensors]
    try:
        yield
    finally:
        for i, (t, b) in enumerate(zip(tensors, before)):
            a = _state(t)
            assert a[:5] == b[:5], f"operand {i}: {b[:5]} became {a[:5]}"
            np.testing.assert_array_equal(a[5], b[5], err_msg=f"operand {i}'s values changed")
            assert (a[6] is None) == (b[6] is None), f"operand {i}'s grad appeared or vanished"
            if a[6] is not None:
                np.testing.assert_array_equal(a[6], b[6], err_msg=f"operand {i}'s grad changed")


def raises(exc, *fragments):
    """pytest.raises that also checks every fragment appears (literally) in the message."""
    @contextlib.contextmanager
    def ctx():
        with pytest.raises(exc) as info:
            yield info
        msg = str(info.value)
        for f in fragments:
            assert f in msg, f"{f!r} missing from the error message: {msg!r}"
    return ctx()


def _with_grad(t):
    """A leaf that requires grad and already holds a gradient: errors must leave both alone."""
    t.requires_grad_()
    (t * 1.0).sum().backward()
    return t


# --- construction --------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [[[1, 2], [3]], [1, [2, 3]], [[1.0, 2.0], [3.0, 4.0, 5.0]], [[[1]], [[1, 2]]]])
def test_ragged_lists(backend, data):
    with pytest.raises(ValueError, match="rectangular|ragged|inhomogeneous"):
        Tensor(data)


@pytest.mark.parametrize("data,name", [("abc", "str"), (None, "NoneType"), (b"ab", "bytes"), (["a", "b"], ""),
                                       ([1.0, None], ""), ({"a": 1}, ""), (object(), ""), ([1, "2"], ""),
                                       (np.array(["x"]), "")])
def test_non_numeric_data(backend, data, name):
    with pytest.raises(TypeError, match="numeric|numbers") as info:
        Tensor(data)
    assert name in str(info.value)


@pytest.mark.parametrize("dtype", ["bfloat16", "complex64", "nonsense", np.complex128, object])
def test_unknown_dtype(backend, dtype):
    with pytest.raises((TypeError, ValueError)) as info:
        Tensor([1.0, 2.0], dtype=dtype)
    msg = str(info.value)
    assert "dtype" in msg and "float32" in msg  # says what is supported
    name = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", "")
    assert name in msg
    with pytest.raises((TypeError, ValueError)):
        Tensor.zeros(2, dtype=dtype)


@pytest.mark.parametrize("make", [lambda: Tensor.zeros(-1), lambda: Tensor.ones(2, -3), lambda: Tensor.full((-2,), 1.0),
                                  lambda: Tensor.rand(-1, seed=0), lambda: Tensor.randn(3, -1, seed=0)])
def test_negative_dimensions(backend, make):
    with pytest.raises(ValueError, match="negative"):
        make()


@pytest.mark.parametrize("make", [lambda: Tensor.zeros(2.5), lambda: Tensor.ones("3"), lambda: Tensor.zeros(True)])
def test_non_integer_dimensions(backend, make):
    with pytest.raises(TypeError, match="integer"):
        make()


def test_integer_to_a_negative_integer_power(backend):
    i = Tensor([2, 3])
    with unchanged(i):
        with raises(ValueError, "negative integer powers"):
            i ** -1
        with raises(ValueError, "negative integer powers"):
            i ** Tensor([1, -2])
    assert (i ** -1.0).tolist() == [0.5, pytest.approx(1 / 3)]  # a float exponent gives floats


def test_arange_zero_step(backend):
    with raises(ValueError, "step"):
        Tensor.arange(0, 5, 0)


# --- backends ------------------------------------------------------------------------------------------
def test_unknown_backend_name(backend):
    t = Tensor([1.0, 2.0])
    with unchanged(t):
        for call in (lambda: Tensor([1.0], backend="cuda_typo"), lambda: tnm.set_backend("cuda_typo"),
                     lambda: tnm.use_backend("cuda_typo").__enter__(), lambda: Tensor.zeros(2, backend="cuda_typo"),
                     lambda: t.to("cuda_typo")):
            with pytest.raises(ValueError) as info:
                call()
            msg = str(info.value)
            assert "cuda_typo" in msg, msg
            for name in tnm.available_backends():  # lists what can be used instead
                assert name in msg, msg
    assert tnm.get_backend() == backend


def test_backend_env_var_unknown_name():
    env = dict(os.environ, TINYGRAD_NM_BACKEND="no_such_backend", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", "import tinygrad_nm as t; t.Tensor([1.0]); print('ran')"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert "ValueError" in proc.stderr
    for fragment in ("no_such_backend", "TINYGRAD_NM_BACKEND", "numpy", "python"):
        assert fragment in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", [n for n in backends.known_backends() if backends._try_load(n) is None])
def test_backend_env_var_names_a_backend_that_cannot_run_here(name):
    env = dict(os.environ, TINYGRAD_NM_BACKEND=name, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", "import tinygrad_nm as t; t.Tensor([1.0]); print('ran')"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert "BackendUnavailableError" in proc.stderr and f"TINYGRAD_NM_BACKEND={name!r}" in proc.stderr, proc.stderr
    assert "cannot run here" in proc.stderr


def test_backend_env_var_picks_the_default():
    env = dict(os.environ, TINYGRAD_NM_BACKEND="python", PYTHONPATH=ROOT)
    code = "import tinygrad_nm as t; print(t.get_backend(), t.Tensor([1.0]).backend)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["python", "python"]
    env.pop("TINYGRAD_NM_BACKEND")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["numpy", "numpy"], proc.stderr


@pytest.fixture
def isolated_registry(monkeypatch):
    """Register fake backends without leaking them (or their cached state) into other tests."""
    monkeypatch.setattr(backends, "_MODULES", dict(backends._MODULES))
    monkeypatch.setattr(backends, "_loaded", dict(backends._loaded))
    monkeypatch.setattr(backends, "_unavailable", dict(backends._unavailable))

    def register(name, module=None):
        modname = f"_tinygrad_nm_test_fake_{name}"
        backends._MODULES[name] = modname
        if module is not None:
            monkeypatch.setitem(sys.modules, modname, module)
    return register


def test_known_backend_that_cannot_run_here(backend, isolated_registry):
    fake = types.ModuleType("fakegpu")
    fake.NAME = "fakegpu"
    fake.unavailable_reason = lambda: ("no CUDA GPU found (numba.cuda.is_available() is False); run on a "
                                       "machine with an NVIDIA GPU or set NUMBA_ENABLE_CUDASIM=1")
    isolated_registry("fakegpu", fake)
    assert "fakegpu" not in tnm.available_backends()
    t = Tensor([1.0, 2.0])
    with unchanged(t):
        for call in (lambda: Tensor([1.0], backend="fakegpu"), lambda: tnm.set_backend("fakegpu"),
                     lambda: tnm.use_backend("fakegpu").__enter__(), lambda: t.to("fakegpu")):
            with raises(tnm.BackendUnavailableError, "fakegpu", "no CUDA GPU found", "NUMBA_ENABLE_CUDASIM=1"):
                call()
    assert issubclass(tnm.BackendUnavailableError, RuntimeError)
    assert tnm.get_backend() == backend


def test_backend_whose_module_fails_to_import(backend, isolated_registry):
    isolated_registry("brokenext")  # no such module: like a native extension that was never built
    assert "brokenext" not in tnm.available_backends()
    with pytest.raises(tnm.BackendUnavailableError) as info:
        Tensor([1.0], backend="brokenext")
    msg = str(info.value)
    assert "brokenext" in msg and "_tinygrad_nm_test_fake_brokenext" in msg  # why: the import error
    assert any(hint in msg for hint in ("pip install", "dev.sh")), f"no hint how to fix it: {msg}"


@pytest.mark.parametrize("name", [n for n in backends.known_backends() if backends._try_load(n) is None])
def test_real_backends_unavailable_here_say_why_and_how(name):
    with pytest.raises(tnm.BackendUnavailableError) as info:
        backends.load(name)
    msg = str(info.value)
    assert name in msg and any(hint in msg for hint in ("pip install", "dev.sh", "build", "GPU", "CUDASIM")), msg


def _other(backend):
    return "python" if backend != "python" else "numpy"


def test_ops_across_backends_name_both(backend):
    other = _other(backend)
    a = _with_grad(Tensor([1.0, 2.0]))
    b = _with_grad(Tensor([3.0, 4.0], backend=other))
    m = Tensor([[1.0], [2.0]], backend=other)
    with unchanged(a, b, m):
        for call in (lambda: a + b, lambda: b * a, lambda: a - b, lambda: a / b, lambda: a ** b, lambda: a @ m,
                     lambda: a < b, lambda: a == b, lambda: F.mse_loss(a, b)):
            with pytest.raises(ValueError) as info:
                call()
            msg = str(info.value)
            assert repr(backend) in msg and repr(other) in msg, msg


def test_cross_backend_in_place_setitem_index_and_backward(backend):
    other = _other(backend)
    a = Tensor([1.0, 2.0, 3.0])
    b = Tensor([5.0], backend=other)
    with unchanged(a, b):
        with pytest.raises(ValueError, match=f"'{backend}'.*'{other}'|'{other}'.*'{backend}'"):
            a += b
        with pytest.raises(ValueError, match=f"'{backend}'.*'{other}'|'{other}'.*'{backend}'"):
            a[0] = b
        with pytest.raises(ValueError, match=f"'{backend}'.*'{other}'|'{other}'.*'{backend}'"):
            a[Tensor([0, 1], backend=other)]
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with unchanged(x):
        with pytest.raises(RuntimeError, match=f"'{other}'"):
            y.backward(Tensor([1.0, 1.0], backend=other))
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    logits = Tensor([[1.0, 2.0]], requires_grad=True)
    with unchanged(logits):
        with pytest.raises(ValueError, match=f"'{other}'"):
            F.cross_entropy(logits, Tensor([1], backend=other))


# --- shapes -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((2, 3), (4,)), ((2, 3), (3, 2)), ((3,), (4,)), ((2, 1, 3), (2, 2, 1, 4))])
def test_broadcast_mismatch_names_both_shapes(backend, sa, sb):
    a = _with_grad(Tensor(np.ones(sa)))
    b = _with_grad(Tensor(np.ones(sb)))
    with unchanged(a, b):
        for call in (lambda: a + b, lambda: a * b, lambda: b - a, lambda: a / b, lambda: a ** b, lambda: a < b):
            with raises(ValueError, str(sa), str(sb)):
                call()


def test_in_place_shape_errors(backend):
    t = Tensor(np.ones((2, 3)))
    with unchanged(t):
        with raises(ValueError, "(2, 3)", "(4,)"):
            t += Tensor([1.0, 2.0, 3.0, 4.0])
    r = Tensor([1.0, 2.0, 3.0])
    with unchanged(r):
        with pytest.raises((ValueError, RuntimeError)) as info:
            r *= Tensor(np.ones((2, 3)))  # the result would not fit the tensor
        assert "(3,)" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("sa,sb", [((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (4,)), ((3,), (2, 3)), ((2, 3), (4, 2))])
def test_matmul_misalignment_names_shapes(backend, sa, sb):
    a, b = _with_grad(Tensor(np.ones(sa))), _with_grad(Tensor(np.ones(sb)))
    with unchanged(a, b):
        with raises(ValueError, str(sa), str(sb)):
            a @ b


@pytest.mark.parametrize("sa,sb", [((), (3,)), ((2, 2, 2), (3, 2, 2))])  # 0-d; batch dims that do not broadcast
def test_matmul_rank(backend, sa, sb):
    a, b = Tensor(np.ones(sa)), Tensor(np.ones(sb))
    with unchanged(a, b):
        with raises(ValueError, str(sa), str(sb)):
            a @ b


@pytest.mark.parametrize("target", [(4, 2), (7,), (-1, 4), (5, -1), (0, -1)])
def test_reshape_to_a_wrong_size(backend, target):
    t = _with_grad(Tensor(np.arange(6.0).reshape(2, 3)))
    with unchanged(t):
        with raises(ValueError, "(2, 3)", str(target)):
            t.reshape(*target)


def test_reshape_bad_specs(backend):
    t = Tensor(np.arange(6.0))
    with unchanged(t):
        with raises(ValueError, "-1"):
            t.reshape(-1, -1)
        with raises(ValueError, "-2"):
            t.reshape(-2, -3)


@pytest.mark.parametrize("call,fragments", [
    (lambda t: t.permute(0, 0), ["(0, 0)"]),
    (lambda t: t.permute(0), ["permute", "(2, 3)"]),
    (lambda t: t.permute(0, 2), ["2"]),
    (lambda t: t.transpose(0, 5), ["5"]),
    (lambda t: t.sum(axis=2), ["axis 2"]),
    (lambda t: t.mean(axis=-3), ["axis -3"]),
    (lambda t: t.max(axis=(0, 0)), ["axis"]),
    (lambda t: t.softmax(axis=2), ["axis 2"]),
    (lambda t: t.log_softmax(axis=-3), ["axis -3"]),
    (lambda t: t.flatten(4), ["4"]),
])
def test_bad_axes(backend, call, fragments):
    t = _with_grad(Tensor(np.ones((2, 3))))
    with unchanged(t):
        with pytest.raises((ValueError, IndexError)) as info:
            call(t)
        for f in fragments:
            assert f in str(info.value), str(info.value)


# --- indexing -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key,fragments", [
    (3, ["3", "size 3"]), (-4, ["-4", "size 3"]), ((0, 4), ["4", "axis 1", "size 4"]),
    ((slice(None), -5), ["-5", "axis 1"]), ([0, 3], ["3", "axis 0"]), ((1, [4, 0]), ["4", "axis 1"]),
    ("tensor", ["7"]),
])
def test_index_out_of_range(backend, key, fragments):
    key = Tensor([0, 7]) if isinstance(key, str) else key
    t = _with_grad(Tensor(np.arange(12.0).reshape(3, 4)))
    with unchanged(t):
        with pytest.raises(IndexError) as info:
            t[key]
        for f in fragments:
            assert f in str(info.value), str(info.value)
        with pytest.raises(IndexError), tnm.no_grad():
            t[key] = 0.0


def test_index_out_of_range_1d_hot_path(backend):
    w = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    with unchanged(w):
        with raises(IndexError, "4", "size 4"):
            w[4]
        with raises(IndexError, "-5", "size 4"):
            w[-5]


def test_too_many_indices(backend):
    t = Tensor(np.ones((2, 3)))
    with unchanged(t):
        with raises(IndexError, "too many indices", "2"):
            t[0, 0, 0]
        with raises(IndexError, "too many indices"):
            Tensor(1.0)[0]
        with raises(IndexError, "too many indices"):
            t[0, ..., 0, 1]


@pytest.mark.parametrize("key", [1.5, "a", (0, 1.0), [0.5, 1.0], lambda: Tensor([0.0, 1.0]),
                                 lambda: Tensor(1.0)])
def test_bad_index_types(backend, key):
    key = key() if callable(key) else key
    t = Tensor(np.ones((2, 3)))
    with unchanged(t):
        with pytest.raises((IndexError, TypeError)):
            t[key]


def test_setitem_shape_mismatch(backend):
    t = Tensor(np.zeros((2, 3)))
    with unchanged(t):
        with raises(ValueError, "(4,)", "(3,)"):
            t[0] = Tensor([1.0, 2.0, 3.0, 4.0])
        with pytest.raises(ValueError):
            t[:, 0] = [1.0, 2.0, 3.0]


# --- autograd misuse -------------------------------------------------------------------------------------
def test_in_place_on_a_leaf_that_requires_grad(backend):
    w = _with_grad(Tensor([1.0, 2.0]))
    with unchanged(w):
        for call in (lambda: w.__iadd__(1.0), lambda: w.__isub__(Tensor([1.0, 1.0])), lambda: w.__imul__(2.0),
                     lambda: w.__itruediv__(2.0)):
            with raises(RuntimeError, "leaf", "no_grad"):
                call()
        with raises(RuntimeError, "requires grad", "no_grad"):
            w[0] = 5.0
    with tnm.no_grad():  # the fix the message suggests works
        w += 1.0
    assert w.tolist() == [2.0, 3.0]


def test_requires_grad_on_an_int_tensor(backend):
    with raises(RuntimeError, "int64", "floating point"):
        Tensor([1, 2], requires_grad=True)
    i = Tensor([1, 2])
    with unchanged(i):
        with raises(RuntimeError, "int64"):
            i.requires_grad_()
    with raises(RuntimeError, "bool"):
        Tensor([True]).requires_grad_()
    with pytest.raises(RuntimeError, match="int64"):
        Tensor.zeros(2, dtype="int64", requires_grad=True)


def test_backward_with_a_grad_of_the_wrong_shape(backend):
    x = Tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = x * 2
    with unchanged(x):
        with raises(RuntimeError, "(3,)", "(1, 3)"):
            y.backward(Tensor([1.0, 1.0, 1.0]))
        with raises(RuntimeError, "(2, 3)", "(1, 3)"):
            y.backward(np.ones((2, 3)))
    y.backward(Tensor([[1.0, 1.0, 1.0]]))  # the graph survived the failed calls
    assert x.grad.tolist() == [[2.0, 2.0, 2.0]]


def test_cross_entropy_bad_labels(backend):
    logits = _with_grad(Tensor(np.zeros((3, 4))))
    good = Tensor([0, 1, 3])
    with unchanged(logits, good):
        with raises(ValueError, "[0, 4)", "5"):
            F.cross_entropy(logits, Tensor([0, 5, 1]))
        with raises(ValueError, "[0, 4)", "-1"):
            F.cross_entropy(logits, [0, -1, 1])
        with raises(ValueError, "(3, 4)", "(2,)"):
            F.cross_entropy(logits, [0, 1])
        with raises(ValueError, "(3, 4)", "(3, 1)"):
            F.cross_entropy(logits, [[0], [1], [2]])
        with raises(ValueError, "(4,)"):
            F.cross_entropy(Tensor(np.zeros(4)), Tensor([1]))
        with raises(TypeError, "float32"):
            F.cross_entropy(logits, Tensor([0.0, 1.0, 2.0]))


def test_loss_shape_mismatch(backend):
    p, t = _with_grad(Tensor(np.ones((2, 3)))), Tensor(np.ones((3, 2)))
    with unchanged(p, t):
        with raises(ValueError, "(2, 3)", "(3, 2)"):
            F.mse_loss(p, t)
        with raises(ValueError, "(2, 3)", "(3, 2)"):
            F.binary_cross_entropy(p.sigmoid(), t)


# --- conversions ---------------------------------------------------------------------------------------
def test_one_element_conversions_on_many_elements(backend):
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    with unchanged(t):
        for call in (t.item, lambda: float(t), lambda: int(t)):
            with raises(ValueError, "(2, 2)"):
                call()
        with raises(RuntimeError, "ambiguous", "(2, 2)"):
            bool(t)
        with raises(RuntimeError, "ambiguous"):
            max(0, t)
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    with pytest.raises(TypeError, match="float32"):
        [1, 2][Tensor(1.0)]


def test_max_over_an_empty_axis(backend):
    t = Tensor(np.zeros((0, 3)))
    with raises(ValueError, "(0, 3)"):
        t.max(axis=0)


def test_numpy_of_a_tensor_that_requires_grad(backend):
    x = Tensor([1.0], requires_grad=True)
    with raises(RuntimeError, "detach"):
        x.numpy()
