"""napkin's launch facts of a GPU backend, held against the launches it really makes (recorded
with no GPU): how many kernels each call launches, and the one-time cost of a run: Numba compiles each distinct kernel at its
first launch in a process (and loads its compiler at the first). The count comes from the
backend's PRICING["compiled"] over a shape-only trace; here it is held against the launches the
backend really makes, recorded by the CUDA resource tool with no GPU (on the H200 the same
recording's count, 17 for the digits run and 44 for the CNN's with the model's initialisation,
matched Numba's compiles exactly)."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import backends
from tinygrad_nm.napkin import rates as rates_mod

GPU = next(n for n in backends.known_backends() if (backends.pricing(n)[0] or {}).get("family") == "gpu")


@pytest.fixture
def rates(monkeypatch):
    r = rates_mod.defaults()
    r.data["gpu"] = {**r.data["gpu"], "compile_s": 0.1, "compile_init_s": 0.5, "view_s": 2e-6}
    monkeypatch.setattr(rates_mod, "_current", r)
    return r


def test_the_first_compile_loads_the_compiler_then_each_distinct_kernel_pays_once(rates):
    def program(x, y):
        for _ in range(3):  # the same add three times: compiled once
            x + y
        x * 2.0

    e = tnm.napkin.estimate(program, (64, 32), (64, 32), backend=GPU)
    assert len(e.compiled) == 2 and e.warmup_seconds == pytest.approx(0.5 + 2 * 0.1)
    assert tnm.napkin.estimate(program, (64, 32), (64, 32), backend="numpy").warmup_seconds == 0.0
    assert tnm.napkin.estimate(lambda x: x.permute(1, 0), (64, 32), backend=GPU).warmup_seconds == 0.0  # a view


def test_scalar_and_broadcast_operands_compile_their_own_specialisations(rates):
    same = tnm.napkin.estimate(lambda x, y: x + y, (4, 3), (4, 3), backend=GPU).compiled
    broadcast = tnm.napkin.estimate(lambda x, y: x + y, (4, 3), (3,), backend=GPU).compiled
    scalar = tnm.napkin.estimate(lambda x: x + 2.0, (4, 3), backend=GPU).compiled
    assert len(same | broadcast | scalar) == 3
    linear = tnm.napkin.estimate(lambda x, w, b: tnm.functional.linear(x, w, b).relu(), (32, 64), (16, 64), (16,),
                                 backend=GPU)
    assert any("matmul" in str(k) for k in linear.compiled)  # the product, then the fused epilogue


def test_the_whole_run_adds_the_warmup_once_and_the_measured_passes_are_held_against_it(rates):
    from tinygrad_nm import tasks, train, train_estimate
    from tinygrad_nm.train_config import resolve
    config = resolve(train._parser().parse_args(["--task", "digits", "--epochs", "4"]), None)
    task = tasks.build(config)
    p = train_estimate.predict(task, config, train.make_optimizer, names=[GPU], gpus=[])[0][GPU]
    assert p["warmup"] >= p["train_warmup"] > 0.5 and p["compiled"] >= 10
    assert p["warmup"] == pytest.approx(0.5 + 0.1 * p["compiled"])  # the compiler is loaded once, step and evaluation
    assert p["run"] == pytest.approx(4 * p["epoch"] + p["warmup"])
    history = {"seconds": [p["train_epoch"]] * 4}
    line = train_estimate.measured_beside({GPU: p}, GPU, history, 4)
    measured_over_predicted = 4 * p["train_epoch"] / (4 * p["train_epoch"] + p["train_warmup"])
    assert f"measured/predicted {measured_over_predicted:.2f}" in line


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_count_is_close_to_the_specialisations_the_backend_launches(rates, model):
    """Recorded: every (kernel, argument types) the real backend launches over three training steps
    and an evaluation, on fake device memory (resources._recording: no GPU, no simulator)."""
    nc = pytest.importorskip(f"tinygrad_nm.backends.{GPU}")
    if nc.device.IMPORT_ERROR is not None or nc.device.simulated():
        pytest.skip("needs numba-cuda imported without the simulator (the recording replaces Numba's launcher)")
    from tinygrad_nm import tasks, train, train_estimate
    from tinygrad_nm.train_config import resolve
    resources = pytest.importorskip(f"tinygrad_nm.backends.{GPU}.resources")
    config = resolve(train._parser().parse_args(["--task", "digits", "--model", model]), None)
    predicted = train_estimate.predict(tasks.build(config), config, train.make_optimizer, names=[GPU], gpus=[])
    predicted = predicted[0][GPU]["compiled"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nc.device, "_checked", True)
        mp.setattr(nc.device, "_reason", None)  # the recording needs no GPU
        mp.setitem(backends._loaded, GPU, nc)
        mp.delitem(backends._unavailable, GPU, raising=False)
        with resources._recording(nc) as (found, _), tnm.use_backend(GPU):
            task = tasks.build(config)  # the model's initialisation compiles its own kernels, before the run
            opt = train.make_optimizer(config, task.model.parameters())
            before = set(found)
            batches = iter(tasks.loader(task, config))
            for _ in range(3):
                x, y = next(batches)
                loss, out = train.train_step(task, opt, x, y)
                loss.item(), out.detach().numpy(), np.asarray(y.numpy())
            train.evaluate(task)
    launched = len(set(found) - before)
    assert 0.85 * launched <= predicted <= launched, (predicted, launched)


@pytest.mark.parametrize("shape,reduce", [((1024, 1024), None), ((4096, 4096), None), ((1024, 1024), 1),
                                          ((1024, 1024), 0), ((32, 10), 0), ((300, 7), None)])
@pytest.mark.parametrize("kind", ["sum", "max"])
def test_each_call_is_charged_the_launches_the_backend_makes(rates, kind, shape, reduce):
    """A reduction of long rows folds them in passes; its launches are counted on the GPU launch
    policy the recording installs (an H100's 132 SMs, as napkin's launch count assumes)."""
    nc = pytest.importorskip(f"tinygrad_nm.backends.{GPU}")
    if nc.device.IMPORT_ERROR is not None or nc.device.simulated():
        pytest.skip("needs numba-cuda imported without the simulator (the recording replaces Numba's launcher)")
    from numba.cuda import dispatcher

    from tinygrad_nm.backends.kernels import kernel_cost
    resources = pytest.importorskip(f"tinygrad_nm.backends.{GPU}.resources")
    host = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    axes = tuple(range(len(shape))) if reduce is None else (reduce,)
    with resources._recording(nc) as _:
        counted, recording = [0], dispatcher.CUDADispatcher.__getitem__

        def counting(kernel, config):
            counted[0] += 1
            return recording(kernel, config)
        dispatcher.CUDADispatcher.__getitem__ = counting
        try:
            a = nc.from_numpy(host, tnm.float32)
            counted[0] = 0
            out = getattr(nc, kind)(a, axes, False)
        finally:
            dispatcher.CUDADispatcher.__getitem__ = recording
    assert out.shape == tuple(n for d, n in enumerate(shape) if d not in axes)
    cost = kernel_cost(kind, (host, axes, False), None)
    assert nc.PRICING["launches"](cost, "float32", 132) == counted[0] >= 1


def test_views_launch_nothing(rates):
    for fn in (lambda x: x.reshape(64), lambda x: x.permute(1, 0)):
        e = tnm.napkin.estimate(fn, (8, 8), backend=GPU)
        assert e.seconds == pytest.approx(rates.section("gpu")["view_s"]) and e.compiled == set(), e
