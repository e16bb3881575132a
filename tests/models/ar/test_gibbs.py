"""Missing values (probmodels.models.ar.gibbs and the AR fit with NaN or index gaps) against
a dense Gaussian oracle, statsmodels' exact Kalman-filter likelihood and our NUTS."""

import warnings

import numpy as np
import pandas as pd
import pytest

import probmodels as pm
from probmodels.models.ar import gibbs


def test_the_missing_values_conditional_equals_the_dense_gaussian():
    """The banded draw equals mean + sigma R^-1 eps of the dense precision A_M' A_M."""
    rng = np.random.default_rng(0)
    T, p, h = 40, 3, 3
    y = rng.standard_normal(T).cumsum()
    pos = np.array([0, 1, 5, 6, 7, 20, 38, 39])
    y[pos] = np.nan
    mu, phi, sigma = 0.3, np.array([0.5, -0.2, 0.1]), 0.7
    coef = np.concatenate([[1.0], -phi])
    A = np.zeros((T - h, T))            # residual e_u = sum_k coef[k] y_{u-k} - mu, u = h..T-1
    for r, u in enumerate(range(h, T)):
        A[r, u - np.arange(p + 1)] = coef
    AM = A[:, pos]
    Q = AM.T @ AM
    mean = np.linalg.solve(Q, -AM.T @ (A @ np.nan_to_num(y) - mu))
    eps = rng.standard_normal(pos.size)
    expected = mean + sigma * np.linalg.solve(np.linalg.cholesky(Q).T, eps)
    got = gibbs._draw_missing(y.copy(), pos, mu, phi, sigma, h, eps)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # values before hold_back - p enter no modelled step
    z = np.full(10, 1.0)
    z[[0, 3, 8]] = np.nan
    np.testing.assert_array_equal(gibbs.relevant_missing(z, 1, 3), [3, 8])


def test_missing_values_agree_with_the_kalman_filter_of_statsmodels():
    """Sunspots 1859-2008 with six years knocked out: statsmodels SARIMAX(2, 0, 0) with a
    constant fits the exact likelihood with the missing values by the Kalman filter; with
    vague priors our posterior means are its estimates, and our imputed values its smoothed
    values, up to a fraction of a posterior sd."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = pm.datasets.load_sunspots().iloc[-150:].copy()
    gaps = [20, 21, 60, 100, 101, 102]
    y.iloc[gaps] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter
        res = SARIMAX(y.to_numpy(), order=(2, 0, 0), trend="c").fit(disp=False)
    fit = pm.BayesianAR(2).fit(y, seed=0, num_samples=1500, progress=False)
    table = fit.summary()
    for name, value in zip(["mu", "phi[1]", "phi[2]"], res.params[:3]):
        # the conditional (ours) and exact (SARIMAX) likelihoods differ by the first two
        # values' density only: 0.3 posterior sd
        assert abs(table.loc[name, "mean"] - value) < 0.3 * table.loc[name, "sd"], name
    imputed = fit.imputed()
    assert len(imputed) == len(gaps) and list(imputed.index) == list(y.index[gaps])
    smoothed = np.asarray(res.smoother_results.smoothed_forecasts)[0, gaps]  # E[y_t | all data]
    np.testing.assert_array_less(np.abs(imputed["mean"].to_numpy() - smoothed), 0.25 * imputed["sd"].to_numpy())
    assert fit.diagnostics["gibbs_max_rhat"] < 1.01 and fit.diagnostics["gibbs_min_ess"] > 400
    # the forecast continues the observed index, the ArviZ export scores observed steps only
    assert fit.forecast(2).index[0] == y.index[-1] + 1
    idata = fit.to_arviz()
    assert idata.log_likelihood["y"].sizes["time"] == 150 - 2 - len(gaps)
    assert idata.posterior["y_missing"].dims == ("chain", "draw", "missing")


def test_gaps_in_a_regular_index_are_missing_steps():
    """A weekly series with two missing weeks: the weeks are put back as missing values
    (not fitted as consecutive lags), and the fit equals that of the NaN-filled series."""
    rng = np.random.default_rng(1)
    y = np.zeros(120)
    for t in range(1, 120):
        y[t] = 0.7 * y[t - 1] + rng.standard_normal()
    index = pd.date_range("2020-01-05", periods=120, freq="W-SUN")
    full = pd.Series(y, index=index)
    holes = full.copy()
    holes.iloc[[30, 31]] = np.nan
    gappy = full.drop(index[[30, 31]])
    a = pm.BayesianAR(1).fit(gappy, seed=3, num_samples=300, progress=False)
    b = pm.BayesianAR(1).fit(holes, seed=3, num_samples=300, progress=False)
    assert a.data.index.equals(index) and list(a.imputed().index) == list(index[[30, 31]])
    np.testing.assert_array_equal(a.draws["phi"], b.draws["phi"])
    assert a.forecast(1).index[0] == index[-1] + index.freq


@pytest.mark.slow
def test_gibbs_agrees_with_nuts_on_the_pyro_model_with_latent_missing_values():
    rng = np.random.default_rng(0)
    y = np.zeros(150)
    for t in range(2, 150):
        y[t] = 0.5 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + rng.standard_normal()
    y[[10, 11, 50, 100]] = np.nan
    exact = pm.BayesianAR(2).fit(y, seed=0, num_samples=2000, progress=False).summary()
    nuts = pm.BayesianAR(2).fit(y, method="nuts", seed=0, num_samples=500, warmup_steps=500,
                                progress=False).summary()
    # NUTS's 1,000 draws: within 0.25 posterior sd, sds within 15%
    np.testing.assert_array_less(np.abs(exact["mean"] - nuts["mean"]), 0.25 * nuts["sd"])
    np.testing.assert_allclose(exact["sd"], nuts["sd"], rtol=0.15)


def test_series_with_and_without_missing_values_in_one_fit():
    """Only one of two series has a missing value: each series' draws are those it gets in a
    fit where both series are complete (a) or both have missing values (b), since each
    series is drawn from its own stream (this raised a numpy shape error before)."""
    rng = np.random.default_rng(4)
    y = np.zeros((90, 2))
    for t in range(1, 90):
        y[t] = [0.6, -0.3] * y[t - 1] + rng.standard_normal(2)
    complete = pd.DataFrame(y, columns=["a", "b"])
    mixed = complete.copy()
    mixed.iloc[[20, 21], 1] = np.nan
    both = mixed.copy()
    both.iloc[50, 0] = np.nan
    fits = {k: pm.BayesianAR(1).fit(v, seed=2, num_samples=300, method="exact", progress=False)
            for k, v in {"complete": complete, "mixed": mixed, "both": both}.items()}
    for name in ("mu", "phi", "sigma"):
        np.testing.assert_array_equal(fits["mixed"].draws[name][:, :, 0], fits["complete"].draws[name][:, :, 0])
        np.testing.assert_array_equal(fits["mixed"].draws[name][:, :, 1], fits["both"].draws[name][:, :, 1])
    # y_missing (chain, draw, m): b's two values, time-major; in "both" a's t=50 comes after them
    np.testing.assert_array_equal(fits["mixed"].missing_index, [[20, 1], [21, 1]])
    np.testing.assert_array_equal(fits["mixed"].draws["y_missing"], fits["both"].draws["y_missing"][..., :2])
