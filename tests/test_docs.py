"""Every ```python block of README.md and docs/*.md runs as written.

The blocks of one page run in order in one namespace, as a reader pasting them
into one session would, in a fresh empty working folder. A page fails when a
block raises, when it leaves a file in that working folder (a reader's own
folder would keep it), or when it adds, removes or changes a file of the
checkout. Blocks are kept small and fast by construction (the draws, steps and
epochs they use are written in them), so the whole test takes about a minute
and a half on a 2-core machine.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: folders of the checkout that tools (not doc blocks) write to while the tests run (site/: make docs)
_SKIPPED_DIRS = {".git", ".venv", ".venv-arviz1", "__pycache__", ".pytest_cache", "site"}
#: a fenced block tagged exactly ``python``; the closing fence is the first line of backticks
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number of the opening fence, code)`` of every ```python block of ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def _checkout_files() -> dict[str, tuple[int, int]]:
    """Every file of the checkout (outside tool folders): relative path -> (size, mtime in ns)."""
    files = {}
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in names:
            path = Path(folder) / name
            stat = path.stat()
            files[str(path.relative_to(ROOT))] = (stat.st_size, stat.st_mtime_ns)
    return files


def test_block_extraction_keeps_order_lines_and_only_python_fences():
    text = "a\n```python\nx = 1\n```\n```\nnot python\n```\n```pycon\n>>> no\n```\n\n```python\ny = x\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n"), (12, "y = x\n")]


def test_every_page_with_code_is_collected():
    with_code = [p.name for p in PAGES if python_blocks(p.read_text(encoding="utf-8"))]
    assert {"README.md", "index.md", "ar.md", "many_series.md", "arviz.md", "ddpm.md", "gmm.md",
            "nn.md", "vae.md"} <= set(with_code)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_as_written(page, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")  # figures are drawn, never shown
    import matplotlib.pyplot as plt
    import pyro

    blocks = python_blocks(page.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page.name} has no python block")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    pyro.clear_param_store()
    before = _checkout_files()
    namespace: dict = {"__name__": "__main__"}
    start = time.perf_counter()
    try:
        for line, code in blocks:
            where = f"{page.relative_to(ROOT)}:{line}"
            try:
                # a reader sees warnings but is not stopped by them
                with warnings.catch_warnings():
                    warnings.simplefilter("default")
                    exec(compile(code, where, "exec"), namespace)
            except BaseException as exc:  # noqa: BLE001 - a SystemExit in a block fails too
                pytest.fail(f"the block at {where} raised {type(exc).__name__}: {exc}")
            left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
            assert not left, f"the block at {where} left {left} in the working folder"
    finally:
        plt.close("all")
        pyro.clear_param_store()
    after = _checkout_files()
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), (
        f"{page.name} touched the checkout: added {added}, removed {removed}, changed {changed}")
    with capsys.disabled():
        print(f"\n{page.name}: {len(blocks)} block(s) in {time.perf_counter() - start:.1f} s", end="")
