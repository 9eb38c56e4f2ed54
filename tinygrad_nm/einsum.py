"""einsum, as torch.einsum, composed from diagonal slices, sums, permutes, reshapes and matmul.

    einsum("bij,bjk->bik", a, b)    einsum("ii->i", a)    einsum("...ij,...jk->...ik", a, b)

Subscripts are letters (a-z, A-Z) and at most one "..." per operand (its dims broadcast, aligned
from the right; an output without "..." sums them). Without "->" the output is the ellipsis dims,
then the letters that appear once, in alphabetical order. Each operand first loses its repeated letters (the diagonal: a strided
slice of the flattened dims) and the letters no other operand and not the output uses (a sum).
The operands are then contracted left to right, two at a time, as one batched matmul:
    x: (shared kept, x only, shared summed) -> (B, L, C);  y: (shared kept, shared summed, y only) -> (B, C, R)
and a product with no summed letter (an outer or elementwise product) is a broadcast multiply.
Finally a permute puts the output's letters in order. Every step is a differentiable op.
"""
import functools
import math
import string

from tinygrad_nm.products import ProductShapeError, matmul

_LETTERS = set(string.ascii_letters)


def _fail(equation, why):
    raise ProductShapeError(f"einsum({equation!r}): {why}")


@functools.lru_cache(maxsize=256)  # a pure function of the equation and shapes: einsum in a loop parses once
def _parse(equation, shapes):
    """(one tuple of symbols per operand, the output's symbols): "..." becomes one symbol per dim
    it covers, chr(0x100 + j) for the j-th dim counted from the right, shared by every operand."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        _fail(equation, f"{len(terms)} operand subscript(s) for {len(shapes)} operand(s)")
    for part in terms + ([rhs] if arrow else []):
        bad = set(part.replace("...", "")) - _LETTERS
        if bad or part.count("...") > 1:
            _fail(equation, f"subscripts must be letters a-z, A-Z with at most one '...' per operand; "
                            f"got {part!r}" + (f" (unsupported: {''.join(sorted(bad))!r})" if bad else ""))
    symbols, ellipsis = [], 0
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        if ("..." in term and named > len(shape)) or ("..." not in term and named != len(shape)):
            _fail(equation, f"operand {i} has shape {shape} ({len(shape)} dims) but subscripts {term!r}")
        left, dots, right = term.partition("...")
        extra = len(shape) - named if dots else 0
        ellipsis = max(ellipsis, extra)
        symbols.append(tuple(left) + tuple(chr(0x100 + j) for j in reversed(range(extra))) + tuple(right))
    dims = tuple(chr(0x100 + j) for j in reversed(range(ellipsis)))
    if arrow:
        left, dots, right = rhs.partition("...")
        out = tuple(left) + (dims if dots else ()) + tuple(right)  # no '...' there: its dims are summed
        seen = set()
        for s in out:
            if s in seen:
                _fail(equation, f"the output names {s!r} twice")
            if not any(s in sym for sym in symbols):
                _fail(equation, f"the output's {s!r} is not in any operand")
            seen.add(s)
    else:
        counts = {}
        for sym in symbols:
            for s in sym:
                counts[s] = counts.get(s, 0) + 1
        out = dims + tuple(sorted(s for s, c in counts.items() if c == 1 and s in _LETTERS))
    return tuple(symbols), out


@functools.lru_cache(maxsize=256)
def _sizes(equation, symbols, shapes):
    """Each symbol's size; a dim of size 1 broadcasts against a larger one (as torch.einsum). The
    dict is cached: read it, never change it."""
    size = {}
    for i, (sym, shape) in enumerate(zip(symbols, shapes)):
        for s, n in zip(sym, shape):
            if size.get(s, 1) != 1 and n != 1 and size[s] != n:
                what = "an '...' dim" if s not in _LETTERS else f"subscript {s!r}"
                _fail(equation, f"{what} has size {size[s]} in an earlier operand and {n} in operand {i} "
                                f"(shapes {tuple(shapes)})")
            size[s] = n if size.get(s, 1) == 1 else size[s]
    return size


def _diagonal(t, sym):
    """Repeated symbols of one operand (e.g. "ii") reduced to one: their dims moved last and
    flattened, then every (n^r - 1)/(n - 1)-th element taken, the entries with equal indices."""
    for s in sorted(set(sym), key=sym.index):
        where = [i for i, x in enumerate(sym) if x == s]
        if len(where) == 1:
            continue
        n = t.shape[where[0]]
        rest = [i for i in range(len(sym)) if i not in where]
        t = t.permute(*rest, *where).reshape(*(t.shape[i] for i in rest), n ** len(where))
        t = t[(slice(None),) * len(rest) + (slice(None, None, sum(n ** j for j in range(len(where)))),)]
        sym = tuple(sym[i] for i in rest) + (s,)
    return t, sym


def _drop(t, sym, keep):
    """Sum over the symbols not in `keep`."""
    gone = tuple(i for i, s in enumerate(sym) if s not in keep)
    if not gone:
        return t, sym
    return t.sum(dim=gone), tuple(s for s in sym if s in keep)


def _contract(x, xs, y, ys, keep, size):
    """x and y (symbols xs, ys) multiplied and summed over the shared symbols not in `keep`."""
    batch = [s for s in xs if s in ys and s in keep]
    summed = [s for s in xs if s in ys and s not in keep]
    left, right = [s for s in xs if s not in ys], [s for s in ys if s not in xs]
    nb, nl, nc, nr = (math.prod(size[s] for s in group) for group in (batch, left, summed, right))
    x = _arranged(x, xs, batch + left + summed, (nb, nl, nc))
    y = _arranged(y, ys, batch + summed + right, (nb, nc, nr))
    z = matmul(x, y, "einsum") if summed else x * y.reshape(nb, 1, nr)  # nothing summed: a broadcast multiply
    out = tuple(size[s] for s in batch + left + right)
    return (z if z.shape == out else z.reshape(out)), tuple(batch + left + right)


def _arranged(t, sym, order, shape):
    """t with its dims (symbols `sym`) in `order`, reshaped to `shape`; no op where none is needed."""
    if list(sym) != order:
        t = t.permute(*(sym.index(s) for s in order))
    return t if t.shape == shape else t.reshape(shape)


def einsum(equation, *operands):
    """Sums of products over the letters of `equation` (the module docstring)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError("einsum: pass the equation as a string first, e.g. einsum('ij,jk->ik', a, b) "
                        "(the sublist format einsum(a, [0, 1], b, [1, 2]) is not supported)")
    if not operands or not all(hasattr(t, "_buf") for t in operands):
        raise TypeError(f"einsum({equation!r}): expected tensors after the equation, got "
                        f"{[type(t).__name__ for t in operands]}")
    for t in operands[1:]:
        operands[0]._same_backend(t, "einsum")
    shapes = tuple(t.shape for t in operands)
    symbols, out = _parse(equation, shapes)
    size = _sizes(equation, symbols, shapes)
    ts = []
    for i, (t, sym) in enumerate(zip(operands, symbols)):
        t, sym = _diagonal(t, sym)
        full = tuple(size[s] for s in sym)
        ts.append((t.expand(*full) if t.shape != full else t, sym))
    x, xs = ts[0]
    for i, (y, ys) in enumerate(ts[1:], start=1):
        later = set(out).union(*(s for _, s in ts[i + 1:]))
        x, xs = _drop(x, xs, later | set(ys))
        y, ys = _drop(y, ys, later | set(xs))
        if x.dtype is not y.dtype:
            x, y = x._promote_pair(y)
        x, xs = _contract(x, xs, y, ys, later, size)
    x, xs = _drop(x, xs, set(out))
    return x.permute(*(xs.index(s) for s in out)) if xs != out else x
