"""tnm.save / tnm.load and safetensors: round trips, PyTorch interchange, atomic writes, damaged files."""
import os

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, nn, optim
from tinygrad_nm.serialization import LoadError

from nn_torch_helpers import torch, vals


def trained(backend_dtype="float32"):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.1, amsgrad=True)
    for _ in range(2):
        opt.zero_grad()
        (model(Tensor(np.arange(12.0).reshape(4, 3))) ** 2).sum().backward()
        opt.step()
    return model, opt


def test_save_load_round_trip_of_tensors_state_dicts_and_optimizer_state(backend, tmp_path):
    model, opt = trained()
    path = tmp_path / "run.tnm"
    obj = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3, "note": "hi", "t": Tensor([1, 2]),
           "p": model[0].weight, "none": None, "pair": (1.5, float("inf")), "arr": np.eye(2)}
    tnm.save(obj, path)
    back = tnm.load(path)
    assert back["epoch"] == 3 and back["note"] == "hi" and back["none"] is None and back["pair"] == (1.5, float("inf"))
    assert back["t"].tolist() == [1, 2] and back["t"].dtype == "int64" and back["t"].backend == backend
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["arr"], np.ndarray)
    fresh, fresh_opt = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)), None
    fresh.load_state_dict(back["model"])
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.1, amsgrad=True)
    fresh_opt.load_state_dict(back["opt"])
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert list(back["opt"]["state"]) == [0, 1, 2, 3, 4, 5]  # integer keys survive
    x = Tensor(np.ones((2, 3)))
    for m, o in ((model, opt), (fresh, fresh_opt)):  # both continue identically
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    # equal to float32 rounding: a restored array may be laid out differently in memory (BLAS sums in
    # another order), and the python backend holds float32 values in double precision until saved
    np.testing.assert_allclose(vals(model[0].weight), vals(fresh[0].weight), rtol=1e-5, atol=1e-7)
    assert os.listdir(tmp_path) == ["run.tnm"]  # no temporary file left


def test_save_refuses_code_and_load_refuses_damaged_files(tmp_path):
    path = tmp_path / "x.tnm"
    tnm.save({"w": Tensor([1.0])}, path)
    raw = path.read_bytes()
    with pytest.raises(TypeError, match="cannot save an object of type function"):
        tnm.save({"f": lambda: 0}, path)
    with pytest.raises(TypeError, match="cannot save an object of type Sequential"):
        tnm.save(nn.Sequential(), path)
    assert path.read_bytes() == raw  # a refused save leaves the old file
    for name, content in {"cut.tnm": raw[:len(raw) // 2], "flip.tnm": raw[:60] + bytes([raw[60] ^ 0xFF]) + raw[61:],
                          "text.tnm": b"not a file"}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(LoadError, match=name):
            tnm.load(tmp_path / name)
    np.savez(tmp_path / "foreign.npz", a=np.zeros(2))
    with pytest.raises(LoadError, match="not a 'tinygrad_nm save v1' file"):
        tnm.load(tmp_path / "foreign.npz")
    with pytest.raises(FileNotFoundError):
        tnm.load(tmp_path / "missing.tnm")


def test_safetensors_both_ways_with_torch(backend, tmp_path):
    from safetensors.torch import load_file, save_file
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model(Tensor(np.random.default_rng(0).standard_normal((5, 3))))  # move the running statistics
    path = str(tmp_path / "ours.safetensors")
    tnm.save_safetensors(model.state_dict(), path)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ref.load_state_dict(load_file(path))  # ours -> PyTorch
    model.eval()
    ref.eval()
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(vals(model(Tensor(x))), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(2)
    save_file(ref.state_dict(), str(tmp_path / "torch.safetensors"))
    model.load_state_dict(tnm.load_safetensors(str(tmp_path / "torch.safetensors")))  # PyTorch -> ours
    np.testing.assert_allclose(vals(model(Tensor(x))), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert model[1].num_batches_tracked.shape == ()
    (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{bad}")
    with pytest.raises(LoadError, match="bad.safetensors: not a readable safetensors file"):
        tnm.load_safetensors(str(tmp_path / "bad.safetensors"))
