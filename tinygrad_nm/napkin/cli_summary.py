"""`tinygrad-nm summary --task digits`: the task's model, layer by layer, priced on every backend
here before anything is trained (napkin.summary)."""
from tinygrad_nm import backends


def add_arguments(parser):
    from tinygrad_nm import tasks
    parser.add_argument("--task", choices=list(tasks.DEFAULTS), default="digits", help="the task whose model to show")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per step (default: the task's)")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="hidden layer sizes (default: the task's)")
    parser.add_argument("--backend", action="append", default=None,
                        help="price on this backend (repeatable; default: every one that can run here)")
    parser.add_argument("--data-dir", default=None, help="--task mnist: the directory with the IDX files")


def run(args):
    from tinygrad_nm import napkin, tasks
    config = dict(tasks.DEFAULTS[args.task], task=args.task, seed=0, data_dir=args.data_dir)
    if args.hidden:
        config["hidden"] = args.hidden
    if args.batch_size is not None and args.batch_size < 1:
        print(f"tinygrad-nm summary: --batch-size must be positive, got {args.batch_size}")
        return 2
    task = tasks.build(config)
    shape = (args.batch_size or config["batch_size"], *task.x_train.shape[1:])
    names = args.backend or backends.available_backends()
    for i, name in enumerate(names):
        backends.load(name)  # a clear error for a backend that cannot run here
        print(("\n" if i else "") + str(napkin.summary(task.model, shape, backend=name)))
    return 0
