"""napkin.summary: a model's layers with shapes, parameters, FLOPs and predicted time, priced on
shapes alone (nothing runs for real, the model is left as it was)."""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.napkin import framework
from tinygrad_nm import nn


def test_mlp_summary_rows(default_rates):
    model = nn.MLP([64, 128, 10], activation="tanh", backend="numpy", generator=np.random.default_rng(0))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    s = tnm.napkin.summary(model, (32, 64), backend="numpy")
    assert [r.kind for r in s.rows] == ["Linear", "Tanh", "Linear"]
    assert [r.out_shape for r in s.rows] == [(32, 128), (32, 128), (32, 10)]
    assert s.params == sum(p.numel() for p in model.parameters()) == 64 * 128 + 128 + 128 * 10 + 10
    linear = s.rows[0]
    assert [k.cost.kernel for k in linear.forward] == ["linear_act"]  # F.linear: the matmul and bias in one kernel
    assert linear.flops("forward") >= 2 * 32 * 64 * 128  # the matmul, plus the bias add
    assert linear.flops("backward") >= 2 * linear.flops("forward") - 32 * 128 * 4  # dW and dX matmuls
    # each call's time: its kernel and the framework's cost around it (a forward op's, a backward's)
    calls = [k for r in s.rows for k in r.forward + r.backward]
    assert s.seconds == pytest.approx(sum(k.prediction.seconds + k.framework_seconds for k in calls))
    assert {k.phase for k in linear.forward} == {"op"} and {k.phase for k in linear.backward} == {"backward"}
    assert all(k.framework_seconds == framework.per_call(default_rates, k.phase, k.cost.kernel, k.cost.shapes) for k in calls)
    # bytes moved by each layer's kernels, forward and backward: the backward reads what the forward made
    assert linear.bytes("forward") == sum(k.cost.bytes for k in linear.forward) >= 4 * (32 * 64 + 64 * 128 + 32 * 128)
    assert linear.bytes("backward") > linear.bytes("forward")
    text = str(s)
    assert "parameters" in text and "Linear" in text and "fwd bytes" in text and "bwd bytes" in text
    row = next(line for line in text.splitlines() if line.startswith("0 "))
    assert tnm.napkin.fmt.nbytes(linear.bytes("forward")) in row and tnm.napkin.fmt.nbytes(linear.bytes("backward")) in row
    moved = sum(r.bytes("forward") for r in s.rows)
    assert f"{tnm.napkin.fmt.nbytes(moved)} moved forward" in text
    assert all(p.backend == "numpy" for p in model.parameters())  # the model itself never moved
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(before, model.parameters()))


def test_summary_prices_per_backend_and_refuses_non_modules(default_rates):
    model = nn.MLP([16, 8, 4], backend="numpy", generator=np.random.default_rng(0))
    slow = tnm.napkin.summary(model, (8, 16), backend="python").seconds
    fast = tnm.napkin.summary(model, (8, 16), backend="numpy").seconds
    assert slow > fast > 0
    with pytest.raises(TypeError, match="expected an nn.Module"):
        tnm.napkin.summary(lambda x: x, (8, 16))


def test_summary_cli(capsys, default_rates):
    from tinygrad_nm import cli
    assert cli.main(["summary", "--task", "digits", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "napkin summary: input 32x64, backend numpy" in out and "total:" in out
