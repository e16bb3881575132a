"""Plots (matplotlib). Every function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_forecast", "plot_loss", "plot_posterior_intervals"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4))
    return ax


def _x(index: pd.Index):
    """Plottable x values: periods become timestamps, everything else as is."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    return index


def plot_forecast(history: pd.Series, forecast: pd.DataFrame, *, lower: str, upper: str,
                  mean: str = "mean", ax=None, title: str | None = None):
    """History as a line, the forecast mean dashed and a shaded ``[lower, upper]`` band.

    Parameters
    ----------
    history : pandas.Series
        Observed values indexed by time.
    forecast : pandas.DataFrame
        Indexed by the future time labels, with columns ``mean``, ``lower``, ``upper``.
    """
    ax = _axes(ax)
    ax.plot(_x(history.index), history.to_numpy(), color="k", lw=1.0, label="observed")
    fx = _x(forecast.index)
    ax.plot(fx, forecast[mean].to_numpy(), color="C0", ls="--", lw=1.5, label="forecast mean")
    ax.fill_between(fx, forecast[lower].to_numpy(), forecast[upper].to_numpy(), color="C0",
                    alpha=0.25, label=f"{lower}-{upper}")
    ax.set_ylabel(str(history.name) if history.name is not None else "value")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", frameon=False)
    return ax


def plot_loss(losses: np.ndarray, *, ax=None, window: int = 50):
    """SVI loss per step with a running mean over ``window`` steps."""
    ax = _axes(ax)
    losses = np.asarray(losses, dtype=float)
    ax.plot(losses, color="0.7", lw=0.5, label="loss")
    if losses.size >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, losses.size), smooth, color="C0", label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("negative ELBO (nats)")
    ax.legend(frameon=False)
    return ax


def plot_posterior_intervals(draws: dict[str, np.ndarray], *, ax=None,
                             interval: tuple[float, float] = (0.05, 0.95)):
    """Posterior median and interval of each scalar, one row per parameter entry.

    ``draws`` maps a label to a 1-D array of draws.
    """
    ax = _axes(ax)
    labels = list(draws)
    lo, hi = interval
    for i, label in enumerate(labels):
        d = np.asarray(draws[label]).ravel()
        q = np.quantile(d, [lo, 0.5, hi])
        ax.plot([q[0], q[2]], [i, i], color="C0", lw=2)
        ax.plot(q[1], i, "o", color="C0")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(f"posterior median and {int(round((hi - lo) * 100))}% interval")
    return ax
