"""The benchmark report: a table of predicted against measured time, and a log-log plot of the same.

Input is pytest-benchmark's JSON. A benchmark takes part when its extra_info carries a napkin
estimate (see bench/conftest.py: napkin_bench); others are listed by name and time only.
Measured = the fastest round (the statistic least disturbed by other work on a shared machine,
and the one the base rates are measured with).

Accuracy goal cells: matmul and elementwise ops whose call takes >= 1 ms, and whole MLP steps:
measured/predicted must lie in [0.5, 2]. A goal cell outside is marked OUT.
"""
import json
import math
from dataclasses import dataclass

from tinygrad_nm import backends
from tinygrad_nm.napkin import drift, fmt

GOAL_OPS = ("matmul", "add", "mul", "relu", "sigmoid", "tanh", "exp")
GOAL_PROGRAMS = ("mlp_step",)
GOAL_MIN_SECONDS = 1e-3
GOAL_BAND = (0.5, 2.0)


@dataclass
class Row:
    name: str
    backend: str
    op: str
    size: str
    predicted: float
    measured: float
    limit: float
    flops: float
    bytes: float
    bound: str

    @property
    def ratio(self):
        return self.measured / self.predicted if self.predicted else math.nan

    @property
    def goal(self):
        """Is this an accuracy goal cell?"""
        return self.op in GOAL_PROGRAMS or (self.op in GOAL_OPS and self.measured >= GOAL_MIN_SECONDS)

    @property
    def outside(self):
        return not (GOAL_BAND[0] <= self.ratio <= GOAL_BAND[1])

    @property
    def mark(self):
        if not self.goal:
            return "-"
        return "OUT" if self.outside else "ok"


def load(path_or_data):
    """(napkin rows, other benchmarks [(name, min seconds)], machine_info) from a pytest-benchmark JSON."""
    data = path_or_data
    if not isinstance(data, dict):
        with open(path_or_data) as f:
            data = json.load(f)
    rows, others = [], []
    for b in data.get("benchmarks", []):
        info, stats = b.get("extra_info", {}), b.get("stats") or {}
        measured = stats.get("min")
        if measured is None:
            continue
        if not info.get("napkin"):
            others.append((b.get("fullname", b.get("name")), measured))
            continue
        rows.append(Row(b.get("name", ""), info["backend"], info["op"], str(info["size"]), info["predicted_seconds"],
                        measured, info.get("limit_seconds", 0.0), info.get("flops", 0.0), info.get("bytes", 0.0),
                        info.get("bound", "")))
    return _ordered(rows), others, data.get("machine_info", {})


def _size_key(size):
    digits = "".join(c if c.isdigit() else " " for c in size).split()
    return tuple(int(d) for d in digits[:1]) or (0,)


def _ordered(rows):
    backend_order = {name: i for i, name in enumerate(backends.known_backends())}
    op_order = {op: i for i, op in enumerate(GOAL_OPS + ("sum", "sum_rows", "max") + GOAL_PROGRAMS + ("scalar_epoch",))}
    return sorted(rows, key=lambda r: (backend_order.get(r.backend, 9), r.backend, op_order.get(r.op, 99), r.op,
                                       _size_key(r.size)))


def table(rows, others=(), machine_info=None):
    """The napkin table as text, with the goal cells' verdict underneath."""
    lines = []
    machine_info = machine_info or {}
    napkin = machine_info.get("napkin", {})
    if napkin:
        lines.append(f"napkin estimates from {napkin.get('describe', napkin.get('source'))}")
    load, cores = machine_info.get("load_average"), (machine_info.get("threads") or {}).get("usable_cores")
    if load and load.get("start") and cores:
        busy = max(load["start"][0], load["end"][0])
        note = " (other work competed for the cores: timings are disturbed)" if busy > cores else ""
        lines.append(f"load average {load['start'][0]:.1f} at start, {load['end'][0]:.1f} at end, "
                     f"{cores} cores{note}")
    moved = drift.report_run(machine_info)
    if moved:  # how far the machine's speed had moved from the calibration's, probe by probe
        lines += [f"machine speed against the calibration (reference probe's time over its time then), {m}"
                  for m in moved]
    cold = ((napkin.get("rates") or {}).get("host") or {}).get("fork_join_cold_s")
    if cold and cold >= 1e-3:
        lines.append(f"waking a sleeping thread took {cold * 1e3:.1f} ms at calibration: another process holds a "
                     f"core, and multi-threaded kernels (BLAS, OpenMP) wait that long at their joins; the estimates "
                     f"price an idle machine, so expect those cells far above them")
    header = (f"{'backend':<10} {'op':<12} {'size':<20} {'predicted':>10} {'measured':>10} {'meas/pred':>9} "
              f"{'GFLOP/s':>9} {'of limit':>8}  {'bound':<11} {'goal':<4}")
    lines += [header, "-" * len(header)]
    for r in rows:
        gflops = r.flops / r.measured / 1e9 if r.measured else math.nan
        frac = r.limit / r.measured if r.measured else math.nan
        lines.append(f"{r.backend:<10} {r.op:<12} {r.size[:20]:<20} {fmt.seconds(r.predicted):>10} "
                     f"{fmt.seconds(r.measured):>10} {r.ratio:>9.2f} {gflops:>9.3g} {_percent(frac):>8}  "
                     f"{r.bound:<11} {r.mark:<4}")
    goal = [r for r in rows if r.goal]
    out = [r for r in goal if r.outside]
    lines.append("")
    lines.append(f"measured = fastest round; of limit = roofline time / measured; goal cells (matmul and elementwise "
                 f">= 1 ms, MLP steps): {len(goal) - len(out)} of {len(goal)} within measured/predicted "
                 f"[{GOAL_BAND[0]:g}, {GOAL_BAND[1]:g}]")
    for r in out:
        lines.append(f"  OUT: {r.backend} {r.op} {r.size}: measured/predicted {r.ratio:.2f} ({r.bound} bound)")
    if others:
        lines.append("")
        lines.append("other benchmarks (no napkin estimate):")
        for name, seconds in others:
            lines.append(f"  {name}: {fmt.seconds(seconds)}")
    return "\n".join(lines)


def _percent(x):
    if x != x:  # NaN
        return "-"
    return f"{x * 100:.3g}%" if x >= 0.001 else f"{x * 100:.1e}%"


def plot(rows, path, title="napkin estimate vs measurement"):
    """A log-log PNG of measured against predicted time, one colour per backend; returns path."""
    # a Figure drawn on its own Agg canvas: no pyplot, so no global backend switch in the user's
    # session (a notebook keeps its inline backend) and no display needed on a server
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 6.5), dpi=120)
    ax = fig.add_subplot()
    backends = sorted({r.backend for r in rows})
    for i, backend in enumerate(backends):
        mine = [r for r in rows if r.backend == backend and r.predicted > 0 and r.measured > 0]
        goal = [r for r in mine if r.goal]
        rest = [r for r in mine if not r.goal]
        color = f"C{i}"
        ax.scatter([r.predicted for r in rest], [r.measured for r in rest], s=18, color=color, alpha=0.45)
        ax.scatter([r.predicted for r in goal], [r.measured for r in goal], s=34, color=color,
                   edgecolor="black", linewidth=0.6, label=f"{backend} ({len(mine)})")
        for r in goal:
            if r.outside:
                ax.annotate(f"{r.backend} {r.op} {r.size}", (r.predicted, r.measured), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
    values = [v for r in rows for v in (r.predicted, r.measured) if v > 0]
    if values:
        lo, hi = min(values) / 2, max(values) * 2
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="measured = predicted")
        ax.plot([lo, hi], [lo * GOAL_BAND[0], hi * GOAL_BAND[0]], color="gray", linestyle="--", linewidth=0.8,
                label=f"x{GOAL_BAND[0]:g} and x{GOAL_BAND[1]:g}")
        ax.plot([lo, hi], [lo * GOAL_BAND[1], hi * GOAL_BAND[1]], color="gray", linestyle="--", linewidth=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted time (s)")
    ax.set_ylabel("measured time, fastest round (s)")
    ax.set_title(title + "\n(outlined: accuracy goal cells)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    FigureCanvasAgg(fig).print_png(path)
    return path
