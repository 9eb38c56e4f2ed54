"""The documentation tooling in docs/: index notation in docstrings is not taken for a link (the
strict build would fail on it), while a real cross-reference is left for the build to check; the
API reference finds every public module by itself. (`bash dev.sh test` builds the docs strictly.)"""
import os
import sys

import pytest

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


@pytest.fixture(scope="module")
def docs_tools():
    pytest.importorskip("griffe", reason="the docs tools come with the test (and docs) extra")
    pytest.importorskip("mkdocs", reason="the docs tools come with the test (and docs) extra")
    sys.path.insert(0, DOCS)
    try:
        import griffe_indexing
        import hooks
        yield griffe_indexing, hooks
    finally:
        sys.path.remove(DOCS)


@pytest.mark.parametrize("text,expected", [
    ("out[i] = fn(inputs[0][i], p)", "out\\[i] = fn(inputs\\[0]\\[i], p)"),
    ("f(x)[k]", "f(x)\\[k]"),
    ("see [`Tensor`][tinygrad_nm.Tensor] and [Tensor][tinygrad_nm.Tensor]",
     "see [`Tensor`][tinygrad_nm.Tensor] and [Tensor][tinygrad_nm.Tensor]"),  # links: left to be checked
    ("code `a[0][i]` stays", "code `a[0][i]` stays"),
    ("    a[0][i]  (an indented block)", "    a[0][i]  (an indented block)"),
    (">>> a[0][i]", ">>> a[0][i]"),
])
def test_index_notation_is_escaped_and_links_are_not(docs_tools, text, expected):
    griffe_indexing, _ = docs_tools
    assert griffe_indexing.escape_index_notation(text) == expected


def test_fenced_blocks_are_left_alone(docs_tools):
    griffe_indexing, _ = docs_tools
    text = "before x[1]\n```python\ny = a[0][i]\n```\nafter z[2]"
    assert griffe_indexing.escape_index_notation(text) == "before x\\[1]\n```python\ny = a[0][i]\n```\nafter z\\[2]"


def test_reference_lists_every_public_module(docs_tools):
    _, hooks = docs_tools
    modules = hooks.public_modules()
    assert {"tinygrad_nm", "tinygrad_nm.tensor", "tinygrad_nm.napkin", "tinygrad_nm.benchmarks.plugin"} <= set(modules)
    assert not [m for m in modules if any(part.startswith("_") for part in m.split("."))]
    assert "tinygrad_nm.benchmarks.test_napkin_kernels" not in modules


def test_cli_help_and_coverage_are_read_from_the_package(docs_tools):
    _, hooks = docs_tools
    assert "--no-profile" in hooks.cli_help("train") and "--suite" in hooks.cli_help("bench")
    with pytest.raises(ValueError, match="no such subcommand"):
        hooks.cli_help("trian")
    table = hooks.pytorch_coverage()
    assert "| `torch.Tensor.backward` | `tinygrad_nm.Tensor.backward` |" in table
