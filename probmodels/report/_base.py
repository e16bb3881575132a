"""What every demo section shares: its options, its result, its folder, figures and tables.

Kept apart from ``probmodels/report/__init__.py`` so that the section modules
import these helpers without importing the registry that imports them (no
import cycle); ``probmodels.report`` re-exports them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Figure",
    "ReportFn",
    "ReportOptions",
    "ReportSection",
    "SectionFolder",
    "Verdict",
    "fit_verdict",
    "markdown_table",
    "save_figure",
    "summary_markdown",
    "write_figures",
]

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
            if value != 0 and abs(float(value)) < 10.0**-digits:
                return f"{value:.1e}"
            return f"{value:.{digits}f}"
        return str(value)

    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # object dtype keeps each column's own type (integer ranks stay integers)
    for label, row in frame.astype(object).iterrows():
        lines.append("| " + " | ".join([str(label)] + [cell(v) for v in row]) + " |")
    return "\n".join(lines)


def save_figure(
    plot: Callable, path: Path, *, figsize=(8.0, 4.0), grid: tuple[int, int] | None = None
) -> None:
    """Draw ``plot(ax)`` on a figure rendered by the Agg canvas and save it as PNG.

    The figure is built without pyplot, so no global figure manager holds it
    and nothing needs closing; the user's matplotlib backend is left alone.

    Parameters
    ----------
    plot : callable
        Draws on the Axes it is given (with ``grid``: on the ``(rows, cols)`` array of Axes).
    path : pathlib.Path
        The PNG file to write.
    figsize : tuple of float
        Width and height in inches, at :data:`DPI` dots per inch.
    grid : tuple of int, optional
        ``(rows, cols)``: hand ``plot`` a grid of Axes instead of one.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    plot(fig.subplots(*grid, squeeze=False) if grid else fig.add_subplot())
    fig.savefig(path, dpi=DPI)


@dataclass(frozen=True)
class Figure:
    """One figure of a report section, with the call that draws it.

    Attributes
    ----------
    filename : str
        The PNG's name inside the section's folder.
    caption : str
        What the figure shows, in words.
    code : str
        The Python that draws it from the fit (``fit.plot_forecast(20)``), shown
        under it so that a reader can reproduce it.
    draw : callable
        ``draw(ax)`` (with ``grid``: ``draw(axes)``, a ``(rows, cols)`` array) draws it.
    figsize : tuple of float
        Width and height in inches.
    grid : tuple of int, optional
        ``(rows, cols)`` for a figure of several panels.
    """

    filename: str
    caption: str
    code: str
    draw: Callable
    figsize: tuple[float, float] = (8.0, 4.0)
    grid: tuple[int, int] | None = None


def write_figures(folder: SectionFolder, figures: Sequence[Figure]) -> str:
    """Save each figure as a PNG in ``folder`` and return their Markdown.

    Parameters
    ----------
    folder : SectionFolder
        The section's folder; each file is recorded in ``folder.files``.
    figures : sequence of Figure
        The figures, in page order.

    Returns
    -------
    str
        One paragraph per figure: ``![caption](name/file.png)`` over the line of
        code that draws it (the HTML page shows them as a figure and its caption).
    """
    blocks = []
    for figure in figures:
        save_figure(
            figure.draw, folder.path(figure.filename), figsize=figure.figsize, grid=figure.grid
        )
        blocks.append(f"![{figure.caption}]({folder.name}/{figure.filename})\n`{figure.code}`")
    return "\n\n".join(blocks)


def summary_markdown(fit: Any, *, max_rows: int = 60, digits: int = 3) -> str:
    """``fit.summary()`` as a Markdown table, with the line of code that gives it.

    Parameters
    ----------
    fit : probmodels.results.FitResult
        Any fit; its own ``summary()`` (posterior statistics, or the training
        figures of a neural model) is the table.
    max_rows : int
        Show at most this many rows (the first ones), saying how many there are.
    digits : int
        Decimals of each number (:func:`markdown_table`).

    Returns
    -------
    str
        The table, preceded by the call that produces it.
    """
    table = fit.summary()
    if isinstance(table.index, pd.MultiIndex):  # (series, parameter) of a many-series fit
        table = table.set_axis(
            pd.Index(
                [", ".join(map(str, k)) for k in table.index],
                name=", ".join(str(n) for n in table.index.names),
            )
        )
    shown = table.iloc[:max_rows]
    note = f" (the first {max_rows} of {len(table)} rows)" if len(table) > max_rows else ""
    return f"Summary, `fit.summary()`{note}:\n\n{markdown_table(shown, digits=digits)}"


@dataclass(frozen=True)
class Verdict:
    """The plain-words reading of a fit's diagnostics.

    Attributes
    ----------
    ok : bool
        Every check passed.
    passed : tuple of str
        The checks that passed, each with its threshold and the fit's number.
    problems : tuple of str
        The checks that failed, each with its number, threshold and what to do.
    """

    ok: bool
    passed: tuple[str, ...]
    problems: tuple[str, ...]

    def markdown(self) -> str:
        """The verdict line: ``> **converged:** ...`` or ``> **look again:** ...``.

        Returns
        -------
        str
            One Markdown quote line (the HTML page shows it as a coloured box).
        """
        if self.ok:
            return "> **converged:** " + "; ".join(self.passed) + "."
        passed = f" Passed: {'; '.join(self.passed)}." if self.passed else ""
        return "> **look again:** " + " ".join(self.problems) + passed


#: a neural fit's loss has settled when the mean of its last quarter of epochs is
#: less than this fraction below the mean of the quarter before
LOSS_SETTLED = 0.01
#: fewer epochs than this are too few to judge whether the loss has settled
MIN_EPOCHS = 8


def _loss_checks(losses: np.ndarray) -> tuple[list[str], list[str]]:
    """(passed, problems) of a neural model's loss history (one value per epoch)."""
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        return [], ["The fit has no loss history to judge its training by."]
    if not np.isfinite(losses).all():
        return [], [
            f"Loss check: {int((~np.isfinite(losses)).sum())} of {losses.size} epochs "
            f"have a non-finite loss; lower the learning rate."
        ]
    if losses.size < MIN_EPOCHS:
        return [], [
            f"Loss check: {losses.size} epochs are too few to tell whether the loss "
            f"has settled (at least {MIN_EPOCHS}); train longer."
        ]
    q = losses.size // 4
    before, last = losses[-2 * q : -q].mean(), losses[-q:].mean()
    drop = (before - last) / max(abs(before), 1e-300)
    words = f"the mean loss of the last {q} epochs is {drop:.1%} below that of the {q} before"
    if drop > LOSS_SETTLED:
        return [], [
            f"Loss check: {words} (more than {LOSS_SETTLED:.0%}): still improving, "
            f"train longer (more steps or epochs)."
        ]
    return [f"loss settled: {words} (at most {LOSS_SETTLED:.0%})"], []


def fit_verdict(fit: Any) -> Verdict:
    """Read a fit's diagnostics against the thresholds of the fit layer's warnings.

    The problems are the warnings that :func:`probmodels.infer.pipeline.warn_diagnostics`
    gives for ``fit.diagnostics`` (PSIS k-hat above 0.7, NUTS divergences, R-hat
    above 1.01, ESS below 100 per chain, tree-depth hits, E-BFMI below 0.3), and an
    SVI run that stopped at its step limit before its convergence test passed, and
    for an AR fit with missing values its Gibbs chain's R-hat (above 1.01) and bulk
    ESS (below 400, as :meth:`ManyARFit.flagged`). A
    neural model (no posterior draws) is judged by its loss history: settled when
    the mean of the last quarter of epochs is within :data:`LOSS_SETTLED` of the
    quarter before. Exact conjugate draws are independent draws of the posterior:
    nothing to converge.

    Parameters
    ----------
    fit : probmodels.results.FitResult
        Any fit.

    Returns
    -------
    Verdict
        The checks passed (with the fit's numbers) and the problems.
    """
    from probmodels import diagnostics as diag
    from probmodels.infer import pipeline
    from probmodels.models.ar.many import MIN_ESS

    d = fit.diagnostics
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline.warn_diagnostics(d)
    problems = [str(w.message) for w in caught]
    passed = []

    def number(key: str) -> float | None:
        value = d.get(key)
        return (
            float(value)
            if isinstance(value, (int, float, np.number)) and np.isfinite(value)
            else None
        )

    if (rhat := number("max_rhat")) is not None and rhat <= diag.RHAT_THRESHOLD:
        passed.append(f"all R-hat < {diag.RHAT_THRESHOLD} (largest {rhat:.3f})")
    chains = int(d.get("num_chains", 1) or 1)
    least = pipeline._ESS_PER_CHAIN * chains
    if (ess := number("min_ess")) is not None and ess >= least:
        passed.append(
            f"bulk and tail ESS > {least} ({pipeline._ESS_PER_CHAIN} per chain; smallest {ess:.0f})"
        )
    if "divergences" in d and not d["divergences"]:
        passed.append("no divergent transitions")
    if (bfmi := number("min_bfmi")) is not None and bfmi >= pipeline._BFMI_THRESHOLD:
        passed.append(f"E-BFMI >= {pipeline._BFMI_THRESHOLD} (lowest {bfmi:.2f})")
    if (khat := number("khat")) is not None and khat <= diag.KHAT_THRESHOLD:
        quality = "excellent" if khat < 0.5 else "usable"
        passed.append(
            f"PSIS k-hat {khat:.2f} <= {diag.KHAT_THRESHOLD} ({quality}: below 0.5 "
            f"excellent, 0.5-0.7 usable)"
        )
    # the Gibbs chain of an AR fit with missing values: checked as fit_many's flagged() does
    if (rhat := number("gibbs_max_rhat")) is not None:
        if rhat > diag.RHAT_THRESHOLD:
            problems.append(
                f"Gibbs R-hat check: R-hat up to {rhat:.3f} > {diag.RHAT_THRESHOLD} in "
                f"the chain over the missing values; draw more (num_samples)."
            )
        else:
            passed.append(f"Gibbs R-hat < {diag.RHAT_THRESHOLD} (largest {rhat:.3f})")
    if (ess := number("gibbs_min_ess")) is not None:
        if ess < MIN_ESS:
            problems.append(
                f"Gibbs ESS check: bulk ESS down to {ess:.0f} < {MIN_ESS} in the chain "
                f"over the missing values; draw more (num_samples)."
            )
        else:
            passed.append(f"Gibbs ESS >= {MIN_ESS} (smallest {ess:.0f})")
    if d.get("converged") is False:
        problems.append(
            f"SVI check: the optimiser ran all {d.get('num_steps')} steps without "
            f"meeting its convergence tolerance; raise num_steps."
        )
    elif d.get("converged") is True and fit.method == "svi":
        passed.append(f"SVI converged in {d.get('num_steps')} steps")
    if not fit.draws:
        loss_passed, loss_problems = _loss_checks(fit.losses)
        passed += loss_passed
        problems += loss_problems
    elif fit.method == "exact" and not passed and not problems:
        passed.append("exact posterior draws (conjugate, independent): no chain to converge")
    if not passed and not problems:
        problems.append(f"no diagnostics to judge this {fit.method!r} fit by; check it by hand.")
    return Verdict(ok=not problems, passed=tuple(passed), problems=tuple(problems))
