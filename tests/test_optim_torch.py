"""Optimizers and schedulers against torch.optim: a small model with PyTorch's initial weights and
the same batches for 100 steps gives the same losses and weights (float32) on every backend.

The pure-Python backend computes float32 in double precision (so it is compared in float64,
where it agrees with PyTorch to ~1e-12) and is ~20x slower (so it runs 25 of the steps; so does
numba_cuda in Numba's CUDA simulator, where all 100 pass too but take ~2 minutes for the file)."""
import copy

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, nn, optim
from tinygrad_nm.optim import lr_scheduler as sched

from nn_torch_helpers import torch, vals

STEPS = 100
TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
OPTIMIZERS = [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, maximize=False)),
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    # with momentum, a gentler lr: at lr=0.01 the weights grow to ~3 and float32 rounding (PyTorch's
    # fused multiply-adds against separate ones) grows to 2e-4 relative in 100 steps
    ("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, centered=True)), ("RMSprop", dict(lr=0.002, momentum=0.9)),
    ("RMSprop", dict(lr=0.002, momentum=0.9, centered=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)), ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01)),
]
SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)), ("MultiStepLR", dict(milestones=[10, 30, 30, 60], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.97)), ("CosineAnnealingLR", dict(T_max=30, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))), ("LinearLR", dict(start_factor=0.2, total_iters=20)),
    ("OneCycleLR", dict(max_lr=0.05, total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=0.05, total_steps=STEPS, anneal_strategy="linear", three_phase=True)),
]


def setting():
    """(dtype, steps) for the backend under test (Numba's CUDA simulator, too, is slow: 25 steps)."""
    backend = tnm.get_backend()
    return ("float64", 25) if backend == "python" else ("float32", 25) if backend == "numba_cuda" else ("float32", STEPS)


def models():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    if setting()[0] == "float64":
        ours.double()
        theirs.double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})  # PyTorch's initial weights
    return ours, theirs


def batches():
    dtype, n = setting()
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((6, 4)).astype(dtype), rng.integers(0, 3, 6)) for _ in range(n)]


def train(ours, theirs, opt, topt, make_sched=None):
    import tinygrad_nm.nn.functional as F
    s = make_sched(opt, sched) if make_sched else None
    ts = make_sched(topt, torch.optim.lr_scheduler) if make_sched else None
    for i, (x, y) in enumerate(batches()):
        opt.zero_grad()
        loss = F.cross_entropy(ours(Tensor(x)), Tensor(y))
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), **TOL[setting()[0]], err_msg=f"step {i}")
        if s is not None:
            if isinstance(s, sched.ReduceLROnPlateau):
                s.step(round(loss.item(), 3))
                ts.step(round(loss.item(), 3))
            else:
                s.step()
                ts.step()
            assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12), f"step {i}"
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(vals(dict(ours.named_parameters())[name]), p.detach().numpy(),
                                   **TOL[setting()[0]], err_msg=name)


@pytest.mark.parametrize("kind,kwargs", OPTIMIZERS)
def test_optimizer_100_steps_match_torch(backend, kind, kwargs):
    ours, theirs = models()
    train(ours, theirs, getattr(optim, kind)(ours.parameters(), **kwargs),
          getattr(torch.optim, kind)(theirs.parameters(), **kwargs))


@pytest.mark.parametrize("name,kwargs", SCHEDULERS + [("ReduceLROnPlateau", dict(patience=3, factor=0.5))])
def test_scheduler_100_steps_match_torch(backend, name, kwargs):
    ours, theirs = models()
    kind = "SGD" if name != "OneCycleLR" else "Adam"
    train(ours, theirs, getattr(optim, kind)(ours.parameters(), lr=0.05, momentum=0.9) if kind == "SGD"
          else optim.Adam(ours.parameters(), lr=0.05),
          getattr(torch.optim, kind)(theirs.parameters(), lr=0.05, momentum=0.9) if kind == "SGD"
          else torch.optim.Adam(theirs.parameters(), lr=0.05),
          lambda opt, module: getattr(module, name)(opt, **kwargs))


def test_sequential_lr_and_state_dict_resume_match_torch(backend):
    def make(opt, module):
        return module.SequentialLR(opt, [module.LinearLR(opt, 0.1, total_iters=5),
                                         module.CosineAnnealingLR(opt, T_max=20)], milestones=[5])
    ours, theirs = models()
    opt, topt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    s, ts = make(opt, sched), make(topt, torch.optim.lr_scheduler)
    lrs, tlrs = [], []
    for _ in range(12):
        s.step()
        ts.step()
        lrs.append(s.get_last_lr()[0])
        tlrs.append(ts.get_last_lr()[0])
    assert lrs == pytest.approx(tlrs, rel=1e-12)
    # a scheduler restored from a saved state continues exactly
    path = str(__import__("tempfile").mkdtemp()) + "/s.tnm"
    tnm.save({"opt": opt.state_dict(), "sched": s.state_dict()}, path)
    saved = tnm.load(path)
    opt2 = optim.SGD(ours.parameters(), lr=0.1)
    s2 = make(opt2, sched)
    opt2.load_state_dict(saved["opt"])
    s2.load_state_dict(saved["sched"])
    for _ in range(5):
        s.step()
        s2.step()
        assert s2.get_last_lr() == s.get_last_lr()


def test_adam_counts_steps_per_parameter_as_torch(backend):
    """Issue 19: a parameter without a gradient on some steps keeps its own step count, so its
    bias correction is that of the steps it took."""
    rng = np.random.default_rng(1)
    w0, v0 = rng.standard_normal(3), rng.standard_normal(3)
    w, v = Tensor(w0, requires_grad=True, dtype="float64"), Tensor(v0, requires_grad=True, dtype="float64")
    tw, tv = torch.tensor(w0, requires_grad=True), torch.tensor(v0, requires_grad=True)
    opt, topt = optim.Adam([w, v], lr=0.1), torch.optim.Adam([tw, tv], lr=0.1)
    for step in range(12):
        uses_v = step % 3 == 0
        opt.zero_grad()
        ((w * w).sum() + ((v * v * v).sum() if uses_v else 0)).backward()
        opt.step()
        topt.zero_grad()
        ((tw * tw).sum() + ((tv * tv * tv).sum() if uses_v else 0)).backward()
        topt.step()
        np.testing.assert_allclose(vals(w), tw.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(vals(v), tv.detach().numpy(), rtol=1e-12)
    assert opt.state[w]["step"] == 12 and opt.state[v]["step"] == 4
    assert topt.state[tv]["step"].item() == 4


def test_param_groups_add_param_group_and_state_dict_layout(backend):
    ours, theirs = models()
    groups = [{"params": ours[0].parameters(), "lr": 0.01}, {"params": ours[2].parameters()}]
    tgroups = [{"params": theirs[0].parameters(), "lr": 0.01}, {"params": theirs[2].parameters()}]
    opt = optim.SGD(groups, lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tgroups, lr=0.1, momentum=0.9)
    train(ours, theirs, opt, topt)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.01, 0.1]
    assert sorted(sd["state"]) == sorted(tsd["state"]) and set(sd["state"][0]) == set(tsd["state"][0])
    for i in sd["state"]:
        np.testing.assert_allclose(vals(sd["state"][i]["momentum_buffer"]), tsd["state"][i]["momentum_buffer"].numpy(),
                                   rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [ours[0].weight]})
    extra = nn.Parameter(Tensor.zeros(2, dtype=setting()[0]))
    opt.add_param_group({"params": [extra], "momentum": 0.0})
    assert opt.param_groups[-1]["lr"] == 0.1 and opt.param_groups[-1]["momentum"] == 0.0


def test_step_builds_no_graph_and_keeps_parameter_objects(backend):
    ours, _ = models()
    params = list(ours.parameters())
    opt = optim.AdamW(params, lr=0.1)
    ours(Tensor.ones(2, 4, dtype=setting()[0])).sum().backward()
    opt.step()
    assert list(ours.parameters()) == params or all(a is b for a, b in zip(ours.parameters(), params))
    assert all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in params)
    for entries in opt.state.values():
        assert all(not t.requires_grad and t.grad_fn is None for t in entries.values() if isinstance(t, Tensor))
    opt.zero_grad(set_to_none=False)
    assert all(not vals(p.grad).any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match="a step count must be a non-negative whole number"):
        bad = copy.deepcopy(before)
        bad["state"][0]["step"] = np.array([1, 2])
        opt.load_state_dict(bad)
    np.testing.assert_array_equal(vals(opt.state[params[0]]["exp_avg"]), vals(before["state"][0]["exp_avg"]))
