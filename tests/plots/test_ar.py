"""AR plots: each drawn on a given Axes and checked against numbers computed here."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats
from statsmodels.tsa.stattools import acf

import probmodels as pm
from probmodels.models.ar.compare import compare_orders
from probmodels.plots import (
    ar_residuals,
    pit_values,
    plot_fan_chart,
    plot_order_comparison,
    plot_pit_histogram,
    plot_residual_acf,
    plot_residual_diagnostics,
    plot_residual_qq,
    plot_residuals,
    plot_stationarity_region,
)
from tests.plots.conftest import simulate_ar2

STEPS = 8


@pytest.fixture(scope="module")
def series():
    return simulate_ar2()


@pytest.fixture(scope="module")
def fit(series):
    # exact draws: milliseconds, and reproducible from the seed
    return pm.BayesianAR(order=2).fit(
        series, method="exact", seed=0, progress=False, num_samples=1000
    )


def band_edges(collection, x):
    """The lower and upper edge of a fill_between band at each of the positions ``x``."""
    v = collection.get_paths()[0].vertices
    lower = np.array([v[np.isclose(v[:, 0], xi), 1].min() for xi in x])
    upper = np.array([v[np.isclose(v[:, 0], xi), 1].max() for xi in x])
    return lower, upper


def residuals_by_hand(fit, y):
    """``y_t - (E[mu] + E[phi]' (y_{t-1}, y_{t-2}))`` on the lag matrix (linear in the
    draws, so the posterior mean prediction uses the posterior means)."""
    mu = fit.draws["mu"].reshape(-1).mean()
    phi = fit.draws["phi"].reshape(-1, 2).mean(0)
    X = np.column_stack([y[1:-1], y[:-2]])  # (T - 2, lag)
    return y[2:] - (mu + X @ phi)


# --------------------------------------------------------------------- fan chart


def test_fan_chart_bands_are_nested_and_equal_the_quantiles_of_the_forecast_paths(fit, series, ax):
    ax = plot_fan_chart(fit, STEPS, ax=ax)
    assert [c.get_label() for c in ax.collections] == ["95%", "80%", "50%"]
    paths = fit.forecast_paths(STEPS)[:, :, 0]  # (draws, steps), the fit's seed
    x = np.arange(len(series), len(series) + STEPS)
    edges = {}
    for collection, level in zip(ax.collections, (0.95, 0.8, 0.5)):
        lower, upper = band_edges(collection, x)
        q_lo, q_hi = np.quantile(paths, [(1 - level) / 2, (1 + level) / 2], axis=0)
        # the same quantiles of the same draws: float64 round-off only
        np.testing.assert_allclose(lower, q_lo, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(upper, q_hi, rtol=1e-12, atol=1e-12)
        edges[level] = lower, upper
    for inner, outer in ((0.5, 0.8), (0.8, 0.95)):
        assert np.all(edges[outer][0] < edges[inner][0]) and np.all(
            edges[inner][1] < edges[outer][1]
        )
    widths = {lv: hi - lo for lv, (lo, hi) in edges.items()}
    assert np.all(widths[0.95] > widths[0.8]) and np.all(widths[0.8] > widths[0.5])
    observed, mean = ax.lines[:2]
    np.testing.assert_array_equal(observed.get_ydata(), series)
    np.testing.assert_allclose(mean.get_ydata(), paths.mean(0), rtol=1e-12)


def test_plot_forecast_draws_the_fan_chart(fit, ax):
    from matplotlib.figure import Figure

    ax = fit.plot_forecast(STEPS, levels=(0.9, 0.6), ax=ax)
    reference = plot_fan_chart(fit, STEPS, levels=(0.6, 0.9), ax=Figure().add_subplot())
    assert [c.get_label() for c in ax.collections] == ["90%", "60%"]
    for mine, theirs in zip(ax.collections, reference.collections):
        np.testing.assert_array_equal(mine.get_paths()[0].vertices, theirs.get_paths()[0].vertices)


def test_fan_chart_rejects_levels_outside_zero_one_and_unknown_series(fit, ax):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        plot_fan_chart(fit, STEPS, levels=(0.5, 95), ax=ax)
    with pytest.raises(ValueError, match="not in the fit; choose one of"):
        plot_fan_chart(fit, STEPS, series="other", ax=ax)


# --------------------------------------------------------------------- residuals


def test_residuals_are_those_of_the_posterior_mean_prediction_on_the_lag_matrix(fit, series, ax):
    expected = residuals_by_hand(fit, series)
    # exact float64 path: the two sums differ in order only
    np.testing.assert_allclose(ar_residuals(fit).to_numpy(), expected, rtol=1e-10, atol=1e-10)
    ax = plot_residuals(fit, ax=ax)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(2, len(series)))


def test_acf_bars_equal_statsmodels_and_the_band_is_1_96_over_sqrt_n(fit, series, ax):
    r = residuals_by_hand(fit, series)
    ax = plot_residual_acf(fit, nlags=12, ax=ax)
    heights = np.array([p.get_height() for p in ax.patches])
    np.testing.assert_allclose(heights, acf(r, nlags=12, fft=False)[1:], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(
        [p.get_x() + p.get_width() / 2 for p in ax.patches], np.arange(1, 13)
    )
    band = 1.96 / np.sqrt(len(r))
    assert list(ax.lines[0].get_ydata()) == [band, band]
    assert list(ax.lines[1].get_ydata()) == [-band, -band]
    # default lags as statsmodels: min(10 log10(n), n - 1)
    ax.clear()
    assert len(plot_residual_acf(fit, ax=ax).patches) == int(10 * np.log10(len(r)))


def test_qq_points_equal_scipy_probplot(fit, series, ax):
    (osm, osr), (slope, intercept, _) = stats.probplot(residuals_by_hand(fit, series), dist="norm")
    ax = plot_residual_qq(fit, ax=ax)
    points, line = ax.lines[:2]
    np.testing.assert_allclose(points.get_xdata(), osm, rtol=1e-12)
    np.testing.assert_allclose(points.get_ydata(), osr, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(line.get_ydata(), slope * osm + intercept, rtol=1e-8, atol=1e-8)


def test_pit_histogram_counts_the_pit_of_one_step_ahead_predictive_draws(fit, series, ax):
    pp = fit.posterior_predictive(seed=3).reshape(-1, len(series) - 2)  # (draws, time)
    pit = (pp <= series[2:]).mean(0)
    np.testing.assert_array_equal(pit_values(fit, seed=3).to_numpy(), pit)
    assert pit.min() >= 0.0 and pit.max() <= 1.0
    ax = plot_pit_histogram(fit, bins=8, seed=3, ax=ax)
    counts = np.array([p.get_height() for p in ax.patches])
    np.testing.assert_array_equal(counts, np.histogram(pit, bins=8, range=(0, 1))[0])
    assert counts.sum() == len(series) - 2
    assert list(ax.lines[0].get_ydata()) == [(len(series) - 2) / 8] * 2
    # a well-specified model on its own simulated data: flat up to chance (chi-square, 7 dof)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_residual_diagnostics_fill_the_given_axes_with_the_four_panels(fit):
    from matplotlib.figure import Figure

    grid = Figure().subplots(2, 2)
    out = plot_residual_diagnostics(fit, nlags=6, bins=5, seed=3, axes=grid)
    assert out.shape == (2, 2) and all(a is b for a, b in zip(out.ravel(), grid.ravel()))
    singles = [
        f(fit, ax=Figure().add_subplot(), **kw)
        for f, kw in (
            (plot_residuals, {}),
            (plot_residual_acf, {"nlags": 6}),
            (plot_residual_qq, {}),
            (plot_pit_histogram, {"bins": 5, "seed": 3}),
        )
    ]
    for panel, single in zip(out.ravel(), singles):
        assert panel.get_title() == single.get_title()
        for a, b in zip(panel.lines, single.lines):
            np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())
        assert [p.get_height() for p in panel.patches] == [p.get_height() for p in single.patches]
    with pytest.raises(ValueError, match="must hold 4 Axes"):
        plot_residual_diagnostics(fit, axes=grid[0])
    new = fit.plot_residual_diagnostics()
    assert new.shape == (2, 2) and len(new[0, 1].patches) > 0


# --------------------------------------------------------------------- stationarity


def test_stationarity_region_is_the_ar2_triangle_with_the_posterior_draws(fit, ax):
    ax = plot_stationarity_region(fit, ax=ax)
    np.testing.assert_array_equal(ax.patches[0].get_xy()[:3], [(-2, -1), (2, -1), (0, 1)])
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), fit.draws["phi"].reshape(-1, 2))
    assert f"P(stationary) = {fit.stationarity_probability():.3f}" in ax.get_title()
    assert fit.plot_stationarity(ax=ax) is ax


def test_stationarity_region_refuses_other_orders(series, ax):
    fit3 = pm.BayesianAR(order=3).fit(
        series, method="exact", seed=0, progress=False, num_samples=50
    )
    with pytest.raises(ValueError, match="drawn for AR\\(2\\) fits; this fit has order 3"):
        plot_stationarity_region(fit3, ax=ax)


# --------------------------------------------------------------------- order comparison


def test_order_comparison_marks_the_best_order(series, ax):
    comparison = compare_orders(series, orders=[1, 2, 3], seed=0, num_samples=400)
    ax = plot_order_comparison(comparison, ax=ax)
    table = comparison.table
    elpd = [table.loc[f"AR({p})", "elpd_loo"] for p in (1, 2, 3)]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), elpd)
    best = ax.lines[1]
    assert best.get_label() == f"best: AR({comparison.best})"
    assert list(best.get_xdata()) == [comparison.best]
    assert list(best.get_ydata()) == [table.loc[f"AR({comparison.best})", "elpd_loo"]]
    # the error bars are +- se
    bars = ax.collections[0].get_segments()
    np.testing.assert_allclose(
        [s[1, 1] - s[0, 1] for s in bars],
        [2 * table.loc[f"AR({p})", "se"] for p in (1, 2, 3)],
        rtol=1e-12,
    )
    # the comparison's own plot() draws the same
    again = comparison.plot(ax=Figure().add_subplot())
    for a, b in zip(ax.lines, again.lines):
        np.testing.assert_array_equal(a.get_xydata(), b.get_xydata())


def test_residuals_and_pit_of_one_series_of_several_leave_out_missing_steps(ax):
    import pandas as pd

    a, b = simulate_ar2(120, seed=1), simulate_ar2(120, seed=2)
    a_missing, b_missing = a.copy(), b.copy()
    a_missing[30], b_missing[60] = np.nan, np.nan
    frame = pd.DataFrame({"a": a_missing, "b": b_missing})
    fit = pm.BayesianAR(order=2).fit(frame, method="exact", seed=0, progress=False, num_samples=300)
    r = ar_residuals(fit, series="b")
    # step 60 is missing: its residual is left out, the other 117 steps stay
    assert 60 not in r.index and len(r) == 117
    # the steps whose lags and value are observed: the lag-matrix residuals of series b
    mu = fit.draws["mu"].reshape(-1, 2)[:, 1].mean()
    phi = fit.draws["phi"].reshape(-1, 2, 2)[:, 1].mean(0)
    by_hand = b[2:] - (mu + np.column_stack([b[1:-1], b[:-2]]) @ phi)
    clean = [t for t in range(2, 120) if t not in (60, 61, 62)]
    np.testing.assert_allclose(
        r.loc[clean].to_numpy(), by_hand[np.array(clean) - 2], rtol=1e-10, atol=1e-10
    )
    pp = fit.posterior_predictive(seed=1).reshape(-1, 118, 2)[:, :, 1]
    keep = ~np.isnan(b_missing[2:])
    expected = (pp[:, keep] <= b_missing[2:][keep]).mean(0)
    np.testing.assert_array_equal(pit_values(fit, series="b", seed=1).to_numpy(), expected)
    ax = plot_fan_chart(fit, 4, series="b", ax=ax)
    paths = fit.forecast_paths(4)[:, :, 1]
    lower, upper = band_edges(ax.collections[0], np.arange(120, 124))
    np.testing.assert_allclose(lower, np.quantile(paths, 0.025, axis=0), rtol=1e-12)
