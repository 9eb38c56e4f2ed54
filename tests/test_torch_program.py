"""A small PyTorch training program, as written for PyTorch, run unchanged with
`import tinygrad_nm as torch`: the same losses and weights as under torch itself."""
import numpy as np
import pytest

import tinygrad_nm

real_torch = pytest.importorskip("torch")

PROGRAM = '''
torch.manual_seed(0)
X = torch.tensor(DATA_X, dtype=torch.float32)
y = torch.tensor(DATA_Y)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
with torch.no_grad():
    for p, w in zip(model.parameters(), WEIGHTS):
        p.copy_(torch.from_numpy(w))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
losses = []
for step in range(5):
    logits = model(X)
    loss = torch.nn.functional.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
probs = logits.detach().softmax(dim=-1)
top, idx = probs.max(dim=1)
accuracy = (idx == y).float().mean().item()
feats = torch.cat([X, X.square()], dim=1).view(X.size(0), 2, -1).permute(1, 0, 2).flatten(1)
stats = torch.stack([feats.mean(dim=1), feats.std(dim=1), feats.amax(dim=1)]).clamp(min=-5, max=5)
'''


def run(module, seed_data):
    rng = np.random.default_rng(seed_data)
    data_x = rng.normal(size=(16, 4)).tolist()
    data_y = rng.integers(0, 3, size=16).tolist()
    weights = [rng.normal(scale=0.5, size=s).astype(np.float32) for s in [(8, 4), (8,), (3, 8), (3,)]]
    scope = {"torch": module, "DATA_X": data_x, "DATA_Y": data_y, "WEIGHTS": weights}
    exec(PROGRAM, scope)
    return scope


def test_pytorch_program_runs_unchanged(backend):
    ours, theirs = run(tinygrad_nm, 1), run(real_torch, 1)
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5)
    assert ours["losses"][-1] < ours["losses"][0]
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"])
    np.testing.assert_allclose(ours["top"].numpy(), theirs["top"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours["stats"].numpy(), theirs["stats"].numpy(), rtol=1e-5, atol=1e-6)
    for p, q in zip(ours["model"].parameters(), theirs["model"].parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ours["X"].backend == backend


MODERN_PROGRAM = '''
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = True
torch.set_float32_matmul_precision("high")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 8, device=device)
        self.rnn = torch.nn.GRU(8, 8, batch_first=True, bidirectional=True, device=device)
        self.attn = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True,
                                                     device=device)
        self.head = torch.nn.Linear(16, 3, device=device)

    def forward(self, tokens):
        h, _ = self.rnn(self.embed(tokens))
        return self.head(self.attn(h).mean(dim=1))


model = Net()
model.load_state_dict({k: torch.tensor(v) for k, v in STATE.items()})
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=6)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 4)
data = torch.utils.data.TensorDataset(torch.tensor(TOKENS), torch.tensor(LABELS))
loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2, persistent_workers=True)
losses = []
for epoch in range(2):
    for xb, yb in loader:
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=False):
            loss = torch.nn.functional.cross_entropy(model(xb.to(device)), yb.to(device), label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        sched.step()
        losses.append(loss.item())
model.eval()
with torch.inference_mode():
    dist = torch.distributions.Categorical(logits=model(torch.tensor(TOKENS[:3])))
    entropy = dist.entropy()
'''


def test_a_modern_pytorch_script_runs_unchanged(backend, monkeypatch):
    """Device selection, precision switches, layers made on a device, a bidirectional GRU into a
    Transformer layer, AdamW with OneCycleLR, GradScaler with unscale_ and gradient clipping,
    autocast, a DataLoader with workers, and a Categorical over the logits: the same losses as torch."""
    rng = np.random.default_rng(3)
    tokens, labels = rng.integers(0, 10, size=(12, 5)).tolist(), rng.integers(0, 3, size=12).tolist()
    real_torch.manual_seed(0)
    state = {k: v.numpy() for k, v in real_torch.nn.ModuleDict({
        "embed": real_torch.nn.Embedding(10, 8), "rnn": real_torch.nn.GRU(8, 8, bidirectional=True),
        "attn": real_torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32),
        "head": real_torch.nn.Linear(16, 3)}).state_dict().items()}
    scopes = []
    for module in (tinygrad_nm, real_torch):
        scope = {"torch": module, "TOKENS": tokens, "LABELS": labels, "STATE": state}
        with monkeypatch.context() as m:
            if module is real_torch:  # the reference is PyTorch on the CPU: on a machine with a GPU the
                m.setattr(real_torch.cuda, "is_available", lambda: False)  # script would pick TF32 matmuls
            exec(MODERN_PROGRAM, scope)
        scopes.append(scope)
    ours, theirs = scopes
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=2e-4)
    np.testing.assert_allclose(ours["entropy"].numpy(), theirs["entropy"].numpy(), rtol=2e-4)
    for (name, p), (_, q) in zip(ours["model"].named_parameters(), theirs["model"].named_parameters()):
        p, q = p.detach().numpy(), q.detach().numpy()
        if name == "attn.self_attn.in_proj_bias":  # the key bias: softmax ignores a shift of a row's scores,
            p, q = np.delete(p, np.s_[16:32]), np.delete(q, np.s_[16:32])  # so its gradient is 0 up to rounding,
            # which AdamW normalises into steps of lr's size: torch's float32 noise moves it, ours barely
        np.testing.assert_allclose(p, q, rtol=1e-3, atol=1e-5, err_msg=name)
