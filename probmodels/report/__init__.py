"""The demo report: one section per model, tied together by ``index.md``.

The demo is a registry, :data:`REPORTS`: a list of functions
``(out_dir, options) -> ReportSection`` (:data:`ReportFn`). A new model joins
the demo with one such function appended to the list; the function writes
its files into its own sub-folder of ``out_dir`` (a :class:`SectionFolder`)
and returns the Markdown that ``index.md`` shows for it, with links relative
to ``out_dir``. ``probmodels demo`` (:mod:`probmodels.cli`) runs the registry.

Sections: :mod:`probmodels.report.ar` (yearly sunspots),
:mod:`probmodels.report.gmm` (Old Faithful), :mod:`probmodels.report.vae`
(binarized digits), :mod:`probmodels.report.ddpm` (two moons).

The report sits on top of the package: it imports the models, and no module
below it imports the report.
"""

from __future__ import annotations

from probmodels.report import ar, ddpm, gmm, vae
from probmodels.report._base import (ReportFn, ReportOptions, ReportSection, SectionFolder,
                                     markdown_table, save_figure)

__all__ = [
    # the registry
    "REPORTS",
    "ReportFn",
    "ReportOptions",
    "ReportSection",
    # helpers for sections
    "SectionFolder",
    "markdown_table",
    "save_figure",
]

#: The demo's sections, in report order. Append a :data:`ReportFn` to add a model.
REPORTS: list[ReportFn] = [ar.section, gmm.section, vae.section, ddpm.section]
