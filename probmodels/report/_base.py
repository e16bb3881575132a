"""What every demo section shares: its options, its result, its folder, figures and tables.

Kept apart from ``probmodels/report/__init__.py`` so that the section modules
import these helpers without importing the registry that imports them (no
import cycle); ``probmodels.report`` re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ReportFn", "ReportOptions", "ReportSection", "SectionFolder", "markdown_table",
           "save_figure"]

#: dots per inch of every demo PNG: an 8 x 4 inch figure is 880 x 440 pixels,
#: sharp on screen and about 30-80 kB (the whole report stays a few MB)
DPI = 110


@dataclass(frozen=True)
class ReportOptions:
    """What ``probmodels demo`` asks of every section.

    Attributes
    ----------
    seed : int
        Seed of every fit of the section.
    quick : bool
        A cut-down run (fewer candidate models, draws, epochs or steps), for tests.
    netcdf : bool
        Also write the ArviZ data of the section's final fit as ``posterior.nc``
        (several MB each; off by default, ``probmodels demo --netcdf``).
    """

    seed: int = 0
    quick: bool = False
    netcdf: bool = False


@dataclass(frozen=True)
class ReportSection:
    """One model's part of the demo report.

    Attributes
    ----------
    title : str
        Section heading in ``index.md``.
    markdown : str
        Section body (Markdown, no heading); links and images are relative to
        the report folder.
    files : tuple of pathlib.Path
        The files the section wrote, relative to the report folder.
    """

    title: str
    markdown: str
    files: tuple[Path, ...]


#: A demo section: ``(out_dir, options) -> ReportSection``. ``out_dir`` is the
#: report folder (it exists); the section writes into its own sub-folder.
ReportFn = Callable[[Path, ReportOptions], ReportSection]


class SectionFolder:
    """A section's sub-folder of the report, recording every file handed out.

    ``folder.path("summary.csv")`` returns the absolute path to write and
    records ``<name>/summary.csv`` (relative to the report folder) in
    ``folder.files``, the tuple that :class:`ReportSection` lists.
    """

    def __init__(self, out_dir: Path, name: str):
        self.name = name
        self.root = Path(out_dir) / name
        self.root.mkdir()
        self._files: list[Path] = []

    def path(self, filename: str) -> Path:
        self._files.append(Path(self.name) / filename)
        return self.root / filename

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(self._files)


def markdown_table(frame: pd.DataFrame, *, digits: int = 3) -> str:
    """A GitHub Markdown table of ``frame`` (index as the first column).

    Booleans print as yes/no, NaN as an empty cell, floats with ``digits``
    decimals (values below ``10**-digits`` in scientific notation, so that a
    stacking weight of 1e-13 does not print as 0.000).
    """

    def cell(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (float, np.floating)):
            if math.isnan(value):
                return ""
            if value != 0 and abs(value) < 10.0 ** -digits:
                return f"{value:.1e}"
            return f"{value:.{digits}f}"
        return str(value)

    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # object dtype keeps each column's own type (integer ranks stay integers)
    for label, row in frame.astype(object).iterrows():
        lines.append("| " + " | ".join([str(label)] + [cell(v) for v in row]) + " |")
    return "\n".join(lines)


def save_figure(plot: Callable, path: Path, *, figsize=(8.0, 4.0)) -> None:
    """Draw ``plot(ax)`` on a figure rendered by the Agg canvas and save it as PNG.

    The figure is built without pyplot, so no global figure manager holds it
    and nothing needs closing; the user's matplotlib backend is left alone.
    ``figsize`` is in inches, at :data:`DPI` dots per inch.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    plot(fig.add_subplot())
    fig.savefig(path, dpi=DPI)
