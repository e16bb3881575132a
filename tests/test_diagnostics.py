"""Tests for probmodels.diagnostics against ArviZ 0.23 (the oracle), computed in the test."""

import warnings

import numpy as np
import pytest
from scipy import special, stats

from probmodels import diagnostics as D



def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    if not hasattr(az, "psislw"):
        pytest.skip("ArviZ >= 1.0: the oracles here are ArviZ 0.23's functions")
    return az


def _chains(rho, C=4, N=500, seed=0, offset=0.0):
    """AR(1) chains with autocorrelation rho (and chain means shifted by offset)."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((C, N))
    x = np.zeros((C, N))
    for t in range(1, N):
        x[:, t] = rho * x[:, t - 1] + e[:, t]
    return x + offset * rng.standard_normal((C, 1))


@pytest.mark.parametrize("rho, offset", [(0.0, 0.0), (0.5, 0.0), (0.9, 0.5), (0.99, 2.0)])
def test_rhat_ess_and_hdi_equal_arviz(rho, offset):
    az = _az()
    x = _chains(rho, offset=offset)
    # the same algorithms in float64: agreement to rounding
    assert D.rhat(x) == pytest.approx(float(az.rhat(x)), abs=1e-10)
    assert D.ess_bulk(x) == pytest.approx(float(az.ess(x, method="bulk")), rel=1e-10)
    assert D.ess_tail(x) == pytest.approx(float(az.ess(x, method="tail")), rel=1e-10)
    np.testing.assert_allclose(D.hdi(x), az.hdi(x.reshape(-1)), rtol=1e-12)
    if offset >= 0.5:
        assert D.rhat(x) > D.RHAT_THRESHOLD  # chains at different levels: not mixed


def test_diagnostics_per_element_and_the_summary_table():
    az = _az()
    x = np.stack([_chains(r, seed=i) for i, r in enumerate((0.1, 0.6, 0.95))], axis=-1)  # (4, 500, 3)
    np.testing.assert_allclose(D.rhat(x), [float(az.rhat(x[..., i])) for i in range(3)], atol=1e-10)
    table = D.summarize({"a": x, "b": x[..., 0]}, coords={"a": [["u", "v", "w"]]})
    assert list(table.index) == ["a[u]", "a[v]", "a[w]", "b"]
    ref = az.summary({"a": x, "b": x[..., 0]}, round_to="none")
    for col in ("mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat"):
        np.testing.assert_allclose(table[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9)
    one_chain = D.summarize({"a": x[:1]}, chains_diagnostics=True)
    assert one_chain["r_hat"].isna().all()  # one chain: no R-hat


@pytest.mark.parametrize("proposal_sd", [0.9, 0.6, 0.4, 0.2])
def test_psis_equals_arviz(proposal_sd):
    """N(0, s^2) proposal for a N(0, 1) target: ArviZ's psislw is the oracle."""
    az = _az()
    z = np.random.default_rng(0).standard_normal(4000) * proposal_sd
    lw = stats.norm.logpdf(z) - stats.norm.logpdf(z, scale=proposal_sd)
    smoothed, k = az.psislw(lw.copy())
    assert D.psis_khat(lw) == pytest.approx(float(k), abs=1e-8)
    ours, khat = D.psis_log_weights(lw)
    np.testing.assert_allclose(ours, smoothed, atol=1e-10)
    assert D.psis_khat(np.zeros(100)) == -np.inf  # equal weights: exact proposal
    if proposal_sd >= 0.9:
        assert khat < 0.5
    if proposal_sd <= 0.2:
        assert khat > D.KHAT_THRESHOLD


def test_psis_resampling_follows_the_weights():
    """Resampled N(0, 2^2) draws with weights N(0,1)/N(0,2^2) are N(0, 1): mean 0, sd 1."""
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2.0, 20_000)
    idx = D.psis_resample(stats.norm.logpdf(z) - stats.norm.logpdf(z, scale=2.0), rng, 10_000)
    assert abs(z[idx].mean()) < 4 / np.sqrt(10_000) and abs(z[idx].std() - 1) < 0.03


def test_psis_with_ties_at_the_tail_cutoff_leaves_the_tail_unsmoothed():
    """45 of the 95 tail weights tie with the cutoff (resampled draws): the Pareto fit of the
    exceedances has no scale (it divided by zero before), so the weights stay the raw ones,
    normalised, and k-hat is that of the strictly larger weights."""
    lw = np.r_[np.linspace(0.0, 0.1, 50), np.full(950, -5.0)]
    smoothed, khat = D.psis_log_weights(lw)
    np.testing.assert_allclose(smoothed, lw - special.logsumexp(lw), atol=1e-12)
    assert khat == D.psis_khat(lw) and np.isfinite(khat)


def test_loo_pointwise_equals_arviz():
    az = _az()
    rng = np.random.default_rng(1)
    y = rng.standard_normal(50)
    mu = rng.normal(0, 0.15, size=(1, 2000))
    ll = stats.norm.logpdf(y[None, None, :], mu[..., None])
    ref = az.loo(az.from_dict(posterior={"mu": mu}, log_likelihood={"y": ll}), pointwise=True)
    elpd, k = D.loo_pointwise(ll.reshape(-1, 50))
    np.testing.assert_allclose(elpd, ref.loo_i.values, atol=1e-10)
    np.testing.assert_allclose(k, ref.pareto_k.values, atol=1e-10)


def test_choose_best_takes_the_simplest_model_within_one_standard_error():
    rng = np.random.default_rng(0)
    base = rng.normal(-1.0, 0.5, 300)
    # "B" beats "A" by 30 nats, far beyond its error; "C" and "D" add 1 nat with noise of ~3
    pointwise = {"A": base - 0.1, "B": base, "C": base + rng.normal(0.003, 0.17, 300),
                 "D": base + rng.normal(0.004, 0.2, 300)}
    complexity = {"A": 1, "B": 2, "C": 3, "D": 4}
    best, why = D.choose_best(pointwise, complexity, {m: True for m in pointwise})
    assert best == "B" and "simplest model within one standard error" in why
    # the top model unreliable: never chosen
    best, why = D.choose_best({"A": base - 0.1, "B": base}, {"A": 1, "B": 2}, {"A": True, "B": False})
    assert best == "A" and "left out as unreliable" in why and "B" in why
