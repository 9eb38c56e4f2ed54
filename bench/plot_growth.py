"""Draw how a training step's cost grows (bench/test_napkin_growth.py's sweeps), predicted against
measured, and print where each backend leaves the overhead regime and where backends cross.

    .venv/bin/python -m pytest bench/test_napkin_growth.py --quick --benchmark-json=growth.json
    .venv/bin/python bench/plot_growth.py growth.json [--out docs/napkin-growth.png]

One panel per sweep (MLP batch, MLP width, CNN batch, CNN width), log-log, one colour per
backend: measured solid with dots, predicted dashed; a coloured tick at the bottom marks each
backend's overhead exit (growth.overhead_exit: twice the smallest size's time), a black tick at
the top each crossover of two backends (growth.crossovers); measured solid, predicted dashed.
The text printed is what bench/README.md quotes.
"""
import argparse
import json
import os
import sys

from tinygrad_nm.napkin import fmt, growth

SWEEPS = ("mlp batch", "mlp width", "cnn batch", "cnn width")
COLOURS = {"python": "tab:orange", "numpy": "tab:blue", "cython": "tab:green", "numba_cuda": "tab:red"}


def load(path):
    with open(path) as f:
        data = json.load(f)
    rows = []
    for b in data.get("benchmarks", []):
        info, stats = b.get("extra_info", {}), b.get("stats") or {}
        if info.get("napkin") and "sweep" in info and stats.get("min") is not None:
            rows.append({"backend": info["backend"], "sweep": info["sweep"], "x": info["x"],
                         "predicted": info["predicted_seconds"], "measured": stats["min"],
                         "overhead": info.get("overhead_seconds", 0.0)})
    return rows, data.get("machine_info", {})


def _size(x):
    return "-" if x is None else f"{x:.3g}"


def describe(rows, machine):
    """The text: per sweep, each backend's overhead exit and the crossovers, predicted and measured."""
    load = machine.get("load_average", {})
    lines = [f"load average at start {load.get('start')}, at end {load.get('end')}"]
    for sweep in SWEEPS:
        by = growth.series(rows, sweep)
        if not by:
            continue
        lines.append(f"{sweep}:")
        for backend, (xs, pred, meas, _) in by.items():
            ratios = ", ".join(f"{x}: {fmt.seconds(m)}/{fmt.seconds(p)} = {m / p:.2f}" for x, p, m in zip(xs, pred, meas))
            lines.append(f"  {backend:<8} measured/predicted {ratios}")
            lines.append(f"  {backend:<8} leaves the overhead regime at {sweep.split()[1]} ~{_size(growth.overhead_exit(xs, meas))}"
                         f" measured, ~{_size(growth.overhead_exit(xs, pred))} predicted")
        names = list(by)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                common = sorted(set(by[a][0]) & set(by[b][0]))
                if len(common) < 2:
                    continue
                pick = lambda s, k: [s[k][s[0].index(x)] for x in common]  # noqa: E731
                for label, k in (("measured", 2), ("predicted", 1)):
                    cross = growth.crossovers(common, pick(by[a], k), pick(by[b], k))
                    text = "; ".join(f"at ~{x:.3g}, {a if w == 'a' else b} faster above" for x, w in cross) or "none"
                    lines.append(f"  {a} vs {b}, {label} crossover: {text}")
    return "\n".join(lines)


def plot(rows, out, title):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # a Figure on its own canvas: no pyplot
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 9), dpi=90)
    axes = fig.subplots(2, 2)
    for ax, sweep in zip(axes.flat, SWEEPS):
        by = growth.series(rows, sweep)
        for backend, (xs, pred, meas, _) in by.items():
            colour = COLOURS.get(backend, "tab:gray")
            ax.plot(xs, meas, "-o", color=colour, label=f"{backend} measured")
            ax.plot(xs, pred, "--", color=colour, label=f"{backend} predicted")
            for times, style in ((meas, "-"), (pred, "--")):
                x = growth.overhead_exit(xs, times)
                if x is not None:
                    ax.axvline(x, ymax=0.08, color=colour, linestyle=style, linewidth=2)
        names = list(by)
        for i, a in enumerate(names):  # where two backends' lines cross: black ticks at the top
            for b in names[i + 1:]:
                for (times_a, times_b, style) in ((by[a][2], by[b][2], "-"), (by[a][1], by[b][1], "--")):
                    common = [x for x in by[a][0] if x in by[b][0]]
                    ta = [times_a[by[a][0].index(x)] for x in common]
                    tb = [times_b[by[b][0].index(x)] for x in common]
                    for x, _ in growth.crossovers(common, ta, tb):
                        ax.axvline(x, ymin=0.92, color="black", linestyle=style, linewidth=2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{sweep} ({'batch 32' if sweep.endswith('width') else 'digits sizes'})")
        ax.set_xlabel(sweep.split()[1] + (" (hidden units)" if sweep == "mlp width" else
                                          " (channels of the first conv)" if sweep == "cnn width" else ""))
        ax.set_ylabel("seconds per training step")
        ax.grid(True, which="both", alpha=0.3)
        if by:
            ax.legend(fontsize=7)
    fig.suptitle(title + "\nticks at the bottom: where each backend leaves the overhead regime (2x its smallest "
                 "step); black ticks at the top: where two backends' lines cross; measured solid, predicted dashed",
                 fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    FigureCanvasAgg(fig).print_png(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark JSON of bench/test_napkin_growth.py")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "napkin-growth.png"))
    args = parser.parse_args(argv)
    rows, machine = load(args.json)
    if not rows:
        raise SystemExit(f"plot_growth: no sweep results in {args.json} (run bench/test_napkin_growth.py with "
                         f"--benchmark-json)")
    print(describe(rows, machine))
    plot(rows, args.out, f"napkin: training-step time as the work grows ({machine.get('node', '')})")
    print(f"plot: {os.path.normpath(args.out)}")


if __name__ == "__main__":
    sys.exit(main())
