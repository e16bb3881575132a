"""A griffe extension: the package's docstrings are numpydoc with Sphinx roles; show them in Markdown.

Sphinx cross-reference roles (``:func:`~probmodels.load```) become inline code
(``load``, the last component where the target starts with ``~``), ``:math:`x```
becomes inline code holding the TeX, and a ``.. math::`` directive line is dropped,
leaving its indented body to render as a code block (the site loads no
MathJax, so that it works offline), and an RST simple table (``===  ===`` rules)
is fenced as a code block, keeping its columns. Only the rendered text changes; the source
docstrings (and ``help()``) are untouched.
"""

from __future__ import annotations

import re

import griffe

#: ``:role:`target``` or ``:py:role:`~target```
_ROLE = re.compile(r":(?:py:)?(?:meth|func|class|mod|attr|data|obj|exc|const):`(~?)([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^([ \t]*)\.\. math::[ \t]*$", re.MULTILINE)
#: a rule of an RST simple table: two or more runs of ``=`` separated by spaces
_TABLE_RULE = re.compile(r"^[ \t]*=+(?:[ \t]+=+)+[ \t]*$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _preformat_tables(text: str) -> str:
    """RST simple tables (rows framed by ``===  ===`` rules) fenced as ``text`` code blocks at
    their own indentation (so that they survive the dedent of a section's description), so
    that their columns stay aligned."""
    out, rules, lines = [], 0, text.split("\n")
    for line in lines:
        if _TABLE_RULE.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            if rules == 0:
                if out and out[-1].strip():
                    out.append("")
                out.append(indent + "```text")
            rules += 1
        out.append(line)
        if rules == 3:  # top rule, header rule, bottom rule
            out.append(indent + "```")
            rules = 0
    return "\n".join(out)


def markdown_docstring(text: str) -> str:
    """``text`` with its Sphinx roles and math directives written as Markdown code, and its
    RST simple tables preformatted."""
    text = _ROLE.sub(_role, text)
    text = _MATH.sub(lambda m: f"`{m.group(1)}`", text)
    return _preformat_tables(_MATH_BLOCK.sub("", text))


class SphinxRolesToMarkdown(griffe.Extension):
    """Rewrite each object's docstring with :func:`markdown_docstring` as griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
