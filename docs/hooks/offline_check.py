"""mkdocs hook: the built site fetches nothing from the network.

After the build, every HTML page is read for elements that a browser loads by
themselves (``<script src>``, ``<link href>``, ``<img src>``, ``<iframe src>``,
``<source src>``, ``<video>``/``<audio src>``) and every CSS file for ``url(...)``
and ``@import``; any of them naming an ``http(s)://`` or protocol-relative
``//`` address stops the build. Links a reader follows (``<a href>``) are allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

try:
    from mkdocs.exceptions import PluginError
except ImportError:  # tests/test_site.py checks the rules where mkdocs is not installed
    PluginError = RuntimeError  # type: ignore[misc,assignment]


_HTML = re.compile(r"<(script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?\b(src|href|data)\s*=\s*"
                   + r"""(["']?)((?:https?:)?//[^"'\s>]+)""", re.IGNORECASE)
_CSS = re.compile(r"""(?:url\(\s*|@import\s+)["']?((?:https?:)?//[^"'\s)]+)""", re.IGNORECASE)


def remote_fetches_html(text: str) -> list[str]:
    """The network addresses the HTML ``text`` makes a browser fetch on load."""
    return [m.group(4) for m in _HTML.finditer(text)]


def remote_fetches_css(text: str) -> list[str]:
    """The network addresses the stylesheet ``text`` imports or loads (fonts, images)."""
    return [m.group(1) for m in _CSS.finditer(text)]


def remote_fetches(site: Path) -> dict[str, list[str]]:
    """``file -> addresses`` for every file of the built ``site`` that fetches from the network."""
    found = {}
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            urls = remote_fetches_html(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".css":
            urls = remote_fetches_css(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        if urls:
            found[path.relative_to(site).as_posix()] = sorted(set(urls))
    return found


def on_post_build(config) -> None:
    found = remote_fetches(Path(config.site_dir))
    if found:
        listing = "\n".join(f"  {name}: {', '.join(urls)}" for name, urls in found.items())
        raise PluginError("offline check: the built site fetches from the network; ship the "
                          f"file in docs/ instead (mkdocs.yml), or drop it:\n{listing}")
