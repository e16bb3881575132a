r"""AR(p) plots: the forecast fan chart, residual diagnostics, the AR(2) stationarity
region and the LOO order comparison.

The residuals are those of the posterior mean one-step prediction,

.. math::

    r_t = y_t - \mathbb E[\mu + \textstyle\sum_i \phi_i y_{t-i} \mid \text{data}],
    \qquad t = h, \dots, T - 1,

over the modelled steps (from the fit's ``hold_back`` :math:`h`; steps whose
value is missing are left out). The probability integral transform of a step is
:math:`\mathrm{PIT}_t = \frac1S \sum_s 1\{\tilde y_t^{(s)} \le y_t\}` with
:math:`\tilde y^{(s)}` the one-step-ahead posterior-predictive draws
(:meth:`~probmodels.models.ar.result.ARFit.posterior_predictive`); for a calibrated
model its histogram is flat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from probmodels._validation import check_int
from probmodels.plots.common import _x, axes, plot_forecast, plot_loo_comparison

__all__ = [
    "ar_residuals",
    "pit_values",
    "plot_fan_chart",
    "plot_order_comparison",
    "plot_pit_histogram",
    "plot_residual_acf",
    "plot_residual_diagnostics",
    "plot_residual_qq",
    "plot_residuals",
    "plot_stationarity_region",
]

#: the central intervals of the fan chart
FAN_LEVELS = (0.5, 0.8, 0.95)
#: the normal quantile of the ACF's 95% band
_Z95 = 1.96
#: vertices (phi1, phi2) of the AR(2) stationarity triangle
STATIONARY_TRIANGLE = ((-2.0, -1.0), (2.0, -1.0), (0.0, 1.0))


def _series_position(fit, series) -> tuple[int, str]:
    """The position and label of ``series`` (default: the first) among the fit's series."""
    columns = list(fit.data.columns)
    col = columns[0] if series is None else series
    if col not in columns:
        raise ValueError(f"series {col!r} is not in the fit; choose one of {columns}.")
    return columns.index(col), col


def _check_levels(levels: Sequence[float]) -> list[float]:
    """The levels as floats in (0, 1), widest first (no repeats)."""
    values = [float(v) for v in np.atleast_1d(levels)]
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise ValueError(
            f"levels must be probabilities strictly between 0 and 1, e.g. "
            f"(0.5, 0.8, 0.95); got {levels!r}."
        )
    return sorted(set(values), reverse=True)


def plot_fan_chart(
    fit,
    steps: int = 20,
    *,
    levels: Sequence[float] = FAN_LEVELS,
    series: str | None = None,
    history: int | None = None,
    seed: int | None = None,
    ax=None,
):
    """Forecast fan chart: the observed series, the posterior-predictive forecast mean and
    its central intervals, one shaded band per level, nested (inner bands darker).

    The bands are the quantiles ``(1 - level) / 2`` and ``(1 + level) / 2`` of the
    simulated future paths (:meth:`~probmodels.models.ar.result.ARFit.forecast_paths`,
    each draw of the parameters run forward with fresh noise), as
    ``fit.forecast(steps, quantiles=...)`` reports them.

    Parameters
    ----------
    fit : ARFit
        A fitted :class:`~probmodels.BayesianAR`.
    steps : int, default 20
        Steps ahead.
    levels : sequence of float, default (0.5, 0.8, 0.95)
        Probabilities of the central intervals.
    series : str, optional
        The series to draw (default: the first).
    history : int, optional
        Draw only the last ``history`` observed values (default: all).
    seed : int, optional
        Seed of the forecast noise (default: the fit's, so repeated calls agree).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` is the observed series, ``ax.lines[1]`` the forecast mean and
        ``ax.collections`` the bands, widest first, labelled ``"95%"``, ``"80%"``, ...
    """
    widest_first = _check_levels(levels)
    s, col = _series_position(fit, series)
    quantiles = sorted({q for lv in widest_first for q in ((1 - lv) / 2, (1 + lv) / 2)})
    table = fit.forecast(steps, quantiles=quantiles, seed=seed)
    if not fit.data.univariate:
        table = table[col]
    hist = pd.Series(fit.data.values[:, s], index=fit.data.index, name=col)
    if history is not None:
        hist = hist.iloc[-check_int(history, "history", minimum=1) :]
    bands = [(f"q{(1 - lv) / 2:g}", f"q{(1 + lv) / 2:g}") for lv in widest_first]
    labels = [
        f"{lv:.0%}" if round(lv * 100, 6).is_integer() else f"{lv:.1%}" for lv in widest_first
    ]
    return plot_forecast(
        hist,
        table,
        bands=bands,
        labels=labels,
        ax=ax,
        title=f"{fit.ar!r} forecast, {', '.join(reversed(labels))} intervals",
    )


def ar_residuals(fit, *, series: str | None = None) -> pd.Series:
    """Residuals of the posterior mean one-step prediction of each modelled step.

    Parameters
    ----------
    fit : ARFit
    series : str, optional
        The series (default: the first).

    Returns
    -------
    pandas.Series
        ``y_t - E[mu + sum_i phi_i y_{t-i}]`` indexed by the time labels of the
        modelled steps (from ``fit.hold_back``), without the steps whose value is
        missing (a missing lag takes each draw's imputed value).
    """
    s, col = _series_position(fit, series)
    h = fit.hold_back
    n = fit.data.num_steps - h
    total = np.zeros(n)
    count = 0
    for sl in fit._chunks(n):
        X, _ = fit._rows(sl, h)
        total += fit._loc(X, sl)[:, :, s].sum(0)  # (draws, n, S) -> (n,)
        count += sl.stop - sl.start
    y = fit.data.values[h:, s]
    keep = ~np.isnan(y)
    return pd.Series((y - total / count)[keep], index=fit.data.index[h:][keep], name=col)


def pit_values(fit, *, series: str | None = None, seed: int | None = None) -> pd.Series:
    """PIT of each modelled step under its one-step-ahead posterior-predictive draws.

    Parameters
    ----------
    fit : ARFit
    series : str, optional
        The series (default: the first).
    seed : int, optional
        Seed of the predictive draws (default: the fit's).

    Returns
    -------
    pandas.Series
        ``mean_s 1{y_rep_t^(s) <= y_t}`` in ``[0, 1]``, indexed like :func:`ar_residuals`.
    """
    s, col = _series_position(fit, series)
    h = fit.hold_back
    pp = np.asarray(fit.posterior_predictive(seed=seed))
    pp = pp.reshape((-1,) + pp.shape[2:])  # (draws, time[, series])
    if pp.ndim == 3:
        pp = pp[:, :, s]
    y = fit.data.values[h:, s]
    keep = ~np.isnan(y)
    pit = (pp[:, keep] <= y[keep]).mean(0)
    return pd.Series(pit, index=fit.data.index[h:][keep], name=col)


def plot_residuals(fit, *, series: str | None = None, ax=None):
    """The residual series (:func:`ar_residuals`) against time, with a zero line.

    Parameters
    ----------
    fit : ARFit
    series : str, optional
        The series (default: the first).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` holds the residuals.
    """
    r = ar_residuals(fit, series=series)
    ax = axes(ax)
    ax.plot(_x(r.index), r.to_numpy(), color="C0", lw=1.0, marker="." if len(r) < 100 else None)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_ylabel("residual")
    ax.set_title("residuals of the posterior mean one-step prediction")
    return ax


def _acf(r: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations at lags ``0..nlags`` (demeaned, divided by ``n``)."""
    d = r - r.mean()
    n = d.size
    return np.array([d[: n - k] @ d[k:] for k in range(nlags + 1)]) / (d @ d)


def plot_residual_acf(fit, *, nlags: int | None = None, series: str | None = None, ax=None):
    """Autocorrelation of the residuals at lags ``1..nlags`` with the 95% band
    ``± 1.96 / sqrt(n)`` of white noise (``n`` residuals).

    Parameters
    ----------
    fit : ARFit
    nlags : int, optional
        The largest lag (default ``min(10 log10(n), n - 1)``, as statsmodels).
    series : str, optional
        The series (default: the first).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.patches`` are the bars of lags ``1..nlags``; the two dashed lines
        ``ax.lines[0]`` and ``ax.lines[1]`` are the band at ``+1.96 / sqrt(n)`` and
        ``-1.96 / sqrt(n)``.
    """
    r = ar_residuals(fit, series=series).to_numpy()
    n = r.size
    if n < 3:
        raise ValueError(f"the residual ACF needs at least 3 residuals, this fit has {n}.")
    nlags = (
        min(int(10 * np.log10(n)), n - 1) if nlags is None else check_int(nlags, "nlags", minimum=1)
    )
    if nlags >= n:
        raise ValueError(f"nlags must be below the number of residuals {n}, got {nlags}.")
    rho = _acf(r, nlags)
    band = _Z95 / np.sqrt(n)
    ax = axes(ax)
    lags = np.arange(1, nlags + 1)
    ax.axhline(band, color="C3", ls="--", lw=1.0, label="±1.96/√n")
    ax.axhline(-band, color="C3", ls="--", lw=1.0)
    ax.bar(lags, rho[1:], width=0.3, color="C0")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("lag")
    ax.set_ylabel("autocorrelation")
    ax.set_title(f"ACF of the residuals (n = {n})")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_residual_qq(fit, *, series: str | None = None, ax=None):
    """Normal QQ plot of the residuals (``scipy.stats.probplot``) with its least-squares line.

    Parameters
    ----------
    fit : ARFit
    series : str, optional
        The series (default: the first).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` holds the points (theoretical quantiles, ordered residuals),
        ``ax.lines[1]`` the line.
    """
    from scipy import stats

    r = ar_residuals(fit, series=series).to_numpy()
    (osm, osr), (slope, intercept, _) = stats.probplot(r, dist="norm")
    ax = axes(ax, figsize=(5.0, 5.0))
    ax.plot(osm, osr, "o", color="C0", ms=3)
    ax.plot(osm, slope * osm + intercept, color="C3", lw=1.0)
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("ordered residual")
    ax.set_title("normal QQ plot of the residuals")
    return ax


def plot_pit_histogram(
    fit, *, bins: int = 10, series: str | None = None, seed: int | None = None, ax=None
):
    """Histogram of the PIT of one-step-ahead posterior-predictive draws
    (:func:`pit_values`), with the count a calibrated model expects per bin.

    Parameters
    ----------
    fit : ARFit
    bins : int, default 10
        Equal bins on ``[0, 1]``.
    series : str, optional
        The series (default: the first).
    seed : int, optional
        Seed of the predictive draws (default: the fit's).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.patches`` are the bins (heights are counts); ``ax.lines[0]`` is the
        uniform expectation ``n / bins``.
    """
    bins = check_int(bins, "bins", minimum=1)
    pit = pit_values(fit, series=series, seed=seed).to_numpy()
    ax = axes(ax)
    ax.hist(pit, bins=bins, range=(0.0, 1.0), color="C0", edgecolor="white")
    ax.axhline(pit.size / bins, color="C3", ls="--", lw=1.0, label="uniform")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("PIT of the one-step-ahead predictive")
    ax.set_ylabel("count")
    ax.set_title("PIT histogram (flat if calibrated)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_residual_diagnostics(
    fit,
    *,
    series: str | None = None,
    nlags: int | None = None,
    bins: int = 10,
    seed: int | None = None,
    axes=None,
):
    """The four residual checks on one 2 x 2 figure: residual series, ACF, normal QQ and
    PIT histogram (:func:`plot_residuals`, :func:`plot_residual_acf`,
    :func:`plot_residual_qq`, :func:`plot_pit_histogram`).

    Parameters
    ----------
    fit : ARFit
    series : str, optional
        The series (default: the first).
    nlags : int, optional
        The ACF's largest lag.
    bins : int, default 10
        PIT histogram bins.
    seed : int, optional
        Seed of the predictive draws of the PIT.
    axes : array of matplotlib.axes.Axes, optional
        Four Axes (any shape, read row by row); a new 2 x 2 figure when None.

    Returns
    -------
    numpy.ndarray
        The Axes, in the shape given (``(2, 2)`` for a new figure).
    """
    if axes is None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(11.0, 7.5), layout="constrained")
        fig.suptitle(f"{fit.ar!r}: residual diagnostics")
    grid = np.asarray(axes, dtype=object)
    if grid.size != 4:
        raise ValueError(f"axes must hold 4 Axes (e.g. plt.subplots(2, 2)[1]), got {grid.size}.")
    flat = grid.ravel()
    plot_residuals(fit, series=series, ax=flat[0])
    plot_residual_acf(fit, nlags=nlags, series=series, ax=flat[1])
    plot_residual_qq(fit, series=series, ax=flat[2])
    plot_pit_histogram(fit, bins=bins, series=series, seed=seed, ax=flat[3])
    return grid


def plot_stationarity_region(fit, *, series: str | None = None, ax=None):
    r"""The AR(2) stationarity triangle in ``(phi1, phi2)`` with the posterior draws.

    An AR(2) is stationary inside the triangle ``phi2 < 1 + phi1``,
    ``phi2 < 1 - phi1``, ``phi2 > -1`` (vertices ``(-2, -1)``, ``(2, -1)``,
    ``(0, 1)``); below the parabola ``phi2 = -phi1^2 / 4`` the characteristic
    roots are complex (quasi-periodic cycles, as in the sunspots).

    Parameters
    ----------
    fit : ARFit
        A fit of order 2.
    series : str, optional
        The series (default: the first).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.patches[0]`` is the triangle, ``ax.collections[0]`` the draws
        (``(chain * draw, 2)`` offsets), ``ax.lines[0]`` the parabola.
    """
    from matplotlib.patches import Polygon

    if fit.order != 2:
        raise ValueError(
            f"the stationarity triangle is drawn for AR(2) fits; this fit has "
            f"order {fit.order}. Use fit.stationarity_probability() for any order."
        )
    s, _ = _series_position(fit, series)
    phi = fit._flat("phi")[:, s, :]  # (draws, 2)
    ax = axes(ax, figsize=(5.5, 4.5))
    ax.add_patch(
        Polygon(
            STATIONARY_TRIANGLE,
            closed=True,
            facecolor="0.92",
            edgecolor="k",
            lw=1.0,
            label="stationary",
        )
    )
    g = np.linspace(-2.0, 2.0, 201)
    ax.plot(g, -(g**2) / 4.0, color="0.4", ls="--", lw=0.8, label="complex roots below")
    ax.scatter(phi[:, 0], phi[:, 1], s=3, color="C0", alpha=0.3, label="posterior draws")
    prob = fit.stationarity_probability()
    prob = float(prob if fit.data.univariate else prob.iloc[s])
    ax.set_xlim(-2.2, 2.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_xlabel("phi1")
    ax.set_ylabel("phi2")
    ax.set_title(f"AR(2) stationarity region, P(stationary) = {prob:.3f}")
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    return ax


def plot_order_comparison(comparison, *, ax=None):
    """PSIS-LOO ``elpd_loo`` (± 1 se) of each AR order, the chosen order starred.

    Parameters
    ----------
    comparison : OrderComparison
        From :func:`~probmodels.models.ar.compare.compare_orders`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[1]`` marks ``comparison.best`` (labelled ``"best: AR(p)"``).
    """
    orders = {f"AR({p})": p for p in comparison.fits}
    ax = plot_loo_comparison(
        comparison.table, orders, f"AR({comparison.best})", xlabel="order p", ax=ax
    )
    ax.set_title(f"PSIS-LOO by order (all scored from step {comparison.hold_back})")
    return ax
