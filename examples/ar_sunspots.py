"""Bayesian AR(p) on 309 years of sunspot numbers, from order choice to forecast.

Run it with an output folder for the plots (a new temporary folder by default):

    python examples/ar_sunspots.py [OUT_DIR]

Steps: choose the order by PSIS-LOO, fit it with the default variational fit,
summarise the posterior, forecast 20 years, ask whether the process is
stationary, save the fit and load it back, and check the variational posterior
against a short NUTS run on the same order. Everything up to NUTS takes under
half a minute; NUTS (2 chains x 1,000 iterations of a 9-lag model) takes one
to three minutes.
"""

import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import probmodels as pm  # noqa: E402
from probmodels import plots  # noqa: E402
from probmodels.models.ar import compare_orders  # noqa: E402

with warnings.catch_warnings():
    # ArviZ 0.23 announces its 1.0 refactor on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az  # noqa: E402

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ar_sunspots_"))
out.mkdir(parents=True, exist_ok=True)

# ---------------------------------------------------------------- data
y = pm.datasets.load_sunspots()          # pandas Series, annual PeriodIndex 1700..2008
print(f"{len(y)} yearly values, {y.index[0]}-{y.index[-1]}")

# ------------------------------------------------------- order choice
# Every order conditions on the first 12 years, so LOO scores all on the same years.
comparison = compare_orders(y, range(1, 13), seed=0, progress=False)
print(comparison.table[["rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse"]].round(2))
p = comparison.best_order
print(f"best order by PSIS-LOO: AR({p})")

# ---------------------------------------------------- the three lines
fit = pm.BayesianAR(order=p).fit(y, seed=0, progress=False)   # refit on all years
idata = fit.to_arviz()
print(az.summary(idata, var_names=["mu", "phi", "sigma"], kind="stats"))
print(f"guide {fit.diagnostics['guide']!r}, PSIS k-hat {fit.diagnostics['khat']:.2f}, "
      f"{fit.diagnostics['seconds']:.1f} s")

# ---------------------------------------------- forecast, stationarity
print(fit.forecast(steps=20).round(1).head(10))
print(f"P(stationary | data) = {fit.stationarity_probability():.3f}")

# ----------------------------------------------------- save and reload
path = fit.save(out / "ar_sunspots_fit.npz", overwrite=True)
again = pm.load(path)
np.testing.assert_allclose(again.forecast(20).to_numpy(), fit.forecast(20).to_numpy())
print(f"saved to {path} and loaded back: the same forecast")

# ---------------------------------------------------------------- plots
fig, ax = plt.subplots(figsize=(8, 4))
fit.plot_forecast(20, history=100, ax=ax)
fig.savefig(out / "forecast.png", dpi=110)
plt.close(fig)

fig, ax = plt.subplots(figsize=(6, 4))
phi = fit.draws["phi"][..., 0, :]                     # (chain, draw, lag); one series
plots.plot_posterior_intervals({f"phi[{k + 1}]": phi[..., k] for k in range(p)}, ax=ax)
fig.savefig(out / "phi_intervals.png", dpi=110)
plt.close(fig)

fig, ax = plt.subplots(figsize=(6, 3))
plots.plot_loss(fit.losses, ax=ax)
fig.savefig(out / "loss.png", dpi=110)
plt.close(fig)

# ------------------------------------------- the same order with NUTS
nuts = pm.BayesianAR(order=p).fit(y, method="nuts", num_samples=500, warmup_steps=500,
                                  seed=0, progress=False)
print(f"NUTS: {nuts.num_chains} chains x {nuts.num_draws} draws, "
      f"{nuts.diagnostics['divergences']} divergences, {nuts.diagnostics['seconds']:.0f} s")
print(f"{'parameter':>10} {'SVI mean':>10} {'NUTS mean':>10} {'diff / NUTS sd':>15}")
for name in ("mu", "phi", "sigma"):
    a = fit.draws[name].reshape(-1, *fit.draws[name].shape[2:])    # (draws, series[, lag])
    b = nuts.draws[name].reshape(-1, *nuts.draws[name].shape[2:])
    for i, (ma, mb, sb) in enumerate(zip(np.ravel(a.mean(0)), np.ravel(b.mean(0)), np.ravel(b.std(0)))):
        label = f"phi[{i + 1}]" if name == "phi" else name
        print(f"{label:>10} {ma:10.3f} {mb:10.3f} {(ma - mb) / sb:15.2f}")

print(f"plots in {out}")
