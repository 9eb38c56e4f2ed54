"""The PyTorch-spelled namespace, attributes, devices, dtype conversions and in-place methods,
against torch where it has an answer, on every backend; bad input raises a clear error and
leaves every operand unchanged."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.tensor import Tensor

torch = pytest.importorskip("torch")


def same(ours, theirs):
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_tensor_is_a_function_and_the_module_still_imports(backend):
    assert callable(tnm.tensor) and tnm.Tensor is Tensor
    for M in (tnm, torch):
        assert M.tensor([1, 2]).dtype == M.int64 and M.tensor(1.5).dtype == M.float32
        assert M.tensor([True]).dtype == M.bool and M.tensor([1.0], dtype=M.float64).dtype == M.float64
    t = tnm.tensor([[1.0, 2.0]], requires_grad=True)
    assert t.requires_grad and t.backend == backend and t.is_leaf
    copy = tnm.tensor(t)  # a copy, cut from the graph, as torch.tensor(t) gives
    assert not copy.requires_grad and copy.tolist() == [[1.0, 2.0]]
    with pytest.raises(RuntimeError, match="floating point"):
        tnm.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("make", [
    lambda M: M.zeros(2, 3), lambda M: M.ones((2, 3), dtype=M.float64), lambda M: M.full((2, 2), 7),
    lambda M: M.full((2,), 1.5), lambda M: M.full((1,), True), lambda M: M.zeros_like(M.empty(3, 1)),
    lambda M: M.arange(5), lambda M: M.arange(1, 2, 0.25), lambda M: M.arange(0, 10, 3, dtype=M.float32),
    lambda M: M.linspace(0, 1, 5), lambda M: M.linspace(-1, 1, steps=4, dtype=M.float64), lambda M: M.eye(3),
    lambda M: M.eye(2, 3), lambda M: M.zeros_like(M.ones(2, 2)), lambda M: M.ones_like(M.tensor([1, 2])),
    lambda M: M.full_like(M.zeros(2), 3.0), lambda M: M.zeros_like(M.tensor([1, 2]), dtype=M.float32),
    lambda M: M.from_numpy(np.arange(6.0).reshape(2, 3)), lambda M: M.from_numpy(np.arange(3, dtype=np.int64)),
])
def test_constructors_match_pytorch(backend, make):
    t = make(tnm)
    assert t.backend == backend
    same(t, make(torch))


def test_random_constructors(backend):
    tnm.manual_seed(0)
    a = tnm.rand(2, 3)
    tnm.manual_seed(0)
    assert a.tolist() == tnm.rand(2, 3).tolist()  # the seed fixes the numbers
    assert 0 <= a.min().item() and a.max().item() < 1 and a.shape == (2, 3) and a.dtype == tnm.float32
    n = tnm.randn((200,), dtype=tnm.float64, requires_grad=True)
    assert n.requires_grad and n.dtype == tnm.float64 and abs(n.detach().mean().item()) < 0.3
    r = tnm.randint(3, 7, (1000,))
    assert r.dtype == tnm.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert set(tnm.randint(2, size=(50,)).tolist()) <= {0, 1}
    like = tnm.randn_like(tnm.zeros(4, 2, dtype=tnm.float64))
    assert like.shape == (4, 2) and like.dtype == tnm.float64
    assert tnm.rand_like(tnm.zeros(3)).shape == (3,)
    with pytest.raises(ValueError, match="high"):
        tnm.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="size"):
        tnm.randint(5)


def test_torch_dtype_names():
    assert tnm.float32 is tnm.float and tnm.float64 is tnm.double and tnm.int64 is tnm.long
    assert tnm.int32 is tnm.int64  # every integer width is stored as int64
    assert tnm.bool is tnm.bool_ and tnm.bool == "bool"


def test_attributes_match_pytorch(backend):
    for M in (tnm, torch):
        t = M.zeros(2, 3, 4)
        assert tuple(t.size()) == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
        assert t.numel() == 24 and t.dim() == 3 and t.ndim == 3 and t.nelement() == 24
        assert tuple(t.mT.shape) == (2, 4, 3) and tuple(M.zeros(2, 3).T.shape) == (3, 2)
        assert M.tensor([[1.5]]).item() == 1.5 and M.tensor([[1, 2]]).tolist() == [[1, 2]]
        assert t.element_size() == 4
    assert tnm.tensor(1.0).size() == () and tnm.zeros(2).type() == torch.zeros(2).type()
    with pytest.raises(IndexError, match="out of range"):
        tnm.zeros(2, 3).size(2)


@pytest.mark.parametrize("convert", ["float", "double", "long", "int", "bool"])
def test_dtype_conversions_match_pytorch(backend, convert):
    data = [[-1.5, 0.0, 2.7]]
    ours, theirs = getattr(tnm.tensor(data), convert)(), getattr(torch.tensor(data), convert)()
    assert ours.tolist() == theirs.tolist()
    expected = {"int32": "int64"}.get(str(theirs.dtype).removeprefix("torch."), str(theirs.dtype).removeprefix("torch."))
    assert str(ours.dtype) == expected


def test_type_to_and_unsupported_dtypes(backend):
    t = tnm.tensor([1.0, 2.0], requires_grad=True)
    assert t.type(tnm.float64).dtype == tnm.float64 and t.type("torch.LongTensor").dtype == tnm.int64
    assert t.to(tnm.float64).dtype == tnm.float64 and t.to(dtype=tnm.float32) is t and t.to("float64").dtype == "float64"
    assert t.to(tnm.tensor([1], dtype=tnm.int64)).dtype == tnm.int64  # to(other): other's dtype and device
    c = t.to(tnm.float32, copy=True)
    assert c is not t and c.tolist() == t.tolist()
    for bad in (lambda: t.bfloat16(), lambda: t.to("bfloat16"), lambda: t.type("cfloat")):  # float16: test_torch_elementwise
        with pytest.raises(TypeError, match="not supported"):
            bad()
    with pytest.raises(ValueError, match="neither a backend"):
        t.to("tpu")
    assert t.dtype == tnm.float32 and t.tolist() == [1.0, 2.0]


def test_devices(backend):
    assert str(tnm.device("cpu")) == "cpu" and tnm.device("cuda:0").index == 0 and tnm.device("cuda").type == "cuda"
    assert tnm.device("cpu") == "cpu" and tnm.device("cpu") == tnm.device("cpu") and tnm.device("cpu") != "cuda"
    t = tnm.tensor([1.0, 2.0], requires_grad=True)
    kind = tnm.backends.device_type(tnm.backends.load(backend))  # "cuda" for the GPU backend
    assert t.device == kind and t.device.type == kind and t.is_cuda == (kind == "cuda") and t.to(t.device) is t
    if kind == "cpu":
        assert t.to("cpu") is t and t.cpu() is t and tnm.zeros(2, device="cpu").backend == backend
    else:  # "cpu" is then the NumPy backend
        assert t.cpu().device == "cpu" and t.cpu().backend != backend and t.cpu().tolist() == [1.0, 2.0]
    moved = t.to("python")
    assert moved.backend == "python" and moved.device == "cpu"
    (moved * 3).sum().backward()  # across backends, the gradient comes home
    assert t.grad.tolist() == [3.0, 3.0] and t.grad.backend == backend
    back = moved.detach().to(t.device)
    assert back.backend == backend or t.device.backend == "python"
    for bad in ("tpu", "cuda:1", "cpu:x"):
        with pytest.raises(ValueError, match="device"):
            tnm.device(bad)
    with pytest.raises(TypeError, match="not both"):
        tnm.zeros(2, device="cpu", backend="numpy")


def test_cuda_names_the_gpu_backend():
    if "numba_cuda" in tnm.available_backends():
        t = tnm.tensor([1.0]).cuda()
        assert t.backend == "numba_cuda" and t.is_cuda and t.device == tnm.device("cuda", 0)
        assert t.cpu().device == "cpu"
    else:  # no GPU (nor simulator) here: a clear error naming the backend and why
        with pytest.raises(tnm.BackendUnavailableError, match="numba_cuda"):
            tnm.tensor([1.0]).to("cuda")


def test_method_functions_match_pytorch(backend):
    a = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    for name, call in [("exp", lambda M, x: M.exp(x)), ("sum", lambda M, x: M.sum(x, dim=1)),
                       ("add", lambda M, x: M.add(x, x, alpha=2)), ("mm", lambda M, x: M.mm(x, x.t())),
                       ("argmax", lambda M, x: M.argmax(x, dim=1)), ("flatten", lambda M, x: M.flatten(x)),
                       ("transpose", lambda M, x: M.transpose(x, 0, 1)), ("clamp", lambda M, x: M.clamp(x, min=0)),
                       ("unsqueeze", lambda M, x: M.unsqueeze(x, 1)), ("abs_relu", lambda M, x: M.relu(M.abs(x))), ("sin_cos", lambda M, x: M.sin(x) + M.cos(x))]:
        same(call(tnm, tnm.tensor(a)), call(torch, torch.tensor(a)))
    assert tnm.allclose(tnm.tensor(a), tnm.tensor(a + 1e-9)) and not tnm.tensor(a).allclose(tnm.tensor(a + 1))
    assert tnm.equal(tnm.tensor(a), tnm.tensor(a)) and not tnm.equal(tnm.tensor(a), tnm.tensor(a[:1]))
    assert tnm.is_tensor(tnm.tensor(1)) and not tnm.is_tensor(1)
    with pytest.raises(TypeError, match="must be a Tensor"):
        tnm.exp(1.0)


def test_module_to_device(backend):
    model = tnm.nn.Linear(3, 2)
    assert model.to(tnm.device("cpu")) is model and model.cpu() is model
    assert all(p.device == tnm.device("cpu") or p.device.type == "cuda" for p in model.parameters())
    moved = model.to(tnm.device("python"))
    assert all(p.backend == "python" for p in moved.parameters())
    with pytest.raises(TypeError, match="a device"):
        model.to(3.5)
