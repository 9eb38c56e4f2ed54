"""Views share storage on every backend, as in PyTorch: basic indexing (ints and slices), t() and
permute, reshape of a contiguous view. A write through the base shows in the view, a write through
the view lands in the base, and where PyTorch's reshape copies, ours does too.

Hypothesis draws the shape, the key (index_key without its integer arrays: those copy) and a
permutation; each write is checked against the same write in PyTorch.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import fuzz, index_key, shapes  # noqa: E402
import tinygrad_nm as tnm  # noqa: E402


def _pair(shape):
    data = np.arange(float(np.prod(shape))).reshape(shape)
    return tnm.tensor(data), torch.tensor(data)


def _same(ours, theirs, what):
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=what)


@fuzz(40)
@given(data=st.data())
def test_basic_index_and_permute_views_share_storage_as_torch(backend, data):
    shape = shapes(data.draw, backend, min_dims=1, min_side=1)
    key = data.draw(index_key(shape))
    assume(not any(isinstance(k, list) for k in key))  # an integer array copies: not a view
    ours, theirs = _pair(shape)
    v, w = ours[key], theirs[key]
    if w.dim():
        perm = tuple(data.draw(st.permutations(range(w.dim()))))
        v, w = v.permute(*perm), w.permute(*perm)
    _same(v, w, "the view's elements")
    ours -= 1.0  # through the base: the view sees it
    theirs -= 1.0
    _same(v, w, "the view after a write to its base")
    v.mul_(3.0)  # through the view: the base sees it
    w.mul_(3.0)
    _same(ours, theirs, "the base after a write through its view")
    if w.dim() and w.shape[0]:
        v[0] = 100.0  # setitem on the view
        w[0] = 100.0
        _same(ours, theirs, "the base after v[0] = 100")


def test_reshape_shares_a_contiguous_run_and_copies_otherwise(backend):
    for view_of, reshape_to in (((1,), (2, 2)), ((slice(None), slice(1, 3)), (6,))):
        ours, theirs = _pair((3, 4))
        v, w = ours[view_of].reshape(*reshape_to), theirs[view_of].reshape(*reshape_to)
        v.add_(10.0)  # a[1] (one run) shares: the base changes; a[:, 1:3] (three runs) copies: it does not
        w.add_(10.0)
        _same(ours, theirs, f"the base after writing through a[{view_of}].reshape{reshape_to}")
    ours, theirs = _pair((2, 3))
    t, u = ours.t(), theirs.t()
    r, s = t.reshape(6), u.reshape(6)
    r.add_(5.0)
    s.add_(5.0)
    _same(ours, theirs, "the base after writing through a.t().reshape(6) (a copy)")
    t[0, 1] = -7.0  # t() itself is a view
    u[0, 1] = -7.0
    _same(ours, theirs, "the base after t[0, 1] = -7")


def test_a_view_of_a_view_and_in_place_updates_from_an_overlapping_view(backend):
    ours, theirs = _pair((4, 5))
    v, w = ours[1:][:, ::2][1], theirs[1:][:, ::2][1]  # a view of a view of a view: element (2, 0, 2, 4)
    v.fill_(-1.0)
    w.fill_(-1.0)
    _same(ours, theirs, "after fill_ through a view of a view")
    x, y = tnm.tensor(np.arange(6.0)), torch.arange(6.0, dtype=torch.float64)
    x[1:] += x[:-1].clone()  # PyTorch refuses the unclone'd partial overlap: compare the clone'd form
    y[1:] += y[:-1].clone()
    _same(x, y, "x[1:] += x[:-1]")


def test_an_element_is_a_view_too(backend):
    """`w[0]` (a 0-d result) is a view as well: `w[0].fill_(5)` writes w (NumPy would hand back a
    detached scalar), and the element read before `w -= 1` reads the new value after it."""
    ours, theirs = _pair((3,))
    ours[0].fill_(5.0)
    theirs[0].fill_(5.0)
    v, w = ours[1], theirs[1]
    ours -= 1.0
    theirs -= 1.0
    _same(ours, theirs, "w after w[0].fill_(5) and w -= 1")
    _same(v, w, "w[1] read before w -= 1")
    m, n = _pair((2, 2))
    m[1, 1].add_(7.0)
    n[1, 1].add_(7.0)
    _same(m, n, "m after m[1, 1].add_(7)")


def test_contiguous_copies_only_what_is_not_row_major(backend):
    """contiguous() is self where the storage is row-major already, a row-major copy elsewhere (a
    write to the copy never reaches the base); is_contiguous() says which, as PyTorch's."""
    ours, theirs = _pair((4, 5))
    for view in (lambda a: a, lambda a: a[1:3], lambda a: a.t(), lambda a: a[:, ::2], lambda a: a[1]):
        v, w = view(ours), view(theirs)
        assert v.is_contiguous() == w.is_contiguous()
        c, d = v.contiguous(), w.contiguous()
        assert (c is v) == (d is w) and c.is_contiguous()
        _same(c, d, "contiguous()'s elements")
        c.add_(1.0)
        d.add_(1.0)
        _same(ours, theirs, "the base after a write to contiguous()'s result")


def test_results_of_reductions_and_repeat_are_new_storage(backend):
    """A reduction or repeat that has nothing to do still returns new storage: `w[0, 1].sum()`
    must not alias w (an element is a view)."""
    ours, theirs = _pair((2, 3))
    for make in (lambda a: a[0, 1].sum(), lambda a: a[0, 1].amax(), lambda a: a[0, 1].prod(),
                 lambda a: a[:, :1].prod(1), lambda a: a.repeat(1, 1)):
        make(ours).add_(10.0)
        make(theirs).add_(10.0)
        _same(ours, theirs, "the base after writing to a reduction's result")


def test_view_refuses_what_needs_a_copy_and_reshape_copies_stand_alone(backend):
    """view() raises where PyTorch's does (no strides give the new shape; use reshape), and a
    reshape that had to copy is storage of its own: writing its source later does not trouble
    a backward that saved the copy (PyTorch runs it; a shared version count would refuse)."""
    ours, theirs = _pair((2, 3))
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        theirs.t().view(6)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        ours.t().view(6)
    assert ours[1].view(3, 1).shape == (3, 1) and tnm.tensor(3.0).view(1).shape == (1,)
    w, u = tnm.ones(6, requires_grad=True), torch.ones(6, dtype=torch.float64, requires_grad=True)
    y, z = (ours.t().reshape(6) * w).sum(), (theirs.t().reshape(6) * u).sum()
    ours.add_(1.0)
    theirs.add_(1.0)
    y.backward()
    z.backward()
    np.testing.assert_array_equal(w.grad.numpy(), u.grad.numpy())


def _view_params(draw, size, shape):
    """Where a view of a 1-D storage of `size` elements lies: a run from some start, or every
    second element (gaps: not dense), its axes permuted (a transpose is still dense)."""
    n = int(np.prod(shape))
    step = draw(st.sampled_from([1, 1, 2]))
    start = draw(st.integers(0, size - (n - 1) * step - 1))
    return start, step, tuple(draw(st.permutations(range(len(shape)))))


def _view(base, shape, params):
    start, step, perm = params
    n = int(np.prod(shape))
    return base[start:start + (n - 1) * step + 1:step].reshape(*shape).permute(*perm)


def _offsets(t):
    """Where each element of a PyTorch view lies in its storage, in row-major order."""
    grids = np.meshgrid(*(np.arange(n) * s for n, s in zip(t.shape, t.stride())), indexing="ij")
    return (t.storage_offset() + sum(grids)).ravel().tolist()


@fuzz(40)
@given(data=st.data())
def test_in_place_writes_between_views_of_one_storage_raise_where_torch_does(backend, data):
    """`a.add_(a.t())`, `a[1:] = a[:-1]`, `a.copy_(...)` between views whose storage partly overlaps
    raise PyTorch's "refer to a single memory location" (its rule: dense views whose ranges meet in
    another layout); views apart, the very same, or with gaps (too hard to tell) write as in PyTorch."""
    side = data.draw(st.integers(2, 3))  # (one element: PyTorch's verdict hangs on the strides of sides of 1)
    shape = data.draw(st.sampled_from([(side,), (side, side)]))  # square: a transpose keeps the shape
    size = 2 * int(np.prod(shape)) + data.draw(st.integers(0, 3))
    dst_at, src_at = _view_params(data.draw, size, shape), _view_params(data.draw, size, shape)
    op = data.draw(st.sampled_from(["add_", "mul_", "copy_", "setitem"]))
    ours, theirs = tnm.tensor(np.arange(float(size))), torch.arange(float(size), dtype=torch.float64)
    errors = []
    for base in (theirs, ours):
        dst, src = _view(base, shape, dst_at), _view(base, shape, src_at)
        try:
            if op == "setitem":
                dst[...] = src
            else:
                getattr(dst, op)(src)
            errors.append(None)
        except RuntimeError as e:
            errors.append(str(e))
    theirs_error, ours_error = errors
    assert (ours_error is None) == (theirs_error is None), (op, dst_at, src_at, ours_error, theirs_error)
    if ours_error is not None:
        assert "refer to a single memory location" in ours_error and "clone()" in ours_error
        _same(ours, theirs, "the storage after a refused write (untouched)")
    a, b = _offsets(_view(theirs, shape, dst_at)), _offsets(_view(theirs, shape, src_at))
    if a == b or not set(a) & set(b):  # where views with gaps meet, PyTorch's result hangs on its loop order
        _same(ours, theirs, f"the storage after {op}")


def test_full_slice_is_a_new_view_and_view_as_refuses_a_copy(backend):
    """`a[:]` and `a[...]` are new tensors viewing a (rebinding `.data` on one leaves a alone), and
    view_as is view's rule: a transpose cannot be viewed as a flat tensor (reshape_as copies)."""
    ours, theirs = _pair((2, 3))
    for key in (slice(None), Ellipsis):
        v, w = ours[key], theirs[key]
        assert (v is ours) == (w is theirs) is False
        v[0, 0] = -5.0
        w[0, 0] = -5.0
        _same(ours, theirs, f"the base after a[{key}][0, 0] = -5")
    flat = torch.zeros(6)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        theirs.t().view_as(flat)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        ours.t().view_as(tnm.zeros(6))
    _same(ours.t().reshape_as(tnm.zeros(6)), theirs.t().reshape_as(flat), "reshape_as")


def test_an_empty_dim_reduces_every_dim_as_torch(backend):
    """dim=() (or []) reduces every dim in PyTorch (NumPy's axis=() reduces none); any/all over
    dim=() give each element's truth."""
    ours, theirs = _pair((2, 3))
    for name in ("sum", "mean", "amax", "amin", "var", "std", "any", "all"):
        for dim in ((), []):
            np.testing.assert_allclose(getattr(ours, name)(dim=dim).numpy(), getattr(theirs, name)(dim=dim).numpy(),
                                       rtol=1e-12, err_msg=f"{name}(dim={dim!r})")
    assert np.sum(ours, axis=()).shape == np.sum(ours.numpy(), axis=()).shape == (2, 3)


def test_masked_fill_in_place_writes_the_tensor(backend):
    ours, theirs = _pair((2, 3))
    v, w = ours[1], theirs[1]
    v.masked_fill_(v > 3.0, -1.0)
    w.masked_fill_(w > 3.0, -1.0)
    _same(ours, theirs, "the base after masked_fill_ through its row")


def test_a_second_backward_adds_into_grad_s_own_storage(backend):
    """As PyTorch's AccumulateGrad: .grad stays the same tensor, and a view of it taken before a
    second backward (or before hooks and zero_) sees the sum."""
    results = []
    for lib, kw in ((tnm, {}), (torch, {"dtype": torch.float64})):
        x = lib.ones(2, 3, requires_grad=True, **kw)
        (x * 2).sum().backward()
        g = x.grad
        row = g[1]
        (x * x).sum().backward()
        x.register_hook(lambda grad: grad * 10)
        x.sum().backward()
        assert x.grad is g
        results.append((g.detach().numpy().copy(), row.detach().numpy().copy()))
    (g_ours, row_ours), (g_theirs, row_theirs) = results
    np.testing.assert_array_equal(g_ours, g_theirs)
    np.testing.assert_array_equal(row_ours, row_theirs)
