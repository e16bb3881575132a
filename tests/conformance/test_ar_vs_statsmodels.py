"""BayesianAR against statsmodels' AutoReg on macrodata (inflation, real GDP growth),
sunspots, co2 (monthly) and nile, and against our own NUTS for a non-Normal prior.

AutoReg (``trend="c"``) is conditional least squares on the same lag matrix (the first
``p`` values held back), so with the default vague priors the posterior mean of
``(mu, phi)`` is the OLS estimate up to a small prior pull, the posterior sd is its
standard error up to the ``n / (n - k)`` degrees-of-freedom factor (AutoReg's ``sigma2``
is ``RSS / n``), and the forecast mean is AutoReg's plug-in forecast up to Monte Carlo
error. Every reference is computed here from the bundled data.
"""

import numpy as np
import pyro.distributions as dist
import pytest
from statsmodels.tsa.ar_model import AutoReg

import probmodels as pm

STEPS = 12  # forecast horizon: three years of quarters, a year of months

# (series, order): the orders are the usual choices for each series (inflation AR(4), as
# in the issue; GDP growth AR(2); sunspots AR(9); a year of lags for monthly co2, whose
# seasonal cycle an AR(13) captures; nile AR(2))
SERIES = [("infl", 4), ("gdp_growth", 2), ("sunspots", 9), ("co2", 13), ("nile", 2)]

_cache: dict = {}


@pytest.fixture(params=SERIES, ids=[f"{n}-AR({p})" for n, p in SERIES])
def ar_case(request, load_series):
    """(y, AutoReg results, our default fit), fitted once per series."""
    name, p = request.param
    if request.param not in _cache:
        y = load_series(name)
        reference = AutoReg(y.to_numpy(), lags=p, trend="c").fit()
        fit = pm.BayesianAR(p).fit(y, seed=0, progress=False)
        _cache[request.param] = (y, reference, fit)
    return _cache[request.param]


def _flat(fit, name):
    """Draws of one series as (draws,) or (draws, p)."""
    v = fit.draws[name][..., 0, :] if name == "phi" else fit.draws[name][..., 0]
    return v.reshape((-1,) + v.shape[2:])


def _coefficients(fit):
    """(draws, 1 + p): mu then phi_1..phi_p, AutoReg's parameter order."""
    return np.column_stack([_flat(fit, "mu"), _flat(fit, "phi")])


def test_posterior_means_of_mu_and_phi_equal_autoreg_estimates(ar_case):
    y, reference, fit = ar_case
    z = (_coefficients(fit).mean(0) - reference.params) / reference.bse
    # within 0.2 AutoReg standard errors: the N(0, 1) prior on each phi pulls its mean
    # towards 0 by about se * |phi| standard errors (at most 0.08 here: sunspots' phi_1
    # = 1.2 with se 0.06), the mu prior (sd 10 rms) much less, and the Monte Carlo error
    # of a mean of 4,000 independent draws is 0.016 sd (4 standard errors: 0.064)
    assert np.abs(z).max() <= 0.2, f"(posterior mean - AutoReg) / bse = {np.round(z, 3)}"


def test_posterior_sds_of_mu_and_phi_equal_autoreg_standard_errors(ar_case):
    y, reference, fit = ar_case
    ratio = _coefficients(fit).std(0) / reference.bse
    n, k = reference.nobs, len(reference.params)
    # expected ratio sqrt(n / (n - k)) (AutoReg's sigma2 = RSS / n) times the Student-t
    # widening sqrt(nu / (nu - 2)), nu = n - k: 1.01-1.03 for these n and k. Within 6%
    # of it: the Monte Carlo error of an sd from 4,000 draws is 1.1% (4 standard errors:
    # 4.5%), and the vague priors narrow the posterior by a little more
    expected = np.sqrt(n / (n - k)) * np.sqrt((n - k) / (n - k - 2))
    assert np.all(np.abs(ratio / expected - 1.0) <= 0.06), (
        f"posterior sd / AutoReg bse = {np.round(ratio, 3)}, expected about {expected:.3f}")


def test_posterior_sigma_equals_autoreg_residual_scale(ar_case):
    y, reference, fit = ar_case
    sigma = _flat(fit, "sigma")
    n, k = reference.nobs, len(reference.params)
    # AutoReg's sigma2 is RSS / n; the flat-prior posterior of sigma centres on
    # s = sqrt(RSS / (n - k))
    s = np.sqrt(reference.sigma2 * n / (n - k))
    z = (sigma.mean() - s) / sigma.std()
    # within 0.35 posterior sds: with nu = n - k, E[sigma | y] exceeds s by about
    # 1.06 / sqrt(nu) sds under a 1 / sigma prior, and the HalfNormal(2 sd) prior, nearly
    # flat in sigma rather than in log sigma, adds about 0.7 / sqrt(nu): 0.09-0.18 sd for
    # these series; the Monte Carlo error is 0.016 sd (4 se: 0.064)
    assert abs(z) <= 0.35, f"sigma: posterior mean {sigma.mean():.4g}, AutoReg {s:.4g}, z = {z:.3f}"


def test_forecast_equals_autoreg_forecast(ar_case):
    y, reference, fit = ar_case
    T = len(y)
    theirs = reference.get_prediction(start=T, end=T + STEPS - 1)
    table = fit.forecast(STEPS)
    # the forecast continues the series' own index (quarters, years, months)
    assert table.index[0] == y.index[-1] + y.index.freq and len(table) == STEPS
    z = (table["mean"].to_numpy() - theirs.predicted_mean) / theirs.se_mean
    # within 0.1 forecast sds at every step: the Monte Carlo error of a mean of 4,000
    # simulated paths is 0.016 sd (4 se: 0.064), and the posterior uncertainty of phi
    # shifts E[y_{T+h}] from the plug-in forecast by a second-order term (below 0.02 sd)
    assert np.abs(z).max() <= 0.1, f"(forecast mean - AutoReg) / AutoReg se = {np.round(z, 3)}"
    # the spread: half the central 68.27% interval (one sd for a normal forecast) against
    # AutoReg's plug-in forecast se, which leaves out the parameter uncertainty (about
    # k / n more variance at h = 1, growing with h for a persistent series). The Monte
    # Carlo error of each half-width from 4,000 paths is 1.7% (4 se: 7%)
    band = fit.forecast(STEPS, quantiles=(0.158655, 0.841345))
    half = (band["q0.841345"] - band["q0.158655"]).to_numpy() / 2.0
    ratio = half / theirs.se_mean
    assert np.all((ratio >= 0.93) & (ratio <= 1.15)), f"forecast half-width / AutoReg se = {np.round(ratio, 3)}"


# ---------------------------------------------------------------- a non-Normal prior

STUDENT_T = {"phi": dist.StudentT(4.0, 0.0, 1.0)}


@pytest.fixture(scope="module")
def infl_student_t(load_series):
    """Quarterly inflation, AR(4), StudentT(4, 0, 1) on each phi: the NUTS reference and the
    default fit."""
    y = load_series("infl")
    ar = pm.BayesianAR(4, priors=STUDENT_T)
    # 2 chains x 1,000 draws after 500 warm-up steps (the dense mass matrix is adapted in
    # the warm-up): an effective sample size of about 1,400 per quantity, checked below
    nuts = ar.fit(y, method="nuts", seed=0, progress=False, num_samples=1000, warmup_steps=500)
    default = pm.BayesianAR(4, priors=STUDENT_T).fit(y, seed=0, progress=False)
    return y, nuts, default


def _scalars(fit):
    """{"mu": (chain, draw), "phi[1]": ..., "sigma": ...} for the one series."""
    out = {"mu": fit.draws["mu"][..., 0], "sigma": fit.draws["sigma"][..., 0]}
    for i in range(fit.draws["phi"].shape[-1]):
        out[f"phi[{i + 1}]"] = fit.draws["phi"][..., 0, i]
    return out


def test_student_t_prior_nuts_reference_is_converged(infl_student_t):
    import arviz as az

    _, nuts, _ = infl_student_t
    draws = _scalars(nuts)
    rhat = {k: float(az.rhat(v)) for k, v in draws.items()}
    ess = {k: float(az.ess(v)) for k, v in draws.items()}
    # the reference must itself be trustworthy: R-hat below 1.01 and a bulk ESS of 400
    # (the Monte Carlo error of its means is then at most 0.05 sd)
    assert max(rhat.values()) < 1.01 and min(ess.values()) > 400, (rhat, ess)
    assert nuts.diagnostics["divergences"] == 0


@pytest.mark.parametrize("name", ["mu", "phi[1]", "phi[2]", "phi[3]", "phi[4]", "sigma"])
def test_student_t_prior_default_fit_agrees_with_nuts(infl_student_t, name):
    """The issue's required case (quarterly inflation, AR(4), StudentT(4, 0, 1) on phi)."""
    _, nuts, default = infl_student_t
    ref, got = _scalars(nuts)[name].ravel(), _scalars(default)[name].ravel()
    # the bar: means within 0.2 NUTS sd, sds within 20%. The Monte Carlo errors
    # are 0.035 sd (NUTS, ESS > 800) and 0.016 sd (4,000 draws) for the means and 2.5%
    # for the NUTS sd, so the bar is about 4 standard errors
    shift = (got.mean() - ref.mean()) / ref.std()
    ratio = got.std() / ref.std()
    assert abs(shift) <= 0.2 and abs(ratio - 1.0) <= 0.2, (
        f"{name}: default fit mean {got.mean():.4g} sd {got.std():.4g}; NUTS mean "
        f"{ref.mean():.4g} sd {ref.std():.4g} (shift {shift:.2f} NUTS sd, sd ratio {ratio:.2f})")
