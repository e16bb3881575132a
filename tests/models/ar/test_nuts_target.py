"""The AR's NUTS potential from sufficient statistics (probmodels.models.ar.nuts) equals
the potential Pyro builds from the model itself, at random points, for Gaussian and
non-Gaussian priors, bounded sigma priors and several series."""

from functools import partial

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.mcmc.util import initialize_model
from torch.distributions import biject_to

import probmodels as pm
from probmodels.infer.config import NUTSConfig
from probmodels.models.ar.sites import MAX_PLATE_NESTING, ar_model
from probmodels.models.ar.nuts import ARTarget, split_u

F64 = torch.float64

PRIORS = {
    "default": None,
    "student t phi": {"phi": dist.StudentT(4.0, 0.0, torch.tensor(0.5, dtype=F64))},
    "bounded sigma": {"sigma": dist.Uniform(torch.tensor(0.0, dtype=F64), 50.0),
                      "mu": dist.Laplace(torch.tensor(0.0, dtype=F64), 10.0)},
}


def _frame(S, T=80, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros((T, S))
    for t in range(2, T):
        y[t] = 3.0 + 0.5 * y[t - 1] - 0.2 * y[t - 2] + rng.normal(size=S)
    return y


@pytest.mark.parametrize("priors", sorted(PRIORS))
@pytest.mark.parametrize("S", [1, 3])
def test_sufficient_statistic_potential_equals_the_models(priors, S):
    ar = pm.BayesianAR(2, priors=PRIORS[priors])
    y = _frame(S)
    problem = ar._prepare(y if S > 1 else y[:, 0])
    target = ar._nuts_target(problem, NUTSConfig(num_chains=2), _run())
    assert isinstance(target, ARTarget)
    model = partial(ar_model, problem.design, problem.priors, 2)
    _, potential, transforms, _ = initialize_model(model, max_plate_nesting=MAX_PLATE_NESTING)
    rng = np.random.default_rng(1)
    diffs = []
    for _ in range(5):
        u = target.starts[0] + torch.as_tensor(rng.normal(scale=0.1, size=target.starts.shape[1]), dtype=F64)
        mu, phi, v = split_u(u, S, 2)
        # Pyro's potential on its own unconstrained sites: the same numbers, reshaped
        theirs = potential({"mu": mu, "phi": phi, "sigma": v})
        diffs.append(float(-target.log_density(u) - theirs))
    # equal up to a constant that does not depend on the parameters (none here)
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8 * S * 80)
    # the starts are exact draws: inside the sigma prior's support
    sigma = biject_to(problem.priors["sigma"].support)(split_u(target.starts, S, 2)[2])
    assert torch.all(sigma > 0)


def _run():
    from probmodels.infer.pipeline import Run

    return Run(seed=0, progress=False, num_threads=1, device=torch.device("cpu"))


def test_missing_values_use_the_pyro_model():
    from probmodels.infer.nuts import ModelTarget

    y = _frame(1)[:, 0]
    y[30] = np.nan
    ar = pm.BayesianAR(2)
    target = ar._nuts_target(ar._prepare(y), NUTSConfig(), _run())
    assert isinstance(target, ModelTarget)
