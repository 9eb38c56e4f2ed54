"""What `tinygrad-nm train` prints and draws: the run's one-line description, a line per epoch, the
final result, and the loss curve."""
from tinygrad_nm import train_optim


def describe(config, task, backend):
    if task.x_train.ndim == 4:  # the CNN: image -> two convolution + pooling rounds -> linear layers
        (c1, c2), side = config["channels"], task.x_train.shape[-1]
        model = (f"cnn 1x{side}x{side} -> conv {c1} -> pool -> conv {c2} -> pool -> {c2 * (side // 4) ** 2} -> 64 "
                 f"-> {task.model[-1].out_features}")
    else:
        model = " -> ".join(str(s) for s in getattr(task.model, "sizes", [task.x_train.shape[1], 1]))
    extra = ", shifted up to 1 pixel" if config.get("augment") == "shift" else ""
    smoothing = f", label smoothing {config['label_smoothing']:g}" if config.get("label_smoothing") else ""
    what = f"{config['size']}x{config['size']} rectangles" if task.name == "average" else task.name
    return (f"task {task.name}: {what}, {len(task.x_train)} train{extra} / {len(task.x_test)} held out; "
            f"model {model}; {train_optim.describe(config)}{smoothing}, batch {config['batch_size']}, "
            f"seed {config['seed']}; "
            f"backend {backend}")


def epoch_line(task, epoch, epochs, r):
    line = f"epoch {epoch + 1:3d}/{epochs}  train loss {r['train_loss']:.4g}"
    if task.classify:
        line += f"  acc {100 * r['train_acc']:.1f}%"
    line += f"  |  test loss {r['test_loss']:.4g}"
    if task.classify:
        line += f"  acc {100 * r['test_acc']:.1f}%"
    return line + f"  ({r['seconds']:.2f} s)"


def final_report(task, history):
    epochs = len(history["train_loss"])
    if task.classify:
        print(f"held-out accuracy after {epochs} epochs: {100 * history['test_acc'][-1]:.2f}% "
              f"(best {100 * max(history['test_acc']):.2f}%)")
    else:
        print(f"held-out loss after {epochs} epochs: {history['test_loss'][-1]:.3g}")


def plot_history(history, path, title):
    """Loss per epoch (log scale), and accuracy beside it for classification, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    classify = history["test_acc"] and history["test_acc"][0] is not None
    fig = Figure(figsize=(10 if classify else 6, 4), tight_layout=True)
    epochs = range(1, len(history["train_loss"]) + 1)
    ax = fig.add_subplot(1, 2 if classify else 1, 1)
    ax.plot(epochs, history["train_loss"], "o-", label="train", markersize=3)
    ax.plot(epochs, history["test_loss"], "s-", label="held out", markersize=3)
    ax.set(xlabel="epoch", ylabel="loss", yscale="log", title=f"{title}: loss")
    ax.legend()
    ax.grid(alpha=0.3)
    if classify:
        ax = fig.add_subplot(1, 2, 2)
        ax.plot(epochs, [100 * a for a in history["train_acc"]], "o-", label="train", markersize=3)
        ax.plot(epochs, [100 * a for a in history["test_acc"]], "s-", label="held out", markersize=3)
        ax.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
        ax.legend()
        ax.grid(alpha=0.3)
    FigureCanvasAgg(fig).print_png(path)
