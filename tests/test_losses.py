"""Losses (functions and modules) against PyTorch, every reduction and option, on every backend."""
import numpy as np
import pytest

import tinygrad_nm.nn.functional as F
from tinygrad_nm import Tensor, nn

from nn_torch_helpers import compare, tol, torch, vals

TF = torch.nn.functional
RNG = np.random.default_rng(0)
PRED, TARGET = RNG.standard_normal((3, 4)) * 2, RNG.standard_normal((3, 4))
LOGITS, LABELS = RNG.standard_normal((4, 3)) * 3, np.array([2, 0, 1, 2])
PROBS = RNG.dirichlet(np.ones(3), size=4)
SPATIAL, SPATIAL_LABELS = RNG.standard_normal((2, 3, 2)), np.array([[0, 2], [1, 1]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,extra", [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.7}),
                                        ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {"delta": 0.8})])
def test_regression_losses(backend, dtype, reduction, name, extra):
    compare(lambda p, t: getattr(F, name)(p, t, reduction=reduction, **extra),
            lambda p, t: getattr(TF, name)(p, t, reduction=reduction, **extra), [PRED, TARGET], dtype)


CE_CASES = [
    dict(), dict(label_smoothing=0.2), dict(ignore_index=0), dict(weight=np.array([0.2, 1.0, 3.0])),
    dict(weight=np.array([0.2, 1.0, 3.0]), ignore_index=2, label_smoothing=0.1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", range(len(CE_CASES)))
def test_cross_entropy_and_nll_with_class_indices(backend, dtype, reduction, case):
    kw = dict(CE_CASES[case], reduction=reduction)
    ours_kw, torch_kw = dict(kw), dict(kw)
    if "weight" in kw:
        ours_kw["weight"] = Tensor(kw["weight"], dtype=dtype)
        torch_kw["weight"] = torch.tensor(kw["weight"], dtype=getattr(torch, dtype))
    for logits, labels in ((LOGITS, LABELS), (SPATIAL, SPATIAL_LABELS), (LOGITS[0], LABELS[0])):
        compare(lambda x, y: F.cross_entropy(x, y, **ours_kw), lambda x, y: TF.cross_entropy(x, y, **torch_kw),
                [logits, labels], dtype)
        if "label_smoothing" not in kw:
            compare(lambda x, y: F.nll_loss(x.log_softmax(1 if x.ndim > 1 else 0), y, **ours_kw),
                    lambda x, y: TF.nll_loss(x.log_softmax(1 if x.ndim > 1 else 0), y, **torch_kw), [logits, labels], dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.3}])
def test_cross_entropy_with_class_probabilities(backend, reduction, kw):
    compare(lambda x, t: F.cross_entropy(x, t, reduction=reduction, **kw),
            lambda x, t: TF.cross_entropy(x, t, reduction=reduction, **kw), [LOGITS, PROBS], "float64")
    w = np.array([1.0, 2.0, 0.5])
    compare(lambda x, t: F.cross_entropy(x, t, weight=Tensor(w, dtype="float64"), reduction=reduction),
            lambda x, t: TF.cross_entropy(x, t, weight=torch.tensor(w), reduction=reduction), [LOGITS, PROBS])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_losses(backend, dtype, reduction):
    p = 1 / (1 + np.exp(-PRED))
    t = (TARGET > 0).astype(np.float64)
    w = np.abs(TARGET[0])
    compare(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
            lambda p, t: TF.binary_cross_entropy(p, t, reduction=reduction), [p, t], dtype)
    compare(lambda p, t: F.binary_cross_entropy(p, t, weight=Tensor(w, dtype=dtype), reduction=reduction),
            lambda p, t: TF.binary_cross_entropy(p, t, weight=torch.tensor(w, dtype=getattr(torch, dtype)),
                                                 reduction=reduction), [p, t], dtype)
    compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
            lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction), [PRED * 5, t], dtype)
    pw = np.array([0.5, 1.0, 2.0, 3.0])
    compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=Tensor(pw, dtype=dtype), reduction=reduction),
            lambda x, t: TF.binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(pw, dtype=getattr(torch, dtype)),
                                                             reduction=reduction), [PRED, t], dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(backend, reduction, log_target):
    q = np.log(PROBS)
    target = PROBS.copy()
    target[0, 1] = 0.0  # 0 log 0 counts as 0
    target = np.log(target + 1e-3) if log_target else target
    compare(lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
            lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target), [q, target],
            grads=[True, log_target])  # d/d target at a zero target: nan in PyTorch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stable_at_huge_logits(backend, dtype):
    big = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    labels = np.array([1, 2])
    for kw in ({}, {"label_smoothing": 0.1}, {"reduction": "none"}):
        out = compare(lambda x, y: F.cross_entropy(x, y, **kw), lambda x, y: TF.cross_entropy(x, y, **kw),
                      [big, labels], dtype, rtol=1e-4)
        assert np.isfinite(vals(out)).all()
    t = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    out = compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
                  lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none"), [big, t], dtype)
    assert np.isfinite(vals(out)).all()
    x = Tensor([[1e4, 1e4]], dtype=dtype)
    np.testing.assert_allclose(F.cross_entropy(x, Tensor([0])).item(), np.log(2), rtol=1e-3)


@pytest.mark.parametrize("make", [
    lambda: (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), PRED, TARGET),
    lambda: (nn.L1Loss(), torch.nn.L1Loss(), PRED, TARGET),
    lambda: (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), PRED, TARGET),
    lambda: (nn.HuberLoss(delta=2.0), torch.nn.HuberLoss(delta=2.0), PRED, TARGET),
    lambda: (nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1), LOGITS, LABELS),
    lambda: (nn.NLLLoss(ignore_index=0), torch.nn.NLLLoss(ignore_index=0), LOGITS, LABELS),
    lambda: (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), PRED, (TARGET > 0) * 1.0),
    lambda: (nn.BCELoss(reduction="none"), torch.nn.BCELoss(reduction="none"), 1 / (1 + np.exp(-PRED)), (TARGET > 0) * 1.0),
    lambda: (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), np.log(PROBS), PROBS),
])
def test_loss_modules(backend, make):
    ours, theirs, a, b = make()
    compare(ours, theirs, [a, b])
    assert repr(ours) == repr(theirs)


def test_bad_input_is_named(backend):
    with pytest.raises(ValueError, match="mse_loss: 'avg' is not a valid value for reduction"):
        F.mse_loss(Tensor([1.0]), Tensor([1.0]), reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: target 7 is out of bounds: class indices must lie in \[0, 3\)"):
        F.cross_entropy(Tensor(LOGITS), Tensor([0, 1, 7, 2]))
    with pytest.raises(ValueError, match="nll_loss: weight must have shape"):
        F.nll_loss(Tensor(LOGITS), Tensor(LABELS), weight=Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(Tensor(LOGITS), Tensor(LABELS), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        F.binary_cross_entropy(Tensor([float("nan")]), Tensor([1.0]))  # NaN is refused, as PyTorch does
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="batchmean")
    assert np.isclose(F.cross_entropy(Tensor(LOGITS), Tensor(LABELS), ignore_index=2).item(),
                      TF.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS), ignore_index=2).item(), **tol("float32"))
