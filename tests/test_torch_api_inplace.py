"""In-place methods with PyTorch's rules, and the errors of the PyTorch-spelled API: each bad call
names the problem and leaves every operand as it was."""
import numpy as np
import pytest

import tinygrad_nm as tnm

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("op", [
    lambda M, t: t.add_(M.tensor([1.0, 2.0, 3.0])), lambda M, t: t.add_(2, alpha=3), lambda M, t: t.sub_(0.5),
    lambda M, t: t.sub_(M.tensor([[1.0], [2.0]]), alpha=2), lambda M, t: t.mul_(3), lambda M, t: t.div_(4),
    lambda M, t: t.mul_(M.tensor([2.0, 0.0, -1.0])), lambda M, t: t.zero_(), lambda M, t: t.fill_(7),
    lambda M, t: t.fill_(M.tensor(2.5)), lambda M, t: t.clamp_(-1, 1), lambda M, t: t.clamp_(min=0),
    lambda M, t: t.copy_(M.tensor([9.0, 8.0, 7.0])), lambda M, t: t.copy_(M.tensor([[1, 2, 3], [4, 5, 6]])),
    lambda M, t: t.add_(t),
])
def test_inplace_matches_pytorch(backend, op):
    data = [[1.5, -2.0, 0.25], [3.0, 0.0, -0.75]]
    ours, theirs = tnm.tensor(data), torch.tensor(data)
    assert op(tnm, ours) is ours and op(torch, theirs) is theirs
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_inplace_on_int_tensors_follows_pytorch(backend):
    t = tnm.tensor([1, 2, 3])
    t.add_(2).mul_(3)
    assert t.tolist() == [9, 12, 15] and t.dtype == tnm.int64
    t.fill_(2.9)  # truncated into the integer tensor, as torch.fill_
    assert t.tolist() == [2, 2, 2]
    t.copy_(tnm.tensor([1.7, -1.7, 0.2]))
    assert t.tolist() == torch.tensor([0, 0, 0]).copy_(torch.tensor([1.7, -1.7, 0.2])).tolist()
    for bad in (lambda: t.div_(2), lambda: t.add_(0.5), lambda: t.clamp_(0.5)):
        with pytest.raises(RuntimeError, match="can't be stored"):
            bad()
    assert t.tolist() == [1, -1, 0]


def test_copy_from_another_backend_and_broadcast(backend):
    t = tnm.zeros(2, 3)
    t.copy_(tnm.tensor([1.0, 2.0, 3.0], backend="numpy"))
    assert t.tolist() == [[1.0, 2.0, 3.0]] * 2 and t.backend == backend
    t.copy_(np.ones((2, 3)))
    assert t.tolist() == [[1.0] * 3] * 2


def test_leaf_requiring_grad_is_written_only_under_no_grad(backend):
    w = tnm.tensor([1.0, 2.0], requires_grad=True)
    for name, bad in [("add_", lambda: w.add_(1)), ("mul_", lambda: w.mul_(2)), ("fill_", lambda: w.fill_(0)),
                      ("clamp_", lambda: w.clamp_(0, 1)), ("copy_", lambda: w.copy_(tnm.tensor([5.0, 5.0]))),
                      ("zeroed", lambda: w.zero_())]:
        with pytest.raises(RuntimeError, match=f"{name}.*leaf tensor that requires grad|leaf tensor that requires grad is being {name}"):
            bad()
        assert w.tolist() == [1.0, 2.0]
    with tnm.no_grad():
        w.sub_(w.grad if w.grad is not None else 0.5).mul_(2)
    assert w.tolist() == [1.0, 3.0] and w.requires_grad and w.is_leaf


def test_inplace_inside_a_graph_is_refused_clearly(backend):
    w = tnm.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    with pytest.raises(RuntimeError, match="in-place operations on tensors in a recorded graph"):
        h.add_(1)
    x = tnm.zeros(2)
    with pytest.raises(RuntimeError, match="recorded graph"):
        x.add_(w)  # torch would make x part of the graph; here it is refused, x unchanged
    assert h.tolist() == [2.0, 4.0] and x.tolist() == [0.0, 0.0]


def test_writes_count_as_versions(backend):
    # a backward that saved a tensor refuses to run after the tensor was written in place (PyTorch's rule)
    for write in (lambda a: a.mul_(2), lambda a: a.fill_(1), lambda a: a.copy_(tnm.ones(3)), lambda a: a.clamp_(0),
                  lambda a: a.zero_(), lambda a: a.add_(1), lambda a: a.__isub__(tnm.ones(3)),
                  lambda a: a.__iadd__(tnm.ones(3))):
        w = tnm.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a = tnm.tensor([0.5, -1.0, 2.0])
        loss = (w * a).sum()
        write(a)
        with pytest.raises(RuntimeError, match="modified|in place|version"):
            loss.backward()
        assert w.grad is None


def test_subtract_and_add_a_tensor_in_place_as_pytorch(backend):
    """`p -= q` and `p += q` with a tensor of p's shape and dtype (SGD written by hand: one pass in
    p's storage) give the out-of-place values bit for bit, and PyTorch's; a shifted view of p
    itself raises, as PyTorch refuses that partial overlap."""
    rng = np.random.default_rng(3)
    data, q = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    ours, theirs = tnm.tensor(data), torch.tensor(data)
    step = tnm.tensor(q) * 0.1
    expected = (ours - step).numpy()
    view = ours[1]
    same = ours
    ours -= step
    theirs -= torch.tensor(q) * 0.1
    assert ours is same and ours.numpy().tobytes() == expected.tobytes()
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)  # (python computes in double)
    assert view.numpy().tobytes() == expected[1].tobytes()  # basic indexing shares the storage: the view sees it
    expected = (ours + tnm.tensor(q)).numpy()
    ours += tnm.tensor(q)
    assert ours.numpy().tobytes() == expected.tobytes()
    ours -= ours  # the same elements: each read before it is written
    assert not ours.numpy().any()
    x = tnm.tensor(np.arange(6.0, dtype=np.float32))
    with pytest.raises(RuntimeError, match="refer to a single memory location"):  # as PyTorch: clone() first
        x[1:] -= x[:-1]
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    x[1:] -= x[:-1].clone()
    assert x.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    w = tnm.tensor(np.arange(6.0, dtype=np.float32))
    w -= tnm.tensor([1, 1, 1, 1, 1, 1])  # an int64 operand: the general path, float32 kept
    assert w.dtype == tnm.float32 and w.tolist() == [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0]


def test_detach_requires_grad_and_clone(backend):
    w = tnm.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3
    c = h.clone()
    c.sum().backward()  # clone is differentiable
    assert w.grad.tolist() == [3.0, 3.0]
    assert h.detach_() is h and h.is_leaf and not h.requires_grad and h.tolist() == [3.0, 6.0]
    h.add_(1)  # now an ordinary tensor: in-place is fine
    assert h.tolist() == [4.0, 7.0] and c.tolist() == [3.0, 6.0]  # the clone has its own storage
    assert tnm.zeros(2).requires_grad_().requires_grad


BAD = [
    (lambda: tnm.cat([tnm.zeros(2, 3), tnm.zeros(3, 2)], 1), ValueError, "cat: tensor 1 has shape"),
    (lambda: tnm.cat([]), ValueError, "non-empty"),
    (lambda: tnm.cat([tnm.zeros(2)], 1), IndexError, "out of range"),
    (lambda: tnm.stack([tnm.zeros(2), tnm.zeros(3)]), ValueError, "same shape"),
    (lambda: tnm.zeros(2, 3).view(4, 2), ValueError, "cannot reshape"),
    (lambda: tnm.zeros(2, 3).expand(4, 3), ValueError, "cannot be broadcast"),
    (lambda: tnm.zeros(2, 3).expand(3), ValueError, "fewer sizes"),
    (lambda: tnm.zeros(2, 3).repeat(2), ValueError, "at least one size per dim"),
    (lambda: tnm.zeros(2, 3).flatten(1, 0), ValueError, "start_dim"),
    (lambda: tnm.zeros(2, 3).unflatten(1, (2, 2)), ValueError, "cannot reshape"),
    (lambda: tnm.zeros(2, 3).unsqueeze(3), IndexError, "unsqueeze: dim 3 is out of range"),
    (lambda: tnm.zeros(2, 3).squeeze(2), IndexError, "squeeze: dim 2"),
    (lambda: tnm.zeros(2, 3).permute(0, 0), ValueError, "repeats an axis"),
    (lambda: tnm.zeros(2, 3).permute(0, 1, 2), ValueError, "not a permutation"),
    (lambda: tnm.zeros(2, 3).transpose(0, 2), IndexError, "transpose: dim 2"),
    (lambda: tnm.zeros(2, 3, 4).t(), ValueError, "t\\(\\) expects"),
    (lambda: tnm.zeros(2, 3).split([1, 1], 1), ValueError, "do not add up"),
    (lambda: tnm.zeros(2, 3).chunk(0), ValueError, "positive"),
    (lambda: tnm.zeros(2, 3).max(2), IndexError, "out of range"),
    (lambda: tnm.zeros(2, 0).argmax(1), ValueError, "empty"),
    (lambda: tnm.zeros(2, 3).sum(dim=0, axis=0), TypeError, "both dim"),
    (lambda: tnm.zeros(2, 3).var(unbiased=True, correction=0), TypeError, "not both"),
    (lambda: tnm.zeros(2, 3).norm("nuc"), ValueError, "unsupported p"),
    (lambda: tnm.zeros(2, 3).gather(1, tnm.tensor([[3, 0, 0], [0, 0, 0]])), IndexError, "out of range"),
    (lambda: tnm.zeros(2, 3).gather(1, tnm.tensor([0, 1])), ValueError, "2 dims"),
    (lambda: tnm.where(tnm.zeros(2), tnm.zeros(2), 1.0), TypeError, "bool tensor"),
    (lambda: tnm.where(tnm.zeros(2) > 0, tnm.zeros(3), 1.0), ValueError, "where"),
    (lambda: tnm.where(tnm.zeros(2) > 0, "a", 1.0), TypeError, "input must be a tensor"),
    (lambda: tnm.zeros(2).masked_fill(tnm.zeros(3) > 0, 1.0), ValueError, "masked_fill"),
    (lambda: tnm.zeros(2).masked_fill(tnm.zeros(2) > 0, tnm.zeros(2)), ValueError, "0-d"),
    (lambda: tnm.zeros(2).clamp(), ValueError, "at least one"),
    (lambda: tnm.zeros(2).eq("x"), TypeError, "can't compare"),
    (lambda: tnm.zeros(2).fill_(tnm.zeros(2)), RuntimeError, "0-d"),
    (lambda: tnm.zeros(2).copy_(tnm.zeros(3)), ValueError, "copy_"),
    (lambda: tnm.zeros(2).add_(tnm.zeros(3)), ValueError, "broadcast"),
    (lambda: tnm.zeros(2).add_(tnm.zeros(2, 2)), RuntimeError, "shape"),
    (lambda: tnm.tensor([True]).neg(), TypeError, "bool"),
    (lambda: tnm.zeros(2).to("cuda:1"), ValueError, "index 0"),
    (lambda: tnm.linspace(0, 1, -1), ValueError, "steps"),
]


@pytest.mark.parametrize("call,error,message", BAD)
def test_bad_calls_raise_clearly(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_failed_inplace_leaves_the_tensor_unchanged(backend):
    t = tnm.tensor([[1.0, 2.0], [3.0, 4.0]])
    before = t.tolist()
    for bad in (lambda: t.add_(tnm.zeros(3)), lambda: t.copy_(tnm.zeros(3)), lambda: t.mul_("x"),
                lambda: t.fill_([1, 2]), lambda: t.clamp_()):
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            bad()
        assert t.tolist() == before


@pytest.mark.parametrize("call,error,message", [
    (lambda: tnm.tensor([1, 2]) & tnm.tensor([1, 0]), TypeError, "bitwise operations on integer tensors"),
    (lambda: ~tnm.tensor([1.0]), TypeError, "only bool tensors"),
    (lambda: tnm.zeros(2, 3).narrow(1, 2, 2), IndexError, "narrow"),
    (lambda: tnm.zeros(3).tril(), ValueError, "at least 2 dims"),
    (lambda: tnm.zeros(2, 3).index_select(1, tnm.tensor([3])), IndexError, "out of bounds"),
])
def test_more_bad_calls(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()
