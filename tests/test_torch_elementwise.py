"""log2, log1p, expm1, floor, ceil, trunc, round (their own kernels), the activations of
nn.functional and their modules, torch.pow with tensor exponents, the torch.* spellings, and
float16 storage: against PyTorch (forward, backward, special values) and float64 finite
differences, on every backend."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nm as tnm
import tinygrad_nm.nn.functional as F
from tinygrad_nm import nn
from gradcheck import check_grad

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

import fuzz_torch_helpers  # noqa: E402
from fuzz_torch_helpers import compare, fuzz  # noqa: E402

inf, nan = math.inf, math.nan
KERNEL_OPS = ["log2", "log1p", "expm1", "floor", "ceil", "trunc", "round"]
ROUNDING = ["floor", "ceil", "trunc", "round"]
# halfway points (round to even), signed zeros and results, the largest non-integers, infinities, nan
SPECIAL = {
    "float64": [nan, inf, -inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.3, 0.7,
                -1.0, 1.0, 1e-300, -1e-17, 4503599627370495.5, -4503599627370495.5, 2.0 ** 60 + 2048, 1e308, 700.0,
                709.7, 709.79, 710.0, -745.0, -0.99999, -1.0000001],
    "float32": [nan, inf, -inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.3, 0.7, -1.0, 1.0,
                1e-30, -1e-10, 8388607.5, -8388607.5, 2.0 ** 30, 3e38, 80.0, 88.7, 89.0, -104.0, -0.99999],
}


def _same_bits(ours, theirs, what):
    """Equal values, nan where nan, and the same sign on zeros (IEEE: floor(-0.5) is -0.0)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    np.testing.assert_array_equal(ours, theirs, err_msg=what)
    numbers = ~np.isnan(theirs)
    assert np.array_equal(np.signbit(ours[numbers]), np.signbit(theirs[numbers])), \
        f"{what}: sign of zero differs: {ours} vs {theirs}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns on log(0), exp(1000), inf - inf
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", KERNEL_OPS)
def test_kernel_ops_at_special_values(backend, dtype, name):
    values = np.array(SPECIAL[dtype], dtype=dtype)
    out = getattr(tnm.tensor(values, dtype=getattr(tnm, dtype)), name)()
    ref = getattr(torch.tensor(values), name)().numpy()
    assert out.dtype == dtype
    if name in ROUNDING:  # exact
        _same_bits(out.numpy(), ref, f"{name}({values})")
    else:  # one rounding of the exact value apart at most (the python backend computes in double)
        got = out.numpy().astype(np.float64)
        np.testing.assert_allclose(got, ref.astype(np.float64), rtol=2e-7 if dtype == "float32" else 1e-15,
                                   atol=0, equal_nan=True, err_msg=f"{name}({values})")
        zeros = ref == 0
        assert np.array_equal(np.signbit(got[zeros]), np.signbit(ref[zeros])), f"{name}: sign of a zero result"


@st.composite
def arrays(draw, low=-8.0, high=8.0, max_side=4):
    """A float64 array: multiples of 1/4 (halfway points, integers, 0 and -0.0, the kinks of the
    activations) or uniform reals, of a drawn shape."""
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=0, max_size=2)))
    n = math.prod(shape)
    if draw(st.booleans()):
        grid = draw(st.lists(st.integers(int(low * 4), int(high * 4)), min_size=n, max_size=n))
        a = np.array(grid, dtype=np.float64) / 4
        if n and draw(st.booleans()):
            a[draw(st.integers(0, n - 1))] = -0.0
        return a.reshape(shape)
    return np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).uniform(low, high, size=shape)


# the same calls on both frameworks' tensors
OPS = {**{n: (lambda n: lambda x: getattr(x, n)())(n) for n in KERNEL_OPS},
       "frac": lambda x: x.frac(), "fix": lambda x: x.fix(),
       "round2": lambda x: x.round(decimals=2), "round-1": lambda x: x.round(decimals=-1)}
# where a formula's domain ends: log2 and log1p see |x| + (a margin) so finite differences stay inside
DOMAIN = {"log2": lambda a: np.abs(a) + 0.25, "log1p": lambda a: np.abs(a) - 0.75}


@fuzz(15)
@given(data=st.data())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(OPS))
def test_elementwise_match_pytorch_forward_and_backward(backend, dtype, name, data):
    a = DOMAIN.get(name, lambda a: a)(data.draw(arrays()))
    compare(OPS[name], OPS[name], [a], dtype)


@pytest.mark.parametrize("name", ["log2", "log1p", "expm1", "frac"])
def test_elementwise_gradients_match_finite_differences(backend, name):
    a = np.random.default_rng(1).uniform(0.3, 3.0, size=(2, 3))  # away from frac's jumps at integers
    a[0, 0], a[1, 1] = 1.5 + 1e-3, 2.75
    check_grad(OPS[name], a)


def test_rounding_records_a_zero_gradient(backend):
    x = tnm.tensor([-2.5, -0.5, 0.5, 1.7, inf], requires_grad=True)
    for name in ROUNDING:
        y = getattr(x, name)()
        assert y.requires_grad and y.grad_fn is not None  # recorded, as PyTorch does
        (y * tnm.tensor([1.0, 2.0, 3.0, inf, 5.0])).sum().backward()  # an infinite upstream gives 0, not nan
        assert x.grad.tolist() == [0.0] * 5
        x.grad = None


@pytest.mark.parametrize("name", ROUNDING + ["fix"])
def test_rounding_integers_and_bools_as_pytorch(backend, name):
    x, ref = tnm.tensor([-3, 0, 7]), getattr(torch.tensor([-3, 0, 7]), name)()
    out = getattr(x, name)()
    assert out.dtype == tnm.int64 and ref.dtype == torch.int64 and out.tolist() == ref.tolist()
    assert out is not x  # a copy, as PyTorch returns
    with pytest.raises(RuntimeError, match="not implemented for 'Bool'"):
        getattr(torch.tensor([True]), name)()
    b = tnm.tensor([True, False])
    with pytest.raises(TypeError, match="not implemented for bool tensors"):
        getattr(b, name)()
    with pytest.raises(TypeError, match="decimals=1 is not implemented for int64"):
        x.round(decimals=1)


def test_log_family_of_integers_is_float(backend):
    x = tnm.tensor([1, 2, 8])
    for name in ("log2", "log1p", "expm1"):
        out, ref = getattr(x, name)(), getattr(torch.tensor([1, 2, 8]), name)()
        assert out.dtype == tnm.float32 and np.allclose(out.numpy(), ref.numpy(), rtol=1e-6)


def test_round_decimals_and_errors(backend):
    values = [1.2345, -1.2355, 15.0, 25.0, -35.0, 0.125]
    for d in (0, 1, 2, 3, -1):
        out = tnm.tensor(values, dtype=tnm.float64).round(decimals=d)
        ref = torch.tensor(values, dtype=torch.float64).round(decimals=d)
        _same_bits(out.numpy(), ref.numpy(), f"round(decimals={d})")
    with pytest.raises(TypeError, match="round: decimals must be an int"):
        tnm.tensor(values).round(decimals=1.5)


# --- torch.* spellings and pow ------------------------------------------------------------------
@pytest.mark.parametrize("name", KERNEL_OPS + ["fix", "frac", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos",
                                               "tanh", "sigmoid", "relu", "neg", "sign", "square", "reciprocal"])
def test_module_level_functions(backend, name):
    values = [0.25, 1.5, 2.5, 3.75]
    out = getattr(tnm, name)(tnm.tensor(values))
    np.testing.assert_allclose(out.numpy(), getattr(torch, name)(torch.tensor(values)).numpy(), rtol=1e-6)


def test_round_function_takes_decimals(backend):
    assert tnm.round(tnm.tensor([1.25, 2.5]), decimals=1).tolist() == \
        torch.round(torch.tensor([1.25, 2.5]), decimals=1).tolist()


@fuzz(12)
@given(data=st.data())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_with_tensor_exponents_both_differentiable(backend, dtype, data):
    base = np.abs(data.draw(arrays(-3, 3))) + 0.25
    exponent = np.random.default_rng(data.draw(st.integers(0, 99))).uniform(-2, 2, size=base.shape)
    compare(lambda a, b: tnm.pow(a, b), lambda a, b: torch.pow(a, b), [base, exponent], dtype)
    compare(lambda a, b: a.pow(b), lambda a, b: a.pow(b), [base, exponent], dtype)
    compare(lambda b: tnm.pow(2.0, b), lambda b: torch.pow(2.0, b), [exponent], dtype)


def test_pow_gradients_match_finite_differences(backend):
    rng = np.random.default_rng(2)
    check_grad(lambda a, b: tnm.pow(a, b), rng.uniform(0.5, 2, (2, 3)), rng.uniform(-2, 2, (2, 3)))
    check_grad(lambda a, b: a.pow(b), rng.uniform(0.5, 2, (2, 1)), rng.uniform(-2, 2, (1, 3)))  # broadcast


# --- nn.functional activations ------------------------------------------------------------------
ACTIVATIONS = {
    "relu": (lambda x: F.relu(x), lambda x: TF.relu(x)),
    "relu6": (lambda x: F.relu6(x), lambda x: TF.relu6(x)),
    "hardtanh": (lambda x: F.hardtanh(x), lambda x: TF.hardtanh(x)),
    "hardtanh(-2,3)": (lambda x: F.hardtanh(x, -2.0, 3.0), lambda x: TF.hardtanh(x, -2.0, 3.0)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: TF.elu(x, 1.5)),
    "gelu": (lambda x: F.gelu(x), lambda x: TF.gelu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "silu": (lambda x: F.silu(x), lambda x: TF.silu(x)),
    "softplus": (lambda x: F.softplus(x), lambda x: TF.softplus(x)),
    "softplus(2,3)": (lambda x: F.softplus(x, beta=2.0, threshold=3.0), lambda x: TF.softplus(x, beta=2.0, threshold=3.0)),
    "sigmoid": (lambda x: F.sigmoid(x), lambda x: TF.sigmoid(x)),
    "tanh": (lambda x: F.tanh(x), lambda x: TF.tanh(x)),
    "hardsigmoid": (lambda x: F.hardsigmoid(x), lambda x: TF.hardsigmoid(x)),
    "hardswish": (lambda x: F.hardswish(x), lambda x: TF.hardswish(x)),
    "mish": (lambda x: F.mish(x), lambda x: TF.mish(x)),
    "logsigmoid": (lambda x: F.logsigmoid(x), lambda x: TF.logsigmoid(x)),
    "softsign": (lambda x: F.softsign(x), lambda x: TF.softsign(x)),
}


def _pytorch_sixth_is_float32(monkeypatch):
    """PyTorch's hardsigmoid backward multiplies by 1.0f / 6.0f, a float32 constant, in float64 too."""
    monkeypatch.setitem(fuzz_torch_helpers.TOL, "float64", (1e-7, 1e-12))


@fuzz(12)
@given(data=st.data())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_match_pytorch_forward_and_backward(backend, dtype, name, data, monkeypatch):
    ours, theirs = ACTIVATIONS[name]
    if name == "hardsigmoid" and dtype == "float64":
        _pytorch_sixth_is_float32(monkeypatch)
    compare(ours, theirs, [data.draw(arrays())], dtype)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns on log(0), exp(1000), inf - inf
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_at_special_values(backend, name):
    values = [nan, inf, -inf, 0.0, -0.0, 40.0, -40.0, 1e30, -1e30]
    ours, theirs = ACTIVATIONS[name]
    out = ours(tnm.tensor(values, dtype=tnm.float64)).numpy()
    ref = theirs(torch.tensor(values, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{name}({values})")


@pytest.mark.parametrize("name", ["relu6", "hardtanh(-2,3)", "hardsigmoid", "hardswish", "mish", "softsign", "elu",
                                  "softplus(2,3)"])
def test_activation_gradients_match_finite_differences(backend, name):
    a = np.array([[-5.1, -2.9, -1.2, -0.4], [0.3, 1.1, 2.8, 6.4]])  # each piece, away from the kinks
    check_grad(ACTIVATIONS[name][0], a)


@fuzz(15)
@given(data=st.data())
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_with_dim_matches_pytorch(backend, name, data):
    a = data.draw(arrays(-4, 4, max_side=3).filter(lambda a: a.ndim >= 1))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    compare(lambda x: getattr(F, name)(x, dim=dim), lambda x: getattr(TF, name)(x, dim=dim), [a], "float64")


@pytest.mark.parametrize("shape", [(64, 10), (130, 3), (128, 16), (128, 17), (63, 10), (64, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_over_many_short_rows_matches_pytorch(backend, shape, dtype):
    """A classifier's batch: many rows of a few classes (NumPy reduces 64+ rows of <= 16 through a
    transposed copy), and the shapes either side of that path; forward and gradients."""
    a = np.random.default_rng(sum(shape)).uniform(-6, 6, size=shape)
    for name in ("softmax", "log_softmax"):
        compare(lambda x: getattr(F, name)(x, dim=1), lambda x: getattr(TF, name)(x, dim=1), [a], dtype)
    labels = np.random.default_rng(1).integers(0, shape[1], shape[0])
    compare(lambda x: F.cross_entropy(x, tnm.tensor(labels)),
            lambda x: TF.cross_entropy(x, torch.tensor(labels)), [a], dtype)


def test_activation_errors(backend):
    x = tnm.tensor([1.0])
    with pytest.raises(ValueError, match="hardtanh: min_val \\(2.0\\) must not be greater than max_val \\(1.0\\)"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match="Hardtanh"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")


MODULES = [("ReLU6", ()), ("Hardtanh", (-2.0, 3.0)), ("Hardsigmoid", ()), ("Hardswish", ()), ("Mish", ()),
           ("LogSigmoid", ()), ("Softsign", ()), ("ReLU", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.5,)),
           ("GELU", ("tanh",)), ("SiLU", ()), ("Softplus", (2.0, 5.0)), ("Sigmoid", ()), ("Tanh", ()),
           ("Softmax", (1,)), ("LogSoftmax", (0,))]


@pytest.mark.parametrize("name,args", MODULES)
def test_activation_modules_match_pytorch(backend, name, args, monkeypatch):
    if name == "Hardsigmoid":
        _pytorch_sixth_is_float32(monkeypatch)
    a = np.random.default_rng(3).uniform(-7, 7, size=(3, 4))
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    compare(ours, theirs, [a], "float64")


# --- float16 ------------------------------------------------------------------------------------
def _half_backend(backend):
    """Whether this backend stores float16 (the numba_cuda kernels are compiled for 32/64-bit floats only)."""
    return backend != "numba_cuda"


def test_float16_is_stored_as_float16_or_refused(backend):
    values = [0.1, 1.0 / 3.0, 65504.0, 1e-5, -2.5]
    if not _half_backend(backend):
        with pytest.raises(TypeError, match="does not hold float16 tensors.*float32"):
            tnm.tensor(values, dtype=tnm.float16)
        x = tnm.tensor(values)
        with pytest.raises(TypeError, match="does not hold float16"):
            x.half()
        assert x.dtype == tnm.float32 and x.tolist() == pytest.approx(values, rel=1e-7)  # left as it was
        return
    ref = torch.tensor(values, dtype=torch.float16)
    for t in (tnm.tensor(values, dtype=tnm.float16), tnm.tensor(values).half(), tnm.tensor(values).to(tnm.half),
              tnm.tensor(np.array(values, dtype=np.float16)), tnm.from_numpy(np.array(values, dtype=np.float16))):
        assert t.dtype == tnm.float16 and t.dtype == "float16" and t.element_size() == 2
        host = t.numpy()
        assert host.dtype == np.float16 and host.tolist() == ref.tolist()
    assert tnm.tensor(values).half().type() == torch.tensor(values).half().type() == "torch.HalfTensor"


def test_float16_arithmetic_and_promotion_as_pytorch(backend):
    if not _half_backend(backend):
        pytest.skip("numba_cuda refuses float16 (test_float16_is_stored_as_float16_or_refused)")
    rng = np.random.default_rng(4)
    a, b = rng.uniform(-2, 2, (3, 4)), rng.uniform(0.5, 2, (3, 4))

    def program(M, x, y):
        h = x.half()
        return {"mul": h * 2.5, "div": h / y.half(), "exp": h.exp(), "round": (h * 3).round(), "sum": h.sum(1),
                "promote32": h + y.float(), "promote_int": y.long() + h, "matmul": h @ y.half().T,
                "softmax": M.nn.functional.softmax(h, dim=1), "sigmoid": h.sigmoid()}

    ours = program(tnm, tnm.tensor(a), tnm.tensor(b))
    theirs = program(torch, torch.tensor(a), torch.tensor(b))
    for key, ref in theirs.items():
        out = ours[key]
        assert out.dtype == str(ref.dtype).removeprefix("torch."), key
        # float16 keeps ~3 decimal digits; PyTorch's CPU kernels round some steps differently
        np.testing.assert_allclose(out.numpy().astype(np.float64), ref.double().numpy(), rtol=4e-3, atol=4e-3,
                                   err_msg=key)


def test_float16_gradients(backend):
    if not _half_backend(backend):
        pytest.skip("numba_cuda refuses float16 (test_float16_is_stored_as_float16_or_refused)")
    values = [0.5, -1.25, 2.0]
    x = tnm.tensor(values, dtype=tnm.float16, requires_grad=True)
    (x * x).sum().backward()
    p = torch.tensor(values, dtype=torch.float16, requires_grad=True)
    (p * p).sum().backward()
    assert x.grad.dtype == tnm.float16 and x.grad.tolist() == p.grad.tolist()


def test_float16_survives_save_and_load(backend, tmp_path):
    if not _half_backend(backend):
        pytest.skip("numba_cuda refuses float16 (test_float16_is_stored_as_float16_or_refused)")
    t = tnm.tensor([0.1, -2.5, 65504.0], dtype=tnm.float16)
    tnm.save({"t": t}, tmp_path / "a.pt")
    tnm.save_safetensors({"t": t}, str(tmp_path / "a.safetensors"))
    for loaded in (tnm.load(tmp_path / "a.pt")["t"], tnm.load_safetensors(str(tmp_path / "a.safetensors"))["t"]):
        assert loaded.dtype == tnm.float16 and loaded.tolist() == t.tolist()


def test_zero_dim_tensors_promote_as_pytorch(backend):
    """A 0-d tensor beside a dimensioned one counts only when its category (bool < int < float) is
    higher, and then with its own dtype."""
    half = [] if not _half_backend(backend) else ["float16"]
    for big in ["bool", "int64", "float32"] + half:
        for small in ["bool", "int64", "float32", "float64"] + half:
            ours = tnm.ones(2, dtype=getattr(tnm, big)) + tnm.ones((), dtype=getattr(tnm, small))
            theirs = torch.ones(2, dtype=getattr(torch, big)) + torch.ones((), dtype=getattr(torch, small))
            assert ours.dtype == str(theirs.dtype).removeprefix("torch."), (big, small)
