"""The HTML page of a report: the sections' Markdown as HTML, with inline CSS and nothing fetched.

The sections write Markdown (``index.md`` shows it as it is); :func:`markdown_to_html`
turns the subset they use into HTML, so that both pages come from one text:

- ``### heading`` and ``#### heading``;
- pipe tables (a header row, a ``|---|`` row, body rows);
- lists of ``- item`` lines (an indented line continues the item above);
- fenced code blocks (three backticks);
- ``> text`` verdict lines (a ``<div class="verdict">``, marked ``warn`` when the
  text starts with **look again**);
- a paragraph that is one image, optionally followed by one line of inline code,
  becomes a ``<figure>`` (the image's text and the code as its caption);
- other paragraphs; inline: ```code```, ``**bold**``, ``![alt](src)``, ``[text](href)``.

Everything else is text: ``<``, ``>`` and ``&`` are escaped before any markup is
added, so no text of a section (a warning message, a column name) can become a
tag. The page has no script and links nothing outside its folder; images are the
PNG files beside it, addressed relative to it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

__all__ = ["CSS", "markdown_to_html", "render_page"]

#: the page's only style sheet, inline in its ``<head>``
CSS = """\
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;
 max-width:1100px;margin:0 auto;padding:1.5em 2em 4em;background:#fff}
h1{font-size:1.8em;margin:.2em 0 .4em}
h2{font-size:1.45em;border-bottom:2px solid #d6dde4;padding-bottom:.2em;margin-top:2.2em}
h3{font-size:1.15em;margin-top:1.6em}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f2f4f7;
 padding:.05em .3em;border-radius:3px}
pre{background:#f2f4f7;padding:.7em 1em;border-radius:4px;overflow-x:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}
th,td{border:1px solid #d6dde4;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#eef2f6}
tbody tr:nth-child(even){background:#f8fafc}
.verdict{border-left:5px solid #2e8b57;background:#eef8f2;padding:.6em 1em;margin:1em 0}
.verdict.warn{border-left-color:#d08a00;background:#fff6e5}
figure{margin:1.2em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #e3e8ee}
figcaption{font-size:13px;color:#4a5561;margin-top:.3em}
nav ul{columns:2}
.meta{color:#4a5561}
"""

_TOKEN = re.compile(r"`([^`]+)`")
# the text in brackets may hold balanced brackets itself ("E[x | z]"), as in CommonMark
_TEXT = r"((?:[^\[\]]|\[[^\[\]]*\])*)"
_IMAGE = re.compile(r"!\[" + _TEXT + r"\]\(([^)\s]+)\)")
_LINK = re.compile(r"\[" + _TEXT + r"\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape ``text`` and add the inline markup: code, images, links, bold."""
    pieces = []
    # code spans first: their content is shown as written, never marked up
    for i, part in enumerate(_TOKEN.split(text)):
        if i % 2:
            pieces.append(f"<code>{html.escape(part, quote=False)}</code>")
            continue
        part = html.escape(part, quote=False)
        part = _IMAGE.sub(
            lambda m: (
                f'<img src="{m[2].replace(chr(34), "%22")}" alt="{m[1].replace(chr(34), "&quot;")}">'
            ),
            part,
        )
        part = _LINK.sub(lambda m: f'<a href="{m[2]}">{m[1]}</a>', part)
        pieces.append(_BOLD.sub(r"<strong>\1</strong>", part))
    return "".join(pieces)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    header, body = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>\n" for row in body
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"


def _paragraph(lines: list[str]) -> str:
    first = _IMAGE.fullmatch(lines[0].strip())
    code = lines[1].strip() if len(lines) == 2 else ""
    if first and (len(lines) == 1 or (code.startswith("`") and code.endswith("`"))):
        caption = _inline(first[1]) + (f"<br>{_inline(code)}" if code else "")
        return (
            f'<figure><img src="{html.escape(first[2])}" alt="{html.escape(first[1])}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    joined = " ".join(lines)
    if not _IMAGE.sub("", joined).strip():
        return "".join(_paragraph([m[0]]) for m in _IMAGE.finditer(joined))
    return f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>"


def markdown_to_html(text: str) -> str:
    """The HTML of ``text``, Markdown of the subset the report sections write.

    Parameters
    ----------
    text : str
        Markdown: headings ``###``/``####``, pipe tables, ``-`` lists, fenced code,
        ``>`` verdict lines, figures and paragraphs (see the module docstring).

    Returns
    -------
    str
        HTML elements (no ``<html>`` or ``<body>``), every text escaped.
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            code = "\n".join(lines[i + 1 : j])
            out.append(f"<pre><code>{html.escape(code, quote=False)}</code></pre>")
            i = j + 1
        elif stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            level = min(max(level, 2), 4)
            out.append(f"<h{level}>{_inline(stripped.lstrip('#').strip())}</h{level}>")
            i += 1
        elif stripped.startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
        elif stripped.startswith("- "):
            items: list[str] = []
            while i < len(lines) and (
                lines[i].strip().startswith("- ")
                or (items and lines[i].startswith("  ") and lines[i].strip())
            ):
                if lines[i].strip().startswith("- "):
                    items.append(lines[i].strip()[2:])
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>\n" + "".join(f"<li>{_inline(t)}</li>\n" for t in items) + "</ul>")
        elif stripped.startswith(">"):
            j = i
            while j < len(lines) and lines[j].strip().startswith(">"):
                j += 1
            body = " ".join(line.strip()[1:].strip() for line in lines[i:j])
            warn = " warn" if body.lower().startswith("**look again") else ""
            out.append(f'<div class="verdict{warn}">{_inline(body)}</div>')
            i = j
        else:
            j = i
            while (
                j < len(lines)
                and lines[j].strip()
                and not lines[j].strip().startswith(("#", "|", "- ", ">", "```"))
            ):
                j += 1
            out.append(_paragraph(lines[i:j]))
            i = j
    return "\n".join(out)


def render_page(title: str, intro: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole HTML page: ``title``, the ``intro`` and one ``<section>`` per section.

    Parameters
    ----------
    title : str
        The page's title and top heading (plain text).
    intro : str
        Markdown shown under the heading (the command, versions, the contents).
    sections : sequence of (str, str)
        ``(title, markdown)`` of each section, in page order.

    Returns
    -------
    str
        The document, with its CSS inline, no script and no external reference.
    """
    parts = []
    for k, (heading, body) in enumerate(sections, 1):
        parts.append(
            f'<section id="section-{k}">\n<h2>{_inline(heading)}</h2>\n'
            f"{markdown_to_html(body)}\n</section>"
        )
    toc = "".join(
        f'<li><a href="#section-{k}">{_inline(h)}</a></li>' for k, (h, _) in enumerate(sections, 1)
    )
    nav = f"<nav><ul>{toc}</ul></nav>" if len(sections) > 1 else ""
    joined = "\n".join(parts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<div class="meta">
{markdown_to_html(intro)}
</div>
{nav}
{joined}
</body>
</html>
"""
