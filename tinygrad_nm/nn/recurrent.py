"""Recurrent layers, PyTorch's nn.RNN, nn.LSTM and nn.GRU: the same parameters (names, shapes,
initialisation), arguments and outputs, one Python step per time step composed of Tensor ops
(two matmuls, the gates' elementwise ops), so backward runs through time as any graph does.

Per layer l and step t, with x_t the layer's input (the previous layer's output after the
first) and h, c the state (gates stacked in PyTorch's order in weight_ih_l{l}, weight_hh_l{l}):
- RNN:  h = tanh(x_t W_ih^T + b_ih + h W_hh^T + b_hh)  (nonlinearity="relu": relu)
- LSTM: i, f, g, o = chunks of (x_t W_ih^T + b_ih + h W_hh^T + b_hh); i, f, o sigmoid, g tanh;
        c = f * c + i * g; h = o * tanh(c)
- GRU:  r, z from sigmoid of the same sum's first two chunks; n = tanh(x_t W_in^T + b_in +
        r * (h W_hn^T + b_hn)); h = (1 - z) * n + z * h
bidirectional=True adds a second set of weights per layer (PyTorch's `_reverse` names) that reads
the sequence from its end; the two directions' outputs are joined along the features.
Projections (proj_size) are not supported.
"""
import math

from tinygrad_nm.device import backend_name
from tinygrad_nm import functional as F
from tinygrad_nm.nn.layers import _uniform
from tinygrad_nm.nn.module import Module
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor
from tinygrad_nm.tensor_shape import cat, stack


class _RNNBase(Module):
    gates = 1  # chunks of the stacked weights: 1 (RNN), 4 (LSTM), 3 (GRU)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, backend=None, generator=None):
        super().__init__()
        name = type(self).__name__
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, dropout, bool(bidirectional)
        self.directions = ("", "_reverse") if bidirectional else ("",)
        bound, backend = 1 / math.sqrt(hidden_size), backend_name(device, backend)  # PyTorch: every weight U(-1/sqrt(H), 1/sqrt(H))
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            for suffix in self.directions:
                shapes = {f"weight_ih_l{layer}{suffix}": (rows, input_size if layer == 0 else
                                                          hidden_size * len(self.directions)),
                          f"weight_hh_l{layer}{suffix}": (rows, hidden_size)}
                if bias:
                    shapes.update({f"bias_ih_l{layer}{suffix}": (rows,), f"bias_hh_l{layer}{suffix}": (rows,)})
                for key, shape in shapes.items():
                    self.register_parameter(key, Parameter(_uniform(shape, bound, dtype, backend, generator)))

    def _layer(self, layer, suffix):
        get = lambda kind: getattr(self, f"{kind}_l{layer}{suffix}")  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih") if self.bias else None, \
            get("bias_hh") if self.bias else None

    def forward(self, input, hx=None):
        """input (L, N, H_in) ((N, L, H_in) with batch_first; (L, H_in) unbatched) -> output (the
        last layer's h at every step; both directions' side by side: 2 H_out) and the last state
        of every layer and direction: h_n (num_layers * directions, N, H_out) (and c_n for LSTM)."""
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{self!r}: expected input (L, N, {self.input_size}) (or batch_first, or unbatched "
                             f"(L, {self.input_size})), got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else input.transpose(0, 1) if self.batch_first else input
        states = self._initial_states(hx, x.shape[1], unbatched, x)
        seq, last = x, []
        for layer in range(self.num_layers):
            sides = []
            for d, suffix in enumerate(self.directions):
                w_ih, w_hh, b_ih, b_hh = self._layer(layer, suffix)
                state = tuple(s[layer * len(self.directions) + d] for s in states)
                steps = F.linear(seq, w_ih, b_ih).unbind(0)  # every step's input projection in one matmul
                outputs = [None] * len(steps)
                for t in (range(len(steps)) if not suffix else reversed(range(len(steps)))):
                    state = self._cell(steps[t], state, w_hh, b_hh)
                    outputs[t] = state[0]
                last.append(state)
                sides.append(stack(outputs))
            seq = sides[0] if len(sides) == 1 else cat(sides, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                seq = F.dropout(seq, self.dropout)
        out = seq.squeeze(1) if unbatched else seq.transpose(0, 1) if self.batch_first else seq
        final = tuple(stack([s[k] for s in last]) for k in range(len(states)))
        if unbatched:
            final = tuple(f.squeeze(1) for f in final)
        return out, (final if len(final) > 1 else final[0])

    def _initial_states(self, hx, batch, unbatched, x):
        """hx as one tensor per state kind ((h,) or (h, c)), each (num_layers * directions, N, H):
        zeros if None."""
        kinds, layers = 2 if isinstance(self, LSTM) else 1, self.num_layers * len(self.directions)
        if hx is None:
            zeros = Tensor.zeros(layers, batch, self.hidden_size, dtype=x.dtype, backend=x.backend)
            return (zeros,) * kinds
        given = tuple(hx) if kinds == 2 else (hx,)
        if len(given) != kinds:
            raise ValueError(f"{self!r}: hx must be {'(h_0, c_0)' if kinds == 2 else 'h_0'}")
        given = tuple(h.unsqueeze(1) if unbatched else h for h in given)
        for h in given:
            if h.shape != (layers, batch, self.hidden_size):
                expected = (layers, batch, self.hidden_size)
                raise ValueError(f"{self!r}: expected hidden state of shape {expected}, got {h.shape}")
        return given

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    def __init__(self, *args, nonlinearity="tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (tanh or relu)")
        super().__init__(*args, **kwargs)
        self.nonlinearity = nonlinearity

    def _cell(self, xi, state, w_hh, b_hh):
        z = xi + F.linear(state[0], w_hh, b_hh)
        return (z.tanh() if self.nonlinearity == "tanh" else z.relu(),)


class LSTM(_RNNBase):
    gates = 4

    def _cell(self, xi, state, w_hh, b_hh):
        h, c = state
        i, f, g, o = (xi + F.linear(h, w_hh, b_hh)).chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


class GRU(_RNNBase):
    gates = 3

    def _cell(self, xi, state, w_hh, b_hh):
        h = state[0]
        x_r, x_z, x_n = xi.chunk(3, -1)
        h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        return ((1 - z) * n + z * h,)
