"""A griffe extension (mkdocs.yml: mkdocstrings extensions) that keeps index notation in docstrings,
such as `out[i] = a[i][j]`, from being read as Markdown reference links: mkdocs-autorefs would take
`[0][i]` for a cross-reference to an object called `i` and the strict build would fail on it.

A chain of brackets right after a name or a parenthesis (`a[0][i]`, `f(x)[k]`) is index notation,
and its opening brackets are escaped; a real cross-reference (`[text][tinygrad_nm.Tensor]`, after a
space or at the start of a line) is left alone, so a broken one still fails the build. Code spans, fenced blocks and doctest
or indented lines are not touched: Markdown shows them verbatim already.
"""
import re

import griffe

_CODE_SPAN = re.compile(r"(`+).*?\1")
_INDEX = re.compile(r"(?<=[\w)])(?:\[[^\[\]\n]*\])+")  # name[...][...]: a chain of subscripts


def _escape(text):
    return _INDEX.sub(lambda m: m.group(0).replace("[", "\\["), text)


def escape_index_notation(text):
    out, fenced = [], False
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or stripped.startswith(("```", "~~~", ">>>", "...")) or line.startswith("    "):
            out.append(line)
            continue
        pieces, last = [], 0
        for code in _CODE_SPAN.finditer(line):  # escape between code spans, never inside one
            pieces += [_escape(line[last:code.start()]), code.group(0)]
            last = code.end()
        out.append("".join(pieces) + _escape(line[last:]))
    return "\n".join(out)


class IndexNotation(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = escape_index_notation(obj.docstring.value)
