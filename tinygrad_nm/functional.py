"""Composite functions and losses, built from Tensor methods (PyTorch's torch.nn.functional)."""
from tinygrad_nm import ops
from tinygrad_nm.tensor import Tensor


def relu(x): return x.relu()
def sigmoid(x): return x.sigmoid()
def tanh(x): return x.tanh()
def softmax(x, axis=-1): return x.softmax(axis)
def log_softmax(x, axis=-1): return x.log_softmax(axis)


def _check_pair(name, pred, target):
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=pred.dtype, backend=pred.backend)
    pred._same_backend(target, name)
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {pred.shape} and target shape {target.shape} differ")
    return target


def mse_loss(pred, target):
    """mean((pred - target) ** 2) over every element."""
    target = _check_pair("mse_loss", pred, target)
    diff = pred - target
    return (diff * diff).mean()


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]; logits (N, C), labels int (N,).
    Runs as one fused, numerically stable kernel each way."""
    if not isinstance(labels, Tensor):
        labels = Tensor(labels, backend=logits.backend)
    logits._same_backend(labels, "cross_entropy")
    if logits.ndim != 2 or labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"cross_entropy: expected logits (N, C) and labels (N,), got {logits.shape} and {labels.shape}")
    if labels.dtype.is_float:
        raise TypeError(f"cross_entropy: labels must be integer class indices, got {labels.dtype}")
    host = labels.numpy()
    if host.size and (host.min() < 0 or host.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: labels must lie in [0, {logits.shape[1]}), got values from "
                         f"{host.min()} to {host.max()}")
    if not logits.dtype.is_float:
        logits = logits.float()
    return Tensor._apply(ops.CrossEntropy, logits.dtype, (logits, labels.long()))


def binary_cross_entropy(pred, target, eps=1e-7):
    """mean(-(t log p + (1 - t) log(1 - p))) over every element; pred holds probabilities (after a
    sigmoid), target the wanted ones (usually 0 or 1). p is first squeezed into [eps, 1 - eps] as
    eps + (1 - 2 eps) p, a smooth stand-in for a clamp (which would cut the gradient off): a
    prediction of exactly 0 or 1 gives a large but finite loss and gradient. eps=0: the exact formula."""
    if not 0 <= eps < 0.5:
        raise ValueError(f"binary_cross_entropy: eps must lie in [0, 0.5), got {eps}")
    target = _check_pair("binary_cross_entropy", pred, target)
    host = pred.detach().numpy()
    if host.size and ((host < 0).any() or (host > 1).any()):  # a log of a negative number: NaN later
        raise ValueError(f"binary_cross_entropy: predictions must be probabilities in [0, 1] (apply "
                         f".sigmoid() first), got values from {host.min():.4g} to {host.max():.4g}")
    p = pred * (1 - 2 * eps) + eps
    return -(target * p.log() + (1 - target) * (1 - p).log()).mean()
