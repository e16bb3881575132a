"""The demo's Bayesian AR(p) section: order choice, fit and forecast of the yearly sunspots."""

from __future__ import annotations

import warnings
from pathlib import Path

import probmodels as pm
from probmodels import export, plots
from probmodels.models.ar import compare_orders
from probmodels.report._base import ReportOptions, ReportSection, SectionFolder, markdown_table, save_figure

__all__ = ["section"]

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
    az = export._arviz()
    folder = SectionFolder(out_dir, "ar")
    seed = options.seed
    y = pm.datasets.load_sunspots()
    orders = range(1, 4) if options.quick else range(1, 13)
    # quick: fewer draws per fit; LOO and the summary stay meaningful with 1,000
    fit_options = {"num_samples": 1000} if options.quick else {}

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
    idata = fit.to_arviz()
    if options.netcdf:
        export.save_netcdf(idata, folder.path("posterior.nc"))
    fit.save(folder.path("fit.npz"))
    # exact and SVI draws are independent draws: R-hat and ESS say nothing about
    # them (the PSIS k-hat of an approximation does), so the summary keeps the statistics
    summary = az.summary(idata, var_names=["mu", "phi", "sigma"], kind="stats", round_to="none")
    summary.index.name = "parameter"
    summary.to_csv(folder.path("summary.csv"))
    stationary = fit.stationarity_probability()

    phi = export.get_group(idata, "posterior")["phi"]
    draws = {f"phi[{int(k)}]": phi.sel(lag=k).values for k in phi["lag"].values}
    save_figure(lambda ax: plots.plot_posterior_intervals(draws, ax=ax),
                folder.path("phi_intervals.png"), figsize=(6.0, 0.45 * len(draws) + 1.2))
    forecast = fit.forecast(20)
    forecast.to_csv(folder.path("forecast.csv"))
    save_figure(lambda ax: fit.plot_forecast(20, history=100, ax=ax), folder.path("forecast.png"))
    has_loss = len(fit.losses) > 0
    if has_loss:
        save_figure(lambda ax: plots.plot_loss(fit.losses, ax=ax), folder.path("loss.png"))

    first, last = y.index[0], y.index[-1]
    d = fit.diagnostics
    shown = table[[c for c in _SHOWN if c in table.columns]]
    warning_lines = "".join(f"\n- Warning: {n}" for n in notes + fit_notes)
    how = _fit_description(fit)
    netcdf_line = (
        "- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):\n"
        "  [ar/posterior.nc](ar/posterior.nc), read with `probmodels.export.load_netcdf`.\n"
        if options.netcdf else
        "- ArviZ data: `probmodels.load(\"ar/fit.npz\").to_arviz()` (or `probmodels demo --netcdf`\n"
        "  to write it as `ar/posterior.nc`).\n")
    loss_line = "- Loss history: ![loss](ar/loss.png)\n" if has_loss else ""
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

### Fit of AR({best}) on all years

`pm.BayesianAR(order={best}).fit(y, seed={seed})`: {how}, {fit.num_draws} draws,
{d.get("seconds", float("nan")):.2f} s. Summary: [ar/summary.csv](ar/summary.csv).

{markdown_table(summary, digits=3)}

Posterior probability that the process is stationary: **{stationary:.3f}**.

![phi intervals](ar/phi_intervals.png)

### Forecast

The next 20 years ({forecast.index[0]}–{forecast.index[-1]}), posterior predictive mean
and 90% band: [ar/forecast.csv](ar/forecast.csv).

![forecast](ar/forecast.png)

### Files

{netcdf_line}- The fit itself: [ar/fit.npz](ar/fit.npz), read with `probmodels.load`.
{loss_line}"""
    return ReportSection(title="Bayesian AR(p): yearly sunspots", markdown=text, files=folder.files)


def _fit_description(fit) -> str:
    """How ``fit`` was computed, in words, with the numbers that say how far to trust it."""
    d = fit.diagnostics
    khat = d.get("khat", float("nan"))
    trust = f"PSIS k-hat {khat:.2f} (below 0.5 excellent, 0.5–0.7 usable, above 0.7 unreliable)"
    if fit.method == "exact":
        text = ("the default exact method (sigma drawn from its marginal posterior on an "
                "adaptive grid, then (mu, phi) from their conjugate Gaussian given sigma)")
        return text + (f", importance-corrected for the non-Gaussian priors, {trust}"
                       if d.get("importance") else "")
    if fit.method == "svi":
        return (f"SVI with the `{d.get('guide')}` guide, {d.get('num_steps')} steps "
                f"(converged: {d.get('converged')}), {trust}")
    return f"method `{fit.method}`"
