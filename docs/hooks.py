"""MkDocs hooks (mkdocs.yml: hooks): the parts of the documentation that are read from the code at
build time, so that they cannot go stale.

- The API reference: one page per public module of the package, found by walking tinygrad_nm/
  (no hand-kept list: a module added, moved or removed changes the reference with it); each page
  is a mkdocstrings `:::` block, rendered from the docstrings and signatures.
- `{{ cli_help train }}` in a page: that subcommand's `--help`; `{{ cli_help_all }}`: a section
  with the `--help` of every subcommand the CLI has.
- `{{ pytorch_coverage }}`: the table of PyTorch names and where tinygrad_nm has each, looked up
  on the package itself.
"""
import contextlib
import io
import os
import re

from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "tinygrad_nm"
REFERENCE = "reference"


# --- the API reference -------------------------------------------------------------------------
def public_modules():
    """Dotted names of the package's modules and subpackages, private ones (a `_` anywhere in the
    dotted path, `__main__`) and the shipped benchmark files (pytest files, test_*) left out."""
    names = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        rel = os.path.relpath(dirpath, ROOT).replace(os.sep, ".")
        if "__init__.py" not in filenames:
            continue
        names.append(rel)
        names += [f"{rel}.{f[:-3]}" for f in sorted(filenames)
                  if f.endswith(".py") and not f.startswith(("_", "test_"))]
    return names


def _page(module):
    return f"{REFERENCE}/{module}.md"


def on_files(files, config):
    modules = public_modules()
    for module in modules:
        files.append(File.generated(config, _page(module), content=f"# `{module}`\n\n::: {module}\n"))
    index = ["# API reference", "",
             "Generated from the docstrings and signatures of every public module (mkdocstrings).",
             "The names most programs use are re-exported at the top: `tinygrad_nm.Tensor`, "
             "`tinygrad_nm.functional`, `tinygrad_nm.nn`, `tinygrad_nm.optim`, `tinygrad_nm.data`, "
             "`tinygrad_nm.napkin`.", ""]
    index += [f"- [`{m}`]({m}.md)" for m in modules]
    files.append(File.generated(config, f"{REFERENCE}/index.md", content="\n".join(index) + "\n"))
    return files


def on_config(config):
    """Adds the generated reference pages to the navigation, under 'API reference'."""
    pages = [{"Overview": f"{REFERENCE}/index.md"}] + [{m: _page(m)} for m in public_modules()]
    config["nav"] = [item for item in (config["nav"] or []) if "API reference" not in item]
    config["nav"].append({"API reference": pages})
    return config


# --- pages that quote the code ------------------------------------------------------------------
def cli_help(command):
    """`tinygrad-nm COMMAND --help`, at a fixed width so the page does not depend on the terminal."""
    from tinygrad_nm.cli import SUBCOMMANDS, main
    if command not in SUBCOMMANDS:
        raise ValueError(f"{{{{ cli_help {command} }}}}: no such subcommand; known: {', '.join(SUBCOMMANDS)}")
    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([command, "--help"])
    finally:
        if saved is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = saved
    return "```text\n" + out.getvalue().rstrip() + "\n```"


# PyTorch's spelling -> where tinygrad_nm would have it, by PyTorch's module
TORCH = {
    "torch": ["tensor", "zeros", "ones", "full", "arange", "eye", "rand", "randn", "randint", "zeros_like",
              "ones_like", "empty", "from_numpy", "manual_seed", "no_grad", "enable_grad", "is_grad_enabled",
              "cat", "stack", "where", "matmul", "float32", "float64", "int64", "bool"],
    "torch.Tensor": ["backward", "grad", "requires_grad", "requires_grad_", "detach", "item", "tolist", "numpy",
                     "to", "shape", "size", "dim", "ndim", "numel", "dtype", "T", "t", "transpose", "permute",
                     "reshape", "view", "flatten", "unsqueeze", "squeeze", "expand", "contiguous", "clone",
                     "sum", "mean", "max", "min", "argmax", "argmin", "exp", "log", "sqrt", "tanh", "sigmoid",
                     "relu", "abs", "clamp", "pow", "matmul", "mm", "softmax", "log_softmax", "zero_", "fill_",
                     "add_", "mul_", "float", "double", "long", "gather", "masked_fill",
                     "scatter", "scatter_add", "index_add"],
    "torch.nn.functional": ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy", "mse_loss",
                            "binary_cross_entropy", "nll_loss", "linear", "dropout", "conv2d", "max_pool2d"],
    "torch.nn": ["Module", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "Dropout", "Conv2d", "MaxPool2d",
                 "BatchNorm1d", "LayerNorm", "Embedding", "MSELoss", "CrossEntropyLoss"],
    "torch.optim": ["SGD", "Adam", "AdamW", "lr_scheduler"],
    "torch.utils.data": ["DataLoader", "Dataset", "TensorDataset"],
}
# PyTorch's module -> the tinygrad_nm places looked in, the same spelling first
WHERE = {
    "torch": ["tinygrad_nm", "tinygrad_nm.Tensor"],
    "torch.Tensor": ["tinygrad_nm.Tensor"],
    "torch.nn.functional": ["tinygrad_nm.nn.functional", "tinygrad_nm.functional"],
    "torch.nn": ["tinygrad_nm.nn"],
    "torch.optim": ["tinygrad_nm.optim"],
    "torch.utils.data": ["tinygrad_nm.utils.data", "tinygrad_nm.data"],
}


def _resolve(dotted):
    import importlib
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


# names that are values or properties in PyTorch; every other name is something to call
TORCH_VALUES = {"grad", "requires_grad", "shape", "ndim", "dtype", "T", "float32", "float64", "int64", "bool",
                "lr_scheduler"}


def _lookup(torch_module, name):
    """(where tinygrad_nm has `name`, or None; why it does not count, or None)."""
    import inspect
    for place in WHERE[torch_module]:
        owner = _resolve(place)
        if owner is None or not hasattr(owner, name):
            continue
        found, obj = f"{place}.{name}", inspect.getattr_static(owner, name)
        if name not in TORCH_VALUES and (inspect.ismodule(obj) or not callable(getattr(owner, name))):
            kind = "a module" if inspect.ismodule(obj) else "not callable"
            return found, f"{kind}, where PyTorch's is called"
        return found, None
    return None, None


def pytorch_coverage():
    rows, covered, total = [], 0, 0
    for torch_module, names in TORCH.items():
        for name in names:
            total += 1
            found, differs = _lookup(torch_module, name)
            covered += found is not None and differs is None
            cell = "not yet" if found is None else f"`{found}`" + (f" ({differs})" if differs else "")
            rows.append(f"| `{torch_module}.{name}` | {cell} |")
    head = [f"{covered} of the {total} PyTorch names below have a tinygrad_nm counterpart, looked up on the "
            f"package when these pages were built.", "", "| PyTorch | tinygrad_nm |", "|---|---|"]
    return "\n".join(head + rows)


def cli_help_all():
    from tinygrad_nm.cli import SUBCOMMANDS
    return "\n\n".join(f"## `tinygrad-nm {name}`\n\n{cli_help(name)}" for name in SUBCOMMANDS)


_MARKER = re.compile(r"\{\{\s*(cli_help\s+[\w-]+|cli_help_all|pytorch_coverage)\s*\}\}")


def on_page_markdown(markdown, page, config, files):
    def expand(match):
        words = match.group(1).split()
        if words[0] == "cli_help":
            return cli_help(words[1])
        return cli_help_all() if words[0] == "cli_help_all" else pytorch_coverage()
    return _MARKER.sub(expand, markdown)
