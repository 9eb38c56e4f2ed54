"""Run one program spelled in PyTorch on tinygrad_nm and on torch, and compare.

A case is `fn(M, *tensors)` with M the module (`tinygrad_nm` or `torch`): the same code runs on
both, as a PyTorch program does after `import tinygrad_nm as torch`. Outputs may be a tensor or a
tuple/list of tensors (split, max(dim)); float outputs are compared forward and, with a fixed
random weighting, backward into every float input; int and bool outputs are compared exactly.
"""
import numpy as np
import pytest

import tinygrad_nm as tnm

torch = pytest.importorskip("torch")

TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


def rnd(shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def case(name, fn, *inputs, grad=True):
    return pytest.param(fn, inputs, grad, id=name)


def _outputs(out):
    """The tensors of an output, nested tuples (max(dim)'s (values, indices)) flattened."""
    return [t for o in out for t in _outputs(o)] if isinstance(out, (tuple, list)) else [out]


def _dtype_name(t):
    return str(t.dtype).removeprefix("torch.")


def run_both(fn, inputs, dtype, grad, backend):
    """Forward and backward on both; asserts they agree."""
    def make(M, a):
        is_float = np.asarray(a).dtype.kind == "f"
        kw = dict(dtype=getattr(M, dtype)) if is_float else {}
        return M.tensor(a, requires_grad=grad and is_float, **kw)
    ts, ps = [make(tnm, a) for a in inputs], [make(torch, a) for a in inputs]
    outs, refs = _outputs(fn(tnm, *ts)), _outputs(fn(torch, *ps))
    assert len(outs) == len(refs)
    rng = np.random.default_rng(7)
    ours_loss = theirs_loss = None
    for i, (o, r) in enumerate(zip(outs, refs)):
        assert tuple(o.shape) == tuple(r.shape), f"output {i}: shape {o.shape}, PyTorch {tuple(r.shape)}"
        assert _dtype_name(o) == _dtype_name(r), f"output {i}: dtype {o.dtype}, PyTorch {r.dtype}"
        assert o.backend == backend
        if r.dtype.is_floating_point:
            np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), **TOL[dtype], err_msg=f"output {i}")
            if r.requires_grad:
                w = rng.uniform(-1, 1, size=r.shape)
                ours_loss = (o * tnm.tensor(w, dtype=o.dtype)).sum() + (0 if ours_loss is None else ours_loss)
                theirs_loss = (r * torch.tensor(w, dtype=r.dtype)).sum() + (0 if theirs_loss is None else theirs_loss)
        else:
            np.testing.assert_array_equal(o.numpy(), r.numpy(), err_msg=f"output {i}")
    if theirs_loss is None:
        return
    assert ours_loss.requires_grad
    ours_loss.backward()
    theirs_loss.backward()
    for i, (t, p) in enumerate(zip(ts, ps)):
        if p.grad is None:  # an input used for its shape only (view_as)
            assert t.grad is None, f"input {i} got a gradient; PyTorch gives it none"
        else:
            assert t.grad is not None, f"input {i} got no gradient; PyTorch's: {p.grad}"
            np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), **TOL[dtype], err_msg=f"grad of input {i}")


def matches_torch(cases):
    """The test a file of cases needs: each case in float64 and float32, on every backend, through
    run_both. Assign it to a test_ name: `test_matches_torch = matches_torch(CASES)`."""
    @pytest.mark.parametrize("fn,inputs,grad", cases)
    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    def test(backend, fn, inputs, grad, dtype):
        run_both(fn, inputs, dtype, grad, backend)
    return test
