"""nn.MultiheadAttention, as PyTorch's (its parameters, masks and outputs): the inputs projected
by one (3E, E) in_proj_weight, split into num_heads heads, softmax(q k^T / sqrt(E / heads) +
masks) v per head, the heads joined and projected by out_proj. The encoder and decoder layers
stack it with a feed-forward block; nn.TransformerEncoder, nn.TransformerDecoder and
nn.Transformer stack the layers. PyTorch's parameter names, init and arguments; composed of
Tensor ops."""
import copy
import math

from tinygrad_nm.device import backend_name
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
        kw = dict(dtype=dtype, backend=backend_name(device, backend))
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


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: self-attention, a feed-forward block (linear1,
    activation, linear2) and `norms` LayerNorms; each block with dropout and a residual
    connection, normalised after it (post-norm, PyTorch's default) or before it (norm_first)."""

    def __init__(self, what, norms, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                 batch_first, norm_first, bias, kw):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias=bias, batch_first=batch_first, **kw)
        if norms == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias, **kw)
        self.linear2 = Linear(dim_feedforward, d_model, bias, **kw)
        for i in range(1, norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, layer_norm_eps, bias=bias, **kw))
        if isinstance(activation, str) and activation not in ("relu", "gelu"):
            raise ValueError(f"{what}: activation should be relu/gelu, not {activation!r}")
        self.activation = getattr(F, activation) if isinstance(activation, str) else activation
        self.dropout_p, self.norm_first = dropout, norm_first

    def _block(self, x, norm, block, *args):
        """x plus the block's output, the norm before the block (norm_first) or after the sum."""
        if self.norm_first:
            return x + block(norm(x), *args)
        return norm(x + block(x, *args))

    def _self_attention(self, x, mask, padding, is_causal):
        return self._attend(self.self_attn, x, x, mask, padding, is_causal)

    def _attend(self, attention, x, memory, mask, padding, is_causal):
        out = attention(x, memory, memory, key_padding_mask=padding, need_weights=False, attn_mask=mask,
                        is_causal=is_causal)[0]
        return F.dropout(out, self.dropout_p, self.training)

    def _feed_forward(self, x):
        hidden = F.dropout(self.activation(self.linear1(x)), self.dropout_p, self.training)
        return F.dropout(self.linear2(hidden), self.dropout_p, self.training)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention, then the feed-forward block."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, backend=None):
        super().__init__("TransformerEncoderLayer", 2, d_model, nhead, dim_feedforward, dropout, activation,
                         layer_norm_eps, batch_first, norm_first, bias, dict(dtype=dtype, backend=backend_name(device, backend)))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = self._block(src, self.norm1, self._self_attention, src_mask, src_key_padding_mask, is_causal)
        return self._block(x, self.norm2, self._feed_forward)


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention over the target, attention from it to the encoder's output (`memory`:
    multihead_attn), then the feed-forward block."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, backend=None):
        super().__init__("TransformerDecoderLayer", 3, d_model, nhead, dim_feedforward, dropout, activation,
                         layer_norm_eps, batch_first, norm_first, bias, dict(dtype=dtype, backend=backend_name(device, backend)))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = self._block(tgt, self.norm1, self._self_attention, tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        x = self._block(x, self.norm2, self._cross_attention, memory, memory_mask, memory_key_padding_mask,
                        memory_is_causal)
        return self._block(x, self.norm3, self._feed_forward)

    def _cross_attention(self, x, memory, mask, padding, is_causal):
        return self._attend(self.multihead_attn, x, memory, mask, padding, is_causal)


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


class TransformerDecoder(Module):
    """num_layers copies of decoder_layer, each attending to the same memory, then an optional norm."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                      bool(tgt_is_causal), memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """An encoder and a decoder (each with a final LayerNorm), PyTorch's nn.Transformer: every
    weight matrix starts Xavier-uniform, as its _reset_parameters does."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None, backend=None):
        super().__init__()
        kw = dict(dtype=dtype, backend=backend_name(device, backend))
        layer = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                     layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias, **kw)
        self.encoder = custom_encoder or TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **layer), num_encoder_layers,
            LayerNorm(d_model, layer_norm_eps, bias=bias, **kw))
        self.decoder = custom_decoder or TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **layer), num_decoder_layers,
            LayerNorm(d_model, layer_norm_eps, bias=bias, **kw))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal (src {src.shape}, "
                               f"tgt {tgt.shape}, batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}); got src {src.shape}, tgt {tgt.shape}")
        memory = self.encoder(src, src_mask, src_key_padding_mask, src_is_causal)
        return self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                            tgt_is_causal, memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """A float (sz, sz) mask: -inf above the diagonal (a position may not attend to later ones), 0 elsewhere."""
        ones = Tensor.ones(sz, sz, dtype=dtype, backend=backend_name(device, None))
        return ones.triu(1).masked_fill(ones.triu(1) > 0, float("-inf"))
