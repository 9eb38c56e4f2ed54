"""Graph semantics of the autograd: accumulation, no_grad, backward's arguments, retain_graph,
release of saved buffers, and depth (iterative walk)."""
import gc
import sys
import weakref

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor
from tinygrad_nm import functional as F


# --- accumulation ----------------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls(backend):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    (x * 3).sum().backward()  # a second graph: added, not replaced
    assert x.grad.tolist() == [5.0, 7.0, 9.0]
    x.grad.zero_()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    x.grad = None
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_reused_tensor_accumulates(backend):
    x = Tensor(3.0, requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == 6.0
    x.grad = None
    (x * x * x + x).backward()  # 3x^2 + 1
    assert x.grad.item() == 28.0
    x.grad = None
    y = x + x + x
    (y * y).backward()  # (3x)^2 -> 18x
    assert x.grad.item() == 54.0


def test_diamond_graph(backend):
    x = Tensor([0.5, -1.0], requires_grad=True, dtype="float64")
    a = x * 2            # shared intermediate with three consumers
    b = a.exp()
    c = a * a
    d = a.tanh()
    out = (b * c + d + a).sum()
    out.backward()
    v = np.array([0.5, -1.0])
    av = 2 * v
    # d/da [e^a a^2 + tanh a + a] = e^a a^2 + 2 a e^a + (1 - tanh^2 a) + 1, times da/dx = 2
    expected = 2 * (np.exp(av) * av ** 2 + 2 * av * np.exp(av) + (1 - np.tanh(av) ** 2) + 1)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_interleaved_branches_of_different_depth(backend):
    # one long and one short path from x to the output: the short one must wait for the long one
    x = Tensor(1.5, requires_grad=True, dtype="float64")
    long = x
    for _ in range(50):
        long = long * 1.01
    out = long * x + x
    out.backward()
    assert x.grad.item() == pytest.approx(2 * 1.5 * 1.01 ** 50 + 1, rel=1e-12)


def test_only_inputs_that_require_grad_get_one(backend):
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0])
    c = Tensor([5.0, 6.0], requires_grad=True)
    y = (a * b + b).sum()
    y.backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None and c.grad is None
    assert not b.requires_grad


def test_leaf_grad_is_private_storage(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor([1.0, 2.0], requires_grad=True)
    (x + y).sum().backward()  # Add hands the same gradient buffer to both inputs
    x.grad += 1
    assert x.grad.tolist() == [2.0, 2.0] and y.grad.tolist() == [1.0, 1.0]
    g = x.grad
    (x * 2).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0] and x.grad.shape == (2,)
    assert g is x.grad  # accumulated in place into the user's .grad, as PyTorch does


def test_a_fresh_gradient_becomes_the_leafs_grad_without_a_copy(backend):
    """MatMul's gradients are its kernels' new buffers (Op.fresh): a leaf keeps them as its
    .grad, no copy; they stay private (x @ x: the second arrival is summed) and accumulate."""
    from tinygrad_nm.napkin.trace import recording
    a = np.arange(6.0).reshape(2, 3)
    x, w = Tensor(a, requires_grad=True), Tensor(a.T.copy(), requires_grad=True)
    y = (x @ w).sum()
    with recording() as calls:
        y.backward()
    assert "copy" not in [name for name, _, _ in calls]
    np.testing.assert_allclose(w.grad.numpy(), a.T @ np.ones((2, 2)))
    x.grad += 1  # x's and w's gradients are separate buffers
    np.testing.assert_allclose(w.grad.numpy(), a.T @ np.ones((2, 2)))
    (x @ w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * a.T @ np.ones((2, 2)))
    s = Tensor(np.eye(2) + 1, requires_grad=True)
    (s @ s).sum().backward()  # one leaf, both inputs: the two gradients summed
    np.testing.assert_allclose(s.grad.numpy(), np.ones((2, 2)) @ (np.eye(2) + 1).T + (np.eye(2) + 1).T @ np.ones((2, 2)))


def test_an_old_grad_used_as_data_keeps_its_values(backend):
    # indexing adds into .grad, but never into the buffer from before this backward: here Mul saved it
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    w.sum().backward()
    loss = (w * w.grad).sum() + w[1]  # w[1] is made last, so its backward runs before Mul's
    loss.backward()
    assert w.grad.tolist() == [2.0, 3.0, 2.0]


@pytest.mark.parametrize("second", ["mul", "index", "slice"])
def test_views_of_grad_see_the_next_backward_s_sum(backend, second):
    # whichever op delivers the next gradient, it is added into .grad's storage, as PyTorch's
    # AccumulateGrad: a view taken of .grad before (detach() too) sees the sum
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w * 1.0).sum().backward()
    snapshot, head = w.grad.detach(), w.grad[0:2]
    if second == "mul":
        (w * Tensor([0.0, 5.0, 0.0])).sum().backward()
    elif second == "index":
        (w[1] * 5.0).backward()
    else:
        (w[1:2] * 5.0).sum().backward()
    assert w.grad.tolist() == [1.0, 6.0, 1.0]
    assert snapshot.tolist() == [1.0, 6.0, 1.0] and head.tolist() == [1.0, 6.0]


def test_broadcasting_op_sums_only_gradients_that_are_used(backend):
    # a constant row broadcast against x gets no gradient, so its reduction is never computed
    from tinygrad_nm import backends
    calls = []

    class Counting:
        def __init__(self, be):
            self.be = be

        def __getattr__(self, name):
            kernel = getattr(self.be, name)
            if name == "sum":
                return lambda *args: calls.append(args[0].shape) or kernel(*args)
            return kernel

    x = Tensor(np.ones((8, 3)), requires_grad=True)
    row = Tensor(np.full((1, 3), 2.0))
    loss = ((x - row) * (x + row)).sum()
    previous = backends.set_kernel_wrapper(Counting)
    try:
        loss.backward()
    finally:
        backends.set_kernel_wrapper(previous)
    assert calls == []  # Sum's backward expands; nothing reduces a gradient for `row`
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.ones((8, 3)))


def test_broadcast_gradient_has_the_inputs_shape(backend):
    a = Tensor([[1.0], [2.0]], requires_grad=True)
    b = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = Tensor(2.0, requires_grad=True)
    (a * b * s).sum().backward()
    assert a.grad.shape == (2, 1) and b.grad.shape == (3,) and s.grad.shape == ()
    assert a.grad.tolist() == [[12.0], [12.0]] and b.grad.tolist() == [6.0, 6.0, 6.0] and s.grad.item() == 18.0


def test_backward_with_an_explicit_gradient(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.backward(Tensor([1.0, -2.0]))
    assert x.grad.tolist() == [3.0, -6.0]
    z = Tensor(2.0, requires_grad=True)
    (z * z).backward(Tensor(0.5))
    assert z.grad.item() == 2.0
    w = Tensor([1.0, 1.0], requires_grad=True)
    (w * 2).backward([1.0, 3.0])  # array-like gradients are accepted
    assert w.grad.tolist() == [2.0, 6.0]


def test_backward_on_a_leaf(backend):
    x = Tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    v = Tensor([1.0, 2.0], requires_grad=True)
    v.backward(Tensor([3.0, 4.0]))
    assert v.grad.tolist() == [3.0, 4.0]


def test_backward_through_detach_and_int_casts_stops(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.detach() * x + x.long() * x
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    assert not x.long().requires_grad


# --- no_grad -----------------------------------------------------------------------------------------
def test_no_grad_records_nothing(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert tnm.is_grad_enabled()
    with tnm.no_grad():
        assert not tnm.is_grad_enabled()
        y = (x * 2).exp().sum() + x[:1] @ Tensor([1.0])
        assert not y.requires_grad and y.grad_fn is None and y.is_leaf
        with tnm.enable_grad():
            assert (x * 2).requires_grad
        with tnm.no_grad():
            pass
        assert not tnm.is_grad_enabled()  # nested exit keeps the outer mode
    assert tnm.is_grad_enabled()
    with pytest.raises(RuntimeError):
        y.backward()
    assert x.grad is None
    z = x * 2
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_restores_after_an_exception(backend):
    with pytest.raises(ZeroDivisionError):
        with tnm.no_grad():
            1 / 0
    assert tnm.is_grad_enabled()
    assert (Tensor([1.0], requires_grad=True) * 2).requires_grad


def test_graph_built_before_no_grad_still_backwards(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with tnm.no_grad():
        y.backward()  # the graph already exists; no_grad only stops recording
    assert x.grad.tolist() == [2.0, 4.0]


# --- backward's preconditions ------------------------------------------------------------------------
def test_backward_on_non_scalar_without_grad_raises_naming_the_shape(backend):
    x = Tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\(1, 3\)"):
        y.backward()
    assert x.grad is None
    y.sum().backward()  # the graph was not consumed by the failed call
    assert x.grad.tolist() == [[2.0, 2.0, 2.0]]


def test_backward_on_a_tensor_that_requires_no_grad_raises(backend):
    with pytest.raises(RuntimeError, match="grad"):
        Tensor([1.0, 2.0]).sum().backward()
    with pytest.raises(RuntimeError, match="grad"):
        Tensor(1.0).backward()


def test_second_backward_raises_unless_retain_graph(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # the failed call added nothing

    x.grad = None
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)
    y.backward()  # the last one may free the graph
    np.testing.assert_allclose(x.grad.numpy(), 3 * first, rtol=1e-6)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_into_a_freed_shared_subgraph_raises(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    a, b = h.sum(), (h * 2).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        b.backward()


def test_a_failed_backward_leaves_no_partial_sums(backend):
    # the walk stops at a released node; a later backward over part of that graph is unaffected
    x = Tensor([1.0, 2.0], requires_grad=True)
    y, q = x * 2.0, x * 5.0
    q.sum().backward()  # releases q
    with pytest.raises(RuntimeError, match="retain_graph"):
        (y * 4.0 + q).sum().backward()
    x.grad = None
    (y * 3.0).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_retain_graph_on_a_shared_subgraph(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    a, b = h.sum(), (h * 2).sum()
    a.backward(retain_graph=True)
    b.backward()
    assert x.grad.tolist() == [6.0, 12.0]


# --- memory ------------------------------------------------------------------------------------------
def _weak(obj):
    try:
        return weakref.ref(obj)
    except TypeError:  # a backend buffer type without weakref support
        return None


@pytest.mark.parametrize("retain", [False, True])
def test_saved_buffers_are_released_after_backward(backend, retain):
    x = Tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3), requires_grad=True)
    h = x.exp()               # saves its output buffer
    g = h * h                 # saves both operands
    y = (g.softmax(1) * g).sum()
    refs = [weakref.ref(h), weakref.ref(g)] + [r for r in (_weak(h._buf), _weak(g._buf)) if r is not None]
    del h, g
    gc.collect()
    assert all(r() is not None for r in refs), "the graph must keep its intermediates until backward"
    y.backward(retain_graph=retain)
    gc.collect()
    if retain:
        assert all(r() is not None for r in refs)
        y.backward()
        gc.collect()
    assert all(r() is None for r in refs), "intermediates and saved buffers still alive after backward"
    assert x.grad is not None and y.grad_fn is not None


def test_no_grad_keeps_no_intermediates(backend):
    x = Tensor([1.0, 2.0], requires_grad=True)
    with tnm.no_grad():
        h = x.exp()
        y = (h * h).sum()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None and y.grad_fn is None


# --- depth -------------------------------------------------------------------------------------------
def test_million_node_chain_backwards_without_recursion():
    # a property of the walk, not of the kernels: numpy only, and Add with a Python number (cheapest op)
    with tnm.use_backend("numpy"):
        x = Tensor(1.0, requires_grad=True)
        y = x
        for _ in range(1_000_000):
            y = y + 1.0
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(200)  # any per-node recursion would fail long before the end
        try:
            y.backward()
        finally:
            sys.setrecursionlimit(limit)
        assert x.grad.item() == 1.0 and y.item() == 1_000_001.0
        del y  # freeing the (released) chain must not recurse either


def test_deep_chain_without_backward_can_be_freed():
    with tnm.use_backend("numpy"):
        x = Tensor(1.0, requires_grad=True)
        y = x
        for _ in range(200_000):
            y = y + 1.0
        del y
        gc.collect()


def test_walkthrough_depth_chain_on_every_backend(backend):
    # ~10,000-deep chains: the walkthrough's loss is a long sum of scalar terms
    w = Tensor([0.5, -0.25], requires_grad=True)
    total = 0.0
    for i in range(5000):
        total += w[i % 2] * 0.5
    total = total * 2.0
    total.backward()
    assert w.grad.tolist() == [2500.0, 2500.0]
    x = Tensor(1.0, requires_grad=True, dtype="float64")
    y = x
    for _ in range(10_000):
        y = y + x
    y.backward()
    assert x.grad.item() == 10_001.0


def test_cross_entropy_training_step_changes_loss(backend):
    # end to end: gradients from the fused loss move parameters downhill
    rng = np.random.default_rng(0)
    X = Tensor(rng.standard_normal((8, 3)))
    labels = Tensor(rng.integers(0, 2, 8))
    W = Tensor(rng.standard_normal((3, 2)) * 0.1, requires_grad=True)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(X @ W, labels)
        loss.backward()
        with tnm.no_grad():
            W -= 0.5 * W.grad
        W.grad.zero_()
        losses.append(loss.item())
    assert losses[-1] < losses[0] and all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))
