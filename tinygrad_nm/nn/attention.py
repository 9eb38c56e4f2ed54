"""nn.MultiheadAttention, as PyTorch's (its parameters, masks and outputs): the inputs projected
by one (3E, E) in_proj_weight, split into num_heads heads, softmax(q k^T / sqrt(E / heads) +
masks) v per head, the heads joined and projected by out_proj. nn.TransformerEncoderLayer and
nn.TransformerEncoder stack it with a feed-forward block. Composed of Tensor ops."""
import copy
import math

from tinygrad_nm import functional as F
from tinygrad_nm.nn import init
from tinygrad_nm.nn.containers import ModuleList
from tinygrad_nm.nn.layers import Linear
from tinygrad_nm.nn.module import Module
from tinygrad_nm.nn.normalization import LayerNorm
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None, backend=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if add_bias_kv or add_zero_attn or (kdim or embed_dim) != embed_dim or (vdim or embed_dim) != embed_dim:
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim other than "
                                      "embed_dim are not supported")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        kw = dict(dtype=dtype, backend=backend or device)
        self.in_proj_weight = Parameter(init.xavier_uniform_(Tensor.zeros(3 * embed_dim, embed_dim, **kw)))
        self.register_parameter("in_proj_bias", Parameter(Tensor.zeros(3 * embed_dim, **kw)) if bias else None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """query (L, N, E), key and value (S, N, E) ((N, L, E) with batch_first; (L, E) unbatched) ->
        (output (L, N, E), the attention weights (N, L, S) averaged over heads, or (N, heads, L,
        S), or None without need_weights). Bool masks mark what may NOT be attended (True: -inf)."""
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        (length, batch, e), source = query.shape, key.shape[0]
        if e != self.embed_dim or key.shape[-1] != e or value.shape[-1] != e:
            raise ValueError(f"{self!r}: expected inputs with {self.embed_dim} features, got query {query.shape}, "
                             f"key {key.shape}, value {value.shape}")
        heads, hd = self.num_heads, self.head_dim
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        # (L, N, E) -> (N * heads, L, head_dim), PyTorch's order of the heads
        q, k, v = (F.linear(x, w, b).reshape(x.shape[0], batch * heads, hd).transpose(0, 1)
                   for x, w, b in ((query, w_q, b_q), (key, w_k, b_k), (value, w_v, b_v)))
        scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(1, 2)  # (N * heads, L, S)
        if is_causal and attn_mask is None:
            attn_mask = ~Tensor.ones(length, source, dtype="bool", backend=query.backend).tril()
        if attn_mask is not None:
            mask = attn_mask.reshape(-1, length, source)
            scores = scores.masked_fill(mask, float("-inf")) if mask.dtype.name == "bool" else scores + mask
        if key_padding_mask is not None:
            padded = key_padding_mask.reshape(batch, 1, 1, source)
            scores = scores.reshape(batch, heads, length, source)
            scores = (scores.masked_fill(padded, float("-inf")) if padded.dtype.name == "bool" else scores + padded)
            scores = scores.reshape(batch * heads, length, source)
        weights = scores.softmax(-1)
        if self.dropout and self.training:
            weights = F.dropout(weights, self.dropout)
        out = (weights @ v).transpose(0, 1).reshape(length * batch, e)
        out = self.out_proj(out).reshape(length, batch, e)
        out = out.squeeze(1) if unbatched else out.transpose(0, 1) if self.batch_first else out
        if not need_weights:
            return out, None
        weights = weights.reshape(batch, heads, length, source)
        weights = weights.mean(1) if average_attn_weights else weights
        return out, weights.squeeze(0) if unbatched else weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}" + \
            (f", dropout={self.dropout}" if self.dropout else "") + (", batch_first=True" if self.batch_first else "")


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block (linear1, activation, linear2), each with dropout,
    a residual connection and a LayerNorm: after each block (post-norm, PyTorch's default) or
    before it (norm_first=True). PyTorch's parameter names."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, backend=None):
        super().__init__()
        kw = dict(dtype=dtype, backend=backend or device)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias, **kw)
        self.linear2 = Linear(dim_feedforward, d_model, bias, **kw)
        self.norm1, self.norm2 = (LayerNorm(d_model, layer_norm_eps, bias=bias, **kw) for _ in range(2))
        if isinstance(activation, str) and activation not in ("relu", "gelu"):
            raise ValueError(f"TransformerEncoderLayer: activation should be relu/gelu, not {activation!r}")
        self.activation = getattr(F, activation) if isinstance(activation, str) else activation
        self.dropout_p, self.norm_first = dropout, norm_first

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._attend(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._attend(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feed_forward(x))

    def _attend(self, x, mask, padding, is_causal):
        out = self.self_attn(x, x, x, key_padding_mask=padding, need_weights=False, attn_mask=mask,
                             is_causal=is_causal)[0]
        return F.dropout(out, self.dropout_p, self.training)

    def _feed_forward(self, x):
        hidden = F.dropout(self.activation(self.linear1(x)), self.dropout_p, self.training)
        return F.dropout(self.linear2(hidden), self.dropout_p, self.training)


class TransformerEncoder(Module):
    """num_layers copies of encoder_layer (layers.0, layers.1, ...), then an optional norm."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x
