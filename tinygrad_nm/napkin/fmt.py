"""Human units for napkin math: decimal prefixes (1 MB = 1e6 bytes), three significant digits."""


def _scaled(x, unit, prefixes=(("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))):
    for p, scale in prefixes:
        if abs(x) >= scale:
            return f"{x / scale:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"


def flops(x):
    return _scaled(x, "FLOP")


def flop_rate(x):
    return _scaled(x, "FLOP/s")


def nbytes(x):
    return _scaled(x, "B")


def bandwidth(x):
    return _scaled(x, "B/s")


def count(x):
    return _scaled(x, "").strip()


def seconds(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3g} us"
    return f"{s * 1e9:.3g} ns"


def shape(s):
    """(1024, 512) -> '1024x512'; () -> '()'; a Python number -> 'scalar'."""
    if s is None:
        return "scalar"
    s = tuple(s)
    return "x".join(str(d) for d in s) if s else "()"


def shapes(ss):
    return ", ".join(shape(s) for s in ss)
