"""mkdocs hook: the gallery page and its figures, drawn by the build.

Each script ``examples/gallery/*.py`` (a quick version of a script in ``examples/``)
runs in its own Python process, in a fresh temporary folder that is also its
``sys.argv[1]``, with matplotlib's Agg backend and one thread per process; up to
two run at once. Every PNG a script writes there becomes a file of the built site
(``gallery/NAME.png``), and the page ``gallery.md`` is generated: per script its
docstring, its figures and its source. Nothing is written to the checkout, and
the figures are never committed.

A script that fails, writes no figure, takes longer than ``TIMEOUT_S`` or prints
anything to stderr (a warning, say) stops the build with the script's name and
its output: ``mkdocs build --strict`` must stay free of warnings.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

try:
    from mkdocs.exceptions import PluginError
except ImportError:  # tests/test_site.py checks the hook's rules where mkdocs is not installed
    PluginError = RuntimeError  # type: ignore[misc,assignment]

log = logging.getLogger("mkdocs.hooks.gallery")

#: the page the hook generates (listed in mkdocs.yml's nav)
PAGE = "gallery.md"
#: seconds one script may run
TIMEOUT_S = 300
#: scripts run at once (CI has 2 cores)
WORKERS = 2


@dataclass
class Drawn:
    """What one gallery script produced."""

    script: Path
    figures: dict[str, bytes]   # file name -> PNG bytes
    seconds: float


def gallery_scripts(root: Path) -> list[Path]:
    """The gallery scripts under ``root / "examples" / "gallery"``, by name."""
    return sorted((root / "examples" / "gallery").glob("*.py"))


def run_script(script: Path, root: Path, timeout: float = TIMEOUT_S) -> Drawn:
    """Run ``script`` in a new temporary folder and read back the PNGs it wrote there."""
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="gallery-") as folder:
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(script), folder], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise PluginError(f"gallery: {script.name} ran past {timeout:.0f} s; keep gallery "
                              f"scripts to a few seconds (shorter fits).") from exc
        seconds = time.perf_counter() - start
        if done.returncode != 0 or done.stderr.strip():
            raise PluginError(
                f"gallery: {script.name} "
                + (f"exited with code {done.returncode}" if done.returncode else "wrote to stderr")
                + f"; a gallery script must run cleanly. Its stderr:\n{done.stderr[-4000:]}")
        figures = {p.name: p.read_bytes() for p in sorted(Path(folder).glob("*.png"))}
    if not figures:
        raise PluginError(f"gallery: {script.name} wrote no PNG into the folder given as "
                          f"sys.argv[1]; save its figures there (fig.savefig(out / 'name.png')).")
    return Drawn(script, figures, seconds)


def _docstring(source: str, name: str) -> tuple[str, str]:
    """The script's title (its docstring's first line) and the rest of the docstring."""
    doc = ast.get_docstring(ast.parse(source))
    if not doc:
        raise PluginError(f"gallery: {name} has no module docstring; its first line is the "
                          f"section title on the gallery page.")
    title, _, body = doc.partition("\n")
    return title.strip().rstrip("."), body.strip()


def gallery_markdown(drawn: list[Drawn], root: Path) -> str:
    """The gallery page: per script its title, text, figures and source."""
    lines = [
        "# Gallery",
        "",
        "Each figure below is drawn by `make docs` (`mkdocs build`), which runs the",
        "script shown under it; the figures are not stored in the repository. The",
        "scripts are quick versions of the ones in `examples/` (shorter training,",
        "smaller data), so the pictures of the neural models are rougher than a full",
        "run's. Every plot is a function of `probmodels.plots` that takes `ax=` and",
        "returns the Axes (see the [API reference](api/plots.md)).",
        "",
    ]
    for d in drawn:
        source = d.script.read_text(encoding="utf-8")
        title, body = _docstring(source, d.script.name)
        rel = d.script.relative_to(root).as_posix()
        lines += [f"## {title}", "", body, ""]
        for name in d.figures:
            lines += [f"![{name}](gallery/{name})", ""]
        lines += [f"`{rel}`, drawn in {d.seconds:.1f} s by the build:", "",
                  f'```python title="{rel}"', source.rstrip("\n"), "```", ""]
    return "\n".join(lines)


def on_files(files, config):
    """Run the gallery scripts and add their figures and the gallery page to the site's files."""
    from mkdocs.structure.files import File

    root = Path(config.config_file_path).resolve().parent
    scripts = gallery_scripts(root)
    if not scripts:
        raise PluginError(f"gallery: no scripts in {root / 'docs' / 'gallery'}.")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        drawn = list(pool.map(lambda s: run_script(s, root), scripts))
    for d in drawn:
        log.info(f"gallery: {d.script.name}: {len(d.figures)} figure(s) in {d.seconds:.1f} s")
        for name, data in d.figures.items():
            files.append(File.generated(config, f"gallery/{name}", content=data))
    log.info(f"gallery: {len(scripts)} script(s) in {time.perf_counter() - start:.1f} s")
    files.append(File.generated(config, PAGE, content=gallery_markdown(drawn, root)))
    return files
