"""The ``probmodels`` command line.

``probmodels demo [--out DIR] [--seed N] [--quick] [--threads N]`` fits every
model of the package on its shipped data set and writes a report folder:
one section per model (tables as CSV, figures as PNG, the posterior as
netCDF) tied together by ``index.md``.

The demo is a registry, :data:`REPORTS`: a list of functions
``(out_dir, seed, quick) -> ReportSection``. A new model joins the demo with
one such function appended to the list; the function writes its files into
its own sub-folder of ``out_dir`` and returns the Markdown that ``index.md``
shows for it, with links relative to ``out_dir``.

The demo never deletes or overwrites anything: when ``--out`` names a folder
that exists and is not empty, the report goes to the first free ``DIR-2``,
``DIR-3``, ... instead, and the path printed at the end says where. ``--out .``
(or ``..``) puts the report in a new ``report`` folder inside that folder. An
``--out`` that is a file, or lies under one, is a usage error (exit code 2).
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["REPORTS", "ReportSection", "ar_report", "ddpm_report", "gmm_report", "main",
           "new_report_dir", "vae_report"]

#: how many ``DIR-k`` siblings :func:`new_report_dir` tries before giving up
_MAX_SIBLINGS = 1000


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


#: A demo section: ``(out_dir, seed, quick) -> ReportSection``. ``out_dir`` is
#: the report folder (it exists); ``quick`` asks for a cut-down run for tests.
ReportFn = Callable[[Path, int, bool], ReportSection]


# ---------------------------------------------------------------- helpers


def _report_path(path: Path) -> Path:
    """``path``, or ``path / "report"`` when ``path`` is ``.``, ``..`` or ``""``.

    Those name an existing folder by position, not by a name that could take a
    ``-2`` suffix, so the report goes into a new ``report`` folder inside it.
    """
    return path / "report" if path.name in ("", "..") else path


def _check_report_path(path: Path) -> None:
    """Raise if ``path`` cannot become a folder: it, or a parent of it, is a file."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(
            f"{str(path)!r} is an existing file, not a folder; pass a folder path, "
            f"e.g. {str(path.with_suffix('')) + '-report'!r}."
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"{str(path)!r} cannot be a folder: {str(parent)!r} is a file; pass a "
                    f"folder path whose parents are folders, e.g. "
                    f"{str(parent.with_suffix('')) + '-report'!r}."
                )
            return


def new_report_dir(path: str | Path) -> Path:
    """Create and return a fresh report folder at ``path`` or next to it.

    ``path`` itself is used when it does not exist or is an empty folder;
    otherwise the first of ``path-2``, ``path-3``, ... that does not exist (or
    is an empty folder). ``.``, ``..`` and ``""`` stand for ``./report``,
    ``../report`` and ``./report``. Nothing that exists is ever deleted or
    written over.

    Raises
    ------
    FileExistsError
        If ``path`` is an existing file, or no free sibling name is found.
    NotADirectoryError
        If a parent of ``path`` is a file.
    """
    path = _report_path(Path(path))
    _check_report_path(path)
    candidates = [path] + [path.with_name(f"{path.name}-{k}") for k in range(2, _MAX_SIBLINGS + 2)]
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            if candidate.is_dir() and not any(candidate.iterdir()):
                return candidate
    raise FileExistsError(
        f"{str(path)!r} and {_MAX_SIBLINGS} numbered siblings ({path.name}-2 ...) all exist "
        f"and are not empty; pass another --out folder."
    )


def _markdown_table(frame: pd.DataFrame, *, digits: int = 3) -> str:
    """A GitHub Markdown table of ``frame`` (index as the first column)."""

    def cell(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (float, np.floating)):
            if math.isnan(value):
                return ""
            if value != 0 and abs(value) < 10.0 ** -digits:
                return f"{value:.1e}"  # e.g. stacking weights of 1e-13
            return f"{value:.{digits}f}"
        return str(value)

    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # object dtype keeps each column's own type (integer ranks stay integers)
    for label, row in frame.astype(object).iterrows():
        lines.append("| " + " | ".join([str(label)] + [cell(v) for v in row]) + " |")
    return "\n".join(lines)


def _save_figure(plot: Callable, path: Path, *, figsize=(8.0, 4.0)) -> None:
    """Draw ``plot(ax)`` on a figure rendered by the Agg canvas and save it as PNG.

    The figure is built without pyplot, so no global figure manager holds it
    and nothing needs closing; the user's matplotlib backend is left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    plot(fig.add_subplot())
    fig.savefig(path, dpi=110)


# ------------------------------------------------------------- AR section


def ar_report(out_dir: Path, seed: int, quick: bool) -> ReportSection:
    """Bayesian AR(p) on the yearly sunspot numbers.

    Order selection by PSIS-LOO over AR(1)..AR(12) (AR(1)..AR(3) when
    ``quick``), every order conditioned on the same first 12 (3) years; then
    the chosen order is refitted on all years with the default SVI fit and
    summarised, plotted, forecast 20 years ahead and saved.
    """
    import probmodels as pm
    from probmodels import export, plots
    from probmodels.models.ar import compare_orders

    az = export._arviz()
    folder = out_dir / "ar"
    folder.mkdir()
    y = pm.datasets.load_sunspots()
    orders = range(1, 4) if quick else range(1, 13)
    # quick: fewer draws per fit; LOO and the summary stay meaningful with 1,000
    options = {"num_samples": 1000} if quick else {}
    files: list[Path] = []

    def out(name: str) -> Path:
        files.append(Path("ar") / name)
        return folder / name

    # 1. order selection on common time steps
    comparison = compare_orders(y, orders, seed=seed, progress=False, **options)
    table = comparison.table
    table.index.name = "model"
    table.to_csv(out("order_comparison.csv"))
    best = comparison.best_order

    # 2. the chosen order on every year (hold_back = p)
    fit = pm.BayesianAR(order=best).fit(y, seed=seed, progress=False, **options)
    idata = fit.to_arviz()
    export.save_netcdf(idata, out("posterior.nc"))
    fit.save(out("fit.npz"))
    # SVI draws are independent draws from the guide: R-hat and ESS say nothing
    # about them (PSIS k-hat does), so the summary keeps the statistics only
    summary = az.summary(idata, var_names=["mu", "phi", "sigma"], kind="stats", round_to="none")
    summary.index.name = "parameter"
    summary.to_csv(out("summary.csv"))
    stationary = fit.stationarity_probability()

    phi = export.get_group(idata, "posterior")["phi"]
    draws = {f"phi[{int(k)}]": phi.sel(lag=k).values for k in phi["lag"].values}
    _save_figure(lambda ax: plots.plot_posterior_intervals(draws, ax=ax),
                 out("phi_intervals.png"), figsize=(6.0, 0.45 * len(draws) + 1.2))
    forecast = fit.forecast(20)
    forecast.to_csv(out("forecast.csv"))
    _save_figure(lambda ax: fit.plot_forecast(20, history=100, ax=ax), out("forecast.png"))
    _save_figure(lambda ax: plots.plot_loss(fit.losses, ax=ax), out("loss.png"))

    first, last = y.index[0], y.index[-1]
    d = fit.diagnostics
    shown = table[[c for c in ("rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse")
                   if c in table.columns]]
    text = f"""\
Data: yearly mean sunspot numbers {first}–{last} ({len(y)} values),
`probmodels.datasets.load_sunspots()`.

### Order selection

PSIS-LOO over AR({orders[0]})…AR({orders[-1]}) with `compare_orders`; every order
conditions on the first {comparison.hold_back} years (`hold_back={comparison.hold_back}`),
so all are scored on the same {len(y) - comparison.hold_back} years.
Table: [ar/order_comparison.csv](ar/order_comparison.csv).

{_markdown_table(shown, digits=2)}

**Selected order: AR({best})** (highest expected log predictive density).

### Fit of AR({best}) on all years

`pm.BayesianAR(order={best}).fit(y, seed={seed})`: SVI with the `{d.get("guide")}` guide,
{d.get("num_steps")} steps (converged: {d.get("converged")}), {fit.num_draws} draws,
PSIS k-hat {d.get("khat", float("nan")):.2f} (below 0.5: the guide is an excellent proposal),
{d.get("seconds", float("nan")):.1f} s. Summary: [ar/summary.csv](ar/summary.csv).

{_markdown_table(summary, digits=3)}

Posterior probability that the process is stationary: **{stationary:.3f}**.

![phi intervals](ar/phi_intervals.png)

### Forecast

The next 20 years ({forecast.index[0]}–{forecast.index[-1]}), posterior predictive mean
and 90% band: [ar/forecast.csv](ar/forecast.csv).

![forecast](ar/forecast.png)

### Files

- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):
  [ar/posterior.nc](ar/posterior.nc), read with `probmodels.export.load_netcdf`.
- The fit itself: [ar/fit.npz](ar/fit.npz), read with `probmodels.load`.
- SVI loss: ![loss](ar/loss.png)
"""
    return ReportSection(title="Bayesian AR(p): yearly sunspots", markdown=text, files=tuple(files))


#: The demo's sections, in report order. Append a ``ReportFn`` to add a model.
def gmm_report(out_dir: Path, seed: int, quick: bool) -> ReportSection:
    """The Gaussian mixture on Old Faithful (see :func:`probmodels.models.gmm.demo_section`)."""
    from probmodels.models.gmm import demo_section

    return ReportSection(**demo_section(out_dir, seed, quick))


def vae_report(out_dir: Path, seed: int, quick: bool) -> ReportSection:
    """The VAE on binarized 8x8 digits (see :func:`probmodels.models.vae.demo_section`)."""
    from probmodels.models.vae import demo_section

    return ReportSection(**demo_section(out_dir, seed, quick))


def ddpm_report(out_dir: Path, seed: int, quick: bool) -> ReportSection:
    """The DDPM on two moons (see :func:`probmodels.models.ddpm.demo_section`)."""
    from probmodels.models.ddpm import demo_section

    d = demo_section(out_dir, seed, quick)
    return ReportSection(d["title"], d["markdown"], tuple(d["files"]))


REPORTS: list[ReportFn] = [ar_report, gmm_report, vae_report, ddpm_report]


# ------------------------------------------------------------------ demo


def _demo(out: Path, seed: int, quick: bool, threads: int,
          reports: Sequence[ReportFn] | None = None) -> Path:
    """Write the report of ``reports`` (default: :data:`REPORTS`, read at call time)."""
    import torch

    import probmodels

    out = _report_path(Path(out))
    root = new_report_dir(out)
    if root != out:
        print(f"{out} exists and is not empty; writing the report to {root} instead.",
              file=sys.stderr)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    reports = REPORTS if reports is None else reports
    sections, seconds = [], []
    start = time.perf_counter()
    try:
        for report in reports:
            t = time.perf_counter()
            sections.append(report(root, seed, quick))
            seconds.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(previous_threads)
    total = time.perf_counter() - start

    import arviz
    import pyro

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    contents = "\n".join(f"- {s.title} ({t:.0f} s, {len(s.files)} files)"
                         for s, t in zip(sections, seconds))
    body = "\n\n".join(f"## {s.title}\n\n{s.markdown.strip()}" for s in sections)
    index = f"""\
# probmodels demo report

`probmodels demo --seed {seed}{" --quick" if quick else ""}`, {stamp}, {total:.0f} s in all.
probmodels {probmodels.__version__}, torch {torch.__version__}, pyro {pyro.__version__},
arviz {arviz.__version__}.

{contents}

{body}
"""
    (root / "index.md").write_text(index, encoding="utf-8")
    return root


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _out_dir(text: str) -> Path:
    """``--out``: a path that is or can become a folder (checked before any fitting)."""
    path = _report_path(Path(text))
    try:
        _check_report_path(path)
    except (FileExistsError, NotADirectoryError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def _seed(text: str) -> int:
    from probmodels._validation import MAX_SEED

    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32 - 1], got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probmodels", description="Probabilistic models on Pyro and PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="fit every model on its shipped data and write a report folder",
        description="Fit every model on its shipped data set and write a report folder "
                    "(index.md, CSV tables, PNG figures, netCDF posteriors).")
    demo.add_argument("--out", type=_out_dir, default="report", metavar="DIR",
                      help="report folder (default: ./report); if it exists and is not "
                           "empty, DIR-2, DIR-3, ... is used instead, nothing is overwritten. "
                           "'.' or '..' puts the report in a new folder 'report' inside it "
                           "(./report, ../report; again -2, -3, ... if taken)")
    demo.add_argument("--seed", type=_seed, default=0, help="seed of every fit (default: 0)")
    demo.add_argument("--quick", action="store_true",
                      help="cut-down run (fewer orders and draws), for tests")
    demo.add_argument("--threads", type=_positive_int, default=1,
                      help="torch intra-op threads during the demo (default: 1; the models "
                           "are small and extra threads mostly contend for the cores)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        root = _demo(args.out, args.seed, args.quick, args.threads)
        print(root / "index.md")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
