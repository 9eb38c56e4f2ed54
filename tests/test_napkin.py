"""The napkin cost model: formulas, the time model's arithmetic, the rates cache, the DEBUG trace,
profile totals, the report. No timing assertions: measured times are only checked to exist."""
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, backends, functional as F, nn, optim
from tinygrad_nm.napkin import Buf, framework, kernel_cost, model, report, rates as rates_mod


# --- cost formulas -----------------------------------------------------------------------------
@pytest.mark.parametrize("m,k,n,itemsize", [(1024, 1024, 1024, 4), (3, 5, 7, 8), (1, 784, 128, 4)])
def test_matmul_flops_and_bytes(m, k, n, itemsize):
    c = kernel_cost("matmul", (Buf((m, k), itemsize), Buf((k, n), itemsize)))
    assert c.flops == 2 * m * n * k
    assert c.bytes == itemsize * (m * k + k * n + m * n)  # read A and B once, write C once
    assert c.elements == m * n * k
    assert c.intensity == pytest.approx(2 * m * n * k / (itemsize * (m * k + k * n + m * n)))


def test_broadcast_operand_is_read_at_its_own_size():
    c = kernel_cost("add", (Buf((1024, 512)), Buf((512,))))
    assert c.flops == 1024 * 512
    assert c.bytes == 4 * (1024 * 512 + 512 + 1024 * 512)
    both = kernel_cost("mul", (Buf((8, 1)), Buf((1, 6))))  # both broadcast: the output is 8x6
    assert both.flops == 48 and both.bytes == 4 * (8 + 6 + 48)


def test_scalar_operand_costs_no_bytes():
    c = kernel_cost("mul", (Buf((1000,)), 2.5))
    assert c.flops == 1000 and c.bytes == 4 * 2000


def test_compare_writes_one_byte_per_element():
    c = kernel_cost("gt", (Buf((100,), 8), Buf((100,), 8)))
    assert c.bytes == 8 * 200 + 100


@pytest.mark.parametrize("axes,keepdims,kept", [((1,), False, 64), ((0, 1), False, 1), ((1,), True, 64)])
def test_reduction(axes, keepdims, kept):
    c = kernel_cost("sum", (Buf((64, 32)), axes, keepdims))
    assert c.flops == 64 * 32  # one add per input element
    assert c.bytes == 4 * (64 * 32 + kept)


def test_transcendentals_are_counted_apart():
    e = kernel_cost("exp", (Buf((10,)),))
    assert (e.flops, e.transcendentals) == (0, 10)
    s = kernel_cost("sigmoid", (Buf((10,)),))
    assert (s.flops, s.transcendentals) == (30, 10)
    assert kernel_cost("pow", (Buf((10,)), 2)).transcendentals == 0  # x**2 is a multiply
    assert kernel_cost("pow", (Buf((10,)), 0.5)).transcendentals == 20  # exp(b log a)


def test_views_cost_nothing():
    for name, extra in (("reshape", ((4, 4),)), ("permute", ((1, 0),)), ("expand", ((4, 4),))):
        c = kernel_cost(name, (Buf((4, 4)), *extra))
        assert c.flops == 0 and c.bytes == 0


def test_unknown_kernel_is_named():
    with pytest.raises(ValueError, match="no kernel 'fft' in the kernel table"):
        kernel_cost("fft", (Buf((4,)),))


# --- every kernel that runs gets priced -------------------------------------------------------------
def _workout(backend):
    """A program that calls most of the kernel set."""
    with tnm.use_backend(backend):
        rng = np.random.default_rng(0)
        model_ = nn.MLP([6, 5, 3], backend=backend, generator=rng)
        opt = optim.SGD(model_.parameters(), lr=0.1, momentum=0.9)
        x = Tensor(rng.standard_normal((4, 6)))
        loss = F.cross_entropy(model_(x), Tensor([0, 2, 1, 0]))
        loss.backward()
        opt.step()
        y = Tensor(rng.random((3, 4)) + 0.1, requires_grad=True)
        z = (y.sigmoid() * y.tanh() + y.exp().log() - y.sqrt() / y.abs() + y ** 2 - y.atanh() * 0
             + y.softmax(1) + y.log_softmax(0) + y.max(axis=1, keepdims=True) + y[1:, :2].sum() + y.T.sum(1)[0])
        z.sum().backward()
        (y > 0.5).numpy()
        return z


@pytest.mark.parametrize("backend", [b for b in tnm.available_backends() if b in ("python", "numpy")])
def test_every_executed_kernel_is_priced(backend, default_rates, recwarn):
    with tnm.napkin.collecting() as c:
        _workout(backend)
    assert len(c.calls) > 30
    ops = {call.op for call in c.calls}
    assert {"matmul", "relu", "cross_entropy", "sigmoid_backward", "softmax_backward", "index_add"} <= ops
    for call in c.calls:
        assert call.cost is not None and call.prediction is not None, call.op
        assert call.prediction.seconds > 0 and call.prediction.seconds >= call.prediction.limit_seconds
        assert call.measured_seconds >= 0
    assert not [w for w in recwarn if "napkin" in str(w.message)]
    assert backends._kernel_wrapper is None  # tracing off again: the hook costs nothing


# --- the time model's arithmetic ------------------------------------------------------------------
def test_numpy_matmul_is_call_plus_flops_over_blas(default_rates):
    e = tnm.napkin.estimate("matmul", (2048, 1024), (1024, 1024), backend="numpy")  # past the small-size curve
    r = default_rates["array_calls"]
    assert e.flops == 2 * 2048 * 1024 * 1024 > r["blas_curve"][-1][0]
    assert e.seconds == pytest.approx(r["calls"]["matmul"] + e.flops / r["blas_flops"]["float32"])
    # a small matmul is read off the measured curve of square matmuls: at one of its points, that time
    flops, t = r["blas_curve"][1]
    n = round((flops / 2) ** (1 / 3))
    assert tnm.napkin.estimate("matmul", (n, n), (n, n), backend="numpy").seconds == pytest.approx(t)
    # linear_act multiplies by w.T: numpy declares it, and its product is read off the transposed curve
    r["blas_curve_nt"] = [[f, 2 * t] for f, t in r["blas_curve"]]
    plain = tnm.napkin.estimate("matmul", (n, n), (n, n), backend="numpy").seconds
    fused = tnm.napkin.estimate(lambda x, w: tnm.functional.linear(x, w), (n, n), (n, n), backend="numpy")
    assert fused.kernels == ["linear_act"] and fused.seconds == pytest.approx(2 * plain)
    assert "b transposed" in str(fused)
    del r["blas_curve_nt"]  # rates calibrated before it existed: the plain curve
    assert tnm.napkin.estimate(lambda x, w: tnm.functional.linear(x, w), (n, n), (n, n),
                               backend="numpy").seconds == pytest.approx(plain)
    e = tnm.napkin.estimate("matmul", (512, 256), (256, 128), backend="numpy")
    peak = default_rates["host"]["fma_flops_per_core"]["float32"] * default_rates["host"]["cores"]
    assert e.limit_seconds == pytest.approx(max(e.flops / peak, e.bytes / model.bandwidth(
        default_rates["host"]["bandwidth"], e.bytes)))
    text = str(e)
    assert text.startswith("matmul 512x256x128 [numpy float32]: ") and "GFLOP" in text and "BLAS" in text
    assert "default rates" in text and len(text.splitlines()) == 2


def test_numpy_add_is_memory_bound(default_rates):
    n = 1 << 20
    e = tnm.napkin.estimate("add", (n,), (n,), backend="numpy")
    bw = model.bandwidth(default_rates["host"]["bandwidth"], 12 * n)
    assert e.bytes == 12 * n
    assert e.seconds == pytest.approx(default_rates["array_calls"]["call_s"] + 12 * n / bw)
    assert e.parts[0].prediction.bound == "memory"


def test_python_matmul_pays_per_multiply_add_and_per_output(default_rates):
    e = tnm.napkin.estimate("matmul", (32, 32), (32, 32), backend="python")
    r = default_rates["interpreter"]
    assert e.seconds == pytest.approx(r["call_s"] + 32 ** 3 * r["madd_s"] + 32 ** 2 * r["output_s"])
    # a short inner dimension: the per-output cost (a map and a sum call) dominates
    short = tnm.napkin.estimate("matmul", (256, 4), (4, 256), backend="python")
    assert short.seconds == pytest.approx(r["call_s"] + 256 * 256 * (4 * r["madd_s"] + r["output_s"]))
    assert "multiply-adds" in str(e)


def test_float64_doubles_the_bytes(default_rates):
    a = tnm.napkin.estimate("add", (1000,), (1000,), dtype="float32", backend="numpy")
    b = tnm.napkin.estimate("add", (1000,), (1000,), dtype="float64", backend="numpy")
    assert b.bytes == 2 * a.bytes


def test_bandwidth_interpolates_between_measured_points():
    curve = [[1000, 100.0], [100000, 10.0]]
    assert model.bandwidth(curve, 10) == 100.0 and model.bandwidth(curve, 10 ** 7) == 10.0
    assert model.bandwidth(curve, 10000) == pytest.approx(math.sqrt(100.0 * 10.0))


def test_curve_points_measured_as_nothing_do_not_break_interpolation():
    """A calibrated point can come out 0 (a difference of two timings, clipped): no log of it."""
    from tinygrad_nm.napkin.roofline import log_interpolate
    assert log_interpolate(50, [[10, 0.0], [100, 2.0]]) == pytest.approx(2.0 * math.log(5) / math.log(10))
    assert log_interpolate(5, [[10, 0.0], [100, 2.0]]) == 0.0


def test_estimate_maps_tensor_ops_to_kernels(default_rates):
    assert tnm.napkin.estimate("mean", (100, 10), axis=1, backend="numpy").kernels == ["sum", "div"]
    assert tnm.napkin.estimate("__rmul__", (10,), 2.0, backend="numpy").kernels == ["mul"]
    assert tnm.napkin.estimate("mse_loss", (8, 1), (8, 1), backend="numpy").kernels == ["sub", "mul", "sum", "div"]
    ce = tnm.napkin.estimate("cross_entropy", (64, 10), (64,), backend="numpy")
    # the real code reads the labels back to the host to check their range: a transfer, priced too
    assert ce.kernels == ["to_numpy", "cross_entropy"] and ce.transcendentals > 0
    assert tnm.napkin.estimate("matmul", (4,), (4, 3), backend="numpy").flops == 2 * 4 * 3


def test_estimate_errors_name_the_problem(default_rates):
    with pytest.raises(ValueError, match="unknown op 'convolve'"):
        tnm.napkin.estimate("convolve", (3,))
    with pytest.raises(TypeError, match="estimate\\('add', ...\\): .*missing 1 required"):
        tnm.napkin.estimate("add", (3,))
    with pytest.raises(ValueError, match="not aligned"):
        tnm.napkin.estimate("matmul", (3, 4), (5, 6))
    with pytest.raises(ValueError, match="not a float dtype"):
        tnm.napkin.estimate("add", (3,), (3,), dtype="float16")


# --- rates: defaults, cache, staleness --------------------------------------------------------------
def _fake_calibration():
    return {"measured_at": "2025-01-01 00:00:00", "array_calls": {"call_s": 1.25e-6}, "host": {"cores": 7}}


def test_calibration_cache_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "rates.json"
    monkeypatch.setenv(rates_mod.ENV_VAR, str(path))
    assert rates_mod.cache_path() == str(path)
    missing = rates_mod.load_file(rates_mod.cache_path())
    assert not missing.calibrated and "tinygrad-nm calibrate" in missing.describe()
    rates_mod.save(_fake_calibration())
    loaded = rates_mod.load_file(str(path))
    assert loaded.calibrated and str(path) in loaded.describe()
    assert loaded["array_calls"]["call_s"] == 1.25e-6 and loaded["host"]["cores"] == 7
    # what calibration did not measure keeps its documented default
    assert loaded["array_calls"]["blas_flops"] == rates_mod.DEFAULTS["array_calls"]["blas_flops"]
    assert loaded["interpreter"] == rates_mod.DEFAULTS["interpreter"]


def test_stale_or_broken_cache_falls_back_to_defaults(tmp_path):
    path = tmp_path / "rates.json"
    rates_mod.save(_fake_calibration(), str(path))
    data = json.loads(path.read_text())
    data["fingerprint"]["numpy_version"] = "0.0.1"
    path.write_text(json.dumps(data))
    stale = rates_mod.load_file(str(path))
    assert not stale.calibrated and "numpy_version now" in stale.describe()
    path.write_text("{not json")
    broken = rates_mod.load_file(str(path))
    assert not broken.calibrated and "unreadable" in broken.describe()


def test_calibrate_show_prints_the_rates(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(rates_mod.ENV_VAR, str(tmp_path / "none.json"))
    monkeypatch.setattr(rates_mod, "_current", None)
    from tinygrad_nm import cli
    assert cli.main(["calibrate", "--show"]) == 0
    out = capsys.readouterr().out
    assert "default rates" in out and "array_calls:" in out and "blas_flops" in out
    monkeypatch.setattr(rates_mod, "_current", None)


def test_python_primitives_measure_positive_rates():
    from tinygrad_nm.napkin import price_interpreter, primitives
    be = next(backends.load(n) for n in backends.available_backends()
              if backends.load(n).PRICING["family"] == price_interpreter.FAMILY)
    r = price_interpreter.calibrate(be, True, lambda line: None, primitives.best_time, primitives.empty_call)
    assert set(r) == set(price_interpreter.DEFAULT_RATES)  # every rate the pricing reads is measured
    assert all(v >= 0 for v in r.values()) and r["madd_s"] > 0
    assert r["libm_tanh_s"] > 0  # libm's tanh is real work beyond mapping a builtin (13 ns here)


# --- DEBUG trace and profile --------------------------------------------------------------------------
def test_debug_prints_one_line_per_kernel(default_rates):
    stream = io.StringIO()
    a = Tensor(np.ones((8, 4), np.float32), backend="numpy")
    b = Tensor(np.ones((4, 3), np.float32), backend="numpy")
    with tnm.napkin.debug(stream=stream):
        (a @ b).relu()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "numpy" in lines[0] and "matmul" in lines[0] and "8x4, 4x3" in lines[0]
    for word in ("FLOP", "pred", "meas", "GFLOP/s", "GB/s"):
        assert word in lines[0]
    assert "relu" in lines[1]
    assert backends._kernel_wrapper is None


def test_debug_env_var_traces_a_script(tmp_path):
    script = "import tinygrad_nm as t; x = t.Tensor([[1.0, 2.0]]); (x @ x.T).sum()"
    env = dict(os.environ, TINYGRAD_NM_DEBUG="2", TINYGRAD_NM_RATES=str(tmp_path / "none.json"),
               TINYGRAD_NM_BACKEND="numpy")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[napkin]")]
    assert "default rates" in lines[0]  # uncalibrated: the output says so
    ops = [line.split()[2] for line in lines[1:] if " = " not in line]
    assert ops == ["from_numpy", "permute", "matmul", "sum"]  # the tensor's creation is a traced transfer too
    assert any(" = " in line for line in lines)  # level 2: the arithmetic under each line


def test_profile_totals(default_rates):
    rng = np.random.default_rng(1)
    model_ = nn.MLP([16, 8, 4], backend="numpy", generator=rng)
    x = Tensor(rng.standard_normal((5, 16)).astype(np.float32), backend="numpy")

    def step():
        loss = F.cross_entropy(model_(x), Tensor([0, 1, 2, 3, 0], backend="numpy"))
        loss.backward()
        return loss

    p = tnm.napkin.profile(step)
    assert p.result is not None and len(p.rows) > 8
    assert p.kernel_predicted_seconds == pytest.approx(sum(r.predicted_seconds for r in p.rows))
    # the framework's cost around each call, by who made it: the forward's Tensor ops, the backward walk
    phases = [r.phase for r in p.rows]
    assert {"op", "backward"} <= set(phases) <= set(framework.PHASES)
    assert p.predicted_seconds == pytest.approx(p.kernel_predicted_seconds + sum(
        framework.per_call(default_rates, r.phase, r.op, r.shapes) for r in p.rows))
    assert p.measured_seconds >= p.kernel_measured_seconds > 0
    assert p.flops == pytest.approx(sum(r.flops for r in p.rows))
    assert sum(g[0] for g in p.grouped()) == len(p.rows)
    text = str(p)
    assert "total:" in text and "matmul" in text and "framework" in text
    assert backends._kernel_wrapper is None


def test_profile_warmup_runs_untraced_first(default_rates):
    x = Tensor(np.ones((4, 3), np.float32), backend="numpy")
    calls = []

    def step(scale, offset=0.0):
        calls.append((scale, offset))
        return (x * scale + offset).sum()

    one = tnm.napkin.profile(step, 2.0)
    p = tnm.napkin.profile(step, 2.0, warmup=2, offset=1.0)
    assert calls == [(2.0, 0.0)] + [(2.0, 1.0)] * 3  # the warm-up calls take the same arguments
    assert [r.op for r in p.rows] == [r.op for r in one.rows]  # only the last call is traced
    assert float(p.result) == 36.0


# --- the report ------------------------------------------------------------------------------------------
def _bench_json():
    def bench(backend, op, size, predicted, measured):
        return {"name": f"{op}-{size}", "fullname": f"bench::{op}-{size}", "stats": {"min": measured},
                "extra_info": {"napkin": True, "backend": backend, "op": op, "size": size,
                               "predicted_seconds": predicted, "limit_seconds": predicted / 10,
                               "flops": 1e9, "bytes": 1e6, "bound": "compute"}}
    return {"machine_info": {"napkin": {"describe": "test rates"}}, "benchmarks": [
        bench("numpy", "matmul", "1024x1024x1024", 0.010, 0.012),  # goal, inside
        bench("numpy", "relu", "4194304", 0.010, 0.030),           # goal, outside
        bench("numpy", "add", "1024", 1e-6, 5e-6),                 # under 1 ms: not a goal cell
        bench("python", "mlp_step", "b16", 0.005, 0.004),           # programs are always goal cells
        {"name": "other", "fullname": "bench::other", "stats": {"min": 0.5}, "extra_info": {}},
    ]}


def test_report_marks_goal_cells(tmp_path):
    rows, others, machine = report.load(_bench_json())
    marks = {(r.op, r.size): r.mark for r in rows}
    assert marks == {("matmul", "1024x1024x1024"): "ok", ("relu", "4194304"): "OUT", ("add", "1024"): "-",
                     ("mlp_step", "b16"): "ok"}
    text = report.table(rows, others, machine)
    assert "3 of 4" not in text and "2 of 3 within" in text
    assert "OUT: numpy relu 4194304: measured/predicted 3.00" in text and "bench::other" in text
    assert "machine speed" not in text  # no reference probes in this run: nothing said
    machine["reference"] = {"calibration": {"interpreter": 1e-3, "memory_read": 1e-3},
                            "start": {"interpreter": 1.5e-3, "memory_read": 3e-3}, "end": None}
    text = report.table(rows, others, machine)  # the cell outside says: memory ran 3x slower than calibrated
    assert "machine speed against the calibration (reference probe's time over its time then), at start: " \
           "interpreter 1.50x, memory read 3.00x" in text and "at end" not in text
    png = report.plot(rows, str(tmp_path / "plot.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_compiled_fma_loop_builds_and_runs(tmp_path):
    import shutil
    from tinygrad_nm.napkin import native
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler: calibrate keeps the default FMA peak")
    lib = native.load(str(tmp_path))
    assert lib.fma_lanes_f32() == 2 * lib.fma_lanes_f64() > 0
    assert math.isfinite(lib.fma_f32(1000)) and math.isfinite(lib.fma_f64(1000))
    x = np.arange(64, dtype=np.float32)
    assert lib.scalar_sum(x.ctypes.data, x.size, 3) == 3 * x.sum()
    assert native.load(str(tmp_path)) is not None  # cached: the second load does not recompile


def test_cython_prices_its_own_kernels_natively_and_the_rest_as_numpy(default_rates):
    n = 1 << 20
    add_cy = tnm.napkin.estimate("add", (n,), (n,), backend="cython")
    add_np = tnm.napkin.estimate("add", (n,), (n,), backend="numpy")
    assert add_cy.seconds == pytest.approx(add_np.seconds)  # cython hands add to NumPy
    with backends.own_threads(backends.load("cython"), 2):  # priced on two threads, whatever the environment sets
        mm = tnm.napkin.estimate("matmul", (512, 512), (512, 512), backend="cython")
        host, cy = default_rates["host"], default_rates.section("compiled_host")
        efficiency = default_rates["array_calls"]["blas_flops_1thread"] / host["fma_flops_per_core"]["float32"]
        threads = backends.load("cython").PRICING["threads"]()
        rate = host["fma_flops_per_core"]["float32"] * threads * min(1.0, efficiency)
        parallel = threads > 1 and 512 ** 3 >= backends.load("cython").PRICING["parallel"]["matmul"][0]
        assert parallel  # 512^3 multiply-adds run on every thread: priced so, with one parallel region
        assert mm.seconds == pytest.approx(cy["native_call_s"] + host["fork_join_s"] + mm.flops / rate)
        assert "thread" in str(mm) and "parallel region" in str(mm)
        # calibrated, its own matmul's one-thread rate says how close it comes to the peak, not BLAS's
        from tinygrad_nm.napkin import rates as rates_mod
        data = default_rates.to_json()
        data["compiled_host"]["matmul_flops_1thread"] = 0.25 * host["fma_flops_per_core"]["float32"]
        slow = tnm.napkin.estimate("matmul", (512, 512), (512, 512), backend="cython", rates=rates_mod.Rates(data, "test"))
        rate = host["fma_flops_per_core"]["float32"] * threads * 0.25
        assert slow.seconds == pytest.approx(cy["native_call_s"] + host["fork_join_s"] + mm.flops / rate)



def test_cython_prices_each_kernels_own_call_and_its_measured_products(default_rates):
    """A compiled kernel's call is its own where calibration measured it (cross_entropy's Python side
    does more than relu's); a float32 product up to 512^3 is read off the curve measured on the
    backend's threads, on those threads only."""
    from tinygrad_nm.napkin import rates as rates_mod
    cy_be = backends.load("cython")
    data = default_rates.to_json()
    section = data["compiled_host"]
    base = tnm.napkin.estimate("cross_entropy", (32, 10), (32,), backend="cython")
    section["call_by_kernel"] = {"cross_entropy": section["native_call_s"] + 7e-6}
    own = tnm.napkin.estimate("cross_entropy", (32, 10), (32,), backend="cython", rates=rates_mod.Rates(data, "test"))
    assert own.seconds == pytest.approx(base.seconds + 7e-6)
    with backends.own_threads(cy_be, 2):
        section["matmul_curve"] = [[2 * n ** 3, 4e-3 * (n / 512) ** 3] for n in (4, 64, 512)]  # 4 ms at 512^3: slow
        section["matmul_curve_threads"] = 2
        on_curve = tnm.napkin.estimate("matmul", (128, 784), (784, 256), backend="cython",
                                       rates=rates_mod.Rates(data, "test"))
        flops = 2 * 128 * 784 * 256
        assert on_curve.seconds >= 4e-3 * flops / (2 * 512 ** 3)  # the curve's rate, not the peak's
        section["matmul_curve_threads"] = 1  # measured on another thread count: the peak model
        off_curve = tnm.napkin.estimate("matmul", (128, 784), (784, 256), backend="cython",
                                        rates=rates_mod.Rates(data, "test"))
        assert off_curve.seconds < 4e-3 * flops / (2 * 512 ** 3)


def test_cython_prices_a_classifier_heads_rows_at_their_calibrated_cost(default_rates):
    """cross_entropy runs one row at a time: at a head's 10 classes a row costs its calibrated row_s;
    columns past those 10 add the element model's share."""
    from tinygrad_nm.napkin import price_compiled, rates as rates_mod
    data = default_rates.to_json()
    section = data["compiled_host"]
    section["call_by_kernel"] = {"cross_entropy": 3e-6}
    section["row_s"] = {"cross_entropy": 100e-9}
    rates = rates_mod.Rates(data, "test")
    head = tnm.napkin.estimate("cross_entropy", (128, 10), (128,), backend="cython", rates=rates)
    part = next(p.prediction for p in head.parts if p.cost.kernel == "cross_entropy")
    assert part.seconds == pytest.approx(3e-6 + 128 * 100e-9) and "128 rows x 100 ns" in part.terms
    assert price_compiled.ROW_WIDTH == 10
    wide = tnm.napkin.estimate("cross_entropy", (128, 1000), (128,), backend="cython", rates=rates)
    del section["row_s"]  # no per-row figure (an older calibration): the element model alone
    plain = tnm.napkin.estimate("cross_entropy", (128, 1000), (128,), backend="cython", rates=rates_mod.Rates(data, "t"))
    w, p_ = (next(x.prediction for x in e.parts if x.cost.kernel == "cross_entropy") for e in (wide, plain))
    assert w.compute_s == pytest.approx(128 * 100e-9 + p_.compute_s * 990 / 1000)


def test_cython_prices_a_classifier_heads_product_off_its_own_curve(default_rates):
    """A product with a classifier head's 10 columns takes the kernel's narrow path: priced off the
    curve measured on such products, not the square one; 3 columns (dot products) or 32 do not."""
    from tinygrad_nm.napkin import price_compiled, rates as rates_mod
    cy = backends.load("cython").PRICING
    if not price_compiled._narrow_columns(price_compiled.NARROW_N, cy):
        pytest.skip("10 columns are wider than this build's vectors: no narrow path")
    data = default_rates.to_json()
    section = data["compiled_host"]
    section["matmul_curve_threads"] = cy["threads"]()
    section["matmul_narrow_curve"] = [[2 * 32 * 64 * 10, 4e-6], [2 * 512 * 784 * 10, 140e-6]]
    rates = rates_mod.Rates(data, "test")
    call = section.get("call_by_kernel", {}).get("linear_act", section["native_call_s"])
    head = tnm.napkin.estimate("linear_act", (128, 256), (10, 256), (10,), None, backend="cython", rates=rates)
    part = next(p.prediction for p in head.parts if p.cost.kernel == "linear_act")
    flops = 2 * 128 * 256 * 10
    from tinygrad_nm.napkin.price_array_calls import curve_time
    assert part.compute_s == pytest.approx(curve_time(flops, section["matmul_narrow_curve"]) - call)
    for n in (3, 32):  # the dot-product path, and the blocked kernel: not narrow
        other = tnm.napkin.estimate("matmul", (128, 256), (256, n), backend="cython", rates=rates)
        p_ = next(p.prediction for p in other.parts if p.cost.kernel == "matmul")
        assert p_.compute_s < curve_time(2 * 128 * 256 * n, section["matmul_narrow_curve"]) - call
    # the head's input gradient, g (128, 10) @ W (10, 256): 10 deep, off the curve measured so
    section["matmul_short_k_curve"] = [[2 * 32 * 64 * 10, 3e-6], [2 * 512 * 784 * 10, 120e-6]]
    rates = rates_mod.Rates(data, "test")
    mm_call = section.get("call_by_kernel", {}).get("matmul", section["native_call_s"])
    dx = tnm.napkin.estimate("matmul", (128, 10), (10, 256), backend="cython", rates=rates)
    part = next(p for p in dx.parts if p.cost.kernel == "matmul")
    assert part.prediction.compute_s == pytest.approx(curve_time(flops, section["matmul_short_k_curve"]) - mm_call)
    assert price_compiled._short_k(part.cost, cy) and not price_compiled._narrow(part.cost, cy)


def test_every_pricing_family_here_calibrates():
    """Each family's calibrate() runs on the first backend declaring it (as `tinygrad-nm calibrate`
    does) and measures positive rates."""
    from tinygrad_nm.napkin import model as model_, primitives
    done = set()
    for name in backends.available_backends():
        be = backends.load(name)
        family = model_.FAMILIES.get((getattr(be, "PRICING", None) or {}).get("family"))
        if family is None or family.FAMILY in done or family.FAMILY == "gpu":  # a GPU's needs the device
            continue
        extra = primitives.calibration_extras(family, be, True)
        rates = family.calibrate(be, True, lambda line: None, primitives.best_time, primitives.empty_call, *extra)
        assert rates and all(v > 0 for v in rates.values() if isinstance(v, float)), (family.FAMILY, rates)
        if family.FAMILY == "array_calls":  # every kind of NumPy call, and the small-matmul curve rising
            assert set(rates["calls"]) == {k for k, v in family.CALL_KINDS.items() if v} and all(
                v >= 0 for v in rates["calls"].values())
            for curve in (rates["blas_curve"], rates["blas_curve_nt"]):  # a @ b and a @ b.T
                assert [f for f, _ in curve] == sorted(f for f, _ in curve) == [f for f, _ in rates["blas_curve"]]
                assert all(t1 >= t0 for (_, t0), (_, t1) in zip(curve, curve[1:])) and all(t > 0 for _, t in curve)
        if family.FAMILY == "compiled_host":  # each compiled kernel of a tiny CNN's step: its own call
            assert {"matmul", "linear_act", "cross_entropy", "cross_entropy_backward", "axpy", "conv2d",
                    "conv2d_backward", "max_pool2d"} <= set(rates["call_by_kernel"])
            assert set(rates["call_by_kernel"]) <= set(be.PRICING["native"])
            assert all(v >= 0 for v in rates["call_by_kernel"].values())
            assert rates["matmul_curve_threads"] == be.PRICING["threads"]()
            assert rates["matmul_curve"][-1][0] == 2 * 512 ** 3
        done.add(family.FAMILY)
    assert {"interpreter", "array_calls"} <= done


def test_numpy_tanh_is_priced_at_its_own_rate(default_rates):
    """NumPy's tanh is its own vectorised loop, not exp's: the array_calls family's tanh_s prices it."""
    from tinygrad_nm.napkin import rates as rates_mod
    n = 1 << 20
    data = default_rates.to_json()
    data["array_calls"]["tanh_s"] = {"float32": 20e-9, "float64": 40e-9}
    slow = tnm.napkin.estimate("tanh", (n,), backend="numpy", rates=rates_mod.Rates(data, "test"))
    exp = tnm.napkin.estimate("exp", (n,), backend="numpy", rates=rates_mod.Rates(data, "test"))
    assert slow.seconds == pytest.approx(n * 20e-9, rel=0.05)
    assert exp.seconds < n * 20e-9 / 4  # exp keeps exp_s


def test_python_tanh_is_priced_with_libms_own_work(default_rates):
    """The python backend's tanh maps math.tanh: a builtin's call per element plus libm's tanh
    (libm_tanh_s), which takes about as long as the call; add is the call alone."""
    n = 1 << 12
    data = default_rates.to_json()
    data["interpreter"]["libm_tanh_s"] = 40e-9
    rates = rates_mod.Rates(data, "test")
    tanh = tnm.napkin.estimate("tanh", (n,), backend="python", rates=rates)
    add = tnm.napkin.estimate("neg", (n,), backend="python", rates=rates)
    assert tanh.seconds - add.seconds == pytest.approx(n * 40e-9, rel=1e-6)


def test_framework_calibration_prices_a_linear_layer_on_its_own():
    """F.linear (one linear_act call) has its own measured cost: without it the chain of linear
    layers that sets op_program_factor read ~2x, and every other op's cost was doubled with it."""
    from tinygrad_nm.napkin import calibrate_framework
    be = backends.load("numpy")
    out = calibrate_framework.measure(be, lambda line: None)
    assert "linear_act" in out["op_by_kernel"] and out["op_by_kernel"]["linear_act"] >= 0
    # every kernel call of the chain and of the SGD step replays with its own arguments
    assert out["backward_s"] > 0 and out["direct_s"] > 0
    assert out["op_program_factor"] >= 1.0 and set(framework.PHASES) <= {k[:-2] for k in out if k.endswith("_s")}


def test_rates_measured_again_keep_the_fastest_of_each():
    from tinygrad_nm.napkin import primitives
    first = {"a_s": 2.0, "by": {"x": 1.0, "y": 5.0}, "curve": [[1, 2]], "only_first": 3.0}
    second = {"a_s": 1.0, "by": {"x": 4.0, "y": 2.0, "z": 9.0}, "curve": [[1, 1]]}
    assert primitives._fastest(first, second) == {"a_s": 1.0, "by": {"x": 1.0, "y": 2.0}, "curve": [[1, 2]],
                                                  "only_first": 3.0}
