"""Adamax, NAdam, RAdam and the CosineAnnealingWarmRestarts, CyclicLR and PolynomialLR schedulers
against torch.optim: the same initial weights and the same loss give the same weights, learning
rates and momenta step for step, on every backend; state dicts resume exactly; bad arguments are
refused with PyTorch's messages.

Float64 is compared tightly. Float32 is compared to rounding (PyTorch's CPU kernels use fused
multiply-adds in lerp and add(alpha=)); the pure-Python backend computes float32 in double."""
import copy
import math
import warnings

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, optim
from tinygrad_nm.optim import lr_scheduler as sched

from nn_torch_helpers import torch, vals

TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
STEPS = 25  # RAdam (beta2=0.999) takes its SGD-like steps until step 6, rectified Adam steps after
OPTIMIZERS = [
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.02, betas=(0.3, 0.9), eps=1e-4, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("NAdam", dict(lr=0.01, betas=(0.6, 0.99), weight_decay=0.05, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]


def problem(dtype):
    """(our parameters, PyTorch's, loss(params, module)): a tanh regression whose gradient changes every step."""
    rng = np.random.default_rng(0)
    w0, b0, x, y = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((5, 3)), rng.random((5, 2))
    ours = [Tensor(a, dtype=dtype, requires_grad=True) for a in (w0, b0)]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (w0, b0)]

    def loss(params, module):
        w, b = params
        make = (lambda a: Tensor(a, dtype=dtype)) if module is tnm else (lambda a: torch.tensor(a.astype(dtype)))
        return (((make(x) @ w + b).tanh() - make(y)) ** 2).sum()
    return ours, theirs, loss


def run(opt, topt, ours, theirs, loss, dtype, steps, scheds=(None, None), check=None):
    """Step both optimizers (and schedulers) `steps` times; compare weights (and `check`) after each."""
    s, ts = scheds
    for i in range(steps):
        opt.zero_grad()
        loss(ours, tnm).backward()
        opt.step()
        topt.zero_grad()
        loss(theirs, torch).backward()
        topt.step()
        for p, tp in zip(ours, theirs):
            np.testing.assert_allclose(vals(p), tp.detach().numpy(), **TOL[dtype], err_msg=f"step {i}")
        if s is not None:
            s.step()
            ts.step()
        if check is not None:
            check(i)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind,kwargs", OPTIMIZERS)
def test_optimizer_matches_torch(backend, kind, kwargs, dtype):
    ours, theirs, loss = problem(dtype)
    opt, topt = getattr(optim, kind)(ours, **kwargs), getattr(torch.optim, kind)(theirs, **kwargs)
    run(opt, topt, ours, theirs, loss, dtype, STEPS)
    for p, tp in zip(ours, theirs):  # the state too: its names, step counts and moments
        state, tstate = opt.state[p], topt.state[tp]
        assert set(state) == set(tstate) == set(opt.state_keys)
        for name, value in state.items():
            expected = tstate[name].numpy()
            np.testing.assert_allclose(vals(value) if isinstance(value, Tensor) else value, expected,
                                       **TOL[dtype], err_msg=name)


def test_param_groups_defaults_and_closure(backend):
    ours, theirs, loss = problem("float64")
    groups = lambda ps: [{"params": [ps[0]], "lr": 0.05, "betas": (0.5, 0.9)}, {"params": [ps[1]]}]  # noqa: E731
    opt = optim.NAdam(groups(ours), lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
    topt = torch.optim.NAdam(groups(theirs), lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.01] and opt.param_groups[0]["betas"] == (0.5, 0.9)
    run(opt, topt, ours, theirs, loss, "float64", 8)
    for kind in ("Adamax", "NAdam", "RAdam"):  # PyTorch's defaults, as group entries
        defaults, torch_defaults = getattr(optim, kind)(ours).defaults, getattr(torch.optim, kind)(theirs).defaults
        assert {k: torch_defaults[k] for k in defaults} == defaults
    opt = optim.RAdam(ours, lr=0.01)

    def closure():
        opt.zero_grad()
        value = loss(ours, tnm)
        value.backward()
        return value
    assert opt.step(closure) is not None and opt.state[ours[0]]["step"] == 1


@pytest.mark.parametrize("make", [lambda ps: optim.Adamax(ps, lr=0.05, weight_decay=0.1),
                                  lambda ps: optim.NAdam(ps, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
                                  lambda ps: optim.RAdam(ps, lr=0.05, betas=(0.9, 0.9))])
def test_state_dict_round_trip_continues_identically(backend, make, tmp_path):
    ours, _, loss = problem("float64")
    opt = make(ours)

    def steps(opt, params, n):
        for _ in range(n):
            opt.zero_grad()
            loss(params, tnm).backward()
            opt.step()
    steps(opt, ours, 7)
    copies = [Tensor(vals(p), dtype="float64", requires_grad=True) for p in ours]
    tnm.save(opt.state_dict(), str(tmp_path / "opt.tnm"))  # through a file: mu_product is a plain float
    resumed = make(copies)
    resumed.load_state_dict(tnm.load(str(tmp_path / "opt.tnm")))
    steps(opt, ours, 5)
    steps(resumed, copies, 5)
    for a, b in zip(ours, copies):
        np.testing.assert_array_equal(vals(a), vals(b))


def test_bad_arguments_are_refused_with_torch_messages(backend):
    p = Tensor([1.0, 2.0], requires_grad=True)
    for kind in ("Adamax", "NAdam", "RAdam"):
        with pytest.raises(ValueError, match=f"{kind}: Invalid learning rate: -1"):
            getattr(optim, kind)([p], lr=-1)
        with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.0"):
            getattr(optim, kind)([p], betas=(1.0, 0.9))
        with pytest.raises(ValueError, match="Invalid epsilon value: -0.1"):
            getattr(optim, kind)([p], eps=-0.1)
        with pytest.raises(ValueError, match="capturable=True is not supported"):
            getattr(optim, kind)([p], capturable=True)
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            getattr(torch.optim, kind)([torch.zeros(2, requires_grad=True)], lr=-1)
    with pytest.raises(ValueError, match="Invalid momentum_decay value: -0.5"):
        optim.NAdam([p], momentum_decay=-0.5)
    opt = optim.NAdam([p])
    p.grad = Tensor([1.0, 1.0])
    opt.step()
    saved = opt.state_dict()
    bad = copy.deepcopy(saved)
    bad["state"][0]["mu_product"] = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="mu_product must be one finite number"):
        opt.load_state_dict(bad)
    assert opt.state[p]["mu_product"] == saved["state"][0]["mu_product"]  # unchanged


# --- schedulers ----------------------------------------------------------------------------------------
def scheduled(dtype, make_opt, make_sched, steps, momentum_key=None, epochs=None):
    """Run our optimizer + scheduler against PyTorch's; after each step compare the learning rates
    (and momentum or beta1 when cycled); `epochs`: explicit step(epoch) arguments instead of step()."""
    ours, theirs, loss = problem(dtype)
    opt, topt = make_opt(optim, ours), make_opt(torch.optim, theirs)
    s, ts = make_sched(sched, opt), make_sched(torch.optim.lr_scheduler, topt)

    def lrs(o):  # each group's lr, then its momentum or beta1 when cycled
        values = [g["lr"] for g in o.param_groups]
        momenta = [g[momentum_key] for g in o.param_groups] if momentum_key else []
        return values + [m[0] if isinstance(m, tuple) else m for m in momenta]
    assert lrs(opt) == pytest.approx(lrs(topt), rel=1e-13, abs=1e-15)
    for i in range(steps):
        for o, params, module in ((opt, ours, tnm), (topt, theirs, torch)):
            o.zero_grad()
            loss(params, module).backward()
            o.step()
        if epochs is None:
            s.step()
            ts.step()
        else:
            with warnings.catch_warnings():  # PyTorch warns that step(epoch) is deprecated (not for SGDR)
                warnings.simplefilter("ignore", UserWarning)
                s.step(epochs[i])
                ts.step(epochs[i])
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13, abs=1e-15), f"step {i}"
        assert lrs(opt) == pytest.approx(lrs(topt), rel=1e-13, abs=1e-15), f"step {i}"
        assert s.last_epoch == ts.last_epoch
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(vals(p), tp.detach().numpy(), **TOL[dtype])
    return s, ts


def sgd(module, params):
    return module.SGD(params, lr=0.1, momentum=0.9)


class Halving:
    """A callable-object scale_fn (its __dict__ is saved in the scheduler's state dict)."""
    def __init__(self, base):
        self.base = base

    def __call__(self, x):
        return self.base ** x


SCHEDULERS = [
    ("CosineAnnealingWarmRestarts", dict(T_0=5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01)),
    ("PolynomialLR", dict(total_iters=8)),
    ("PolynomialLR", dict(total_iters=6, power=2.5)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, mode="exp_range", gamma=0.9)),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, scale_fn=Halving(0.7), scale_mode="cycle",
                      base_momentum=[0.7, 0.75], max_momentum=0.95)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=[0.1, 0.05], step_size_up=3, scale_fn=lambda x: 0.9 ** x,
                      scale_mode="iterations", cycle_momentum=False)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS)
def test_scheduler_with_sgd_matches_torch(backend, name, kwargs):
    def make_opt(module, ps):  # two groups, so per-group lists are exercised
        return module.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}], lr=0.1, momentum=0.9)
    cycles = name == "CyclicLR" and kwargs.get("cycle_momentum", True)
    scheduled("float64", make_opt, lambda m, o: getattr(m, name)(o, **kwargs), 20,
              momentum_key="momentum" if cycles else None)


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "NAdam", "RAdam", "Adamax"])
def test_cyclic_lr_cycles_adam_beta1_as_torch(backend, kind):
    s, _ = scheduled("float32", lambda m, ps: getattr(m, kind)(ps, lr=0.01, betas=(0.9, 0.99)),
                     lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=3, mode="triangular2",
                                             base_momentum=0.8, max_momentum=0.95), 14, momentum_key="betas")
    assert s.optimizer.param_groups[0]["betas"][1] == 0.99  # beta2 untouched


@pytest.mark.parametrize("T_mult", [1, 2])
def test_warm_restarts_fractional_and_out_of_order_epochs(backend, T_mult):
    iters = 4  # per batch: step(epoch + i / iters), as PyTorch's docstring, then a jump and a resumed count
    epochs = [e + i / iters for e in range(6) for i in range(iters)] + [26, 7.5, 0.25]
    scheduled("float64", sgd, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=T_mult, eta_min=0.001),
              len(epochs), epochs=epochs)
    s, _ = scheduled("float64", sgd, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=T_mult),
                     6, epochs=[3.5, 10, 11, 12, 13, 14])
    s.step()  # after step(14), step() continues at 15
    assert s.last_epoch == 15


def test_polynomial_lr_closed_form_and_sequential_warm_restarts(backend):
    scheduled("float64", sgd, lambda m, o: m.PolynomialLR(o, total_iters=5, power=2.0), 8,
              epochs=[1, 2, 4, 3, 5, 9, 0, 2])

    def make(m, o):  # SequentialLR restarts the second scheduler at its milestone with step(0)
        return m.SequentialLR(o, [m.LinearLR(o, 0.1, total_iters=3), m.CosineAnnealingWarmRestarts(o, T_0=4)],
                              milestones=[3])
    scheduled("float64", sgd, make, 12)


@pytest.mark.parametrize("make", [
    lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=Halving(0.5)),
    lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2, mode="exp_range", gamma=0.8),
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    lambda m, o: m.PolynomialLR(o, total_iters=9, power=0.5),
])
def test_scheduler_state_dict_resumes_identically(backend, make, tmp_path):
    p = Tensor([1.0, -1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    s = make(sched, opt)
    for _ in range(5):
        s.step()
    state = s.state_dict()
    assert "optimizer" not in state and state.get("_scale_fn_custom", None) in (None, {"base": 0.5})
    tnm.save({"opt": opt.state_dict(), "sched": state}, str(tmp_path / "s.tnm"))
    saved = tnm.load(str(tmp_path / "s.tnm"))
    opt2 = optim.SGD([Tensor([1.0, -1.0], requires_grad=True)], lr=0.1, momentum=0.9)
    s2 = make(sched, opt2)
    opt2.load_state_dict(saved["opt"])
    s2.load_state_dict(saved["sched"])
    for _ in range(7):
        s.step()
        s2.step()
        assert s2.get_last_lr() == s.get_last_lr()
        assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]


def test_scheduler_errors_and_names(backend):
    p = Tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 1.5"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        sched.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        sched.CyclicLR(optim.Adagrad([p]), 0.01, 0.1)
    with pytest.raises(ValueError, match="max_lr must have the same length as optimizer.param_groups"):
        sched.CyclicLR(opt, 0.01, [0.1, 0.2])
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        sched.CyclicLR([p], 0.01, 0.1)
    # reachable as PyTorch's names are, without lr_scheduler.py importing anything that imports it
    from tinygrad_nm.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, PolynomialLR
    for cls in (CosineAnnealingWarmRestarts, CyclicLR, PolynomialLR):
        assert issubclass(cls, sched.LRScheduler) and getattr(tnm.optim.lr_scheduler, cls.__name__) is cls
    assert {"Adamax", "NAdam", "RAdam"} <= set(optim.__all__)
    assert math.isclose(sched.PolynomialLR(optim.SGD([p], lr=1.0), total_iters=4, power=2.0).get_last_lr()[0], 1.0)
