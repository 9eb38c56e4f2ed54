"""How cost grows: where a backend leaves the overhead regime, and where two backends' lines cross.

Read off a sweep (bench/test_napkin_growth.py): the same training step at growing batch or width,
each point timed and predicted. Both are computed the same way from predicted and from measured
times, so the two can be set side by side:

- overhead exit: the size at which the step takes twice as long as at the smallest size of the
  sweep. At the smallest size the step is (nearly) all per-call cost; at twice that, the work
  that grows with the size costs as much as the per-call part. Interpolated on log-log axes.
- crossover: the size at which one backend's time line crosses another's (log-log interpolation
  between the two sweep points around the change of sign).
"""
import math


def _interpolate(x0, y0, x1, y1, y):
    """The x at which the line through (x0, y0), (x1, y1) on log-log axes reaches y."""
    lx0, lx1, ly0, ly1, ly = map(math.log, (x0, x1, y0, y1, y))
    if ly1 == ly0:
        return x0
    return math.exp(lx0 + (ly - ly0) * (lx1 - lx0) / (ly1 - ly0))


def overhead_exit(xs, times, factor=2.0):
    """The size at which `times` first reaches `factor` x its value at the smallest size; None if the
    sweep never gets there (or has fewer than two points)."""
    points = sorted(zip(xs, times))
    if len(points) < 2 or points[0][1] <= 0:
        return None
    target = factor * points[0][1]
    for (x0, t0), (x1, t1) in zip(points, points[1:]):
        if t1 >= target:
            return _interpolate(x0, t0, x1, t1, target) if t0 < target else x0
    return None


def crossovers(xs, a, b):
    """Sizes at which line a crosses line b (both given at the same sizes xs), in increasing order,
    each as (x, which one is faster above it: "a" or "b")."""
    points = sorted(zip(xs, a, b))
    out = []
    for (x0, a0, b0), (x1, a1, b1) in zip(points, points[1:]):
        d0, d1 = math.log(a0 / b0), math.log(a1 / b1)
        if d0 == 0 or (d0 < 0) == (d1 < 0):
            continue
        # log(a/b) is linear in log(x) between the two points: where it is zero
        x = math.exp(math.log(x0) + d0 * (math.log(x1) - math.log(x0)) / (d0 - d1))
        out.append((x, "a" if d1 < 0 else "b"))
    return out


def series(rows, sweep):
    """{backend: (xs, predicted, measured, overhead)} for one sweep, from report rows-like dicts
    with keys backend, sweep, x, predicted, measured, overhead; each sorted by x."""
    by = {}
    for r in rows:
        if r["sweep"] == sweep:
            by.setdefault(r["backend"], []).append((r["x"], r["predicted"], r["measured"], r.get("overhead", 0.0)))
    return {b: tuple(map(list, zip(*sorted(points)))) for b, points in by.items()}
