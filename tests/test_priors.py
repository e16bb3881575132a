"""Tests for probmodels._priors: float64 conversion and JSON round trips keep the density."""

import json

import pyro.distributions as dist
import pytest
import torch

from probmodels import _priors

PRIORS = [
    dist.Normal(0.0, 10.0), dist.HalfCauchy(2.5), dist.HalfNormal(2.0), dist.Gamma(2.0, 3.0),
    dist.LogNormal(0.0, 1.0), dist.Exponential(1.5), dist.StudentT(3.0, 0.5, 2.0),
    dist.Uniform(0.0, 4.0), dist.Beta(5.0, 5.0), dist.Dirichlet(torch.tensor([1.0, 2.0, 3.0])),
    dist.LKJCholesky(3, 2.0), dist.MultivariateNormal(torch.zeros(2), torch.tensor([[2.0, 0.5], [0.5, 1.0]])),
    dist.Normal(torch.zeros(3), 1.0).to_event(1), dist.HalfCauchy(2.5).expand([2]),
]


@pytest.mark.parametrize("prior", PRIORS, ids=lambda d: type(d).__name__)
def test_to_dtype_and_json_round_trip_keep_the_log_density(prior):
    x = prior.sample(torch.Size([5]))
    expected = prior.log_prob(x).double()
    converted = _priors.to_dtype(prior)
    restored = _priors.from_json(json.loads(json.dumps(_priors.to_json(prior))))
    for d in (converted, restored):
        assert type(d) is type(prior)
        assert d.sample().dtype == torch.float64 or not d.sample().is_floating_point()
        assert d.batch_shape == prior.batch_shape and d.event_shape == prior.event_shape
        # float32 parameters evaluated in float64: agreement to float32 precision
        torch.testing.assert_close(d.log_prob(x.double()), expected, rtol=1e-5, atol=1e-5)


def test_rejects_distributions_outside_pyro():
    class Custom(torch.distributions.Normal):
        pass

    with pytest.raises(TypeError, match="not a pyro.distributions class"):
        _priors.to_json(Custom(0.0, 1.0))


@pytest.mark.parametrize("kind", ["enable_validation", "constraints", "__class__", 3, "Normal"])
def test_from_json_reaches_only_distribution_classes(kind):
    import pyro

    from probmodels import _priors

    before = pyro.distributions.is_validation_enabled()
    params = {"is_validate": False} if kind == "enable_validation" else {}
    if kind == "Normal":
        # a distribution class without its parameters: a clear error, not a TypeError
        with pytest.raises(ValueError, match="cannot be rebuilt"):
            _priors.from_json({"type": kind, "params": params})
    else:
        with pytest.raises(ValueError, match="not a distribution class"):
            _priors.from_json({"type": kind, "params": params})
    assert pyro.distributions.is_validation_enabled() == before
