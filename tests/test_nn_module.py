"""nn.Module mechanics as PyTorch's: registration, buffers, walking the tree, modes, dtype and
backend moves, hooks, repr, copying and pickling; Parameter arithmetic."""
import copy
import pickle

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, nn

from nn_torch_helpers import torch, vals


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 1)})
        self.scale = nn.Parameter(Tensor.ones(4))
        self.extra = nn.ParameterList([Tensor.zeros(2)])
        self.register_buffer("mean", Tensor.zeros(3))
        self.register_buffer("scratch", Tensor.zeros(1), persistent=False)
        self.mask = Tensor.ones(4)  # a plain tensor: neither parameter nor buffer

    def forward(self, x):
        h = self.fc(x - self.mean) * self.scale * self.mask
        for block in self.blocks:
            h = block(h)
        return self.heads["a"](h).sum() + self.heads["b"](h).sum() + self.extra[0].sum()


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.ReLU()])
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(4, 2), "b": torch.nn.Linear(4, 1)})
        self.scale = torch.nn.Parameter(torch.ones(4))
        self.extra = torch.nn.ParameterList([torch.zeros(2)])
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("scratch", torch.zeros(1), persistent=False)
        self.mask = torch.ones(4)


def test_discovery_and_names_match_torch(backend):
    m, t = Net(), TorchNet()
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(m.state_dict()) == list(t.state_dict())  # non-persistent buffers are left out
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert not any(p is m.mask for p in m.parameters())
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    assert repr(m).replace("tnm.float32", "torch.float32") == repr(t).replace("TorchNet", "Net")


def test_backward_reaches_parameters_in_containers_and_zero_grad(backend):
    m = Net()
    m(Tensor(np.ones((2, 3)))).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not vals(p.grad).any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_registration_rules(backend):
    m = Net()
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        m.scale = Tensor.ones(4)
    m.scale = None
    assert "scale" not in dict(m.named_parameters())
    m.register_parameter("late", nn.Parameter(Tensor.ones(1)))
    m.add_module("tail", nn.Identity())
    assert "late" in dict(m.named_parameters()) and m.get_submodule("tail") is m.tail
    with pytest.raises(KeyError, match="be empty or contain"):
        m.register_buffer("a.b", Tensor.ones(1))
    with pytest.raises(KeyError, match="attribute 'mask' already exists"):
        m.register_buffer("mask", Tensor.ones(1))
    with pytest.raises(TypeError, match="nn.Parameter or None required"):
        m.register_parameter("w", Tensor.ones(1))
    del m.tail
    assert "tail" not in dict(m.named_children())

    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match=r"cannot assign module before Module.__init__\(\) call"):
        Forgot()


def test_apply_train_eval_and_requires_grad(backend):
    m = Net()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 4
    assert m.eval() is m and not any(s.training for s in m.modules())
    m.train()
    assert all(s.training for s in m.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("no")
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_dtype_and_backend_and_float_double(backend):
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight = m[0].weight
    m.double()
    assert m[0].weight is weight and weight.dtype == "float64"  # the same Parameter object
    assert m[1].running_mean.dtype == "float64" and m[1].num_batches_tracked.dtype == "int64"
    m.to("float32")
    assert all(p.dtype == "float32" for p in m.parameters())
    other = next(b for b in tnm.available_backends() if b != backend) if len(tnm.available_backends()) > 1 else backend
    m.to(other)
    assert all(t.backend == other for t in list(m.parameters()) + list(m.buffers()))
    out = m(Tensor(np.ones((2, 2)), backend=other))
    assert out.backend == other
    with pytest.raises(ValueError, match="neither a backend"):
        m.to("tpu")
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        m.to("int64")


def test_forward_hooks(backend):
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out * 2)
    out = lin(Tensor([[1.0, 2.0]]))
    np.testing.assert_allclose(vals(out), 2 * vals(lin.bias)[None], rtol=1e-6)
    assert calls == [(1, 2)]
    pre.remove()
    post.remove()
    np.testing.assert_allclose(vals(lin(Tensor([[0.0, 0.0]]))), vals(lin.bias)[None])


def test_deepcopy_and_pickle_keep_values_types_and_sharing(backend):
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.BatchNorm1d(2))
    m[1].weight = m[0].weight  # tied
    m.eval()  # the comparison below must not move the running statistics
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone[1].weight is clone[0].weight and clone[0].weight is not m[0].weight
        assert isinstance(clone[0].weight, nn.Parameter) and clone[0].weight.requires_grad
        for (name, a), (_, b) in zip(m.state_dict().items(), clone.state_dict().items()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
            assert a.backend == b.backend and a.dtype == b.dtype
        x = Tensor(np.ones((3, 2)))
        np.testing.assert_allclose(vals(clone(x)), vals(m(x)), rtol=1e-6)  # float32 rounding: the python backend holds doubles


def test_parameter_arithmetic_on_both_sides(backend):
    p, q = nn.Parameter(Tensor([1.0, 2.0])), nn.Parameter(Tensor([3.0, 4.0]))
    x = Tensor([10.0, 20.0])
    out = (x + p) * q - p / q + 2 * p + p ** 2 + x @ p + (p * q).sum()
    out.sum().backward()
    assert type(out) is Tensor
    tp, tq = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0], requires_grad=True)
    tx = torch.tensor([10.0, 20.0])
    ((tx + tp) * tq - tp / tq + 2 * tp + tp ** 2 + tx @ tp + (tp * tq).sum()).sum().backward()
    np.testing.assert_allclose(vals(p.grad), tp.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(vals(q.grad), tq.grad.numpy(), rtol=1e-6)
    assert repr(p).startswith("Parameter containing:")
    assert not nn.Parameter(Tensor([1.0]), requires_grad=False).requires_grad


def test_sequential_and_containers_behave_as_lists_and_dicts(backend):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    with pytest.raises(IndexError, match="index 5 is out of range for a Sequential of length 2"):
        seq[5]
    ml = nn.ModuleList([nn.ReLU()]) + nn.ModuleList([nn.Tanh()])
    assert [type(m).__name__ for m in ml] == ["ReLU", "Tanh"]
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "y" in md and md.pop("x").__class__ is nn.ReLU
    repeated = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert repr(repeated) == repr(torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)]))
