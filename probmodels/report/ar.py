"""The demo's Bayesian AR(p) section: order choice, fit and forecast of the yearly sunspots."""

from __future__ import annotations

import warnings
from pathlib import Path

import probmodels as pm
from probmodels import export, plots
from probmodels.models.ar import compare_orders
from probmodels.report._base import (ReportOptions, ReportSection, SectionFolder, choice_note,
                                     markdown_table, save_figure)

__all__ = ["section"]

#: the columns of the order-comparison table shown in index.md (all are in the CSV)
_SHOWN = ("rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse", "warning", "khat")


def section(out_dir: Path, options: ReportOptions) -> ReportSection:
    """Bayesian AR(p) on the yearly sunspot numbers.

    Compares AR(1)..AR(12) (AR(1)..AR(3) when ``quick``) by PSIS-LOO, every
    order conditioned on the same first 12 (3) years, and takes the order
    that :func:`~probmodels.models.ar.compare_orders` recommends
    (``comparison.best``); then refits that order on all years with the
    default SVI fit and writes into ``out_dir / "ar"``: ``order_comparison.csv``,
    ``summary.csv``, ``forecast.csv``, ``phi_intervals.png``, ``forecast.png``,
    ``loss.png``, ``fit.npz`` and, with ``options.netcdf``, ``posterior.nc``.
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
    if "khat" not in table.columns:
        table["khat"] = [comparison.fits[int(str(m)[3:-1])].diagnostics.get("khat", float("nan"))
                         for m in table.index]
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
    # SVI draws are independent draws from the guide: R-hat and ESS say nothing
    # about them (PSIS k-hat does), so the summary keeps the statistics only
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
    save_figure(lambda ax: plots.plot_loss(fit.losses, ax=ax), folder.path("loss.png"))

    first, last = y.index[0], y.index[-1]
    d = fit.diagnostics
    khat = d.get("khat", float("nan"))
    shown = table[[c for c in _SHOWN if c in table.columns]]
    note = choice_note(table, f"AR({best})")
    warning_lines = "".join(f"\n- Warning: {n}" for n in notes + fit_notes)
    netcdf_line = (
        "- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):\n"
        "  [ar/posterior.nc](ar/posterior.nc), read with `probmodels.export.load_netcdf`.\n"
        if options.netcdf else
        "- ArviZ data: `probmodels.load(\"ar/fit.npz\").to_arviz()` (or `probmodels demo --netcdf`\n"
        "  to write it as `ar/posterior.nc`).\n")
    text = f"""\
Data: yearly mean sunspot numbers {first}–{last} ({len(y)} values),
`probmodels.datasets.load_sunspots()`.

### Order selection

PSIS-LOO over AR({orders[0]})…AR({orders[-1]}) with `compare_orders`; every order
conditions on the first {comparison.hold_back} years (`hold_back={comparison.hold_back}`),
so all are scored on the same {len(y) - comparison.hold_back} years; `khat` is the PSIS
k-hat of each variational fit (above 0.7 its LOO is unreliable).
Table: [ar/order_comparison.csv](ar/order_comparison.csv).

{markdown_table(shown, digits=2)}

**Chosen: AR({best})** by `comparison.best`: the simplest order whose `elpd_loo` is within one
`dse` of the top ranked, among the fits whose LOO is reliable (k-hat at most 0.7).{note}
{warning_lines}

### Fit of AR({best}) on all years

`pm.BayesianAR(order={best}).fit(y, seed={seed})`: SVI with the `{d.get("guide")}` guide,
{d.get("num_steps")} steps (converged: {d.get("converged")}), {fit.num_draws} draws,
PSIS k-hat {khat:.2f} (below 0.5 excellent, 0.5–0.7 usable, above 0.7 unreliable),
{d.get("seconds", float("nan")):.1f} s. Summary: [ar/summary.csv](ar/summary.csv).

{markdown_table(summary, digits=3)}

Posterior probability that the process is stationary: **{stationary:.3f}**.

![phi intervals](ar/phi_intervals.png)

### Forecast

The next 20 years ({forecast.index[0]}–{forecast.index[-1]}), posterior predictive mean
and 90% band: [ar/forecast.csv](ar/forecast.csv).

![forecast](ar/forecast.png)

### Files

{netcdf_line}- The fit itself: [ar/fit.npz](ar/fit.npz), read with `probmodels.load`.
- SVI loss: ![loss](ar/loss.png)
"""
    return ReportSection(title="Bayesian AR(p): yearly sunspots", markdown=text, files=folder.files)
