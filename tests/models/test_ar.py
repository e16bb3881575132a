"""Tests for probmodels.models.ar against closed forms, scipy and posteriordb draws."""

import math
import os
import warnings

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from scipy import stats

import probmodels as pm
from probmodels._reference import agreement
from probmodels.infer import limit_threads
from probmodels.models.ar import ARFit, compare_orders, lag_matrix
from probmodels.models.ar.design import design as _design
from probmodels.models.ar.sites import conjugate_guide as _conjugate_guide

ARK_PRIORS = {"mu": dist.Normal(0.0, 10.0), "phi": dist.Normal(0.0, 10.0), "sigma": dist.HalfCauchy(2.5)}


def simulate_ar(mu, phi, sigma, T, rng, burn=200):
    """Plain numpy AR(p) simulation (the oracle for the model's own simulator)."""
    p = len(phi)
    y = np.zeros(T + burn)
    for t in range(p, T + burn):
        y[t] = mu + sum(phi[i] * y[t - 1 - i] for i in range(p)) + sigma * rng.standard_normal()
    return y[burn:]


def fixed_fit(mu, phi, sigma, y, index=None, num_draws=20000):
    """An ARFit whose posterior is a point mass at (mu, phi, sigma): isolates the forecaster."""
    phi = np.asarray(phi, dtype=float)
    draws = {
        "mu": np.full((1, num_draws, 1), mu),
        "phi": np.broadcast_to(phi, (1, num_draws, 1, len(phi))).copy(),
        "sigma": np.full((1, num_draws, 1), sigma),
    }
    ar = pm.BayesianAR(order=len(phi), priors=ARK_PRIORS)
    ts = pm.data.as_time_series(pd.Series(y, index=index) if index is not None else y)
    return ARFit(draws=draws, method="svi", seed=0, ar=ar, data=ts,
                 priors_used=ar.resolved_priors(torch.as_tensor(ts.values)))


# ------------------------------------------------------------------ exact values


def test_lag_matrix_equals_python_loop():
    y = torch.arange(20.0, dtype=torch.float64).reshape(10, 2) ** 1.5
    X = lag_matrix(y, order=3, hold_back=4)
    assert X.shape == (6, 2, 3)
    for t in range(4, 10):
        for i in range(3):
            assert torch.equal(X[t - 4, :, i], y[t - 1 - i])


def test_log_density_equals_normal_regression_on_lag_matrix():
    rng = np.random.default_rng(1)
    y = simulate_ar(0.3, [0.5, -0.2, 0.1], 0.8, 60, rng)
    ar = pm.BayesianAR(order=3, priors=ARK_PRIORS)
    values = {"mu": torch.tensor([0.25], dtype=torch.float64),
              "phi": torch.tensor([[0.45, -0.15, 0.05]], dtype=torch.float64),
              "sigma": torch.tensor([0.9], dtype=torch.float64)}
    tr = poutine.trace(poutine.condition(ar.model, values)).get_trace(torch.as_tensor(y))
    tr.compute_log_prob()
    # independent regression: y_t ~ N(mu + sum_i phi_i y_{t-i}, sigma), t = p..T-1
    X = np.column_stack([y[3 - 1 - i : len(y) - 1 - i] for i in range(3)])
    expected = stats.norm.logpdf(y[3:], 0.25 + X @ np.array([0.45, -0.15, 0.05]), 0.9)
    pointwise = tr.nodes["y"]["log_prob"].squeeze(-1).numpy()
    assert pointwise.shape == (len(y) - 3,)  # one term per time step, not summed
    np.testing.assert_allclose(pointwise, expected, rtol=1e-12, atol=1e-12)
    prior = (stats.norm.logpdf(0.25, 0, 10) + stats.norm.logpdf([0.45, -0.15, 0.05], 0, 10).sum()
             + stats.halfcauchy.logpdf(0.9, scale=2.5))
    # float64 throughout: 1e-10 is rounding only
    np.testing.assert_allclose(tr.log_prob_sum().item(), expected.sum() + prior, rtol=1e-10)


def test_conjugate_conditional_equals_bayesian_linear_regression():
    """Given sigma, q(mu, phi | sigma) is N(m, Lambda^-1) of conjugate linear regression,
    so log p(y, beta | sigma) - log q(beta | sigma) = log p(y | sigma) for every beta."""
    rng = np.random.default_rng(2)
    y = simulate_ar(0.4, [0.6, -0.3], 0.5, 80, rng)
    p, sigma = 2, 0.55
    priors = {"mu": dist.Normal(0.3, 2.0), "phi": dist.Normal(torch.tensor([0.1, -0.1]), 0.7),
              "sigma": dist.HalfNormal(1.0)}
    ar = pm.BayesianAR(order=p, priors=priors)
    yt = torch.as_tensor(y).unsqueeze(-1)
    design = _design(yt, p, p)
    resolved = ar.resolved_priors(yt)
    sig = torch.tensor([sigma], dtype=torch.float64)
    diffs = []
    for _ in range(5):
        pyro.clear_param_store()
        guide_tr = poutine.trace(poutine.condition(
            lambda: _conjugate_guide(design, resolved, p), {"sigma": sig})).get_trace()
        model_tr = poutine.trace(poutine.replay(
            poutine.condition(ar.model, {"sigma": sig}), trace=guide_tr)).get_trace(yt)
        model_tr.compute_log_prob()
        guide_tr.compute_log_prob()
        lp_model = sum(model_tr.nodes[s]["log_prob_sum"] for s in ("mu", "phi", "y"))
        lp_guide = sum(guide_tr.nodes[s]["log_prob_sum"] for s in ("mu", "phi"))
        diffs.append((lp_model - lp_guide).item())
    # closed form: y ~ N(Z m0, sigma^2 I + Z Lambda0^-1 Z')
    Z = np.column_stack([np.ones(len(y) - p)] + [y[p - 1 - i : len(y) - 1 - i] for i in range(p)])
    m0 = np.array([0.3, 0.1, -0.1])
    cov0 = np.diag([2.0**2, 0.7**2, 0.7**2])
    marginal = stats.multivariate_normal(Z @ m0, sigma**2 * np.eye(len(Z)) + Z @ cov0 @ Z.T).logpdf(y[p:])
    np.testing.assert_allclose(diffs, marginal, rtol=1e-9)
    # and the guide's moments are the textbook ones
    precision = Z.T @ Z / sigma**2 + np.linalg.inv(cov0)
    mean = np.linalg.solve(precision, Z.T @ y[p:] / sigma**2 + np.linalg.solve(cov0, m0))
    cov = np.linalg.inv(precision)
    phi_site, mu_site = guide_tr.nodes["phi"]["fn"], guide_tr.nodes["mu"]["fn"]
    # phi from its marginal, then mu | phi; two float64 solvers on a precision with
    # condition number ~1e4 (in other coordinates): 1e-8
    np.testing.assert_allclose(phi_site.loc.numpy().ravel(), mean[1:], rtol=1e-8)
    np.testing.assert_allclose(phi_site.covariance_matrix.numpy()[0], cov[1:, 1:], rtol=1e-8)
    phi = guide_tr.nodes["phi"]["value"].numpy().ravel()
    gain = np.linalg.solve(cov[1:, 1:], cov[1:, 0])
    np.testing.assert_allclose(mu_site.loc.item(), mean[0] + gain @ (phi - mean[1:]), rtol=1e-8)
    np.testing.assert_allclose(mu_site.scale.item() ** 2, cov[0, 0] - cov[0, 1:] @ gain, rtol=1e-8)


def test_multi_series_log_density_is_sum_of_single_series():
    rng = np.random.default_rng(3)
    a, b = simulate_ar(0.1, [0.5], 1.0, 50, rng), simulate_ar(-0.2, [0.8], 0.3, 50, rng)
    ar = pm.BayesianAR(order=1, priors=ARK_PRIORS)
    both = torch.as_tensor(np.column_stack([a, b]))
    vals = {"mu": torch.tensor([0.1, -0.2], dtype=torch.float64),
            "phi": torch.tensor([[0.5], [0.8]], dtype=torch.float64),
            "sigma": torch.tensor([1.0, 0.3], dtype=torch.float64)}
    joint = poutine.trace(poutine.condition(ar.model, vals)).get_trace(both).log_prob_sum()
    single = sum(
        poutine.trace(poutine.condition(ar.model, {k: v[s : s + 1] for k, v in vals.items()}))
        .get_trace(torch.as_tensor(y)).log_prob_sum()
        for s, y in enumerate((a, b))
    )
    np.testing.assert_allclose(joint.item(), single.item(), rtol=1e-12)


def test_simulation_mode_follows_the_recursion():
    priors = {"mu": dist.Normal(0.2, 0.1), "phi": dist.Normal(0.0, 0.3), "sigma": dist.HalfNormal(1.0)}
    ar = pm.BayesianAR(order=2, priors=priors)
    tr = poutine.trace(ar.model).get_trace(None, num_steps=30, num_series=2)
    y, u = tr.nodes["y"]["value"], tr.nodes["u"]["value"]
    mu, phi = tr.nodes["mu"]["value"], tr.nodes["phi"]["value"]
    assert y.shape == (30, 2)
    for t in range(2, 30):
        expected = mu + phi[:, 0] * y[t - 1] + phi[:, 1] * y[t - 2] + u[t - 2]
        torch.testing.assert_close(y[t], expected, rtol=1e-12, atol=1e-12)
    # prior predictive through Predictive needs no second code path
    pred = pyro.infer.Predictive(ar.model, num_samples=7, parallel=True)(None, num_steps=12, num_series=1)
    # Predictive keeps the plate padding: (num_samples, 1, 1, time, series)
    assert pred["y"].shape[0] == 7 and pred["y"].shape[-2:] == (12, 1)


# ------------------------------------------------------- reference posteriors


def _ark_draws(idata):
    post = idata.posterior
    draws = {"alpha": post["mu"].values, "sigma": post["sigma"].values}
    draws.update({f"beta[{k}]": post["phi"].sel(lag=k).values for k in range(1, 6)})
    return draws


@pytest.mark.parametrize("method", ["exact", "svi"])
def test_default_and_svi_fits_match_posteriordb_arK(ark_data, method):
    y, ref = ark_data
    fit = pm.BayesianAR(order=5, priors=ARK_PRIORS).fit(y, seed=0, progress=False, method=method)
    idata = fit.to_arviz()
    assert idata.posterior["phi"].dims == ("chain", "draw", "lag")
    np.testing.assert_array_equal(idata.posterior["lag"].values, np.arange(1, 6))
    draws = _ark_draws(idata)
    table = agreement(draws, ref)
    assert table["ok"].all(), table.to_string()
    if method == "svi":
        assert fit.diagnostics["khat"] < 0.5
    # correlations too (mean-field gets them all 0): every pair within 0.05 of the
    # reference, about 3 standard errors of a correlation estimated from 4,000 draws
    names = ["alpha"] + [f"beta[{k}]" for k in range(1, 6)] + ["sigma"]
    ours = np.corrcoef([draws[n].ravel() for n in names])
    theirs = np.corrcoef([ref[n] for n in names])
    assert np.abs(theirs).max(initial=0, where=~np.eye(7, dtype=bool)) > 0.5  # strongly correlated
    np.testing.assert_allclose(ours, theirs, atol=0.05)


def test_nuts_matches_posteriordb_arK(ark_data):
    y, ref = ark_data
    fit = pm.BayesianAR(order=5, priors=ARK_PRIORS).fit(
        y, method="nuts", num_samples=1000, warmup_steps=1000, seed=0, progress=False)
    idata = fit.to_arviz()
    table = agreement(_ark_draws(idata), ref)
    assert table["ok"].all(), table.to_string()
    assert idata.sample_stats["diverging"].dims == ("chain", "draw")
    assert idata.posterior.sizes["chain"] == 2


def test_mean_field_guide_shrinks_spread_and_fails_the_reference(ark_data):
    """The check can fail: mean-field's coefficient sds are far too small here."""
    y, ref = ark_data
    with pytest.warns(UserWarning, match="PSIS check"):  # and the fit says so itself
        fit = pm.BayesianAR(order=5, priors=ARK_PRIORS).fit(
            y, seed=0, progress=False, method="svi", guide="normal", steps=1500)
    table = agreement(_ark_draws(fit.to_arviz()), ref)
    assert not table["ok"].all()
    assert table.loc["beta[1]", "sd_ratio"] < 0.6


# ------------------------------------------------------------------ recovery


@pytest.mark.parametrize("method", ["svi", "nuts"])
def test_recovers_known_parameters(method):
    rng = np.random.default_rng(4)
    truth = {"mu": 0.5, "phi": [0.6, -0.3], "sigma": 0.7}
    y = simulate_ar(truth["mu"], truth["phi"], truth["sigma"], 400, rng)
    opts = {"num_samples": 500, "warmup_steps": 300} if method == "nuts" else {}
    fit = pm.BayesianAR(order=2).fit(y, method=method, seed=1, progress=False, **opts)
    for name, value in (("mu", truth["mu"]), ("sigma", truth["sigma"])):
        lo, hi = np.quantile(fit.draws[name].ravel(), [0.05, 0.95])
        assert lo < value < hi, (name, lo, hi, value)
    for i, value in enumerate(truth["phi"]):
        lo, hi = np.quantile(fit.draws["phi"][..., 0, i].ravel(), [0.05, 0.95])
        assert lo < value < hi, (i, lo, hi, value)


def test_a_level_far_above_the_spread_gives_the_same_phi():
    """A counter-like series (level 1e8, sd ~1.3): phi's posterior must not depend on the level.

    [1, X]'[1, X] has condition number ~(1e8 / 1.3)^2 there; the guide works in centred
    coordinates, so the fit equals the one on the centred series and OLS."""
    rng = np.random.default_rng(11)
    y = simulate_ar(0.0, [0.6, 0.0], 1.0, 300, rng)
    fits = [pm.BayesianAR(order=2).fit(y + level, seed=0, progress=False) for level in (0.0, 1e8)]
    phi = [f.draws["phi"].reshape(-1, 2) for f in fits]
    sd = phi[0].std(0)
    np.testing.assert_allclose(phi[1].mean(0), phi[0].mean(0), atol=0.05 * sd.max())
    np.testing.assert_allclose(phi[1].std(0), sd, rtol=0.05)
    # OLS on the lag matrix is the flat-prior posterior mean
    Z = np.column_stack([np.ones(298), y[1:-1], y[:-2]])
    ols = np.linalg.lstsq(Z, y[2:], rcond=None)[0]
    np.testing.assert_allclose(phi[1].mean(0), ols[1:], atol=0.1 * sd.max())
    # mu carries the level: mu = m + c (1 - sum phi)
    mu = [f.draws["mu"].reshape(-1) for f in fits]
    np.testing.assert_allclose(np.mean(mu[1] - 1e8 * (1 - phi[1].sum(1))), mu[0].mean(), atol=0.05)
    svi = pm.BayesianAR(order=2).fit(y + 1e8, seed=0, progress=False, method="svi")
    np.testing.assert_allclose(svi.draws["phi"].reshape(-1, 2).mean(0), ols[1:], atol=0.1 * sd.max())
    assert svi.diagnostics["khat"] < 0.5


def test_multi_series_fit_equals_single_series_fits():
    rng = np.random.default_rng(5)
    a, b = simulate_ar(1.0, [0.7], 0.5, 300, rng), simulate_ar(-1.0, [-0.4], 2.0, 300, rng)
    frame = pd.DataFrame({"a": a, "b": b})
    ar = pm.BayesianAR(order=1)
    both = ar.fit(frame, seed=0, progress=False)
    assert both.to_arviz().posterior["phi"].dims == ("chain", "draw", "series", "lag")
    assert list(both.to_arviz().posterior["series"].values) == ["a", "b"]
    for s, col in enumerate(frame):
        alone = ar.fit(frame[col], seed=1, progress=False)
        for name in ("mu", "phi", "sigma"):
            x, z = both.draws[name][:, :, s].ravel(), alone.draws[name].ravel()
            # independent draws of the same posterior: means agree within 4 MC standard errors
            se = math.sqrt(x.var() / x.size + z.var() / z.size)
            assert abs(x.mean() - z.mean()) < 4 * se + 1e-12, (col, name)
            np.testing.assert_allclose(x.std(), z.std(), rtol=0.08)


# ----------------------------------------------------------------- forecasting


def test_forecast_of_a_known_ar1_matches_closed_form():
    """Point-mass posterior: y_{T+h} is N(m_h, s_h^2) with the AR(1) formulas."""
    rng = np.random.default_rng(6)
    mu, phi, sigma = 0.5, 0.8, 0.3
    y = simulate_ar(mu, [phi], sigma, 100, rng)
    fit = fixed_fit(mu, [phi], sigma, y)
    table = fit.forecast(6, quantiles=(0.1, 0.9), seed=3)
    h = np.arange(1, 7)
    mean = mu * (1 - phi**h) / (1 - phi) + phi**h * y[-1]
    sd = sigma * np.sqrt((1 - phi ** (2 * h)) / (1 - phi**2))
    n = fit.num_draws
    # Monte Carlo over 20,000 paths: 4 standard errors
    np.testing.assert_array_less(np.abs(table["mean"].to_numpy() - mean), 4 * sd / math.sqrt(n))
    q90 = mean + stats.norm.ppf(0.9) * sd
    np.testing.assert_allclose(table["q0.9"].to_numpy(), q90, atol=float(4 * 1.8 * sd.max() / math.sqrt(n)))


def test_a_series_in_tiny_units_gives_the_same_fit_up_to_scale():
    """y and 1e-8 y: phi the same, sigma scaled. An absolute 1e-9 ridge in the guide's
    starting solve shrank the start for data in units of 1e-6 (sigma 1% high)."""
    rng = np.random.default_rng(2)
    y = simulate_ar(3.3, [0.7, 0.0], 1.0, 60, rng)
    fits = [pm.BayesianAR(order=2).fit(y * scale, seed=0, progress=False, num_samples=2000)
            for scale in (1.0, 1e-8)]
    sd = fits[0].draws["phi"].std()
    np.testing.assert_allclose(fits[1].draws["phi"].mean((0, 1)), fits[0].draws["phi"].mean((0, 1)),
                               atol=0.01 * sd)
    np.testing.assert_allclose(fits[1].draws["sigma"].mean() / 1e-8, fits[0].draws["sigma"].mean(),
                               rtol=1e-3)


def test_a_sigma_prior_with_an_upper_bound_uses_the_multivariate_normal_guide():
    """Uniform(0, b) on sigma (Stan style): the conjugate guide's q(sigma) reaches past b
    (NaN loss at step 0); auto picks the multivariate normal guide, whose draws respect b."""
    rng = np.random.default_rng(4)
    y = simulate_ar(0.0, [0.5], 1.0, 50, rng)
    for b in (1.1, 0.5):  # 0.5: below the data's scale, still a valid prior
        model = pm.BayesianAR(order=1, priors={"sigma": dist.Uniform(0.0, b)})
        with warnings.catch_warnings():
            # b = 0.5: the posterior piles up at the bound, where a Gaussian guide may be poor
            warnings.filterwarnings("ignore", message="PSIS check")
            fit = model.fit(y, seed=0, progress=False, num_samples=500, method="svi")
        assert fit.diagnostics["guide"] == "multivariate_normal"
        assert fit.draws["sigma"].max() < b
        # the exact method evaluates the bounded prior on its grid: no approximation at all
        exact = model.fit(y, seed=0, progress=False, num_samples=500)
        assert exact.draws["sigma"].max() < b and "khat" not in exact.diagnostics
    with pytest.raises(ValueError, match=r"no upper bound, as in Uniform\(0, b\)"):
        pm.BayesianAR(order=1, priors={"sigma": dist.Uniform(0.0, 2.0)}).fit(
            y, seed=0, progress=False, method="svi", guide="conjugate")


def test_forecast_and_export_of_float_and_timedelta_indexes():
    """Both are accepted by fit; a float index (decimal years) could not be continued and a
    TimedeltaIndex could not be exported (so compare_orders failed after fitting)."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=30)
    years = pd.Series(v, index=1990.0 + 0.25 * np.arange(30))
    years.index = years.index.to_numpy().round(3)      # rounded labels, steps 0.25 +- 0.001
    fit = pm.BayesianAR(order=1).fit(years, seed=0, progress=False, num_samples=200)
    np.testing.assert_allclose(fit.forecast(3).index.to_numpy(), [1997.5, 1997.75, 1998.0], atol=1e-9)
    quarter_hours = pd.Series(v, index=pd.timedelta_range("0s", periods=30, freq="15min"))
    fit = pm.BayesianAR(order=1).fit(quarter_hours, seed=0, progress=False, num_samples=200)
    time = fit.to_arviz().observed_data["y"].coords["time"].values
    np.testing.assert_array_equal(time, quarter_hours.index[1:].to_numpy().astype(time.dtype))
    import warnings
    with warnings.catch_warnings():  # ArviZ's Pareto-k notes on 30 white-noise points
        warnings.simplefilter("ignore")
        assert compare_orders(quarter_hours, [1, 2], seed=0, num_samples=200).best in (1, 2)


def test_forecast_index_continues_the_series_index():
    s = pm.datasets.load_sunspots().iloc[-120:]
    fit = pm.BayesianAR(order=2).fit(s, seed=0, progress=False, num_samples=500)
    table = fit.forecast(3)
    assert isinstance(table.index, pd.PeriodIndex)
    assert [p.year for p in table.index] == [2009, 2010, 2011]
    assert list(table.columns) == ["mean", "q0.05", "q0.5", "q0.95"]
    dates = pd.date_range("2020-01-01", periods=60, freq="MS")
    fit_m = pm.BayesianAR(order=1).fit(pd.Series(s.values[:60], index=dates), seed=0,
                                      progress=False, num_samples=200)
    assert list(fit_m.forecast(2).index) == list(pd.date_range("2025-01-01", periods=2, freq="MS"))
    # the same seed gives the same forecast; another seed another one
    pd.testing.assert_frame_equal(fit.forecast(3, seed=5), fit.forecast(3, seed=5))
    assert not fit.forecast(3, seed=5).equals(fit.forecast(3, seed=6))


def test_forecast_of_several_series_is_labelled_by_column():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x": simulate_ar(0, [0.5], 1, 80, rng), "z": simulate_ar(0, [0.2], 1, 80, rng)})
    fit = pm.BayesianAR(order=1).fit(frame, seed=0, progress=False, num_samples=300)
    table = fit.forecast(4)
    assert list(table.columns.get_level_values("series").unique()) == ["x", "z"]
    assert list(table.index) == [80, 81, 82, 83]


def test_integer_column_labels_stay_integers_through_save_and_load(tmp_path):
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({0: simulate_ar(0, [0.5], 1, 60, rng), 1: simulate_ar(0, [0.2], 1, 60, rng)})
    fit = pm.BayesianAR(order=1).fit(frame, seed=0, progress=False, num_samples=200)
    np.testing.assert_array_equal(fit.forecast(3)[0]["mean"], fit.forecast(3)[(0, "mean")])
    assert list(fit.stationarity_probability().index) == [0, 1]
    fit.save(tmp_path / "f")
    loaded = pm.load(tmp_path / "f")
    pd.testing.assert_frame_equal(loaded.forecast(3)[1], fit.forecast(3)[1])


def test_stationarity_probability_matches_ar2_triangle():
    rng = np.random.default_rng(8)
    phi = rng.uniform(-2.5, 2.5, size=(4000, 2))
    fit = fixed_fit(0.0, [0.5, 0.1], 1.0, rng.standard_normal(50), num_draws=4000)
    fit.draws["phi"] = phi.reshape(1, 4000, 1, 2)
    # AR(2) is stationary iff phi1 + phi2 < 1, phi2 - phi1 < 1, |phi2| < 1
    inside = (phi[:, 0] + phi[:, 1] < 1) & (phi[:, 1] - phi[:, 0] < 1) & (np.abs(phi[:, 1]) < 1)
    assert fit.stationarity_probability() == pytest.approx(inside.mean(), abs=1e-12)


# ----------------------------------------------------------------- ArviZ export


def test_arviz_log_likelihood_is_pointwise_and_exact():
    rng = np.random.default_rng(9)
    y = simulate_ar(0.2, [0.5, 0.2], 1.0, 120, rng)
    fit = pm.BayesianAR(order=2).fit(y, seed=0, progress=False, num_samples=1000)
    idata = fit.to_arviz()
    ll = idata.log_likelihood["y"]
    assert ll.dims == ("chain", "draw", "time") and ll.sizes["time"] == 118
    d = 17
    mu, phi, sigma = (fit.draws[k][0, d] for k in ("mu", "phi", "sigma"))
    loc = mu[0] + phi[0, 0] * y[1:-1] + phi[0, 1] * y[:-2]
    np.testing.assert_allclose(ll.values[0, d], stats.norm.logpdf(y[2:], loc, sigma[0]), rtol=1e-10)
    np.testing.assert_array_equal(idata.observed_data["y"].values, y[2:])
    assert idata.posterior_predictive["y"].shape == (1, 1000, 118)
    import arviz as az

    loo = az.loo(idata, pointwise=True)
    assert loo.loo_i.shape == (118,)


def test_order_comparison_scores_every_order_on_the_same_steps():
    rng = np.random.default_rng(10)
    y = simulate_ar(0.0, [0.5, -0.6], 1.0, 300, rng)
    result = compare_orders(y, orders=[1, 2, 3], seed=0, num_samples=1000)
    assert result.hold_back == 3
    sizes = {p: f.to_arviz().log_likelihood.sizes["time"] for p, f in result.fits.items()}
    assert set(sizes.values()) == {297}
    assert result.best in (2, 3)
    assert result.table.loc["AR(1)", "elpd_diff"] > 20  # AR(1) misses the strong second lag


# -------------------------------------------------------------- save / load


def test_save_load_round_trip_gives_the_same_forecasts(tmp_path):
    s = pm.datasets.load_sunspots().iloc[-100:]
    fit = pm.BayesianAR(order=3, priors={"sigma": dist.HalfCauchy(20.0)}).fit(
        s, seed=0, progress=False, num_samples=400)
    path = fit.save(tmp_path / "fit")
    assert path.suffix == ".npz"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temp file's private 0600
    back = pm.load(path)
    assert isinstance(back, ARFit) and back.seed == 0 and back.method == "exact"
    pd.testing.assert_frame_equal(back.forecast(5), fit.forecast(5))
    np.testing.assert_array_equal(back.losses, fit.losses)
    assert back.diagnostics == fit.diagnostics
    assert isinstance(back.ar.priors["sigma"], dist.HalfCauchy)
    np.testing.assert_array_equal(back.log_likelihood(), fit.log_likelihood())


def test_save_refuses_to_overwrite_and_never_leaves_half_a_file(tmp_path, monkeypatch):
    fit = fixed_fit(0.0, [0.5], 1.0, np.random.default_rng(0).standard_normal(30), num_draws=50)
    path = fit.save(tmp_path / "fit.npz")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fit.save(path)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        fit.save(path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit.npz"]


def test_load_rejects_files_that_are_not_fits(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="no probmodels metadata"):
        pm.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a probmodels fit file"):
        pm.load(tmp_path / "junk.npz")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("order, error, match", [
    (0, ValueError, "order"), (-2, ValueError, "order"), (2.5, TypeError, "order must be an integer"),
    ("3", TypeError, "order"), (True, TypeError, "order"),
])
def test_rejects_bad_order(order, error, match):
    with pytest.raises(error, match=match):
        pm.BayesianAR(order=order)


def test_rejects_series_too_short_for_the_order():
    with pytest.raises(ValueError, match="order 5"):
        pm.BayesianAR(order=5).fit([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], progress=False)


@pytest.mark.parametrize("bad, match", [(np.inf, "inf")])
def test_rejects_inf(bad, match):
    """NaN is a missing value (modelled); infinite values are errors."""
    y = np.linspace(0, 1, 30)
    y[7] = bad
    with pytest.raises(ValueError, match=match):
        pm.BayesianAR(order=1).fit(y, progress=False)


def test_rejects_non_numeric_data():
    with pytest.raises(TypeError, match="numeric"):
        pm.BayesianAR(order=1).fit(pd.Series(list("abcdefghij")), progress=False)


def test_rejects_duplicated_and_unsorted_index():
    y = np.random.default_rng(0).standard_normal(20)
    dup = pd.Series(y, index=[0, 1, 2, 2] + list(range(4, 20)))
    with pytest.raises(ValueError, match="duplicate"):
        pm.BayesianAR(order=1).fit(dup, progress=False)
    unsorted = pd.Series(y, index=list(range(19, -1, -1)))
    with pytest.raises(ValueError, match="sorted|increasing"):
        pm.BayesianAR(order=1).fit(unsorted, progress=False)


def test_rejects_unknown_method_prior_and_option_names():
    y = np.random.default_rng(0).standard_normal(40)
    with pytest.raises(ValueError, match="'exact', 'svi', 'nuts'"):
        pm.BayesianAR(order=1).fit(y, method="hmc", progress=False)
    with pytest.raises(ValueError, match="theta"):
        pm.BayesianAR(order=1, priors={"theta": dist.Normal(0.0, 1.0)})
    with pytest.raises(TypeError, match="warmup_steps"):
        pm.BayesianAR(order=1).fit(y, method="svi", warmup_steps=10, progress=False)
    with pytest.raises(TypeError, match="guide"):
        pm.BayesianAR(order=1).fit(y, guide="normal", progress=False)  # an SVI option
    with pytest.raises(TypeError, match="pyro.distributions"):
        pm.BayesianAR(order=1, priors={"mu": 3.0})


def test_rejects_an_improper_prior_with_an_infinite_parameter():
    """Normal(0, inf) used to fail at SVI step 0 with the advice to lower the learning rate."""
    for site, prior in (("mu", dist.Normal(0.0, float("inf"))), ("sigma", dist.HalfCauchy(float("inf"))),
                        ("phi", dist.Normal(torch.tensor([0.0, float("-inf")]), 1.0))):
        with pytest.raises(ValueError, match=rf"the {site} prior \w+ has a parameter that is not finite"):
            pm.BayesianAR(order=2, priors={site: prior})


def test_rejects_sigma_prior_without_positive_support_and_misshapen_phi_prior():
    with pytest.raises(ValueError, match="positive support"):
        pm.BayesianAR(order=1, priors={"sigma": dist.Normal(0.0, 1.0)})
    with pytest.raises(ValueError, match="phi prior"):
        pm.BayesianAR(order=2, priors={"phi": dist.Normal(torch.zeros(3), 1.0)})


def test_rejects_a_prior_sized_for_another_number_of_series():
    y = pd.DataFrame({"a": np.sin(np.arange(40.0)), "b": np.cos(np.arange(40.0) * 0.7)})
    for priors in ({"mu": dist.Normal(torch.zeros(3), 1.0)},
                   {"sigma": dist.HalfNormal(torch.ones(3))},
                   {"phi": dist.Normal(torch.zeros(3, 2), 1.0)},
                   {"phi": dist.MultivariateNormal(torch.zeros(3, 2), torch.eye(2))}):
        name = next(iter(priors))
        with pytest.raises(ValueError, match=rf"the {name} prior has batch_shape .*3 series, but the data have 2 \(\['a', 'b'\]\)"):
            pm.BayesianAR(order=2, priors=priors).fit(y, seed=0, progress=False)


def test_rejects_constant_series_and_simulation_without_priors():
    with pytest.raises(ValueError, match="constant"):
        pm.BayesianAR(order=1).fit(np.ones(30), progress=False)
    with pytest.raises(ValueError, match="needs every prior"):
        pm.BayesianAR(order=1).model(None, num_steps=10)


def test_short_series_warns():
    y = np.random.default_rng(0).standard_normal(14)
    with pytest.warns(UserWarning, match="short series check"):
        pm.BayesianAR(order=3).fit(y, seed=0, progress=False, num_samples=100)


# ------------------------------------------------------- the raw Pyro pair / plots


def test_model_and_guide_work_with_plain_pyro_svi():
    rng = np.random.default_rng(11)
    y = torch.as_tensor(simulate_ar(0.2, [0.6], 0.5, 200, rng))
    ar = pm.BayesianAR(order=1, priors=ARK_PRIORS)
    svi = pyro.infer.SVI(ar.model, ar.guide, pyro.optim.Adam({"lr": 0.02}),
                         pyro.infer.Trace_ELBO(num_particles=16, vectorize_particles=True,
                                               max_plate_nesting=2))
    with limit_threads(1):  # tiny tensors: one thread is several times faster on a busy machine
        for _ in range(300):
            svi.step(y)
    shape, rate = pyro.param("sigma_shape").item(), pyro.param("sigma_rate").item()
    fit = ar.fit(y.numpy(), seed=0, progress=False, method="svi")
    # E[sigma^-2] = shape / rate under q: plain SVI and fit() agree within SGD noise (3%)
    np.testing.assert_allclose(shape / rate, (fit.draws["sigma"] ** -2).mean(), rtol=0.03)


def test_plot_forecast_draws_the_forecast_table():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = pm.datasets.load_sunspots().iloc[-60:]
    fit = pm.BayesianAR(order=2).fit(s, seed=0, progress=False, num_samples=300)
    ax = fit.plot_forecast(steps=5, quantiles=(0.1, 0.9))
    table = fit.forecast(5, quantiles=(0.1, 0.9))
    observed, mean = ax.get_lines()[:2]
    np.testing.assert_array_equal(observed.get_ydata(), s.to_numpy())
    np.testing.assert_allclose(mean.get_ydata(), table["mean"].to_numpy())
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(table["q0.1"].min()) and band.max() == pytest.approx(table["q0.9"].max())
    plt.close(ax.figure)
