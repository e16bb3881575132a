"""The exact method (probmodels.models.ar.exact and .posterior) against closed forms,
quadrature and brute-force grids computed here."""

import math

import numpy as np
import pandas as pd
import pyro.distributions as dist
import pytest
import torch
from scipy import integrate, stats

import probmodels as pm
from probmodels.models.ar import exact
from probmodels.models.ar.design import design, gaussian_prior

F64 = torch.float64


def _ar(phi, T, seed, mu=0.3, sigma=0.8):
    rng = np.random.default_rng(seed)
    p = len(phi)
    y = np.zeros(T + 100)
    for t in range(p, T + 100):
        y[t] = mu + sum(phi[i] * y[t - 1 - i] for i in range(p)) + sigma * rng.standard_normal()
    return y[100:]


def _conj(y, p, priors):
    d = design(torch.as_tensor(y[:, None]), p, p)
    mean, prec = gaussian_prior(priors, 1, p)
    return d, exact.conjugate(d.ZtZ.numpy(), d.Zty.numpy(), d.yy.numpy(), np.array([d.num_rows]),
                              d.center.numpy(), mean, prec)


PRIORS = {"mu": dist.Normal(torch.tensor(1.0, dtype=F64), 3.0),
          "phi": dist.Normal(torch.tensor([0.1, -0.1], dtype=F64), 0.5),
          "sigma": dist.HalfCauchy(torch.tensor(2.0, dtype=F64))}


def test_marginal_likelihood_equals_the_multivariate_normal_closed_form():
    """log p(y | sigma) up to a constant = log N(y | Z m0, sigma^2 I + Z Pi0^-1 Z'), by scipy."""
    y = _ar([0.5, -0.2], 60, 1)
    d, conj = _conj(y, 2, PRIORS)
    Z = np.column_stack([np.ones(58), y[1:-1], y[:-2]])
    m0, V0 = np.array([1.0, 0.1, -0.1]), np.diag([9.0, 0.25, 0.25])
    sigmas = np.array([0.5, 0.8, 1.3, 2.0])
    ref = np.array([stats.multivariate_normal(Z @ m0, s * s * np.eye(58) + Z @ V0 @ Z.T).logpdf(y[2:])
                    for s in sigmas])
    ours = exact.log_marginal(conj, sigmas[None])[0]
    # differences (the constant cancels): float64 rounding only
    np.testing.assert_allclose(ours - ours[0], ref - ref[0], rtol=1e-9, atol=1e-9)


def test_conditional_draws_have_the_conjugate_mean_and_covariance():
    y = _ar([0.5, -0.2], 80, 2)
    d, conj = _conj(y, 2, PRIORS)
    Z = np.column_stack([np.ones(78), y[1:-1], y[:-2]])
    prec0 = np.diag([1 / 9, 4.0, 4.0])
    s = 0.9
    Lam = Z.T @ Z / s**2 + prec0
    mean = np.linalg.solve(Lam, Z.T @ y[2:] / s**2 + prec0 @ np.array([1.0, 0.1, -0.1]))
    eps = np.random.default_rng(0).standard_normal((1, 200_000, 3))
    beta = exact.draw_beta(conj, np.full((1, 200_000), s), eps)[0]
    cov = np.linalg.inv(Lam)
    # 200,000 draws: means within 4 Monte Carlo standard errors, covariance within 2%
    np.testing.assert_array_less(np.abs(beta.mean(0) - mean), 4 * np.sqrt(np.diag(cov) / 2e5))
    np.testing.assert_allclose(np.cov(beta.T), cov, rtol=0.02, atol=0.02 * np.abs(cov).max())


def test_sigma_draws_follow_its_marginal_by_quadrature():
    y = _ar([0.5, -0.2], 40, 3)
    _, conj = _conj(y, 2, PRIORS)
    lp_prior = lambda s: stats.halfcauchy.logpdf(s, scale=2.0)  # noqa: E731
    log_post = lambda s: lp_prior(s) + exact.log_marginal(conj, s)  # noqa: E731
    draws = exact.sample_sigma(log_post, np.array([0.8]), np.random.default_rng(1), 100_000)[0]
    # the same density by adaptive quadrature, normalised around its mode
    peak = log_post(np.array([[0.8]]))[0, 0]
    f = lambda s: math.exp(log_post(np.array([[s]]))[0, 0] - peak)  # noqa: E731
    Z = integrate.quad(f, 1e-3, 10, limit=200)[0]
    m1 = integrate.quad(lambda s: s * f(s), 1e-3, 10, limit=200)[0] / Z
    m2 = integrate.quad(lambda s: s * s * f(s), 1e-3, 10, limit=200)[0] / Z
    sd = math.sqrt(m2 - m1 * m1)
    assert abs(draws.mean() - m1) < 4 * sd / math.sqrt(1e5)
    assert draws.std() == pytest.approx(sd, rel=0.01)
    q90 = integrate.quad(f, 1e-3, np.quantile(draws, 0.9), limit=200)[0] / Z
    assert q90 == pytest.approx(0.9, abs=0.004)  # 4 sds of a proportion from 1e5 draws


def test_a_laplace_prior_matches_a_brute_force_posterior_grid():
    """A non-Gaussian prior is importance-corrected: AR(1) with Laplace(0, 0.15) on phi
    (shrinking phi well below its least-squares 0.5) against a 3-D grid over (mu, phi, sigma)."""
    y = _ar([0.5], 50, 4, mu=0.0, sigma=1.0)
    priors = {"mu": dist.Normal(0.0, 5.0), "phi": dist.Laplace(0.0, 0.15), "sigma": dist.HalfNormal(3.0)}
    fit = pm.BayesianAR(1, priors=priors).fit(y, seed=0, num_samples=20_000, progress=False)
    assert fit.diagnostics["khat"] < 0.7
    mu = np.linspace(-1.2, 1.2, 61)[:, None, None]
    phi = np.linspace(-0.4, 1.0, 141)[None, :, None]
    sigma = np.linspace(0.6, 1.8, 61)[None, None, :]
    ll = sum(stats.norm.logpdf(y[t], mu + phi * y[t - 1], sigma) for t in range(1, 50))
    lp = ll + stats.norm.logpdf(mu, 0, 5) + stats.laplace.logpdf(phi, 0, 0.15) + stats.halfnorm.logpdf(sigma, scale=3)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    grid_mean = float((w * phi).sum())
    grid_sd = math.sqrt(float((w * phi**2).sum()) - grid_mean**2)
    ours = fit.draws["phi"].ravel()
    # 20,000 resampled draws (ESS a few thousand): within 0.05 posterior sd; sd within 5%
    assert abs(ours.mean() - grid_mean) < 0.05 * grid_sd
    assert ours.std() == pytest.approx(grid_sd, rel=0.05)


def test_each_series_draws_the_same_alone_or_with_others():
    """Per-series random streams keyed by the series' name: a column fitted in a DataFrame
    equals the same column fitted alone, bit for bit."""
    frame = pd.DataFrame({"a": _ar([0.6], 80, 5), "b": _ar([-0.3, 0.2], 80, 6), "c": _ar([0.2], 80, 7)})
    both = pm.BayesianAR(2).fit(frame, seed=11, num_samples=300, progress=False)
    for s, col in enumerate(frame):
        alone = pm.BayesianAR(2, priors=None).fit(frame[col], seed=11, num_samples=300, progress=False)
        for k in ("phi", "sigma"):
            np.testing.assert_array_equal(both.draws[k][:, :, s], alone.draws[k][:, :, 0])
