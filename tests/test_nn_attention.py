"""nn.MultiheadAttention, F.scaled_dot_product_attention and nn.TransformerEncoder(Layer) against
PyTorch's, on every backend: the same parameters (a torch state dict loads as is), outputs,
attention weights and gradients (inputs and every parameter, float64), with batch_first, bool and
float masks, key padding, causal attention, per-head weights and unbatched input."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402

CAUSAL = np.triu(np.ones((4, 5), bool), 1)
PADDING = np.array([[False] * 4 + [True], [False] * 5, [True] + [False] * 4])
CONFIGS = [
    ("default", {}, {}), ("batch_first", {"batch_first": True}, {}), ("no_weights", {}, {"need_weights": False}),
    ("per_head", {}, {"average_attn_weights": False}), ("bool_mask", {}, {"attn_mask": CAUSAL}),
    ("float_mask", {}, {"attn_mask": np.random.default_rng(5).standard_normal((4, 5))}),
    ("key_padding", {}, {"key_padding_mask": PADDING}), ("no_bias", {"bias": False}, {}),
    ("causal", {}, {"is_causal": True, "attn_mask": CAUSAL}),
]


def _pair(kw):
    theirs = torch.nn.MultiheadAttention(8, 2, **kw).double()
    ours = tnm.nn.MultiheadAttention(8, 2, **kw)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.double(), theirs


@pytest.mark.parametrize("name,kw,call", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_multihead_attention_matches_torch(backend, name, kw, call):
    ours, theirs = _pair(kw)
    rng = np.random.default_rng(0)
    q, kv = rng.standard_normal((4, 3, 8)), rng.standard_normal((5, 3, 8))
    if kw.get("batch_first"):
        q, kv = q.transpose(1, 0, 2).copy(), kv.transpose(1, 0, 2).copy()
    tq, tkv = torch.tensor(q, requires_grad=True), torch.tensor(kv, requires_grad=True)
    oq, okv = (tnm.tensor(a, dtype=tnm.float64, requires_grad=True) for a in (q, kv))
    (to, tw) = theirs(tq, tkv, tkv, **{k: torch.tensor(v) if hasattr(v, "shape") else v for k, v in call.items()})
    (oo, ow) = ours(oq, okv, okv, **{k: tnm.tensor(v) if hasattr(v, "shape") else v for k, v in call.items()})
    np.testing.assert_allclose(oo.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert (ow is None) == (tw is None)
    if tw is not None:
        np.testing.assert_allclose(ow.detach().numpy(), tw.detach().numpy(), rtol=1e-9, atol=1e-12)
    (to * to).sum().backward()
    (oo * oo).sum().backward()
    np.testing.assert_allclose(oq.grad.numpy(), tq.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(okv.grad.numpy(), tkv.grad.numpy(), rtol=1e-8, atol=1e-12)
    for (n, p), (_, r) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=n)


def test_unbatched_input_and_errors(backend):
    ours, theirs = _pair({})
    x = np.random.default_rng(1).standard_normal((4, 8))
    (oo, ow), (to, tw) = ours(*(tnm.tensor(x, dtype=tnm.float64),) * 3), theirs(*(torch.tensor(x),) * 3)
    np.testing.assert_allclose(oo.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert tuple(ow.shape) == tuple(tw.shape) == (4, 4)
    with pytest.raises(ValueError, match="must be divisible by num_heads"):
        tnm.nn.MultiheadAttention(8, 3)
    with pytest.raises(ValueError, match="expected inputs with 8 features"):
        ours(tnm.ones(4, 3, 6), tnm.ones(4, 3, 6), tnm.ones(4, 3, 6))


@pytest.mark.parametrize("extra", [{}, {"is_causal": True}, {"scale": 0.3}, {"mask": "bool"}, {"mask": "float"}])
def test_scaled_dot_product_attention_matches_torch(backend, extra):
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((2, 3, 4, 8)), rng.standard_normal((2, 3, 5, 8)), rng.standard_normal((2, 3, 5, 8))
    kw = dict(extra)
    mask = kw.pop("mask", None)
    m = (rng.random((4, 5)) > 0.3) | (np.arange(5) == 0) if mask == "bool" else rng.standard_normal((4, 5))
    outs = []
    for M in (tnm, torch):
        args = [M.tensor(t, requires_grad=True) for t in (q, k, v)]
        out = M.nn.functional.scaled_dot_product_attention(*args, attn_mask=M.tensor(m) if mask else None, **kw)
        (out * out).sum().backward()
        outs.append([out.detach().numpy()] + [a.grad.numpy() for a in args])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"norm_first": True, "activation": "gelu", "batch_first": True}],
                         ids=["post_norm", "pre_norm_gelu_batch_first"])
def test_transformer_encoder_matches_torch(backend, kw):
    """TransformerEncoder(TransformerEncoderLayer) with a final norm, in eval (no dropout): torch's
    state dict loads as is; outputs and gradients agree under a causal mask."""
    layer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, **kw)
    theirs = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    theirs = theirs.double().eval()
    ours = tnm.nn.TransformerEncoder(tnm.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, **kw), 2,
                                     norm=tnm.nn.LayerNorm(8))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours = ours.double().eval()
    x = np.random.default_rng(0).standard_normal((4, 3, 8))
    length = 3 if kw.get("batch_first") else 4
    mask = np.triu(np.ones((length, length), bool), 1)
    tx, ox = torch.tensor(x, requires_grad=True), tnm.tensor(x, dtype=tnm.float64, requires_grad=True)
    to, oo = theirs(tx, mask=torch.tensor(mask)), ours(ox, mask=tnm.tensor(mask))
    np.testing.assert_allclose(oo.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-11)
    (to * to).sum().backward()
    (oo * oo).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-11)
    for (n, p), (_, r) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=n)
    with pytest.raises(ValueError, match="activation should be relu/gelu"):
        tnm.nn.TransformerEncoderLayer(8, 2, activation="tanh")


def _load(ours, theirs):
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.double().eval()


@pytest.mark.parametrize("kw", [{}, {"norm_first": True, "activation": "gelu", "batch_first": True}],
                         ids=["post_norm", "pre_norm_gelu_batch_first"])
def test_transformer_matches_torch(backend, kw):
    """nn.Transformer (encoder, decoder, final norms), in eval: torch's state dict loads as is;
    outputs and gradients (src, tgt, every parameter) agree with a causal target mask from
    generate_square_subsequent_mask and padded source keys."""
    torch.manual_seed(0)
    theirs = torch.nn.Transformer(8, 2, 2, 2, dim_feedforward=16, **kw).double().eval()
    ours = _load(tnm.nn.Transformer(8, 2, 2, 2, dim_feedforward=16, **kw), theirs)
    rng = np.random.default_rng(3)
    src, tgt = rng.standard_normal((5, 3, 8)), rng.standard_normal((4, 3, 8))
    if kw.get("batch_first"):
        src, tgt = src.transpose(1, 0, 2).copy(), tgt.transpose(1, 0, 2).copy()
    padding = np.zeros((3, 5), bool)
    padding[0, -2:] = True
    outs = []
    for M, model in ((tnm, ours), (torch, theirs)):
        s, t = (M.tensor(a, dtype=M.float64, requires_grad=True) for a in (src, tgt))
        mask = M.nn.Transformer.generate_square_subsequent_mask(4, dtype=M.float64)
        out = model(s, t, tgt_mask=mask, src_key_padding_mask=M.tensor(padding),
                    memory_key_padding_mask=M.tensor(padding))
        (out * out).sum().backward()
        outs.append([out.detach().numpy(), s.grad.numpy(), t.grad.numpy()] +
                    [p.grad.numpy() for _, p in model.named_parameters()])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def test_decoder_layer_alone_and_bad_input(backend):
    torch.manual_seed(1)
    theirs = torch.nn.TransformerDecoderLayer(8, 4, 12, dropout=0.0).double()
    ours = _load(tnm.nn.TransformerDecoderLayer(8, 4, 12, dropout=0.0), theirs)
    rng = np.random.default_rng(4)
    tgt, memory = rng.standard_normal((3, 2, 8)), rng.standard_normal((6, 2, 8))
    o = ours(tnm.tensor(tgt, dtype=tnm.float64), tnm.tensor(memory, dtype=tnm.float64), tgt_is_causal=True,
             tgt_mask=tnm.nn.Transformer.generate_square_subsequent_mask(3, dtype=tnm.float64))
    t = theirs(torch.tensor(tgt), torch.tensor(memory), tgt_is_causal=True,
               tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64))
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-11)
    model = tnm.nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(tnm.ones(5, 3, 8), tnm.ones(4, 2, 8))
    with pytest.raises(RuntimeError, match="must be equal to d_model"):
        model(tnm.ones(5, 3, 6), tnm.ones(4, 3, 6))


def test_layers_take_a_device_as_pytorch_programs_pass_it(backend):
    """device="cpu" (what `device = "cuda" if torch.cuda.is_available() else "cpu"` gives here)
    reaches every layer's parameters; passing both device= and backend= is refused."""
    made = [tnm.nn.Linear(2, 3, device="cpu"), tnm.nn.Embedding(4, 2, device="cpu"), tnm.nn.LSTM(2, 3, device="cpu"),
            tnm.nn.Conv2d(1, 2, 3, device="cpu"), tnm.nn.LayerNorm(3, device="cpu"),
            tnm.nn.Transformer(8, 2, 1, 1, 16, device="cpu")]
    cpu = tnm.device("cpu").backend
    assert all(p.backend == cpu for m in made for p in m.parameters())
    with pytest.raises(TypeError, match="pass device= or backend=, not both"):
        tnm.nn.Linear(2, 3, device="cpu", backend=backend)
