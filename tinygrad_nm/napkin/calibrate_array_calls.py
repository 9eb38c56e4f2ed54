"""Calibrating the `array_calls` pricing family (price_array_calls.py): NumPy's call kinds, its
small-matmul curve, and the costs of the loops its kernels run over short rows, each measured by a
primitive on the backend itself (`tinygrad-nm calibrate`)."""
import numpy as np

from tinygrad_nm.napkin.timing import best_times_alternated

BLAS_CURVE_SIZES = (4, 16, 32, 64, 128, 256, 512)


def run_costs(be, best_time, repeat):
    """Seconds per contiguous run of `be`'s im2col and col2im: each timed on two images with the same
    number of column entries (so the same bytes) but rows 4 and 16 long (4x the runs); the
    difference over the difference in runs. 3x3 windows, 'same' padding."""
    from tinygrad_nm import dtypes
    window = ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    times, runs = {"im2col": [], "col2im": []}, []
    for shape in ((16, 16, 4, 4), (16, 1, 16, 16)):
        image = be.from_numpy(np.ones(shape, np.float32), dtypes.float32)
        cols = be.im2col(image, *window)
        times["im2col"].append(best_time(lambda: be.im2col(image, *window), 20, repeat))
        times["col2im"].append(best_time(lambda: be.col2im(cols, shape, *window), 20, repeat))
        runs.append(9 * shape[0] * shape[1] * shape[2])  # 9 taps x N x C x oh rows, ow = W long
    return {k: max((t[0] - t[1]) / (runs[0] - runs[1]), 0.0) for k, t in times.items()}


def strided_loop_cost(be, best_time, repeat, call_s):
    """{run_s, element_s} of NumPy's loop over a binary op's rows when it cannot run as one flat loop:
    (N, 16, L) * (1, 16, 1) on the same 64K elements (256 KiB: in cache) in rows of L = 4 and 256;
    the difference over the difference in rows is a row's setup, what is left of the long rows'
    time (less the call) per element is the loop's rate."""
    from tinygrad_nm import dtypes
    y = be.from_numpy(np.ones((1, 16, 1), np.float32), dtypes.float32)
    n, times = 1 << 16, {}
    for row in (4, 256):
        x = be.from_numpy(np.ones((n // (16 * row), 16, row), np.float32), dtypes.float32)
        times[row] = best_time(lambda: be.mul(x, y), 20, repeat)
    run_s = max((times[4] - times[256]) / (n // 4 - n // 256), 0.0)
    return {"run_s": run_s, "element_s": max((times[256] - call_s - run_s * n // 256) / n, 0.0)}


def reduce_run_cost(be, best_time, repeat):
    """Seconds per inner loop of a reduction: the same 16K elements summed along rows of 4 (4096 rows)
    and of 64 (256 rows); the difference over the difference in runs."""
    from tinygrad_nm import dtypes
    times = []
    for shape in ((4096, 4), (256, 64)):
        x = be.from_numpy(np.ones(shape, np.float32), dtypes.float32)
        times.append(best_time(lambda: be.sum(x, (1,), False), 20, repeat))
    return max((times[0] - times[1]) / (4096 - 256), 0.0)


def _per_element(rng, fn, dtype, repeat):
    """fn's seconds per element: the slope between 8K and 64K elements (in cache, so the loop's own
    speed shows, without the call's cost, which is 7% of an 8K exp), the two sizes timed in turn
    (a slope of two timings taken apart moved by half on this shared machine)."""
    small, large = rng.standard_normal(8192).astype(dtype), rng.standard_normal(65536).astype(dtype)
    t_small, t_large = best_times_alternated((lambda: fn(small), lambda: fn(large)), 8, repeat)
    return max(t_large - t_small, 0.0) / (large.size - small.size) or t_large / large.size


def calibrate(be, quick, log, best_time, empty_call, blas_threads, in_program):
    """`in_program(fn)`: fn's time when it runs between pieces of a program's other work, as a kernel
    does in a training step (caches, branch predictors and BLAS's threads are not left as fn left
    them)."""
    repeat = 5 if quick else 9
    r = {"call_s": empty_call(be, repeat=repeat)}
    x0, y0 = np.float32(1.5), np.float32(2.0)  # NumPy scalars: the walkthrough's scalar loops run on these
    r["scalar_call_s"] = best_time(lambda: be.mul(x0, y0), 2000, repeat)
    r["calls"] = _call_kinds(in_program)
    rng = np.random.default_rng(0)
    blas = {}
    for dtype, n in (("float32", 1024), ("float64", 512 if quick else 1024)):
        a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
        blas[dtype] = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 9 if quick else 15)
    r["blas_flops"] = blas
    try:  # one thread: how close a tuned matmul comes to one core's FMA peak (used for compiled matmuls)
        from threadpoolctl import threadpool_limits
        n = 1024
        a, b = rng.random((n, n)).astype(np.float32), rng.random((n, n)).astype(np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            r["blas_flops_1thread"] = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 9 if quick else 15)
        # BLAS on all its threads is never slower than on one on an idle machine; when it measured so,
        # another process held a core and stalled the threads' barriers (such a stretch lasts seconds
        # here: one calibration read 106 GFLOP/s on two threads, the bench then ran at 185). So the
        # best of a second window, and never below the one-thread figure
        again = 2 * n ** 3 / best_time(lambda: np.matmul(a, b), 1, 9 if quick else 15)
        blas["float32"] = max(blas["float32"], again, r["blas_flops_1thread"])
    except ImportError:
        pass
    r["blas_curve"] = _small_blas_curve(rng, in_program, blas["float32"], r["calls"]["matmul"])
    # a @ b.T (a Linear layer's x @ W.T): OpenBLAS's small-matrix kernels take 1.2-1.5x longer on it here
    r["blas_curve_nt"] = _small_blas_curve(rng, in_program, blas["float32"], r["calls"]["matmul"], transposed=True)
    for name, fn in (("exp_s", np.exp), ("tanh_s", np.tanh)):
        r[name] = {}
        for dtype in ("float32", "float64"):
            r[name][dtype] = _per_element(rng, fn, dtype, 6 * repeat)
    exp_s = r["exp_s"]
    # 256K elements: a branch predictor learns the pattern of a short mask repeated call after call
    # (16K elements run 3x faster here), which a mask in real use does not offer
    n = 1 << 18
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    mask = rng.random(n) < 0.5
    r["select_s"] = best_time(lambda: np.where(mask, x, y), 2, repeat) / n
    r["run_s"] = {**run_costs(be, best_time, repeat), "reduce": reduce_run_cost(be, best_time, repeat)}
    r["strided_loop"] = strided_loop_cost(be, best_time, repeat, r["call_s"])
    log(f"  {be.NAME}: empty call {r['call_s'] * 1e6:.2f} us ({r['scalar_call_s'] * 1e6:.2f} on NumPy scalars); "
        + ", ".join(f"{k} {v * 1e6:.2f}" for k, v in r["calls"].items()) + " us; "
        f"matmul {blas['float32'] / 1e9:.0f} GFLOP/s float32, "
        f"{blas['float64'] / 1e9:.0f} float64 (BLAS threads: {blas_threads()}), "
        f"{r.get('blas_flops_1thread', float('nan')) / 1e9:.0f} on one thread; small: "
        + ", ".join(f"{round((f / 2) ** (1 / 3))} {t * 1e6:.3g} us" for f, t in r["blas_curve"][:-1]) +
        " (b transposed: " + ", ".join(f"{t * 1e6:.3g}" for _, t in r["blas_curve_nt"][:-1]) + " us)" +
        f"; exp {exp_s['float32'] * 1e9:.2f} ns, tanh {r['tanh_s']['float32'] * 1e9:.2f} ns "
        f"per element; where on a random mask {r['select_s'] * 1e9:.2f} ns per element; per strided run: "
        + ", ".join(f"{k} {v * 1e9:.1f} ns" for k, v in r["run_s"].items())
        + f"; a loop over rows: {r['strided_loop']['run_s'] * 1e9:.1f} ns per row, "
        f"{r['strided_loop']['element_s'] * 1e9:.2f} ns per element")
    return r


def _small_blas_curve(rng, timer, rate, call, transposed=False):
    """[[FLOPs, seconds]] of np.matmul on small square matrices, each timed by `timer`, ending on a
    point at the large-size `rate`: where the time goes before BLAS gets going. `transposed`: the
    second operand a transposed view (a @ b.T)."""
    curve = []
    for n in BLAS_CURVE_SIZES:
        a, b = rng.random((n, n)).astype(np.float32), rng.random((n, n)).astype(np.float32)
        b = b.T if transposed else b
        # in a program: between two calls BLAS's worker threads go idle, and waking them is part of
        # a small call's time (on one thread a 64x64x64 matmul takes the same time back to back)
        t = timer(lambda: np.matmul(a, b))
        try:  # as for the large-size rate: all threads are never slower than one on an idle machine
            from threadpoolctl import threadpool_limits
            with threadpool_limits(limits=1, user_api="blas"):
                t = min(t, timer(lambda: np.matmul(a, b)))
        except ImportError:
            pass
        curve.append([2 * n ** 3, max(t, call, 1e-9)])  # in a program, a disturbed difference can come out 0
    curve.append([2 * 1024 ** 3, 2 * 1024 ** 3 / rate + call])  # joins the large-size rate
    for i in range(1, len(curve)):  # time grows with the work; a disturbed timing must not bend the curve down
        curve[i][1] = max(curve[i][1], curve[i - 1][1])
    return curve


def _call_kinds(in_program):
    """The fixed cost of each kind of NumPy call (CALL_KINDS), each timed on 1-element arrays (a 1x1
    matrix where the call wants axes), so that nothing but the call itself is measured, and in a
    program (between pieces of tinygrad_nm's work), as kernels are called."""
    one, m = np.ones(1, np.float32), np.ones((1, 1), np.float32)
    rows, labels, mask = np.arange(1), np.zeros(1, np.int64), np.ones(1, bool)
    calls = {
        "number": lambda: one * 1.5,
        "reduce": lambda: np.add.reduce(m, axis=(1,), keepdims=True),
        "matmul": lambda: np.matmul(m, m),
        "index": lambda: m[rows, labels],
        "where": lambda: np.where(mask, one, 0),
        "view": lambda: m.transpose((1, 0)),
        "broadcast": lambda: np.broadcast_to(one, (1, 1)),
        "array": lambda: np.array(one, copy=True),
    }
    return {kind: in_program(fn) for kind, fn in calls.items()}
