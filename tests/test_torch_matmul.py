"""Products and autograd.grad against PyTorch, on every backend (the `backend` fixture).

matmul with PyTorch's N-d rules (1-D operands, broadcast batch dims) forward and backward, with
hypothesis drawing broadcastable batch shapes; mm, bmm, mv, dot, outer and einsum; their errors
(the op and the shapes named, the operands unchanged); float64 finite differences; the batched
`matmul` kernel on each backend and its price; tnm.autograd.grad and register_hook on leaves.
"""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_torch_helpers import DTYPES, compare, fuzz, values  # noqa: E402
from gradcheck import check_grad, uniform  # noqa: E402
from test_errors import raises, unchanged  # noqa: E402
from torch_api_helpers import case, rnd, run_both  # noqa: E402


# --- matmul's N-d rules, forward and backward against PyTorch -----------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),  # dot, mv, vector-matrix, mm
    ((2, 1, 3, 4), (5, 4, 6)),  # the example: batch dims (2, 1) and (5,) broadcast to (2, 5)
    ((4,), (2, 4, 5)), ((2, 3, 4), (4,)),  # a 1-D operand beside a batch: prepended / appended 1
    ((5, 3, 4), (4, 6)), ((2, 5, 3, 4), (4, 6)),  # a batch times one matrix: one 2-D product
    ((3, 4), (5, 4, 6)), ((1, 3, 4), (2, 1, 4, 2)), ((2, 3, 4), (2, 4, 5)),
    ((0, 3, 4), (4, 2)), ((2, 0, 4), (2, 4, 3)), ((2, 3, 0), (2, 0, 3)), ((3, 1, 2), (1, 2, 0)),  # empty
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_matches_pytorch(backend, sa, sb, dtype):
    a, b = rnd(sa), rnd(sb, seed=1)
    run_both(lambda M, x, y: x @ y, (a, b), dtype, True, backend)
    run_both(lambda M, x, y: M.matmul(x, y), (a, b), dtype, True, backend)


@st.composite
def matmul_operands(draw):
    """Two shapes PyTorch's matmul takes: (batch..., M, K) and (batch..., K, N) whose batch dims
    broadcast (each a suffix of a common batch shape, some sides set to 1), or 1-D operands."""
    side = st.integers(0, 3)
    m, k, n = draw(side), draw(side), draw(side)
    common = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    shapes = []
    for core in ((m, k), (k, n)):
        kept = common[len(common) - draw(st.integers(0, len(common))):]
        batch = tuple(1 if draw(st.booleans()) else d for d in kept)
        vector = not batch and draw(st.integers(0, 3)) == 0  # a 1-D operand now and then
        shapes.append((core[1],) if vector and core == (m, k) else (core[0],) if vector else batch + core)
    return shapes


@fuzz(40)
@given(data=st.data())
def test_matmul_broadcast_batches(backend, data):
    sa, sb = data.draw(matmul_operands(), label="shapes")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    compare(lambda a, b: a @ b, lambda a, b: a @ b, [values(data.draw, sa), values(data.draw, sb)], dtype)


def test_matmul_dtypes_and_integers(backend):
    i = tnm.arange(24).reshape(2, 3, 4)
    out = i @ tnm.arange(8).reshape(4, 2)
    assert out.dtype == "int64" and out.tolist() == (torch.arange(24).reshape(2, 3, 4) @ torch.arange(8).reshape(4, 2)).tolist()
    assert (i @ tnm.ones(2, 4, 1)).dtype == "float32"  # promoted, as the 2-D matmul does
    assert tnm.bmm(i, tnm.arange(8).reshape(2, 4, 1)).tolist() == \
        torch.bmm(torch.arange(24).reshape(2, 3, 4), torch.arange(8).reshape(2, 4, 1)).tolist()


# --- mm, bmm, mv, dot, outer, and einsum --------------------------------------------------------
PRODUCTS = [
    case("mm", lambda M, a, b: M.mm(a, b), rnd((2, 3)), rnd((3, 4))),
    case("mm_method", lambda M, a, b: a.mm(b), rnd((4, 1)), rnd((1, 3))),
    case("bmm", lambda M, a, b: M.bmm(a, b), rnd((3, 2, 4)), rnd((3, 4, 5))),
    case("bmm_method", lambda M, a, b: a.bmm(b.transpose(1, 2)), rnd((2, 3, 4)), rnd((2, 5, 4))),
    case("mv", lambda M, a, v: M.mv(a, v), rnd((3, 4)), rnd((4,))),
    case("dot", lambda M, a, b: M.dot(a, b) * a.dot(b), rnd((5,)), rnd((5,))),
    case("outer", lambda M, a, b: M.outer(a, b) + a.outer(b), rnd((3,)), rnd((4,))),
    case("matmul_T", lambda M, a, b: (a.mT @ b).relu(), rnd((2, 4, 3)), rnd((4, 2))),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,inputs,grad", PRODUCTS)
def test_products_match_pytorch(backend, fn, inputs, grad, dtype):
    run_both(fn, inputs, dtype, grad, backend)


EINSUM = [
    ("ij,jk->ik", (2, 3), (3, 4)), ("bij,bjk->bik", (2, 2, 3), (2, 3, 4)), ("i,i->", (3,), (3,)),
    ("i,j->ij", (3,), (4,)), ("ij->ji", (2, 3)), ("ii->i", (3, 3)), ("ii", (3, 3)), ("iij->j", (3, 3, 2)),
    ("...ij,...jk->...ik", (2, 1, 2, 3), (5, 3, 4)), ("ij->", (2, 3)), ("ij->j", (2, 3)),
    ("ij,ij->ij", (2, 3), (2, 3)), ("bij,bkj->bik", (2, 3, 4), (2, 5, 4)), ("ijk,ikl", (2, 3, 4), (2, 4, 5)),
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 5)), ("bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),
    ("i,i", (4,), (4,)), ("ij,j->i", (3, 4), (4,)), ("a...,a...->...", (2, 3, 4), (2, 1, 4)),
    ("ij,kl->", (2, 3), (4, 1)), ("...ij->ij", (2, 3, 4)), ("i,i->i", (3,), (1,)), (" ij , jk -> ki ", (2, 3), (3, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("equation,shapes", [pytest.param(e[0], e[1:], id=e[0]) for e in EINSUM])
def test_einsum_matches_pytorch(backend, equation, shapes, dtype):
    inputs = [rnd(s, seed=i) for i, s in enumerate(shapes)]
    run_both(lambda M, *ts: M.einsum(equation, *ts), inputs, dtype, True, backend)
    run_both(lambda M, *ts: M.einsum(equation, list(ts)), inputs, dtype, True, backend)  # operands as a list


@fuzz(30)
@given(data=st.data())
def test_einsum_random_subscripts(backend, data):
    """Two operands over letters a-d (a letter may repeat: a diagonal), an output of some of them."""
    size = {c: data.draw(st.integers(1, 3), label=c) for c in "abcd"}
    terms = [data.draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3), label="term") for _ in range(2)]
    used = sorted(set(terms[0]) | set(terms[1]))
    out = data.draw(st.permutations(used), label="out")[:data.draw(st.integers(0, len(used)), label="kept")]
    equation = f"{''.join(terms[0])},{''.join(terms[1])}->{''.join(out)}"
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    arrays = [values(data.draw, tuple(size[c] for c in t)) for t in terms]
    compare(lambda a, b: tnm.einsum(equation, a, b), lambda a, b: torch.einsum(equation, a, b), arrays, dtype)


# --- errors: the op and the shapes named, nothing changed ---------------------------------------
ERRORS = [
    ("matmul", lambda a, b: a @ b, (2, 3, 4), (2, 5, 6), ["(2, 3, 4)", "(2, 5, 6)", "not aligned"]),
    ("matmul", lambda a, b: a @ b, (2, 3, 4), (3, 4, 6), ["(2, 3, 4)", "(3, 4, 6)", "batch"]),
    ("matmul", lambda a, b: a @ b, (), (3,), ["()", "(3,)", "at least 1 dimension"]),
    ("mm", tnm.mm, (3,), (3, 2), ["(3,)", "2-D"]),
    ("mm", tnm.mm, (2, 3), (4, 5), ["2x3", "4x5"]),
    ("bmm", tnm.bmm, (2, 3, 4), (4, 5), ["(4, 5)", "3-D"]),
    ("bmm", tnm.bmm, (2, 3, 4), (3, 4, 5), ["(2, 3, 4)", "(3, 4, 5)"]),
    ("mv", tnm.mv, (3, 4), (5,), ["(3, 4)", "(5,)"]),
    ("mv", tnm.mv, (3, 4), (4, 1), ["(4, 1)", "1-D"]),
    ("dot", tnm.dot, (3,), (4,), ["(3,)", "(4,)"]),
    ("dot", tnm.dot, (3, 1), (3,), ["(3, 1)", "1-D"]),
    ("outer", tnm.outer, (3, 1), (2,), ["(3, 1)", "1-D"]),
]


@pytest.mark.parametrize("op,fn,sa,sb,fragments", ERRORS)
def test_product_errors_name_the_op_and_shapes(backend, op, fn, sa, sb, fragments):
    a, b = Tensor(np.ones(sa), requires_grad=True), Tensor(np.ones(sb), requires_grad=True)
    with unchanged(a, b):
        with raises(RuntimeError, op, *fragments):  # a RuntimeError, as PyTorch's; also a ValueError
            fn(a, b)


@pytest.mark.parametrize("equation,shapes,fragments", [
    ("ij,jk->ik", [(2, 3), (4, 5)], ["'j'", "3", "4"]),
    ("ij->ik", [(2, 3)], ["'k'", "not in any operand"]),
    ("ij,jk", [(2, 3)], ["2 operand subscript(s) for 1 operand(s)"]),
    ("ijk->i", [(2, 3)], ["(2, 3)", "'ijk'"]),
    ("i1->i", [(2, 2)], ["'1'", "letters"]),
    ("ij->ii", [(2, 2)], ["twice"]),
    ("a..b->ab", [(2, 2)], ["'.'", "letters"]),
])
def test_einsum_errors_name_the_equation(backend, equation, shapes, fragments):
    ts = [Tensor(np.ones(s), requires_grad=True) for s in shapes]
    with unchanged(*ts):
        with raises(RuntimeError, f"einsum({equation!r})", *fragments):
            tnm.einsum(equation, *ts)
    with pytest.raises(TypeError, match="sublist format"):
        tnm.einsum(ts[0], [0, 1])


# --- float64 finite differences -----------------------------------------------------------------
@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: a @ b, [(2, 1, 2, 3), (3, 3, 2)]),
    (lambda a, b: a @ b, [(3,), (2, 3, 2)]),
    (lambda a, b: (a @ b).tanh(), [(2, 3, 2), (2,)]),
    (lambda a, b: tnm.bmm(a, b), [(2, 2, 3), (2, 3, 2)]),
    (lambda a, b: tnm.outer(a, b) * tnm.dot(a, a), [(3,), (2,)]),
    (lambda a, b: tnm.einsum("ii,ij->j", a, b), [(3, 3), (3, 2)]),
    (lambda a, b: tnm.einsum("b...i,bj->b...j", a, b), [(2, 2, 3), (2, 2)]),
])
def test_products_match_finite_differences(backend, fn, shapes):
    check_grad(fn, *[uniform(s, seed=i) for i, s in enumerate(shapes)])


# --- the batched matmul kernel: every backend, its price ----------------------------------------
def test_batched_matmul_kernel(backend, rng):
    be = tnm.backends.kernels_of(tnm.backends.load(backend))
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 2, 5))
    for dtype in ("float32", "float64"):
        d = tnm.dtypes.to_dtype(dtype)
        x, y = be.from_numpy(a, d), be.permute(be.from_numpy(b, d), (0, 2, 1))  # a strided second operand
        out = be.to_numpy(be.matmul(x, y))
        np.testing.assert_allclose(out, a @ b.transpose(0, 2, 1), rtol=1e-5 if dtype == "float32" else 1e-12)
    ints = be.from_numpy(np.arange(24).reshape(2, 3, 4), tnm.int64)
    assert be.to_numpy(be.matmul(ints, be.permute(ints, (0, 2, 1)))).tolist() == \
        (np.arange(24).reshape(2, 3, 4) @ np.arange(24).reshape(2, 3, 4).transpose(0, 2, 1)).tolist()
    # larger products: on numba_cuda a tiled or register-blocked kernel per product, not the batched direct one
    a, b = rng.standard_normal((2, 20, 3)), rng.standard_normal((2, 3, 18))
    out = be.to_numpy(be.matmul(be.from_numpy(a, tnm.float64), be.from_numpy(b, tnm.float64)))
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)
    empty = be.matmul(be.from_numpy(np.ones((0, 2, 3)), tnm.float32), be.from_numpy(np.ones((0, 3, 4)), tnm.float32))
    assert tuple(empty.shape) == (0, 2, 4)


def test_batched_matmul_price():
    from tinygrad_nm.backends.costs import Buf, batch_count
    from tinygrad_nm.napkin import kernel_cost
    one, batch = kernel_cost("matmul", (Buf((4, 5)), Buf((5, 6)))), kernel_cost("matmul", (Buf((7, 4, 5)), Buf((7, 5, 6))))
    assert batch.flops == 7 * one.flops == 7 * 2 * 4 * 5 * 6 and batch.bytes == 7 * one.bytes
    assert batch.note == "7x(4x5x6)" and batch_count(batch) == 7 and batch_count(one) == 1
    meta = tnm.backends.load("meta")
    assert meta.matmul(meta.full((7, 4, 5), 0, tnm.float32), meta.full((7, 5, 6), 0, tnm.float32)).shape == (7, 4, 6)
    # numba_cuda launches a batch of thin products as one kernel, of larger ones a kernel per product;
    # NumPy's batch is one np.matmul call, and cython hands a batch to NumPy
    from tinygrad_nm.napkin import model
    rates = tnm.napkin.current_rates()

    def overhead(backend, *shapes):
        return model.predict(kernel_cost("matmul", tuple(Buf(s) for s in shapes)), backend, rates).overhead_s
    for backend, batch, calls in (("numpy", (64, 2, 2), 1), ("numba_cuda", (64, 2, 2), 1), ("numba_cuda", (4, 512, 512), 4)):
        assert overhead(backend, batch, batch) == pytest.approx(calls * overhead(backend, batch[1:], batch[1:]))
    batch = kernel_cost("matmul", (Buf((64, 2, 2)), Buf((64, 2, 2))))
    assert model.predict(batch, "cython", rates).seconds == model.predict(batch, "numpy", rates).seconds


# --- tnm.autograd.grad ---------------------------------------------------------------------------
def grad_program(M):
    x = M.tensor([1.0, 2.0, 3.0], dtype=M.float64, requires_grad=True)
    w = M.tensor([0.5, -1.0, 2.0], dtype=M.float64, requires_grad=True)
    h = x * w
    y, z = (h * h).sum(), h.tanh()
    gx, gw, gh = M.autograd.grad([y, z], [x, w, h], grad_outputs=[None, M.ones(3, dtype=M.float64)],
                                 retain_graph=True)
    (gx2,) = M.autograd.grad(y, x)  # the graph released after this one
    assert x.grad is None and w.grad is None  # .grad untouched
    return gx, gw, gh, gx2


def test_autograd_grad_matches_pytorch(backend):
    for ours, theirs in zip(grad_program(tnm), grad_program(torch)):
        assert isinstance(ours, Tensor) and not ours.requires_grad
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_autograd_grad_options_and_errors(backend):
    x = tnm.tensor([1.0, 2.0], requires_grad=True)
    u = tnm.tensor([3.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="input 1 .* not used"):
        tnm.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = tnm.autograd.grad(y, [x, u], allow_unused=True, retain_graph=True)
    assert gx.tolist() == [2.0, 4.0] and gu is None
    assert tnm.autograd.grad(y, [u], materialize_grads=True, retain_graph=True)[0].tolist() == [0.0]
    with pytest.raises(NotImplementedError, match="create_graph=True.*out of scope"):
        tnm.autograd.grad(y, x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        tnm.autograd.grad(y, tnm.tensor([1.0]))
    with pytest.raises(RuntimeError, match="one-element"):
        tnm.autograd.grad(x * 2, x)
    with pytest.raises(RuntimeError, match=r"grad_outputs\[0\] has shape \(3,\)"):
        tnm.autograd.grad(x * 2, x, grad_outputs=tnm.ones(3))
    (g,) = tnm.autograd.grad(y, x)  # releases the graph, as PyTorch does without retain_graph
    with pytest.raises(RuntimeError, match="second time"):
        tnm.autograd.grad(y, x)
    z = (x * x).sum()
    with tnm.no_grad():
        x += 1.0  # written in place after the product saved it
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        tnm.autograd.grad(z, x)
    assert x.grad is None


def test_autograd_grad_runs_hooks_and_retained_gradients_as_pytorch(backend):
    def program(M):
        x = M.tensor([1.0, -2.0], dtype=M.float64, requires_grad=True)
        seen = []
        x.register_hook(lambda g: seen.append(g.tolist()) or g * 3)
        r = x * 2
        r.retain_grad()
        r.register_hook(lambda g: g + 1)
        (g,) = M.autograd.grad((r * x).sum(), x)
        return g.tolist(), seen, r.grad.tolist(), x.grad
    ours, theirs = program(tnm), program(torch)
    assert ours == theirs


# --- register_hook on leaves ----------------------------------------------------------------------
def leaf_program(M):
    w = M.tensor([1.0, -2.0, 3.0], dtype=M.float64, requires_grad=True)
    b = M.tensor([0.5], dtype=M.float64, requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(g.tolist()))  # returns None: the gradient stays
    handle = w.register_hook(lambda g: g.clamp(-1.0, 1.0))  # a clip: not linear, so the sum matters
    w.register_hook(lambda g: g * 2)
    ((w * w).sum() + (w * b).sum() + w[1] * 4).backward()  # w reached three ways: the hooks see the sum once
    first = w.grad.tolist()
    (w * 3).sum().backward()  # a second call: hooks again, added into .grad
    handle.remove()
    (w * 3).sum().backward()  # without the clip
    b.register_hook(lambda g: g * 0)
    (b * 5).sum().backward()
    return first, w.grad.tolist(), seen, b.grad.tolist()


def test_leaf_hooks_match_pytorch(backend):
    assert leaf_program(tnm) == leaf_program(torch)


def test_a_failing_leaf_hook_leaves_every_grad_as_it_was(backend):
    w = tnm.tensor([1.0, 2.0], requires_grad=True)
    v = tnm.tensor([1.0, 2.0], requires_grad=True)
    (w * v).sum().backward()
    handle = w.register_hook(lambda g: tnm.zeros(3))  # the wrong shape
    with pytest.raises(RuntimeError, match="expected None or a tensor of shape"):
        (w * v * w).sum().backward()
    assert w.grad.tolist() == [1.0, 2.0] and v.grad.tolist() == [1.0, 2.0]
    handle.remove()  # no partial sum left behind for the next call
    (w * 2).sum().backward()
    assert w.grad.tolist() == [3.0, 4.0]


def test_hook_handles_remove_hooks_on_op_results_too(backend):
    def program(M):
        w = M.tensor([1.0, -2.0], dtype=M.float64, requires_grad=True)
        h = w * 2
        h.retain_grad()
        handle = h.register_hook(lambda g: g * 100)
        h.register_hook(lambda g: g + 1)
        handle.remove()
        (h * h).sum().backward()
        return w.grad.tolist(), h.grad.tolist()
    assert program(tnm) == program(torch)
