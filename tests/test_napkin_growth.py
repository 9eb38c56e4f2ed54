"""napkin's growth and accuracy arithmetic (growth.py, accuracy.py), the framework's phases
(framework.py) and the structure of the small-kernel pricing: deterministic, no timings."""
import math

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import functional as F, nn, optim
from tinygrad_nm.napkin import accuracy, framework, growth, price_array_calls, rates as rates_mod


# --- growth.py ------------------------------------------------------------------------------------
def test_overhead_exit_is_where_the_time_doubles_on_log_log_axes():
    xs = [1, 4, 16, 64]
    times = [10.0, 11.0, 40.0, 160.0]  # flat, then proportional to x
    x = growth.overhead_exit(xs, times)
    # between (4, 11) and (16, 40) on log-log axes, where the line reaches 20
    expected = math.exp(math.log(4) + (math.log(20) - math.log(11)) * (math.log(16) - math.log(4))
                        / (math.log(40) - math.log(11)))
    assert x == pytest.approx(expected) and 4 < x < 16
    assert growth.overhead_exit(xs, [10, 11, 12, 13]) is None  # never leaves it
    assert growth.overhead_exit([1], [1.0]) is None
    assert growth.overhead_exit([4, 1, 16], [11.0, 10.0, 40.0]) == pytest.approx(expected)  # order does not matter


def test_crossovers_find_each_change_of_sign():
    xs = [1, 10, 100, 1000]
    a = [1.0, 2.0, 4.0, 8.0]      # slow growth, high start
    b = [0.1, 1.0, 10.0, 100.0]   # proportional to x
    (x, faster), = growth.crossovers(xs, a, b)
    assert 10 < x < 100 and faster == "a"  # above the crossing a is the faster one
    # the crossing of the two log-log segments, by hand: log(a/b) goes from log 2 to log 0.4
    d0, d1 = math.log(2.0), math.log(0.4)
    assert x == pytest.approx(math.exp(math.log(10) + d0 * math.log(10) / (d0 - d1)))
    (x_swapped, faster_swapped), = growth.crossovers(xs, b, a)  # the same crossing, named from the other side
    assert x_swapped == pytest.approx(x) and faster_swapped == "b"
    assert growth.crossovers(xs, a, [v * 10 for v in a]) == []  # parallel lines never cross


def test_series_groups_by_backend_sorted_by_size():
    rows = [{"backend": "numpy", "sweep": "mlp batch", "x": 16, "predicted": 2.0, "measured": 3.0, "overhead": 1.0},
            {"backend": "numpy", "sweep": "mlp batch", "x": 1, "predicted": 1.0, "measured": 1.5, "overhead": 1.0},
            {"backend": "python", "sweep": "mlp batch", "x": 1, "predicted": 5.0, "measured": 6.0},
            {"backend": "numpy", "sweep": "cnn batch", "x": 1, "predicted": 9.0, "measured": 9.0}]
    s = growth.series(rows, "mlp batch")
    assert s["numpy"] == ([1, 16], [1.0, 2.0], [1.5, 3.0], [1.0, 1.0])
    assert s["python"] == ([1], [5.0], [6.0], [0.0])


# --- accuracy.py ----------------------------------------------------------------------------------
def test_grade_applies_the_band_of_each_cells_length():
    cells = [("a", 2e-3, 2.2e-3), ("b", 1e-3, 1.6e-3), ("c", 100e-6, 190e-6), ("d", 100e-6, 250e-6),
             ("e", 1e-6, 9e-6)]  # e: under 20 us, no goal
    g = accuracy.grade(cells)
    assert g["long"] == [1, 2] and g["short"] == [1, 2]
    assert [name for name, _, _ in g["outside"]] == ["b", "d"]
    assert g["median_long_error"] == pytest.approx((1.1 + 1.6) / 2)
    assert accuracy.band_for(5e-6) is None and accuracy.error(0.5) == 2.0


# --- framework.py ---------------------------------------------------------------------------------
def test_each_kernel_call_gets_the_phase_of_the_code_that_made_it(default_rates):
    model = nn.MLP([8, 16, 4], backend="numpy", generator=np.random.default_rng(0))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = tnm.Tensor(np.ones((4, 8), np.float32), backend="numpy")
    y = tnm.Tensor(np.zeros(4, np.int64), backend="numpy")

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    step()
    with tnm.napkin.collecting() as c:
        step()
    phases = [k.phase for k in c.calls]
    ops = [k.op for k in c.calls]
    assert phases[ops.index("cross_entropy")] == "op" and phases[ops.index("cross_entropy_backward")] == "backward"
    assert "direct" in phases and phases[-1] == "direct"  # the optimizer's updates come last
    assert set(phases[:ops.index("cross_entropy") + 1]) <= {"op"}  # the forward pass
    est = tnm.napkin.estimate(lambda m, a, b: F.cross_entropy(m(a), b).backward(), model, (4, 8), y, backend="numpy")
    assert [p.phase for p in est.parts] == [p for p, o in zip(phases, ops) if p != "direct"][:len(est.parts)]
    assert est.framework_seconds == pytest.approx(framework.seconds(((p.phase, p.cost.kernel, p.cost.shapes) for p in est.parts),
                                                                    default_rates))
    assert est.total_seconds == pytest.approx(est.seconds + est.framework_seconds)


# --- small kernels: the NumPy calls each kernel makes ----------------------------------------------
def test_small_numpy_kernels_pay_each_calls_fixed_cost(default_rates):
    r = default_rates["array_calls"]
    parts = tnm.napkin.estimate("cross_entropy", (32, 10), (32,), backend="numpy").parts
    ce = next(p.prediction for p in parts if p.cost.kernel == "cross_entropy")
    kinds = [p[4] if len(p) > 4 else "ufunc" for p in tnm.backends.load("numpy").PRICING["passes"]["cross_entropy"]]
    assert ce.overhead_s == pytest.approx(sum(price_array_calls.call_cost(r, k) for k in kinds))
    assert kinds.count("reduce") == 3 and "index" in kinds  # log_softmax's max and sum, the picks' sum; the pick
    s = tnm.napkin.estimate("sum", (32, 64), axis=0, backend="numpy").parts[-1].prediction
    assert s.overhead_s == pytest.approx(r["calls"]["reduce"])
    number = tnm.napkin.estimate("mul", (128,), 0.9, backend="numpy").parts[0].prediction
    assert number.overhead_s == pytest.approx(r["calls"]["number"])
    both = tnm.napkin.estimate("mul", (128,), (128,), backend="numpy").parts[0].prediction
    assert both.overhead_s == pytest.approx(r["call_s"])


def test_a_small_matmul_is_read_off_the_curve_between_its_points(default_rates):
    r = default_rates["array_calls"]
    (f0, t0), (f1, t1) = r["blas_curve"][2:4]
    t = tnm.napkin.estimate("matmul", (32, 64), (64, 64), backend="numpy").seconds  # between 32^3 and 64^3
    assert t0 < t < t1
    w = math.log(2 * 32 * 64 * 64 / f0) / math.log(f1 / f0)
    assert t == pytest.approx(math.exp(math.log(t0) + w * math.log(t1 / t0)))


def test_a_tensor_ops_own_cost_is_looked_up_by_op_and_operands():
    assert framework.op_key("add", ((32, 128), (128,))) == "add broadcast"
    assert framework.op_key("mul", ((128,),)) == "mul number" and framework.op_key("mul", ((4,), (4,))) == "mul"
    assert framework.op_key("cross_entropy", ((32, 10), (32,))) == "cross_entropy"
    rates = rates_mod.Rates(rates_mod.merged_with_defaults(
        {"framework": {"op_s": 1e-6, "backward_s": 2e-6, "direct_s": 3e-6, "op_program_factor": 1.5,
                       "op_by_kernel": {"add broadcast": 5e-6, "matmul": 4e-6}}}), "calibrated", "in memory")
    # a Tensor op: its cost alone, times how much slower ops run one after another in a program
    assert framework.per_call(rates, "op", "add", ((32, 128), (128,))) == pytest.approx(1.5 * 5e-6)
    assert framework.per_call(rates, "op", "add", ((4,), (4,))) == pytest.approx(1.5 * 1e-6)  # not measured: median
    assert framework.per_call(rates, "op", "matmul", ((2, 3), (3, 4))) == pytest.approx(1.5 * 4e-6)
    assert framework.per_call(rates, "backward", "matmul") == 2e-6 and framework.per_call(rates, "direct", "sub") == 3e-6
    assert framework.seconds([("op", "matmul", ()), ("direct", "sub", ())], rates) == pytest.approx(9e-6)
