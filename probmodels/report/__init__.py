"""The reports: ``probmodels demo`` (every model on its shipped data) and ``probmodels report``
(one saved fit), each a folder with ``index.html`` and ``index.md`` and the files they show.

The demo is a registry, :data:`REPORTS`: a list of functions
``(out_dir, options) -> ReportSection`` (:data:`ReportFn`). A new model joins
the demo with one such function appended to the list; the function writes
its files into its own sub-folder of ``out_dir`` (a :class:`SectionFolder`)
and returns the Markdown that the pages show for it, with links relative
to ``out_dir``. ``probmodels demo`` (:mod:`probmodels.cli`) runs the registry
and :func:`write_index` writes ``index.md`` and, from the same text,
``index.html`` (one page, inline CSS, no script, no request outside its folder;
the figures are the PNG files beside it).

Sections: :mod:`probmodels.report.ar` (yearly sunspots),
:mod:`probmodels.report.gmm` (Old Faithful), :mod:`probmodels.report.vae`
(binarized digits), :mod:`probmodels.report.ddpm` (two moons). Each module
also says how any fit of its model is shown (``describe`` and ``figures``);
:func:`fit_section` builds the section of one saved fit from them
(:data:`PAGES`), with the fit's ``summary()`` table and the verdict on its
diagnostics (:func:`fit_verdict`).

The report sits on top of the package: it imports the models, and no module
below it imports the report.
"""

from __future__ import annotations

from probmodels.report import ar, ddpm, gmm, vae
from probmodels.report._base import (
    Figure,
    ReportFn,
    ReportOptions,
    ReportSection,
    SectionFolder,
    Verdict,
    fit_verdict,
    markdown_table,
    save_figure,
    summary_markdown,
    write_figures,
)
from probmodels.report._html import markdown_to_html, render_page
from probmodels.report.page import PAGES, FitPage, fit_section, write_index

__all__ = [
    # the registry
    "REPORTS",
    "ReportFn",
    "ReportOptions",
    "ReportSection",
    # the pages
    "PAGES",
    "FitPage",
    "fit_section",
    "markdown_to_html",
    "render_page",
    "write_index",
    # helpers for sections
    "Figure",
    "SectionFolder",
    "Verdict",
    "fit_verdict",
    "markdown_table",
    "save_figure",
    "summary_markdown",
    "write_figures",
]

#: The demo's sections, in report order. Append a :data:`ReportFn` to add a model.
REPORTS: list[ReportFn] = [ar.section, gmm.section, vae.section, ddpm.section]
