"""What a kernel must do, whatever backend runs it: its FLOPs and its compulsory bytes.

The kernel table (kernels.py) gives each kernel one of the cost formulas below. They are
properties of the computation, not of a machine:
- `flops`: arithmetic operations. An add, multiply, compare or max is 1; a multiply-add is 2,
  so a matmul of (M, K) @ (K, N) is 2*M*N*K.
- `transcendentals`: evaluations of exp, log, tanh, atanh, a general pow. They are counted apart
  because no machine does them at its FLOP rate; for the roofline limit each one counts as
  `TRANSCENDENTAL_FLOPS` FLOPs (a vectorised exp is a short polynomial plus a range reduction).
- `bytes`: compulsory memory traffic: every input element read once and every output element
  written once, at the dtype's size. A broadcast input is read at its own size, a Python scalar
  costs nothing, a view (reshape, expand, a permute) costs nothing.
- `divides`: how many of the FLOPs are divisions, which hardware does several times slower than
  an add or a multiply (a compiled backend pays for them apart).
- `elements`: how many times the kernel's inner loop body runs (output elements; input elements
  for a reduction; multiply-adds for a matmul): what an interpreter pays for.
- `out_bytes`: the size of the newly allocated result (large ones come from fresh pages).

A formula takes the kernel's arguments as the kernel receives them: buffers (anything with
`.shape`, and `.dtype` with an itemsize), Python scalars and parameters (axes, shapes, dtypes).
`Buf(shape, itemsize)` stands for a buffer when only shapes are known.
"""
import math
from dataclasses import dataclass, replace

from tinygrad_nm.backends.strided import broadcast_shapes, indexed_shape
from tinygrad_nm.backends.windows import matrix_shape, output_size

TRANSCENDENTAL_FLOPS = 10  # FLOPs charged per exp/log/tanh for the roofline limit (a degree ~6 polynomial + range reduction)


@dataclass(frozen=True)
class Buf:
    """A buffer known only by its shape and element size."""
    shape: tuple
    itemsize: int = 4

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.size * self.itemsize


@dataclass(frozen=True)
class Cost:
    kernel: str
    shapes: tuple          # the shapes of the buffer arguments, for display
    flops: float = 0.0
    transcendentals: float = 0.0
    bytes: float = 0.0
    elements: float = 0.0
    out_bytes: float = 0.0
    note: str = ""         # e.g. "pow x**2" when the arguments change the arithmetic
    itemsize: int = 4      # bytes per element of the data the kernel streams
    divides: float = 0.0   # of the flops, how many are divisions (several times an add's cost in hardware)
    moved: float = 0.0     # a reduction over axes that are not the trailing ones: the elements a backend
    #                        that first moves them last (PRICING "moves_reduced_axes") copies
    runs: float = 0.0      # the contiguous runs of a strided walk over the input (NumPy's inner loops): a
    #                        reduction's elements over its trailing block of reduced (or of kept) axes;
    #                        max_pool2d's window rows, ow long, one per tap and output row of each plane

    @property
    def limit_flops(self):
        """FLOPs as the roofline counts them: transcendentals at TRANSCENDENTAL_FLOPS each."""
        return self.flops + TRANSCENDENTAL_FLOPS * self.transcendentals

    @property
    def intensity(self):
        """Arithmetic intensity, FLOP per byte: above the machine's FLOP/s : B/s ratio a kernel is compute bound."""
        return self.limit_flops / self.bytes if self.bytes else math.inf


def as_buf(x):
    """A Buf for anything buffer-like (backend buffer, NumPy array or scalar, Buf); None for Python numbers."""
    if isinstance(x, Buf):
        return x
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    itemsize = getattr(getattr(x, "dtype", None), "itemsize", None) or 8
    return Buf(tuple(shape), int(itemsize))


def _itemsize_of(dtype, default=4):
    return getattr(dtype, "itemsize", None) or default


# --- formula makers: each returns cost(name, args, out) -> Cost, out a Buf or None ---------------
def unary(flops=1, transcendentals=0):
    """out[i] = f(a[i]): `flops` operations and `transcendentals` exp/log/tanh per element."""
    def cost(name, args, out):
        a = as_buf(args[0])
        n = a.size
        return Cost(name, (a.shape,), flops * n, transcendentals * n, 2 * a.nbytes, n, a.nbytes)
    return cost


def binary(flops=1, out_itemsize=None):
    """out[i] = a[i] OP b[i] with broadcasting; `out_itemsize` 1 for a bool result."""
    def cost(name, args, out):
        bufs = [x for x in map(as_buf, args[:2]) if x is not None]
        shape = out.shape if out is not None else broadcast_shapes(*[x.shape for x in bufs])
        n = math.prod(shape)
        size = out_itemsize or bufs[0].itemsize
        return Cost(name, tuple(x.shape for x in bufs), flops * n, 0, sum(x.nbytes for x in bufs) + n * size,
                    n, n * size)
    return cost


def power(name, args, out):
    """a ** b: a small integer exponent is a few multiplies, anything else exp(b * log(a))."""
    base = binary()(name, args, out)
    exponent = args[1] if as_buf(args[1]) is None else None
    n = base.elements
    if isinstance(exponent, (int, float)) and float(exponent).is_integer() and 1 <= abs(exponent) <= 4:
        k = int(abs(exponent))  # x**k as k-1 multiplies (at least one); a negative k adds a divide
        return Cost(name, base.shapes, n * max(k - 1, 1) + (n if exponent < 0 else 0), 0, base.bytes, n,
                    base.out_bytes, f"x**{exponent:g}")
    return Cost(name, base.shapes, n, 2 * n, base.bytes, n, base.out_bytes)


def select(name, args, out):
    """where(cond, a, b): one pick per output element."""
    bufs = [as_buf(x) for x in args]
    present = [x for x in bufs if x is not None]
    shape = out.shape if out is not None else broadcast_shapes(*[x.shape for x in present])
    n = math.prod(shape)
    itemsize = (bufs[1] or bufs[2] or present[0]).itemsize
    return Cost(name, tuple(x.shape for x in present), n, 0, sum(x.nbytes for x in present) + n * itemsize,
                n, n * itemsize)


def activation_backward(flops):
    """out[i] = g[i] * f'(saved[i]): reads the saved tensor and g, writes one."""
    def cost(name, args, out):
        y, g = as_buf(args[0]), as_buf(args[1])
        n = g.size
        return Cost(name, (y.shape, g.shape), flops * n, 0, y.nbytes + 2 * g.nbytes, n, g.nbytes)
    return cost


def reduction(name, args, out):
    a, axes = as_buf(args[0]), args[1]  # keepdims changes the shape, not the work
    m = math.prod(d for i, d in enumerate(a.shape) if i not in axes)
    moved = a.size if any(i > axes[0] and i not in axes for i in range(len(a.shape))) else 0
    block, kind = 1, None  # the trailing axes all reduced, or all kept (size-1 axes join either)
    for i in reversed(range(len(a.shape))):
        if a.shape[i] == 1:
            continue
        if kind is not None and (i in axes) != kind:
            break
        kind, block = i in axes, block * a.shape[i]
    return Cost(name, (a.shape,), a.size, 0, a.nbytes + m * a.itemsize, a.size, m * a.itemsize,
                f"over axes {tuple(axes)}", moved=moved, runs=a.size // block if block else 0)


def view(name, args, out):
    """reshape, expand, permute: metadata only where the storage allows it (the compulsory cost is nil)."""
    a = as_buf(args[0])
    return Cost(name, (a.shape,), elements=a.size)


def gather(name, args, out):
    a, index = as_buf(args[0]), args[1]
    shape = out.shape if out is not None else indexed_shape(a.shape, index)
    n = math.prod(shape)
    return Cost(name, (a.shape,), 0, 0, 2 * n * a.itemsize, n, n * a.itemsize)


def scatter(name, args, out):
    a, index, value = as_buf(args[0]), args[1], args[2]
    n = math.prod(indexed_shape(a.shape, index))
    v = as_buf(value)
    return Cost(name, (a.shape,), 0, 0, n * a.itemsize + (v.nbytes if v else 0), n, 0)


def scatter_add(name, args, out):
    acc, g = as_buf(args[0]), as_buf(args[2])
    # read g, read-modify-write the indexed part of acc: no new storage
    return Cost(name, (acc.shape, g.shape), g.size, 0, 3 * g.nbytes, g.size, 0)


def along_axis(flops, transcendentals, reads=1, per_row_transcendentals=0):
    """The softmax family along an axis: `reads` inputs of a's shape, one output."""
    def cost(name, args, out):
        a, axis = as_buf(args[0]), args[-1]
        n = a.size
        rows = n // a.shape[axis] if a.shape and a.shape[axis] else 0
        return Cost(name, (a.shape,) * reads, flops * n, transcendentals * n + per_row_transcendentals * rows,
                    (reads + 1) * a.nbytes, n, a.nbytes, f"along axis {axis}")
    return cost


def cross_entropy(name, args, out):
    logits, labels = as_buf(args[0]), as_buf(args[1])
    n, c = logits.shape
    # log_softmax per row (max, subtract, exp, sum, log), pick the label's entry, average; keep softmax for backward
    return Cost(name, (logits.shape, labels.shape), 5 * n * c, n * c + n,
                2 * logits.nbytes + labels.nbytes + logits.itemsize, n * c, logits.nbytes)


def cross_entropy_backward(name, args, out):
    probs, labels = as_buf(args[0]), as_buf(args[1])
    return Cost(name, (probs.shape, labels.shape), 2 * probs.size, 0, 2 * probs.nbytes + labels.nbytes,
                probs.size, probs.nbytes)


def matmul(name, args, out):
    a, b = as_buf(args[0]), as_buf(args[1])
    *batch, m, k = a.shape
    n, count = b.shape[-1], math.prod(batch)  # a batch of `count` products, or one
    outputs = count * m * n
    return Cost(name, (a.shape, b.shape), 2 * outputs * k, 0, a.nbytes + b.nbytes + outputs * a.itemsize,
                outputs * k, outputs * a.itemsize, f"{count}x({m}x{k}x{n})" if batch else f"{m}x{k}x{n}")


def batch_count(cost):
    """How many matrix products a matmul Cost covers (its first operand's leading dim when batched)."""
    return cost.shapes[0][0] if cost.kernel == "matmul" and len(cost.shapes[0]) == 3 else 1


def im2col(name, args, out):
    """im2col: read the image, write its column matrix, each input element copied into up to
    kh * kw columns. The column matrix is the extra footprint (out_bytes), kh * kw / (sh * sw)
    times the image's for a stride-1 convolution: what a direct convolution never allocates."""
    a, kernel, stride, dilation, padding = as_buf(args[0]), *args[1:5]
    rows, cols = matrix_shape(a.shape, kernel, stride, dilation, padding)
    n = rows * cols
    return Cost(name, (a.shape,), 0, 0, a.nbytes + n * a.itemsize, n, n * a.itemsize,
                f"{rows}x{cols} columns from {kernel[0]}x{kernel[1]} windows")


def col2im(name, args, out):
    """col2im, im2col's adjoint: every column entry added into the image position it came from
    (one add each); reads the columns, writes the image."""
    cols, shape, kernel = as_buf(args[0]), tuple(args[1]), args[2]
    n = cols.size
    image = math.prod(shape) * cols.itemsize
    return Cost(name, (cols.shape, tuple(shape)), n, 0, cols.nbytes + image, n, image,
                f"into {shape} from {kernel[0]}x{kernel[1]} windows")


def linear_act(activation_work):
    """act(x @ w.T + b): the matmul, one add per output for the bias, the activation's work per
    output (`activation_work(act)` -> its FLOPs, transcendentals, divisions per element); reads x,
    w and b once, writes the output once. `elements` counts multiply-adds, as matmul's does."""
    def cost(name, args, out):
        x, w, b, act = as_buf(args[0]), as_buf(args[1]), as_buf(args[2]), args[3]
        (m, k), n = x.shape, w.shape[0]
        flops, transcendentals, divides = activation_work(act)
        outputs = m * n
        return Cost(name, tuple(t.shape for t in (x, w, b) if t is not None),
                    2 * m * n * k + (outputs if b is not None else 0) + flops * outputs, transcendentals * outputs,
                    x.nbytes + w.nbytes + (b.nbytes if b is not None else 0) + outputs * x.itemsize,
                    m * n * k, outputs * x.itemsize, f"{m}x{k}x{n} + {act}", divides=divides * outputs)
    return cost


def axpy(name, args, out):
    """a = beta * a + alpha * x in place: a multiply and an add per element (and a second multiply
    with a beta); reads a and x, writes a."""
    a, x = as_buf(args[0]), as_buf(args[2])
    scaled = len(args) > 3 and args[3] != 1
    return Cost(name, (a.shape, x.shape), (3 if scaled else 2) * a.size, 0, 2 * a.nbytes + x.nbytes, a.size, 0)


def copy(name, args, out):
    """copy, astype, from_numpy, to_numpy: read every element, write every element."""
    a = as_buf(args[0])
    out_itemsize = _itemsize_of(args[1], a.itemsize) if len(args) > 1 else a.itemsize
    return Cost(name, (a.shape,), 0, 0, a.nbytes + a.size * out_itemsize, a.size, a.size * out_itemsize)


def fill(name, args, out):
    shape, dtype = tuple(args[0]), args[2]
    n = math.prod(shape)
    return Cost(name, (shape,), 0, 0, n * _itemsize_of(dtype), n, n * _itemsize_of(dtype))


def assign(name, args, out):
    a, v = as_buf(args[0]), as_buf(args[1])
    return Cost(name, (a.shape,), 0, 0, a.nbytes + (v.nbytes if v else 0), a.size, 0)


def read_one(name, args, out):
    a = as_buf(args[0])
    return Cost(name, (a.shape,), 0, 0, a.itemsize, 1, 0)


def data_itemsize(name, args):
    """The element size of the data a kernel streams: its first buffer's (where: the values', full: its dtype's)."""
    if name == "full":
        return _itemsize_of(args[2])
    for x in (args[1:] if name == "where" else args):
        b = as_buf(x)
        if b is not None:
            return b.itemsize
    return 4


def max_pool2d(name, args, out):
    """max_pool2d: a compare per window tap (elements: outputs x taps); reads the image (at most
    the taps' worth of it), writes the values and their int64 indices."""
    a, kernel, stride, dilation, padding = as_buf(args[0]), *args[1:5]
    oh, ow = output_size(a.shape, kernel, stride, dilation, padding)
    outputs, taps = a.shape[0] * a.shape[1] * oh * ow, kernel[0] * kernel[1]
    written = outputs * (a.itemsize + 8)
    return Cost(name, (a.shape,), outputs * taps, 0, min(a.nbytes, outputs * taps * a.itemsize) + written,
                outputs * taps, written, f"{kernel[0]}x{kernel[1]} windows, {oh}x{ow} out",
                runs=a.shape[0] * a.shape[1] * taps * oh)


def max_pool2d_backward(name, args, out):
    """max_pool2d_backward: an add per output gradient into a zeroed image; reads g and the
    indices, writes the image."""
    g, indices, shape = as_buf(args[0]), as_buf(args[1]), tuple(args[2])
    image = math.prod(shape) * g.itemsize
    return Cost(name, (g.shape, indices.shape), g.size, 0, g.nbytes + indices.nbytes + image, g.size, image,
                f"into {shape}")
def _conv_products(x, w, stride, dilation, padding):
    """(multiply-adds of one convolution, its output's shape) for x (N, C, H, W), w (O, C/groups, kh, kw)."""
    oh, ow = output_size(x.shape, w.shape[2:], stride, dilation, padding)
    out = (x.shape[0], w.shape[0], oh, ow)
    return math.prod(out) * math.prod(w.shape[1:]), out


def conv2d(name, args, out):
    """conv2d: the matmul weight (O, C/groups * kh * kw) @ columns for each group, plus a bias add per
    output; compulsory bytes read x, w and b once and write y once. The column matrix is not
    compulsory (a fused kernel keeps one tile of it in cache; a composed one adds im2col's cost).
    `elements` counts multiply-adds, as matmul's does."""
    x, w, b = as_buf(args[0]), as_buf(args[1]), as_buf(args[2])
    madds, shape = _conv_products(x, w, *args[3:6])
    y = math.prod(shape) * x.itemsize
    return Cost(name, tuple(t.shape for t in (x, w, b) if t is not None),
                2 * madds + (math.prod(shape) if b is not None else 0), 0,
                x.nbytes + w.nbytes + (b.nbytes if b is not None else 0) + y, madds, y,
                f"{shape[1]}x{math.prod(w.shape[1:])}x{math.prod(shape) // shape[1]} in {args[6]} group(s)")


def conv2d_backward(name, args, out):
    """conv2d's backward: the weight's gradient (one product the size of the forward's), the input's
    when wanted (another, then each column entry added into the image: col2im), the bias's (a sum of
    g); reads x, w and g, writes dx, dw (and db)."""
    x, w, g, input_grad, bias_grad = as_buf(args[0]), as_buf(args[1]), as_buf(args[2]), args[7], args[8]
    madds, shape = _conv_products(x, w, *args[3:6])
    products = madds * (2 if input_grad else 1)
    adds = (madds // w.shape[0] * args[6] if input_grad else 0) + (g.size if bias_grad else 0)  # col2im, db
    written = w.nbytes + (x.nbytes if input_grad else 0) + (w.shape[0] * x.itemsize if bias_grad else 0)
    return Cost(name, (x.shape, w.shape, g.shape), 2 * products + adds, 0, x.nbytes + w.nbytes + g.nbytes + written,
                products, written, f"{'dx, ' if input_grad else ''}dw{', db' if bias_grad else ''}")


def conv2d_act(activation_work):
    """act(conv2d(...)): conv2d's cost plus the activation's work per output (`activation_work(act)`
    -> its FLOPs, transcendentals, divisions per element); the same compulsory bytes (y written once)."""
    def cost(name, args, out):
        base = conv2d(name, args[:7], out)
        flops, transcendentals, divides = activation_work(args[7])
        outputs = base.out_bytes // as_buf(args[0]).itemsize
        return replace(base, flops=base.flops + flops * outputs, transcendentals=transcendentals * outputs,
                       divides=divides * outputs, note=f"{base.note} + {args[7]}")
    return cost


def conv2d_act_backward(activation_work):
    """conv2d_backward of act_backward(y, g): its cost plus the activation's backward per element of g
    (`activation_work(act + "_backward")` -> FLOPs, transcendentals, divisions) and y read once more."""
    def cost(name, args, out):
        x, w, y, g = args[:4]
        base = conv2d_backward(name, (x, w, g, *args[4:8], *args[9:11]), out)
        flops, transcendentals, divides = activation_work(args[8] + "_backward")
        n = as_buf(g).size
        return replace(base, flops=base.flops + flops * n, transcendentals=transcendentals * n, divides=divides * n,
                       bytes=base.bytes + as_buf(y).nbytes, note=f"{base.note} through {args[8]}'")
    return cost
