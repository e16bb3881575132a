"""Bayesian AR on the sunspot numbers: fan chart, residual diagnostics, order choice, AR(2) stationarity.

A quick version of ``examples/ar_sunspots.py``: the default exact posterior of
an AR(9) on 309 years of sunspots, its 20-year forecast with 50/80/95% bands,
the residual diagnostics (residual series, ACF with its ±1.96/√n band, normal
QQ, PIT of the one-step-ahead predictive draws), the PSIS-LOO comparison of
orders 1..12, and the posterior of an AR(2) inside its stationarity triangle.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import probmodels as pm
from probmodels import plots

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
y = pm.datasets.load_sunspots()                # pandas Series, yearly 1700..2008

fit = pm.BayesianAR(order=9).fit(y, seed=0, progress=False)

fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
plots.plot_fan_chart(fit, 20, history=100, ax=ax)
fig.savefig(out / "ar_fan_chart.png", dpi=90)

fig, axes = plt.subplots(2, 2, figsize=(9, 6), layout="constrained")
plots.plot_residual_diagnostics(fit, seed=0, axes=axes)
fig.savefig(out / "ar_residual_diagnostics.png", dpi=90)

comparison = pm.compare_orders(y, range(1, 13), seed=0, progress=False)
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
plots.plot_order_comparison(comparison, ax=ax)
fig.savefig(out / "ar_order_comparison.png", dpi=90)

ar2 = pm.BayesianAR(order=2).fit(y, seed=0, progress=False)
fig, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
plots.plot_stationarity_region(ar2, ax=ax)
fig.savefig(out / "ar_stationarity_region.png", dpi=90)
