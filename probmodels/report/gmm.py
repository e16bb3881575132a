"""The demo's Gaussian mixture section: the number of components and the fit on Old Faithful."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from probmodels import export
from probmodels.datasets import load_faithful
from probmodels.models.gmm import compare_components
from probmodels.report._base import ReportOptions, ReportSection, SectionFolder, markdown_table, save_figure

__all__ = ["section"]

#: the columns of the comparison table shown in index.md (all are in the CSV)
_SHOWN = ("rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse", "warning", "khat", "max_pareto_k",
          "bic")


def section(out_dir: Path, options: ReportOptions) -> ReportSection:
    """Gaussian mixture on Old Faithful.

    Compares K = 1..4 (1..3 when ``quick``) by PSIS-LOO and BIC, takes the K
    that :func:`~probmodels.models.gmm.compare_components` recommends
    (``comparison.best``, for the reason ``comparison.reason``) and writes
    into ``out_dir / "gmm"``:
    ``component_comparison.csv``, ``summary.csv``, ``fit.npz``, ``clusters.png``,
    ``density_eruptions.png``, ``density_waiting.png`` and, with
    ``options.netcdf``, ``posterior.nc``.
    """
    az = export._arviz()
    folder = SectionFolder(out_dir, "gmm")
    seed = options.seed
    x = load_faithful()
    ks = range(1, 4) if options.quick else range(1, 5)
    fit_options = {"num_samples": 1000} if options.quick else {}
    # a K with k-hat > 0.7 warns; the report lists those warnings instead of printing them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare_components(x, ks, seed=seed, **fit_options)
    notes = sorted({str(w.message) for w in caught})
    table = comparison.table
    table.to_csv(folder.path("component_comparison.csv"))
    K = comparison.best
    fit = comparison.fits[K]
    idata = fit.to_arviz()
    if options.netcdf:
        export.save_netcdf(idata, folder.path("posterior.nc"))
    fit.save(folder.path("fit.npz"))
    summary = az.summary(idata, var_names=list(export.get_group(idata, "posterior").data_vars),
                         kind="stats", round_to="none")
    summary.index.name = "parameter"
    summary.to_csv(folder.path("summary.csv"))
    figsize = (7.0, 4.5)
    save_figure(lambda ax: fit.plot_clusters(ax=ax), folder.path("clusters.png"), figsize=figsize)
    save_figure(lambda ax: fit.plot_density(ax=ax, feature="eruptions"),
                folder.path("density_eruptions.png"), figsize=figsize)
    save_figure(lambda ax: fit.plot_density(ax=ax, feature="waiting"),
                folder.path("density_waiting.png"), figsize=figsize)
    sizes = np.bincount(fit.predict(), minlength=K)
    d = fit.diagnostics

    shown = table[[c for c in _SHOWN if c in table.columns]]
    warning_lines = "".join(f"\n- Warning: {n}" for n in notes)
    netcdf_line = (
        "- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):\n"
        "  [gmm/posterior.nc](gmm/posterior.nc), read with `probmodels.export.load_netcdf`.\n"
        if options.netcdf else
        "- ArviZ data: `probmodels.load(\"gmm/fit.npz\").to_arviz()` (or `probmodels demo --netcdf`\n"
        "  to write it as `gmm/posterior.nc`).\n")
    text = f"""\
Data: Old Faithful, {len(x)} eruptions (duration and waiting time, minutes),
`probmodels.datasets.load_faithful()`.

### Number of components

`compare_components(x, {list(ks)})`: PSIS-LOO (higher `elpd_loo` is better), its
standard errors `se` and `dse`, the PSIS k-hat of each variational fit (`khat`) and the
largest Pareto k of its LOO (`max_pareto_k`), with `warning` where either is above 0.7
(that row's LOO is unreliable), and BIC (lower is better).
Table: [gmm/component_comparison.csv](gmm/component_comparison.csv).

{markdown_table(shown, digits=2)}

**Chosen: K = {K}** by `comparison.best`, the one-standard-error rule on the reliable
fits: {comparison.reason}. BIC prefers K = {comparison.best_bic}.
{warning_lines}

### Fit with K = {K}

`pm.GaussianMixture(n_components={K}).fit(x, seed={seed})`: {d.get("distinct_modes")} distinct
mode(s) from {d.get("num_starts")} EM starts, Laplace-started guide refined by
{d.get("num_steps")} SVI steps, PSIS k-hat {d.get("khat", float("nan")):.2f}
(below 0.5 excellent, 0.5–0.7 usable, above 0.7 unreliable), {fit.num_draws} draws,
{d.get("seconds", float("nan")):.1f} s.
Points per component (most probable): {", ".join(str(int(n)) for n in sizes)}.
Summary: [gmm/summary.csv](gmm/summary.csv).

{markdown_table(summary[["mean", "sd"]], digits=3)}

![clusters](gmm/clusters.png)

![eruptions](gmm/density_eruptions.png)

![waiting](gmm/density_waiting.png)

### Files

{netcdf_line}- The fit: [gmm/fit.npz](gmm/fit.npz), read with `probmodels.load`.
"""
    return ReportSection(title="Gaussian mixture: Old Faithful", markdown=text, files=folder.files)
