"""The Gaussian mixture report: the demo's section (the number of components and the fit on
Old Faithful) and the data and figures of any mixture fit (:func:`describe`, :func:`figures`)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from probmodels import export, plots
from probmodels.datasets import load_faithful
from probmodels.models.gmm import compare_components
from probmodels.report._base import (
    Figure,
    ReportOptions,
    ReportSection,
    SectionFolder,
    fit_verdict,
    markdown_table,
    summary_markdown,
    write_figures,
)

__all__ = ["describe", "figures", "section"]

#: the columns of the comparison table shown in index.md (all are in the CSV)
_SHOWN = (
    "rank",
    "elpd_loo",
    "p_loo",
    "elpd_diff",
    "se",
    "dse",
    "warning",
    "khat",
    "max_pareto_k",
    "bic",
)


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
    folder = SectionFolder(out_dir, "gmm")
    seed = options.seed
    x = load_faithful()
    ks = range(1, 4) if options.quick else range(1, 5)
    fit_options: dict[str, Any] = {"num_samples": 1000} if options.quick else {}
    # a K with k-hat > 0.7 warns; the report lists those warnings instead of printing them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare_components(x, ks, seed=seed, **fit_options)
    notes = sorted({str(w.message) for w in caught})
    table = comparison.table
    table.to_csv(folder.path("component_comparison.csv"))
    K = comparison.best
    fit = comparison.fits[K]
    if options.netcdf:
        export.save_netcdf(fit.to_arviz(), folder.path("posterior.nc"))
    fit.save(folder.path("fit.npz"))
    fit.summary().to_csv(folder.path("summary.csv"))
    comparison_figure = write_figures(
        folder,
        [
            Figure(
                "component_comparison.png",
                "PSIS-LOO of each K (± 1 se), the chosen K starred",
                "plots.plot_component_comparison(comparison)",
                lambda ax: plots.plot_component_comparison(comparison, ax=ax),
                figsize=(6.0, 3.5),
            )
        ],
    )
    fit_figures = write_figures(folder, figures(fit))
    sizes = np.bincount(fit.predict(), minlength=K)
    d = fit.diagnostics

    shown = table[[c for c in _SHOWN if c in table.columns]]
    warning_lines = "".join(f"\n- Warning: {n}" for n in notes)
    netcdf_line = (
        "- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):\n"
        "  [gmm/posterior.nc](gmm/posterior.nc), read with `probmodels.export.load_netcdf`.\n"
        if options.netcdf
        else '- ArviZ data: `probmodels.load("gmm/fit.npz").to_arviz()` (or `probmodels demo --netcdf`\n'
        "  to write it as `gmm/posterior.nc`).\n"
    )
    quick = " --quick" if options.quick else ""
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

{comparison_figure}

### Fit with K = {K}

`fit = pm.GaussianMixture(n_components={K}).fit(x, seed={seed})`: {d.get("distinct_modes")} distinct
mode(s) from {d.get("num_starts")} EM starts, Laplace-started guide refined by
{d.get("num_steps")} SVI steps, {fit.num_draws} draws, {d.get("seconds", float("nan")):.1f} s.
Points per component (most probable): {", ".join(str(int(n)) for n in sizes)}.
Table: [gmm/summary.csv](gmm/summary.csv).

{summary_markdown(fit)}

{fit_verdict(fit).markdown()}

### Figures

One colour per component in every figure. Each is drawn by the call under it, with
`fit = probmodels.load("gmm/fit.npz")`; all of them again: `probmodels demo --seed {seed}{quick}`
(this page) or `probmodels report gmm/fit.npz`.

{fit_figures}

### Files

{netcdf_line}- The fit: [gmm/fit.npz](gmm/fit.npz), read with `probmodels.load`.
"""
    return ReportSection(title="Gaussian mixture: Old Faithful", markdown=text, files=folder.files)


def describe(fit: Any) -> str:
    """The data of a mixture fit, in words (what ``probmodels report`` shows above its tables).

    Parameters
    ----------
    fit : GMMFit
        A fit of :class:`~probmodels.GaussianMixture`.

    Returns
    -------
    str
        Markdown: the number of points and the features.
    """
    n, f = fit.data.shape
    names = ", ".join(map(str, fit.feature_names)) if fit.feature_names else f"{f} features"
    weights = "" if fit.sample_weight is None else ", weighted"
    return (
        f"Data: {n} points of {f} feature(s) ({names}){weights}; a mixture of "
        f"{fit.n_components} Gaussian components ({fit.gmm.covariance} covariance)."
    )


def figures(fit: Any) -> list[Figure]:
    """The figures of a mixture fit: clusters with covariance ellipses, the responsibility
    map, each feature's density and the SVI loss, in the same component colours.

    Parameters
    ----------
    fit : GMMFit
        A fit of :class:`~probmodels.GaussianMixture`; the 2-D figures show its first two
        features, the densities its first four.

    Returns
    -------
    list of Figure
        The figures with the calls that draw them, not drawn yet.
    """
    size = (7.0, 4.5)
    names = list(fit.feature_names) or list(range(fit.data.shape[1]))
    shown = []
    if len(names) >= 2:
        shown += [
            Figure(
                "clusters.png",
                "Points coloured by their most probable component, with each "
                "component's mean and covariance ellipses",
                "fit.plot_clusters()",
                lambda ax: fit.plot_clusters(ax=ax),
                figsize=size,
            ),
            Figure(
                "responsibilities.png",
                "Responsibility map: p(z = k | x) over the data's range, in the component colours",
                "fit.plot_responsibilities(grid_size=60)",
                lambda ax: fit.plot_responsibilities(ax=ax, grid_size=60),
                figsize=size,
            ),
        ]
    for k, name in enumerate(names[:4]):
        label = name if fit.named_features else k
        shown.append(
            Figure(
                f"density_{re.sub(r'[^A-Za-z0-9_-]+', '_', str(name)) if fit.named_features else k}.png",
                f"Histogram of {name}, the posterior-mean mixture density and its weighted components",
                f"fit.plot_density(feature={label!r})",
                lambda ax, label=label: fit.plot_density(ax=ax, feature=label),
                figsize=size,
            )
        )
    if len(fit.losses):
        shown.append(
            Figure(
                "loss.png",
                "SVI loss (negative ELBO) per step",
                "fit.plot_loss()",
                lambda ax: fit.plot_loss(ax=ax),
                figsize=(6.0, 3.5),
            )
        )
    return shown
