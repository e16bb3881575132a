"""The docs site's sources: every public name in the API reference, every page in the nav,
and the gallery hook's checks (docs/hooks/gallery.py).

These read mkdocs.yml and docs/ without building the site (``make docs`` builds it, in
about a minute and a half, running the gallery scripts).
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
#: pages the build generates (docs/hooks/gallery.py), so absent from docs/
GENERATED = {"gallery.md"}
#: ``::: dotted.path`` and its indented options block
_DIRECTIVE = re.compile(r"^::: *([\w.]+)[ \t]*\n((?:[ \t]+.*\n)*)", re.MULTILINE)
#: the modules whose ``__all__`` the reference must cover, besides ``probmodels`` itself
MODULES = ["probmodels.nn", "probmodels.plots", "probmodels.datasets", "probmodels.metrics",
           "probmodels.export"]


def _import(path: str):
    """The object at the dotted ``path`` (a module, or an attribute of the longest
    importable module prefix)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def directives(text: str) -> list[tuple[str, str]]:
    """``(path, options text)`` of every mkdocstrings ``:::`` directive of ``text``."""
    return [(m.group(1), m.group(2)) for m in _DIRECTIVE.finditer(text)]


def documented() -> tuple[dict[int, str], set[str]]:
    """What the API pages render: ``id(object) -> path`` of every object directive, and
    the modules rendered with their members (``members: false`` renders none)."""
    objects, modules = {}, set()
    for page in sorted(API.glob("*.md")):
        for path, options in directives(page.read_text(encoding="utf-8")):
            obj = _import(path)
            objects[id(obj)] = path
            if isinstance(obj, type(sys)) and not re.search(r"^\s*members:\s*false", options, re.M):
                modules.add(path)
                # a module page renders the members its __all__ lists
                public = getattr(obj, "__all__", None)
                assert public is not None, f"{page.name}: '::: {path}' renders a module without __all__"
                objects.update({id(getattr(obj, n)): f"{path}.{n}" for n in public})
    return objects, modules


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return []


def nav_pages() -> list[str]:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return _nav_pages(config["nav"])


def test_directive_parsing_reads_paths_and_options():
    text = "# t\n\n::: a.b\n    options:\n      members: false\n\ntext\n::: c\n"
    assert directives(text) == [("a.b", "    options:\n      members: false\n"), ("c", "")]


def test_every_public_name_is_in_the_api_reference():
    """Each name of ``probmodels.__all__`` and of the documented modules' ``__all__`` is
    rendered: by a directive on that very object, or as a member of a rendered module."""
    import probmodels

    objects, _ = documented()
    missing = []
    for module_name in ["probmodels", *MODULES]:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name == "__version__":
                continue
            obj = getattr(module, name)
            if id(obj) in objects:
                continue
            missing.append(f"{module_name}.{name}")
    assert not missing, f"not in docs/api/*.md (add a '::: path' directive): {missing}"
    assert probmodels.__all__  # the lazy names resolved above


def test_every_result_class_is_in_the_api_reference():
    import probmodels.models  # noqa: F401 - registers every model's result class
    from probmodels.results import _REGISTRY, FitResult

    objects, _ = documented()
    # the package's own (other tests register test-only result classes in the same registry)
    classes = {FitResult, *(c for c in _REGISTRY.values() if c.__module__.startswith("probmodels."))}
    missing = sorted(c.__qualname__ for c in classes if id(c) not in objects)
    assert not missing, f"result classes missing from docs/api/results.md: {missing}"


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists():
    pages = nav_pages()
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert len(pages) == len(set(pages)), f"pages listed twice in the nav: {pages}"
    assert not on_disk - set(pages), f"pages missing from mkdocs.yml's nav: {sorted(on_disk - set(pages))}"
    absent = set(pages) - on_disk - GENERATED
    assert not absent, f"nav pages with no file under docs/: {sorted(absent)}"


def test_every_public_name_has_a_docstring():
    """mkdocstrings leaves out members without a docstring, so a module page would skip them."""
    griffe = pytest.importorskip("griffe")
    loaded = griffe.load("probmodels", search_paths=[str(ROOT)], docstring_parser="numpy")
    bare = []
    for module_name in MODULES:
        module = loaded[module_name.removeprefix("probmodels.")]
        for name in importlib.import_module(module_name).__all__:
            member = module[name]
            if not (member.docstring and member.docstring.value.strip()):
                bare.append(f"{module_name}.{name}")
    assert not bare, f"public names without a docstring (the API page would leave them out): {bare}"


# ------------------------------------------------------------------ the gallery hook


@pytest.fixture(scope="module")
def gallery():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        yield importlib.import_module("gallery")
    finally:
        sys.path.remove(str(DOCS / "hooks"))


def _script(tmp_path, body: str) -> Path:
    path = tmp_path / "example.py"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def test_gallery_reads_back_the_figures_a_script_writes(gallery, tmp_path):
    png = b"\x89PNG\r\n\x1a\n fake"
    script = _script(tmp_path, f'''
        """A title.

        Some text."""
        import sys
        from pathlib import Path
        Path(sys.argv[1], "b.png").write_bytes({png!r})
        Path(sys.argv[1], "a.png").write_bytes({png!r})
        Path(sys.argv[1], "notes.txt").write_text("not a figure")
        ''')
    drawn = gallery.run_script(script, ROOT, timeout=60)
    assert list(drawn.figures) == ["a.png", "b.png"] and drawn.figures["a.png"] == png
    page = gallery.gallery_markdown([drawn], tmp_path)
    assert "## A title\n\nSome text.\n" in page
    assert "![a.png](gallery/a.png)" in page and "![b.png](gallery/b.png)" in page
    assert '```python title="example.py"\n"""A title.' in page   # the whole source


@pytest.mark.parametrize("body, match", [
    ("import sys\nsys.exit(3)\n", "exited with code 3"),
    ("import warnings\nwarnings.warn('careful')\n", "wrote to stderr(.|\n)*careful"),
    ("x = 1\n", "wrote no PNG"),
])
def test_gallery_refuses_a_script_that_fails_warns_or_draws_nothing(gallery, tmp_path, body, match):
    with pytest.raises(Exception, match=match):
        gallery.run_script(_script(tmp_path, body), ROOT, timeout=60)


def test_gallery_refuses_a_script_without_a_title(gallery, tmp_path):
    script = _script(tmp_path, "import sys\nfrom pathlib import Path\n"
                               "Path(sys.argv[1], 'a.png').write_bytes(b'x')\n")
    drawn = gallery.run_script(script, ROOT, timeout=60)
    with pytest.raises(Exception, match="no module docstring"):
        gallery.gallery_markdown([drawn], tmp_path)


def test_gallery_has_a_script_per_model(gallery):
    names = [p.name for p in gallery.gallery_scripts(ROOT)]
    assert names == ["ar_sunspots.py", "ddpm_moons.py", "gmm_faithful.py", "vae_digits.py"]


# ------------------------------------------------------------ the offline check hook


@pytest.fixture(scope="module")
def offline():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        yield importlib.import_module("offline_check")
    finally:
        sys.path.remove(str(DOCS / "hooks"))


def test_offline_check_finds_what_a_page_fetches_and_not_what_it_links(offline):
    page = ('<head><script src="https://unpkg.com/iframe-worker/shim"></script>'
            '<link rel="stylesheet" href="//fonts.example/css?family=Roboto">'
            '<script src="assets/javascripts/bundle.js"></script></head>'
            "<body><a href='https://pyro.ai'>Pyro</a><img alt=x src='http://host/a.png'>"
            '<img src="gallery/ar_fan_chart.png"></body>')
    assert offline.remote_fetches_html(page) == [
        "https://unpkg.com/iframe-worker/shim", "//fonts.example/css?family=Roboto", "http://host/a.png"]
    css = ('@import "https://fonts.example/roboto.css"; .a{background:url(../img/x.png)} '
           ".b{src:url('https://cdn.example/f.woff2')}")
    assert offline.remote_fetches_css(css) == ["https://fonts.example/roboto.css",
                                               "https://cdn.example/f.woff2"]


def test_offline_check_stops_a_build_whose_pages_fetch_from_the_network(offline, tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "index.html").write_text('<script src="assets/x.js"></script>', encoding="utf-8")
    (tmp_path / "api" / "a.html").write_text('<script src="https://cdn.example/x.js"></script>',
                                             encoding="utf-8")
    assert offline.remote_fetches(tmp_path) == {"api/a.html": ["https://cdn.example/x.js"]}

    class Config:
        site_dir = str(tmp_path)

    with pytest.raises(Exception, match=r"fetches from the network(.|\n)*api/a.html: https://cdn"):
        offline.on_post_build(Config())
    (tmp_path / "api" / "a.html").unlink()
    offline.on_post_build(Config())   # nothing remote left: passes


def test_mkdocs_config_keeps_the_site_offline():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["font"] is False          # material would link Google Fonts
    hooks = config["hooks"]
    assert "docs/hooks/offline_check.py" in hooks and "docs/hooks/gallery.py" in hooks
    polyfills = config["extra"]["polyfills"]          # else the offline plugin adds a CDN copy
    assert any("iframe-worker" in p for p in polyfills)
    assert all((DOCS / p).is_file() for p in polyfills)


# ------------------------------------------------- numpydoc with Sphinx roles, as Markdown


def test_sphinx_roles_math_and_tables_become_markdown():
    pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        rst = importlib.import_module("griffe_rst")
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    text = ("See :func:`~probmodels.plots.plot_loss`, :class:`probmodels.results.FitResult` and "
            ":math:`\\sigma^2`.\n\n.. math::\n\n    y = x\n\nReturns\n-------\nnn.Module\n"
            "    ====  ====\n    a     b\n    ====  ====\n    1     2\n    ====  ====\n    After.")
    assert rst.markdown_docstring(text) == (
        "See `plot_loss`, `probmodels.results.FitResult` and `\\sigma^2`.\n\n\n\n    y = x\n\n"
        "Returns\n-------\nnn.Module\n\n    ```text\n    ====  ====\n    a     b\n    ====  ====\n"
        "    1     2\n    ====  ====\n    ```\n    After.")
