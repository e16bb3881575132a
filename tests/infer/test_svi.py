"""Tests for probmodels.infer.svi: the SVI loop, its NaN guard, schedules and importance draws."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoNormal
from scipy import stats

from probmodels.infer import NonFiniteLossError, importance_draws, run_svi


@pytest.fixture(autouse=True)
def _clean():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def normal_model(x):
    m = pyro.sample("m", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 10.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("x", dist.Normal(m, 1.0), obs=x)


def test_svi_reaches_the_conjugate_posterior_and_stops_when_converged():
    x = torch.as_tensor(np.random.default_rng(0).normal(2.0, 1.0, 50))
    guide = AutoNormal(normal_model)
    run = run_svi(normal_model, guide, x, steps=5000, lr=0.05, num_particles=8,
                  vectorize_particles=True, max_plate_nesting=1, progress=False, seed=0,
                  average=True)
    # Normal-Normal: posterior precision 1/100 + n, mean sum(x) / precision
    prec = 1 / 100 + 50
    assert run.converged and run.num_steps < 5000
    assert run.losses.shape == (run.num_steps,)
    loc = run.params["AutoNormal.locs.m"]
    scale = run.params["AutoNormal.scales.m"]
    # SGD noise after averaging: well inside 0.05 posterior sd
    assert abs(loc - x.sum().item() / prec) < 0.05 / math.sqrt(prec)
    assert abs(scale * math.sqrt(prec) - 1) < 0.05


def test_svi_is_reproducible_with_a_seed():
    x = torch.as_tensor(np.random.default_rng(1).normal(size=20))
    runs = [run_svi(normal_model, AutoNormal(normal_model), x, steps=50, progress=False, seed=3,
                    convergence=False) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].losses, runs[1].losses)


def test_nan_guard_names_the_step_and_the_site():
    def model():
        s = pyro.sample("s", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))
        pyro.sample("obs", dist.Normal(s, 1.0), obs=torch.tensor(0.0, dtype=torch.float64))

    def guide():
        # a start far out: the model's log-density of s overflows to -inf
        loc = pyro.param("loc", torch.tensor(1e300, dtype=torch.float64))
        pyro.sample("s", dist.Normal(loc, 1.0))

    with pytest.raises(NonFiniteLossError, match=r"step 0 .*model site 's'.*smaller learning rate"):
        run_svi(model, guide, steps=10, progress=False, seed=0)


def test_nan_guard_catches_invalid_distribution_parameters():
    def model():
        pyro.sample("s", dist.Normal(0.0, 1.0))

    def guide():
        loc = pyro.param("loc", torch.tensor(0.0))
        # NaN scale: Pyro's validation raises before a loss exists
        pyro.sample("s", dist.Normal(loc, torch.sqrt(loc - 1.0)))

    with pytest.raises(NonFiniteLossError, match=r"step 0 .*guide site 's'"):
        run_svi(model, guide, steps=10, progress=False, seed=0)


@pytest.mark.parametrize("bad, match", [
    ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"schedule": "linear"}, "constant"),
    ({"num_particles": 1.5}, "num_particles"),
])
def test_svi_rejects_bad_options(bad, match):
    kwargs = {"steps": 10, "progress": False, "seed": 0, **bad}
    with pytest.raises((ValueError, TypeError), match=match):
        run_svi(normal_model, AutoNormal(normal_model), torch.zeros(3), **kwargs)


@pytest.mark.parametrize("schedule", ["cosine", "exponential", "onecycle"])
def test_schedules_run(schedule):
    x = torch.as_tensor(np.random.default_rng(2).normal(size=20))
    run = run_svi(normal_model, AutoNormal(normal_model), x, steps=30, schedule=schedule,
                  progress=False, seed=0, convergence=False)
    assert run.num_steps == 30 and np.isfinite(run.losses).all()


def test_importance_draws_shapes_and_exact_weights():
    x = torch.as_tensor(np.random.default_rng(3).normal(size=10))
    prec = 1 / 100 + 10
    mean = x.sum().item() / prec

    def exact_guide(x):
        pyro.sample("m", dist.Normal(torch.tensor(mean, dtype=torch.float64), prec ** -0.5))

    draws, lw = importance_draws(normal_model, exact_guide, x, num_samples=500,
                                 max_plate_nesting=1, sites=["m"])
    assert draws["m"].shape == (500, 1)
    # exact posterior as proposal: every weight equals log p(x), so they are all equal
    np.testing.assert_allclose(lw, lw[0], rtol=0, atol=1e-9)
    cov = np.eye(10) + 100.0
    np.testing.assert_allclose(lw[0], stats.multivariate_normal(np.zeros(10), cov).logpdf(x.numpy()),
                               rtol=1e-9)


def test_importance_draws_in_batches_bound_the_memory_and_keep_the_answer(monkeypatch):
    """Large data are scored in batches of draws (IMPORTANCE_BATCH_NUMBERS / data_size
    each): the same exact weights and the same distribution of the draws."""
    from probmodels.infer import svi

    x = torch.as_tensor(np.random.default_rng(3).normal(size=10))
    prec = 1 / 100 + 10
    mean = x.sum().item() / prec
    sizes = []
    original = svi.vectorized_importance_weights

    def recording(*args, num_samples, **kwargs):
        sizes.append(num_samples)
        return original(*args, num_samples=num_samples, **kwargs)

    def exact_guide(x):
        pyro.sample("m", dist.Normal(torch.tensor(mean, dtype=torch.float64), prec ** -0.5))

    monkeypatch.setattr(svi, "vectorized_importance_weights", recording)
    monkeypatch.setattr(svi, "IMPORTANCE_BATCH_NUMBERS", 3000)
    pyro.set_rng_seed(0)
    draws, lw = importance_draws(normal_model, exact_guide, x, num_samples=2000,
                                 max_plate_nesting=1, sites=["m"], data_size=10)
    assert sizes == [300] * 6 + [200]
    assert draws["m"].shape == (2000, 1) and lw.shape == (2000,)
    np.testing.assert_allclose(lw, lw[0], rtol=0, atol=1e-9)
    # the draws are the exact posterior's: mean and sd within 4 Monte Carlo errors
    sd = prec ** -0.5
    assert abs(draws["m"].mean() - mean) < 4 * sd / np.sqrt(2000)
    assert abs(draws["m"].std() / sd - 1) < 4 / np.sqrt(2 * 2000)
