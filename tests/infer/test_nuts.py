"""Tests for probmodels.infer.nuts: seeded chains, parallel = sequential, per-draw statistics."""

import math
from functools import partial

import numpy as np
import pyro.distributions as dist
import pytest
import torch

from probmodels.infer import ModelTarget, NUTSConfig, run_nuts
from probmodels.infer.nuts import STAT_NAMES
from probmodels.models.ar.design import design
from probmodels.models.ar.sites import ar_model

F64 = torch.float64


@pytest.fixture(scope="module")
def ar1_target():
    """An AR(1) with known data: a model importable in a chain's own process."""
    rng = np.random.default_rng(3)
    y = np.zeros(120)
    for t in range(1, 120):
        y[t] = 0.5 * y[t - 1] + rng.standard_normal()
    priors = {"mu": dist.Normal(torch.tensor(0.0, dtype=F64), 10.0),
              "phi": dist.Normal(torch.tensor(0.0, dtype=F64), 1.0),
              "sigma": dist.HalfNormal(torch.tensor(2.0, dtype=F64))}
    d = design(torch.as_tensor(y[:, None]), 1, 1)
    return ModelTarget(partial(ar_model, d, priors, 1), max_plate_nesting=2), y


def test_parallel_chains_equal_sequential_chains_and_record_statistics(ar1_target):
    target, y = ar1_target
    config = NUTSConfig(num_samples=150, warmup_steps=150, jit_compile=False)
    seq = run_nuts(target, NUTSConfig(**{**config.__dict__, "chain_method": "sequential"}), seed=7)
    par = run_nuts(target, config, seed=7)
    assert par.parallel and not seq.parallel
    for k in seq.samples:
        np.testing.assert_array_equal(par.samples[k], seq.samples[k])   # bit for bit
    assert set(par.sample_stats) == set(STAT_NAMES)
    for k in STAT_NAMES:
        assert par.sample_stats[k].shape == (2, 150)
        np.testing.assert_array_equal(par.sample_stats[k], seq.sample_stats[k])
    stats = seq.sample_stats
    # a trajectory of depth d has between 2^(d-1) and 2^d - 1 leapfrog steps
    assert np.all(stats["n_steps"] <= 2 ** stats["tree_depth"] - 1)
    assert np.all(stats["n_steps"] >= 2 ** (stats["tree_depth"] - 1))
    assert np.all((stats["acceptance_rate"] >= 0) & (stats["acceptance_rate"] <= 1))
    # the energy is the potential at the start of an iteration (minus the previous draw's lp)
    # plus a kinetic energy >= 0
    assert np.all(stats["energy"][:, 1:] >= -stats["lp"][:, :-1] - 1e-9)
    # chains differ, and the posterior of phi is near the least-squares value
    assert not np.allclose(seq.samples["phi"][0], seq.samples["phi"][1])
    ols = np.polyfit(y[:-1], y[1:], 1)[0]
    assert abs(seq.samples["phi"].mean() - ols) < 5 * 0.08 / math.sqrt(100)


def test_lp_is_the_log_joint_on_the_unconstrained_space(ar1_target):
    """lp = log p(y, mu, phi, sigma) + log sigma (the Jacobian of sigma = exp(u)), by scipy."""
    from scipy import stats

    target, y = ar1_target
    run = run_nuts(target, NUTSConfig(num_samples=20, warmup_steps=30, num_chains=1,
                                      jit_compile=False), seed=1)
    for i in (0, 7, 19):
        mu, phi, sigma = (float(run.samples[k][0, i].ravel()[0]) for k in ("mu", "phi", "sigma"))
        expected = (stats.norm.logpdf(y[1:], mu + phi * y[:-1], sigma).sum()
                    + stats.norm.logpdf(mu, 0, 10) + stats.norm.logpdf(phi, 0, 1)
                    + stats.halfnorm.logpdf(sigma, scale=2.0) + np.log(sigma))
        np.testing.assert_allclose(run.sample_stats["lp"][0, i], expected, rtol=1e-10)


def test_a_model_from_main_runs_in_this_process(monkeypatch):
    """A target the child cannot unpickle (a model defined in __main__) runs after chain 0 here,
    with the same draws as a sequential run."""
    import __main__

    def local_model():
        import pyro

        pyro.sample("m", dist.Normal(torch.tensor(0.0, dtype=F64), 1.0))

    local_model.__module__ = "__main__"
    local_model.__qualname__ = "probmodels_test_local_model"
    monkeypatch.setattr(__main__, "probmodels_test_local_model", local_model, raising=False)
    config = NUTSConfig(num_samples=30, warmup_steps=30, jit_compile=False)
    par = run_nuts(ModelTarget(local_model), config, seed=2)
    seq = run_nuts(ModelTarget(local_model), NUTSConfig(**{**config.__dict__, "chain_method": "sequential"}), seed=2)
    np.testing.assert_array_equal(par.samples["m"], seq.samples["m"])
