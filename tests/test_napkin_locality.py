"""napkin's locality walk (napkin/locality.py): where a kernel's operands lie in a traced program
(reuse distances, layouts) and what that adds to their price."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, backends, functional as F, nn
from tinygrad_nm.backends.kernels import TABLE
from tinygrad_nm.napkin import locality, price_array_calls, primitives
from tinygrad_nm.napkin.trace import recording

estimate_mod = __import__("tinygrad_nm.napkin.estimate", fromlist=["placements_of"])


def _step(kernel, reads, out, family="binary", moves=True, shapes=None, out_shape=(1,)):
    """A Step reading buffers `reads` ({key: bytes}) and writing `out` ((key, bytes) or None)."""
    keys, sizes = tuple(reads), tuple(reads.values())
    shapes = shapes or tuple((b // 4,) for b in sizes)
    out_key, out_size = out if out else (None, 0)
    return locality.Step(kernel, family, keys, sizes, shapes, out_key, out_size, out_shape, moves)


def test_reuse_distance_is_the_distinct_bytes_touched_since():
    steps = [_step("mul", {"w": 400}, ("a", 100)),          # w: a parameter, first read before any write
             _step("neg", {"a": 100}, ("b", 100)),          # a: just written
             _step("add", {"b": 100, "b2": 50}, ("c", 100)),
             _step("add", {"c": 100, "b": 100}, ("d", 100)),
             _step("mul", {"a": 100}, ("e", 100))]           # a: b, b2, c, d touched since (b twice, once counted)
    placed = locality.walk(steps)
    step = 400 + 50 + 100 * 5  # every distinct byte of the loop's step
    # each new result's memory was last touched a step ago: one more operand, at the step's traffic
    assert all(p.operands[-1] == (100, step) for p in placed)
    assert placed[1].operands[:-1] == ((100, 0),)
    assert placed[4].operands[:-1] == ((100, 100 + 50 + 100 + 100),)
    # the trace is one step of a loop: w was last touched in the previous step, everything after it since
    assert placed[0].operands[:-1] == ((400, 100 * 5 + 50),)
    assert all(p.run == 0 for p in placed)


def test_a_new_result_is_written_from_a_step_ago_but_not_an_in_place_one_or_a_view():
    steps = [_step("neg", {"x": 100}, ("a", 100), family="unary"),
             _step("axpy", {"a": 100, "x": 100}, ("a", 100), family="fused"),  # in place: a's own lines
             _step("reshape", {"a": 100}, ("v", 100), family="movement", moves=False)]
    placed = locality.walk(steps)
    assert placed[0].operands == ((100, 100), (100, 200))
    assert placed[1].operands == ((100, 0), (100, 100))
    assert placed[2].operands == ((100, 0),)


def test_a_view_is_the_buffer_it_views():
    steps = [_step("neg", {"x": 100}, ("a", 100), family="unary"),
             _step("reshape", {"a": 100}, ("v", 100), family="movement", moves=False),
             _step("neg", {"y": 1000}, ("b", 1000), family="unary"),
             _step("add", {"v": 100, "b": 1000}, ("c", 100))]
    placed = locality.walk(steps)
    assert placed[3].operands[:-1] == ((100, 1000 + 1000), (1000, 0))  # v is a: y and b touched since


def test_cold_reads_cost_beyond_the_kernels_own_working_set():
    host = {"cold_read": [[1 << 20, 1e-12], [16 << 20, 10e-12]]}
    assert locality.cold_seconds([(1000, 1 << 10)], host) == 0.0  # nearer than the first point: in cache
    assert locality.cold_seconds([(1000, 16 << 20)], host) == pytest.approx(1000 * 10e-12)
    assert locality.cold_seconds([(1000, 64 << 20)], host) == pytest.approx(1000 * 10e-12)  # the last point's
    between = locality.cold_seconds([(1000, 4 << 20)], host)
    assert 1000 * 1e-12 < between < 1000 * 10e-12
    # a kernel whose own traffic is as large already pays that distance in its bandwidth
    assert locality.cold_seconds([(1000, 16 << 20)], host, own_bytes=16 << 20) == 0.0
    assert locality.cold_seconds([(1000, 16 << 20)], host, own_bytes=4 << 20) == pytest.approx(1000 * 10e-12 - between)


def test_an_operand_from_far_back_is_priced_dearer(default_rates):
    n = 1 << 16  # 256 KiB

    def program(x, big):
        y = x * 2.0
        for _ in range(4):
            big = big * 3.0  # 4 x 32 MiB of other traffic
        return y + 1.0

    e = tnm.napkin.estimate(program, (n,), (1 << 22,), backend="numpy")
    first, last = e.parts[0], e.parts[-1]
    alone = tnm.napkin.estimate("add", (n,), 1.0, backend="numpy")
    assert last.prediction.seconds > alone.seconds
    assert "from further out" in last.prediction.arithmetic()
    assert first.prediction.seconds > 0
    # the python backend's interpreter prices no memory: the same program costs what its kernels do alone
    p = tnm.napkin.estimate(program, (n,), (1 << 10,), backend="python")
    assert p.parts[-1].prediction.seconds == pytest.approx(
        tnm.napkin.estimate("add", (n,), 1.0, backend="python").seconds)


def test_layout_walk_matches_numpy_in_a_cnn_step():
    """The numpy backend's conv2d returns a permuted view; the walk must say, for every elementwise
    call of a real training step, whether NumPy found its full-size operands in different layouts."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, generator=rng), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3, generator=rng)).to("numpy")
    x = Tensor(rng.standard_normal((2, 1, 4, 4)).astype(np.float32), backend="numpy")
    y = Tensor(np.array([0, 2]), backend="numpy")
    with recording() as calls:
        F.cross_entropy(model(x), y).backward()
    placed = estimate_mod.placements_of(calls, "numpy")
    layout = backends.load("numpy").PRICING["layout"]
    checked = mixed = 0
    for (name, args, out), p in zip(calls, placed):
        if not (name in layout["follows"] or TABLE[name].family in layout["follows"]):
            continue
        full = [a for a in args if isinstance(a, np.ndarray) and a.shape == np.shape(out) and 0 not in a.strides]
        layouts = {a.flags.c_contiguous for a in full}
        assert (p.run > 0) == (len(layouts) > 1), (name, [a.strides for a in full], p)
        checked, mixed = checked + 1, mixed + (p.run > 0)
    assert checked > 10 and mixed > 0  # batch norm's backward mixes the permuted conv output with contiguous grads


def test_broadcast_and_mixed_layouts_pay_the_rows_loop(default_rates):
    r = default_rates["array_calls"]
    loop = r["strided_loop"]
    e = tnm.napkin.estimate("mul", (32, 16, 8, 8), (1, 16, 1, 1), backend="numpy")
    rows, n = 32 * 16, 32 * 16 * 64
    assert e.seconds >= rows * loop["run_s"] + n * loop["element_s"]
    assert "rows' loop" in e.parts[0].prediction.arithmetic()
    flat = tnm.napkin.estimate("mul", (32, 16, 8, 8), (32, 16, 8, 8), backend="numpy")
    assert "rows' loop" not in flat.parts[0].prediction.arithmetic()
    # the same flat multiply with one operand permuted (rows of 64): priced as the rows' loop
    cost = tnm.napkin.kernel_cost("mul", (tnm.napkin.Buf((32, 16, 8, 8)), tnm.napkin.Buf((32, 16, 8, 8))))
    pricing = backends.load("numpy").PRICING
    mixed = price_array_calls.price(cost, pricing, default_rates, "float32", run=64)
    assert mixed.seconds == pytest.approx(flat.seconds - flat.parts[0].prediction.memory_s
                                          + max(flat.parts[0].prediction.memory_s, rows * loop["run_s"] + n * loop["element_s"]))


def test_primitives_for_locality_measure_positive_rising_rates():
    curve = primitives._cold_read_curve(1)
    assert [d for d, _ in curve] == sorted(d for d, _ in curve)
    assert all(s > 0 for _, s in curve) and all(b[1] >= a[1] for a, b in zip(curve, curve[1:]))
    loop = price_array_calls.strided_loop_cost(backends.load("numpy"), primitives.best_time, 3, 0.0)
    assert loop["run_s"] >= 0 and loop["element_s"] >= 0 and loop["run_s"] + loop["element_s"] > 0


def test_a_profile_places_its_calls(default_rates):
    rng = np.random.default_rng(1)
    model = nn.MLP([16, 8, 4], backend="numpy", generator=rng)
    x = Tensor(rng.standard_normal((5, 16)).astype(np.float32), backend="numpy")
    p = tnm.napkin.profile(lambda: F.cross_entropy(model(x), Tensor([0, 1, 2, 3, 0], backend="numpy")).backward())
    assert p.rows and all(r.placement is not None for r in p.rows)
    assert any(r.placement.operands for r in p.rows)


def test_compiled_convolutions_are_priced_at_their_own_measured_rate(default_rates):
    if "cython" not in backends.available_backends():
        pytest.skip("the cython backend is not built here")
    from tinygrad_nm.napkin import price_compiled
    be = backends.load("cython")
    r = dict(default_rates["compiled_host"])
    rates = price_compiled._conv_rates(be, np.random.default_rng(0), primitives.best_time, 3, r)
    assert set(rates) == {"conv2d", "conv2d_backward"} & set(be.PRICING["native"])
    assert all(0 < v < 2 * default_rates["host"]["cores"] * 1e12 for v in rates.values())
    # a rate measured for conv2d prices conv2d (half the rate: about twice the compute), not matmul
    custom = tnm.napkin.Rates({**default_rates.data, "compiled_host": {**r, "conv_flops_1thread": {"conv2d": 50e9}}},
                              "test")
    slow = tnm.napkin.Rates({**default_rates.data, "compiled_host": {**r, "conv_flops_1thread": {"conv2d": 25e9}}},
                            "test")
    args = ((32, 32, 8, 8), (64, 32, 3, 3))
    fast_e = tnm.napkin.estimate(F.conv2d, *args, padding=1, backend="cython", rates=custom)
    slow_e = tnm.napkin.estimate(F.conv2d, *args, padding=1, backend="cython", rates=slow)
    assert slow_e.seconds > 1.5 * fast_e.seconds
    mm = [tnm.napkin.estimate("matmul", (256, 256), (256, 256), backend="cython", rates=q).seconds for q in (custom, slow)]
    assert mm[0] == mm[1]
