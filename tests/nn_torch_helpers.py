"""Shared helpers for the nn/optim tests that compare with PyTorch."""
import numpy as np
import pytest

from tinygrad_nm import Tensor

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: threads only contend on a shared machine


def vals(t):
    return t.detach().numpy()


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)


def copy_weights(ours, theirs):
    """Copy our module's state into the torch module (parameters and buffers, by name)."""
    state = {k: torch.tensor(np.asarray(v.numpy())) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)


def compare(ours_fn, torch_fn, inputs, dtype="float64", check_grads=True, grads=None, **tolerance):
    """Run ours_fn on Tensors and torch_fn on torch tensors made from the same NumPy `inputs`;
    compare outputs and (for float inputs; those flagged in `grads`) gradients of sum(out * weights)."""
    tol_ = {**tol(dtype), **tolerance}
    grads = [check_grads] * len(inputs) if grads is None else grads
    ours_in = [Tensor(x, dtype=dtype, requires_grad=g) if np.asarray(x).dtype.kind == "f"
               else Tensor(x) for x, g in zip(inputs, grads)]
    theirs_in = [torch.tensor(np.asarray(x, dtype=dtype), requires_grad=g)
                 if np.asarray(x).dtype.kind == "f" else torch.tensor(x) for x, g in zip(inputs, grads)]
    out, ref = ours_fn(*ours_in), torch_fn(*theirs_in)
    np.testing.assert_allclose(vals(out), ref.detach().numpy(), **tol_)
    if check_grads:
        w = np.random.default_rng(5).standard_normal(ref.shape)
        (out * Tensor(w, dtype=dtype)).sum().backward()
        (ref * torch.tensor(w, dtype=ref.dtype)).sum().backward()
        for o, t in zip(ours_in, theirs_in):
            if t.grad is not None:
                np.testing.assert_allclose(vals(o.grad), t.grad.numpy(), **tol_)
    return out
