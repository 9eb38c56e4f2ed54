"""tinygrad_nm.optim: PyTorch's torch.optim: optimizers with parameter groups and state dicts,
and learning-rate schedulers (optim.lr_scheduler).

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    for epoch in range(30):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        sched.step()

`step()` updates each parameter in place (the Tensor objects the model holds stay the same
ones), under no_grad: no graph is recorded. The update rules are PyTorch's, operation for
operation, so the same gradients give the same weights to float rounding.
"""
from tinygrad_nm.optim import lr_scheduler  # noqa: F401
from tinygrad_nm.optim.optimizer import Optimizer
from tinygrad_nm.optim.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from tinygrad_nm.optim.optimizers_adaptive import Adamax, NAdam, RAdam

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "lr_scheduler"]
