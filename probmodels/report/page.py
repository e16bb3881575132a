"""The report page of a saved fit (``probmodels report``) and the index files of every report.

:func:`write_index` writes a report folder's two pages from one text: ``index.md``
(the sections' Markdown as it is) and ``index.html`` (the same, through
:func:`probmodels.report._html.render_page`: inline CSS, no script, figures as the
PNG files beside it). ``probmodels demo`` and ``probmodels report`` both call it.

:func:`fit_section` is the section of any one fit: the data in words, the fit's
``summary()`` table, the verdict on its diagnostics (:func:`~probmodels.report._base.fit_verdict`),
its figures with the call under each that draws it, and the command that makes the
page again. Which figures a fit gets is its model's ``figures`` function
(:data:`PAGES`, keyed by the result class's ``model_name``).
"""

from __future__ import annotations

import datetime
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probmodels.report import ar, ddpm, gmm, vae
from probmodels.report._base import (
    Figure,
    ReportSection,
    SectionFolder,
    Verdict,
    fit_verdict,
    summary_markdown,
    write_figures,
)
from probmodels.report._html import render_page

__all__ = ["PAGES", "FitPage", "fit_section", "versions", "write_index"]


@dataclass(frozen=True)
class FitPage:
    """How one model's fits are shown by :func:`fit_section`.

    Attributes
    ----------
    folder : str
        The name of the section's sub-folder (``ar``, ``gmm``, ...).
    title : str
        The model's name in the section heading.
    describe : callable
        ``describe(fit) -> str``: the data, in Markdown.
    figures : callable
        ``figures(fit) -> list of Figure``.
    verdict : callable
        ``verdict(fit) -> Verdict``.
    """

    folder: str
    title: str
    describe: Callable[[Any], str]
    figures: Callable[[Any], list[Figure]]
    verdict: Callable[[Any], Verdict] = fit_verdict


#: The page of each model's fits, by the ``model_name`` its result class registers.
PAGES: dict[str, FitPage] = {
    "BayesianAR": FitPage("ar", "Bayesian AR(p)", ar.describe, ar.figures),
    "BayesianAR.fit_many": FitPage(
        "ar", "Bayesian AR(p) of many series", ar.describe_many, ar.figures_many, ar.verdict_many
    ),
    "GaussianMixture": FitPage("gmm", "Gaussian mixture", gmm.describe, gmm.figures),
    "VAE": FitPage("vae", "VAE", vae.describe, vae.figures),
    "DDPM": FitPage("ddpm", "DDPM", ddpm.describe, ddpm.figures),
}


def versions() -> str:
    """The versions a report was made with, one Markdown line.

    Returns
    -------
    str
        probmodels, torch, pyro and arviz versions.
    """
    import pyro
    import torch

    import probmodels

    return (
        f"probmodels {probmodels.__version__}, torch {torch.__version__}, pyro "
        f"{pyro.__version__}, arviz {importlib.metadata.version('arviz')}."
    )


def fit_section(fit: Any, out_dir: Path, *, source: str, command: str) -> ReportSection:
    """The report section of one fit, its figures written into a sub-folder of ``out_dir``.

    Parameters
    ----------
    fit : probmodels.results.FitResult
        A fit of any model of :data:`PAGES` (as :func:`probmodels.load` returns it).
    out_dir : pathlib.Path
        The report folder (it exists); the figures go into ``out_dir / PAGES[...].folder``.
    source : str
        Where the fit came from, as the reader should load it (a file path).
    command : str
        The command that writes this page again.

    Returns
    -------
    ReportSection
        Its Markdown and the files it wrote, relative to ``out_dir``.

    Raises
    ------
    ValueError
        If the fit's model has no page in :data:`PAGES`.
    """
    page = PAGES.get(type(fit).model_name)
    if page is None:
        raise ValueError(
            f"no report page for fits of model {type(fit).model_name!r}; pages "
            f"exist for {sorted(PAGES)}."
        )
    folder = SectionFolder(out_dir, page.folder)
    figures = write_figures(folder, page.figures(fit))
    text = f"""\
{page.describe(fit)}

Fit: `{fit!r}`, loaded with `fit = probmodels.load({source!r})`.

{summary_markdown(fit)}

{page.verdict(fit).markdown()}

### Figures

Each figure is drawn by the call under it; all of them, and this page, again:

```
{command}
```

{figures}
"""
    return ReportSection(
        title=f"{page.title}: {Path(source).name}", markdown=text, files=folder.files
    )


def write_index(root: Path, title: str, intro: str, sections: Sequence[ReportSection]) -> Path:
    """Write ``index.md`` and ``index.html`` of a report folder from the same sections.

    Parameters
    ----------
    root : pathlib.Path
        The report folder; the sections' links are relative to it.
    title : str
        The page title (plain text).
    intro : str
        Markdown under the title: the command, the time, the versions.
    sections : sequence of ReportSection
        The sections, in page order.

    Returns
    -------
    pathlib.Path
        The path of ``index.html``.
    """
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = f"{intro.strip()}\n\nWritten {stamp}; {versions()}"
    body = "\n\n".join(f"## {s.title}\n\n{s.markdown.strip()}" for s in sections)
    (root / "index.md").write_text(f"# {title}\n\n{intro}\n\n{body}\n", encoding="utf-8")
    page = render_page(title, intro, [(s.title, s.markdown) for s in sections])
    (root / "index.html").write_text(page, encoding="utf-8")
    return root / "index.html"
