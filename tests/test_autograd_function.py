"""torch.autograd.Function (custom forward/backward) and torch.autograd.gradcheck, against torch:
the same class body runs on both modules, on every backend."""
import numpy as np
import pytest

import tinygrad_nm as tnm

torch = pytest.importorskip("torch")


def functions(M, seen):
    """Custom Functions spelled once, for M = tinygrad_nm or torch; `seen` records what each
    backward received."""
    class Exp(M.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    class MulAdd(M.autograd.Function):  # two tensors and a number in, two outputs
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            ctx.k = k
            seen["needs"] = ctx.needs_input_grad
            return a * b * k, a + b

        @staticmethod
        def backward(ctx, g1, g2):
            a, b = ctx.saved_tensors
            seen["grads"] = [None if g is None else g.detach().numpy().copy() for g in (g1, g2)]
            return g1 * b * ctx.k + g2, g1 * a * ctx.k + g2, None

    class Clamp(M.autograd.Function):  # PyTorch 2's spelling: forward without ctx, setup_context
        @staticmethod
        def forward(x, low):
            return x.clamp(min=low)

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, low = inputs
            ctx.save_for_backward(x)
            ctx.low = low

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * (x > ctx.low).to(g.dtype), None

    class SortWithIndices(M.autograd.Function):  # an integer output and one marked non-differentiable
        @staticmethod
        def forward(ctx, x):
            values, order = x.sort()
            doubled = values * 2
            ctx.mark_non_differentiable(doubled)
            ctx.save_for_backward(order)
            ctx.n = x.shape[0]
            return values, order, doubled

        @staticmethod
        def backward(ctx, g, g_order, g_doubled):
            order, = ctx.saved_tensors
            seen["g_order"] = (str(g_order.dtype).removeprefix("torch."), g_order.tolist())
            seen["g_doubled"] = tuple(g_doubled.shape)
            return M.zeros(ctx.n, dtype=g.dtype).index_add(0, order, g)

    class Lazy(M.autograd.Function):  # unused outputs' gradients stay None
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            seen["lazy"] = (g1 is None, g2 is None)
            return (0 if g1 is None else g1 * 2) + (0 if g2 is None else g2 * 3)

    class RowBias(M.autograd.Function):  # a gradient PyTorch sums back to the input's shape
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g

    return dict(Exp=Exp, MulAdd=MulAdd, Clamp=Clamp, SortWithIndices=SortWithIndices, Lazy=Lazy,
                RowBias=RowBias)


def both(fn, *arrays, dtype="float64", requires_grad=True):
    """fn(M, F, *tensors) on both modules; returns (ours, theirs) as (outputs, grads, seen)."""
    results = []
    for M in (tnm, torch):
        seen = {}
        F = functions(M, seen)
        ts = [M.tensor(a, dtype=getattr(M, dtype), requires_grad=requires_grad) for a in arrays]
        out = fn(M, F, *ts)
        results.append((out, [None if t.grad is None else t.grad.numpy() for t in ts], seen))
    return results


def close(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-9)


X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
Y = np.array([[1.0, 2.0, -0.5], [0.3, -2.0, 1.0]])


def test_saved_output_forward_and_backward(backend):
    def run(M, F, x):
        y = F["Exp"].apply(x)
        (y * y).sum().backward()
        return y
    (ours, grads, _), (theirs, ref, _) = both(run, X)
    close(ours, theirs)
    np.testing.assert_allclose(grads[0], ref[0], rtol=1e-9)
    assert ours.backend == backend and not ours.is_leaf and "ExpBackward" in repr(ours)


@pytest.mark.parametrize("use", ["both", "first", "second"])
def test_two_inputs_a_number_two_outputs(backend, use):
    def run(M, F, a, b):
        p, q = F["MulAdd"].apply(a, b, 2.5)
        loss = {"both": p.sum() + (q * q).sum(), "first": (p * p).sum(), "second": q.sum()}[use]
        loss.backward()
        return p, q
    (ours, grads, seen), (theirs, ref, seen_ref) = both(run, X, Y)
    for o, t in zip(ours, theirs):
        close(o, t)
    for g, r in zip(grads, ref):
        np.testing.assert_allclose(g, r, rtol=1e-9)
    assert seen["needs"] == seen_ref["needs"] == (True, True, False)
    for g, r in zip(seen["grads"], seen_ref["grads"]):  # an unused output's gradient arrives as zeros
        np.testing.assert_allclose(g, r)


def test_setup_context_spelling_and_an_input_without_grad(backend):
    def run(M, F, x):
        y = F["Clamp"].apply(x, 0.3)
        z = F["MulAdd"].apply(y, M.tensor(Y, dtype=M.float64), 1.0)[0]
        z.sum().backward()
        return z
    (ours, grads, seen), (theirs, ref, seen_ref) = both(run, X)
    close(ours, theirs)
    np.testing.assert_allclose(grads[0], ref[0], rtol=1e-9)
    assert seen["needs"] == seen_ref["needs"] == (True, False, False)


def test_integer_and_non_differentiable_outputs(backend):
    x = np.array([0.3, -1.0, 2.0, 0.5])

    def run(M, F, x):
        values, order, doubled = F["SortWithIndices"].apply(x)
        (values * M.arange(4, dtype=M.float64)).sum().backward()
        return values, order, doubled
    (ours, grads, seen), (theirs, ref, seen_ref) = both(run, x)
    close(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())
    assert str(ours[1].dtype) == "int64" and not ours[1].requires_grad
    assert ours[2].requires_grad == theirs[2].requires_grad is False
    np.testing.assert_allclose(grads[0], ref[0])
    # the outputs that take no gradient get zeros: of int64 for the order, of the values' shape
    assert seen["g_order"] == seen_ref["g_order"] == ("int64", [0, 0, 0, 0])
    assert seen["g_doubled"] == seen_ref["g_doubled"] == (4,)


def test_set_materialize_grads_false_leaves_unused_gradients_none(backend):
    def run(M, F, x):
        a, b = F["Lazy"].apply(x)
        b.sum().backward()
        return b
    (ours, grads, seen), (theirs, ref, seen_ref) = both(run, X)
    assert seen["lazy"] == seen_ref["lazy"] == (True, False)
    np.testing.assert_allclose(grads[0], ref[0])


def test_a_broadcast_gradient_is_summed_to_the_input(backend):
    def run(M, F, x, b):
        y = F["RowBias"].apply(x, b)
        (y * y).sum().backward()
        return y
    b = np.array([0.5, -0.25, 1.0])
    (ours, grads, _), (theirs, ref, _) = both(run, X, b)
    close(ours, theirs)
    for g, r in zip(grads, ref):
        np.testing.assert_allclose(g, r, rtol=1e-9)


def test_same_tensor_twice_retain_graph_and_autograd_grad(backend):
    def run(M, F, x):
        p, q = F["MulAdd"].apply(x, x, 1.5)
        loss = (p * q).sum()
        g, = M.autograd.grad(loss, [x], retain_graph=True)
        loss.backward(retain_graph=True)
        loss.backward()
        return g
    (ours, grads, _), (theirs, ref, _) = both(run, X)
    close(ours, theirs)
    np.testing.assert_allclose(grads[0], ref[0], rtol=1e-9)


def test_inside_a_module_float32_training_step(backend):
    def run(M, F, x):
        M.manual_seed(0)
        w = M.tensor(Y.T, dtype=M.float32, requires_grad=True)
        h = F["Clamp"].apply(x @ w, 0.0)  # a hand-written relu
        loss = F["Exp"].apply(h * 0.1).mean()
        loss.backward()
        return w.grad
    (ours, grads, _), (theirs, ref, _) = both(run, X, dtype="float32")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=2e-6)
    np.testing.assert_allclose(grads[0], ref[0], rtol=2e-6)


def test_no_grad_or_no_input_needing_grad_gives_plain_results(backend):
    F = functions(tnm, {})
    x = tnm.tensor(X, requires_grad=True)
    with tnm.no_grad():
        y = F["Exp"].apply(x)
    assert not y.requires_grad and y.grad_fn is None
    y = F["Exp"].apply(tnm.tensor(X))
    assert not y.requires_grad


def test_bad_backward_results_are_refused_as_pytorch_refuses(backend):
    for M in (tnm, torch):
        class TooFew(M.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a + b

            @staticmethod
            def backward(ctx, g):
                return g

        class WrongShape(M.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                return g[:1]

        class GradForNumber(M.autograd.Function):
            @staticmethod
            def forward(ctx, a, k):
                return a * k

            @staticmethod
            def backward(ctx, g):
                return g, g

        a = M.tensor([1.0, 2.0], requires_grad=True)
        before = None if a.grad is None else a.grad.clone()
        with pytest.raises(RuntimeError, match="incorrect number of gradients"):
            TooFew.apply(a, M.tensor([3.0, 4.0], requires_grad=True)).sum().backward()
        with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
            WrongShape.apply(a).sum().backward()
        with pytest.raises(RuntimeError, match="different than None at position 2"):
            GradForNumber.apply(a, 3.0).sum().backward()
        assert a.grad is None and before is None  # nothing was written


def test_a_saved_tensor_written_in_place_is_refused(backend):
    F = functions(tnm, {})
    x = tnm.tensor(X, requires_grad=True)
    a = x * 1
    p, q = F["MulAdd"].apply(a, x, 2.0)
    with tnm.no_grad():
        a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        p.sum().backward()
    assert x.grad is None


def test_mark_dirty_and_instantiation_say_what_to_do(backend):
    class Dirty(tnm.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

    with pytest.raises(NotImplementedError, match="mark_dirty"):
        Dirty.apply(tnm.tensor([1.0], requires_grad=True))
    with pytest.raises(RuntimeError, match=r"call Dirty.apply"):
        Dirty()


def test_gradcheck_agrees_with_torch(backend):
    def check(M, wrong):
        class Cube(M.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                ctx.save_for_backward(x, y)
                return x ** 3 * y, x + y

            @staticmethod
            def backward(ctx, g, h):
                x, y = ctx.saved_tensors
                return g * (2 if wrong else 3) * x ** 2 * y + h, g * x ** 3 + h
        x = M.tensor(X, dtype=M.float64, requires_grad=True)
        y = M.tensor(Y, dtype=M.float64, requires_grad=True)
        return M.autograd.gradcheck(Cube.apply, (x, y), eps=1e-6, atol=1e-5, raise_exception=False)
    assert check(tnm, False) is True and check(torch, False) is True
    assert check(tnm, True) is False and check(torch, True) is False
    with pytest.raises(tnm.autograd.GradcheckError, match="Jacobian mismatch"):
        tnm.autograd.gradcheck(lambda x: x * x.detach(), (tnm.tensor(X, dtype=tnm.float64, requires_grad=True),))
    assert tnm.autograd.gradcheck(lambda x: (x.sin() * x).sum(1), tnm.tensor(X, dtype=tnm.float64, requires_grad=True))
