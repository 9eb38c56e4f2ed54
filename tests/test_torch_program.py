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
