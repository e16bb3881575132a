"""The Bayesian AR(p) report: the demo's section (order choice, fit and forecast of the yearly
sunspots) and the data and figures of any AR fit (:func:`describe`, :func:`figures`)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import probmodels as pm
from probmodels import export, plots
from probmodels.models.ar import compare_orders
from probmodels.report._base import (
    Figure,
    ReportOptions,
    ReportSection,
    SectionFolder,
    Verdict,
    fit_verdict,
    markdown_table,
    summary_markdown,
    write_figures,
)

__all__ = ["describe", "describe_many", "figures", "figures_many", "section", "verdict_many"]

#: the columns of the order-comparison table shown in index.md (all are in the CSV)
_SHOWN = ("rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse", "warning", "khat", "max_pareto_k")


def section(out_dir: Path, options: ReportOptions) -> ReportSection:
    """Bayesian AR(p) on the yearly sunspot numbers.

    Compares AR(1)..AR(12) (AR(1)..AR(3) when ``quick``) by PSIS-LOO, every
    order conditioned on the same first 12 (3) years, and takes the order
    that :func:`~probmodels.models.ar.compare_orders` recommends
    (``comparison.best``, for the reason ``comparison.reason``); then refits
    that order on all years with the default fit and writes into
    ``out_dir / "ar"``: ``order_comparison.csv``, ``summary.csv``,
    ``forecast.csv``, ``phi_intervals.png``, ``forecast.png``, ``fit.npz``,
    ``loss.png`` for a fit that has a loss history (SVI) and, with
    ``options.netcdf``, ``posterior.nc``.
    """
    folder = SectionFolder(out_dir, "ar")
    seed = options.seed
    y = pm.datasets.load_sunspots()
    orders = range(1, 4) if options.quick else range(1, 13)
    # quick: fewer draws per fit; LOO and the summary stay meaningful with 1,000
    fit_options: dict[str, Any] = {"num_samples": 1000} if options.quick else {}

    # 1. order choice on common time steps; the fits' warnings go into the report
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare_orders(y, orders, seed=seed, progress=False, **fit_options)
    notes = sorted({str(w.message) for w in caught})
    table = comparison.table.copy()
    table.index.name = "model"
    table.to_csv(folder.path("order_comparison.csv"))
    best = comparison.best

    # 2. the chosen order on every year (hold_back = p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        fit = pm.BayesianAR(order=best).fit(y, seed=seed, progress=False, **fit_options)
    fit_notes = sorted({str(w.message) for w in caught})
    if options.netcdf:
        export.save_netcdf(fit.to_arviz(), folder.path("posterior.nc"))
    fit.save(folder.path("fit.npz"))
    summary = fit.summary()
    summary.to_csv(folder.path("summary.csv"))
    stationary = fit.stationarity_probability()
    forecast = fit.forecast(20)
    forecast.to_csv(folder.path("forecast.csv"))
    shown_figures = [
        Figure(
            "order_comparison.png",
            "PSIS-LOO of each order (± 1 se), the chosen order starred",
            "plots.plot_order_comparison(comparison)",
            lambda ax: plots.plot_order_comparison(comparison, ax=ax),
            figsize=(6.0, 3.5),
        )
    ]
    comparison_figure = write_figures(folder, shown_figures)
    fit_figures = write_figures(folder, figures(fit))

    first, last = y.index[0], y.index[-1]
    d = fit.diagnostics
    shown = table[[c for c in _SHOWN if c in table.columns]]
    warning_lines = "".join(f"\n- Warning: {n}" for n in notes + fit_notes)
    how = _fit_description(fit)
    netcdf_line = (
        "- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):\n"
        "  [ar/posterior.nc](ar/posterior.nc), read with `probmodels.export.load_netcdf`.\n"
        if options.netcdf
        else '- ArviZ data: `probmodels.load("ar/fit.npz").to_arviz()` (or `probmodels demo --netcdf`\n'
        "  to write it as `ar/posterior.nc`).\n"
    )
    quick = " --quick" if options.quick else ""
    text = f"""\
Data: yearly mean sunspot numbers {first}–{last} ({len(y)} values),
`probmodels.datasets.load_sunspots()`.

### Order selection

PSIS-LOO over AR({orders[0]})…AR({orders[-1]}) with `compare_orders`; every order
conditions on the first {comparison.hold_back} years (`hold_back={comparison.hold_back}`),
so all are scored on the same {len(y) - comparison.hold_back} years. `max_pareto_k` is the
largest Pareto k of each LOO and `khat` the PSIS k-hat of an approximate fit (empty for the
exact draws); `warning` marks a row where either is above 0.7, whose LOO is unreliable.
Table: [ar/order_comparison.csv](ar/order_comparison.csv).

{markdown_table(shown, digits=2)}

**Chosen: AR({best})** by `comparison.best`, the one-standard-error rule on the reliable
fits: {comparison.reason}.
{warning_lines}

{comparison_figure}

### Fit of AR({best}) on all years

`fit = pm.BayesianAR(order={best}).fit(y, seed={seed})`: {how}, {fit.num_draws} draws,
{d.get("seconds", float("nan")):.2f} s. Table: [ar/summary.csv](ar/summary.csv).

{summary_markdown(fit)}

{fit_verdict(fit).markdown()}

Posterior probability that the process is stationary: **{stationary:.3f}**.

### Figures

The next 20 years ({forecast.index[0]}–{forecast.index[-1]}) are in
[ar/forecast.csv](ar/forecast.csv) (posterior predictive mean and 90% band). Each figure
is drawn by the call under it, with `fit = probmodels.load("ar/fit.npz")`; all of them
again: `probmodels demo --seed {seed}{quick}` (this page) or `probmodels report ar/fit.npz`.

{fit_figures}

### Files

{netcdf_line}- The fit itself: [ar/fit.npz](ar/fit.npz), read with `probmodels.load`.
"""
    return ReportSection(title="Bayesian AR(p): yearly sunspots", markdown=text, files=folder.files)


def _fit_description(fit) -> str:
    """How ``fit`` was computed, in words, with the numbers that say how far to trust it."""
    d = fit.diagnostics
    khat = d.get("khat", float("nan"))
    trust = f"PSIS k-hat {khat:.2f} (below 0.5 excellent, 0.5–0.7 usable, above 0.7 unreliable)"
    if fit.method == "exact":
        text = (
            "the default exact method (sigma drawn from its marginal posterior on an "
            "adaptive grid, then (mu, phi) from their conjugate Gaussian given sigma)"
        )
        return text + (
            f", importance-corrected for the non-Gaussian priors, {trust}"
            if d.get("importance")
            else ""
        )
    if fit.method == "svi":
        return (
            f"SVI with the `{d.get('guide')}` guide, {d.get('num_steps')} steps "
            f"(converged: {d.get('converged')}), {trust}"
        )
    return f"method `{fit.method}`"


def describe(fit: Any) -> str:
    """The data of an AR fit, in words (what ``probmodels report`` shows above its tables).

    Parameters
    ----------
    fit : ARFit
        A fit of :class:`~probmodels.BayesianAR`.

    Returns
    -------
    str
        Markdown: the series, their length and time range, missing values.
    """
    data = fit.data
    index = data.index
    missing = 0 if fit.missing_index is None else len(fit.missing_index)
    names = (
        "one series"
        if data.univariate
        else (
            f"{data.num_series} series ({', '.join(map(str, data.columns[:8]))}"
            f"{', ...' if data.num_series > 8 else ''})"
        )
    )
    return (
        f"Data: {names} of {data.num_steps} steps, {index[0]}–{index[-1]}"
        f"{f', {missing} missing values modelled' if missing else ''}; the first "
        f"{fit.hold_back} steps are conditioned on, the rest modelled."
    )


def figures(fit: Any) -> list[Figure]:
    """The figures of an AR fit: fan chart, residual diagnostics, the AR(2) stationarity
    triangle, the coefficients' intervals and, for SVI, the loss.

    Parameters
    ----------
    fit : ARFit
        A fit of :class:`~probmodels.BayesianAR`; with several series the figures are
        those of the first.

    Returns
    -------
    list of Figure
        The figures with the calls that draw them, not drawn yet.
    """
    data = fit.data
    series = None if data.univariate else data.columns[0]
    arg = "" if series is None else f"series={series!r}"
    s = 0 if series is None else list(data.columns).index(series)
    history = min(100, data.num_steps)
    shown = [
        Figure(
            "forecast.png",
            "Forecast fan chart: posterior predictive mean with 50/80/95% "
            "bands over the observed series",
            f"fit.plot_forecast(20, history={history}{', ' + arg if arg else ''})",
            lambda ax: fit.plot_forecast(20, history=history, series=series, ax=ax),
        ),
        Figure(
            "residuals.png",
            "Residual diagnostics: one-step residuals, their ACF with "
            "±1.96/√n bands, normal QQ, PIT of one-step-ahead predictive draws",
            f"fit.plot_residual_diagnostics({arg})",
            lambda axes: fit.plot_residual_diagnostics(series=series, axes=axes),
            figsize=(9.0, 6.5),
            grid=(2, 2),
        ),
    ]
    if fit.order == 2:
        shown.append(
            Figure(
                "stationarity.png",
                "Stationarity triangle of (phi1, phi2) with the posterior draws",
                f"fit.plot_stationarity({arg})",
                lambda ax: fit.plot_stationarity(series=series, ax=ax),
                figsize=(5.5, 4.5),
            )
        )
    phi = fit.draws["phi"][:, :, s]  # (chain, draw, lag)
    draws = {f"phi[{k + 1}]": phi[..., k] for k in range(phi.shape[-1])}
    shown.append(
        Figure(
            "phi_intervals.png",
            "Posterior median and 90% interval of each coefficient",
            "plots.plot_posterior_intervals({f'phi[{k}]': "
            f"fit.draws['phi'][:, :, {s}, k - 1] for k in range(1, {fit.order + 1})}})",
            lambda ax: plots.plot_posterior_intervals(draws, ax=ax),
            figsize=(6.0, 0.45 * len(draws) + 1.2),
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


def describe_many(fit: Any) -> str:
    """The data of a many-series AR fit (:meth:`~probmodels.BayesianAR.fit_many`), in words.

    Parameters
    ----------
    fit : ManyARFit
        A fit of many series.

    Returns
    -------
    str
        Markdown: the number of series fitted and skipped, and which one the figures show.
    """
    skipped = len(fit.skipped)
    first = fit.unique_ids[0] if fit.unique_ids else None
    return (
        f"Data: {len(fit.series)} series fitted ({skipped} skipped, see `fit.skipped`), "
        f"{fit.num_samples} draws each. The figures are those of the first series, "
        f"{first!r}, fitted again alone with the same seed (`fit.fit_one({first!r})`, "
        f"the draws the summary summarises)."
    )


def figures_many(fit: Any) -> list[Figure]:
    """The figures of the first series of a many-series AR fit (:func:`figures` of
    ``fit.fit_one(first id)``), their code written for that fit.

    Parameters
    ----------
    fit : ManyARFit
        A fit of many series.

    Returns
    -------
    list of Figure
        The figures, not drawn yet; none when no series was fitted.
    """
    if not fit.unique_ids:
        return []
    uid = fit.unique_ids[0]
    one = fit.fit_one(uid)
    return [
        replace(
            f,
            code=f"fit.fit_one({uid!r}).{f.code[len('fit.') :]}"
            if f.code.startswith("fit.")
            else f.code,
        )
        for f in figures(one)
    ]


def verdict_many(fit: Any) -> Verdict:
    """The verdict of a many-series AR fit: every series passes ``fit.flagged()``'s checks.

    Parameters
    ----------
    fit : ManyARFit
        A fit of many series.

    Returns
    -------
    Verdict
        Passed when no series is flagged, else one problem per flagged series (the
        first 20) with its reason.
    """
    flagged = fit.flagged()
    checks = (
        "every series: PSIS k-hat <= 0.7, Gibbs R-hat <= 1.01 and ESS >= 400 of Gibbs "
        "chains and importance weights"
    )
    if flagged.empty:
        return Verdict(ok=True, passed=(f"{len(fit.series)} series, {checks}",), problems=())
    rows = [
        f"series {uid!r}: {reason}."
        for uid, reason in flagged[["unique_id", "reason"]].itertuples(index=False)
    ][:20]
    more = f" ({len(flagged) - 20} more: `fit.flagged()`)" if len(flagged) > 20 else ""
    return Verdict(
        ok=False,
        passed=(),
        problems=(f"{len(flagged)} of {len(fit.series)} series are flagged{more}:", *rows),
    )
