"""The AR's Pyro model and its conjugate guide, on a prepared :class:`~.design.Design`.

The sites, their shapes and plates are tabled in :mod:`probmodels.models.ar.model`.
Missing values of the series are one more latent site, ``y_missing``, with a flat prior.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.distributions.transforms import PowerTransform

from probmodels.models.ar.design import DTYPE, Design, centred_prior, completed, gaussian_prior

__all__ = [
    "MAX_PLATE_NESTING",
    "SITES",
    "ar_model",
    "conjugate_applicable",
    "conjugate_guide",
    "in_support",
    "site_dists",
]

SITES = ("mu", "phi", "sigma")
MAX_PLATE_NESTING = 2  # time (dim -2), series (dim -1)


def site_dists(priors: Mapping[str, Any], num_series: int, order: int):
    """The priors of ``mu`` ``(S,)``, ``phi`` ``(S,)`` event ``(p,)`` and ``sigma`` ``(S,)``."""
    S, p = num_series, order
    mu = priors["mu"].expand((S,))
    sigma = priors["sigma"].expand((S,))
    phi = priors["phi"]
    if phi.event_shape == ():
        phi = phi.expand((S, p)).to_event(1)
    else:
        phi = phi.expand((S,))
    return mu, phi, sigma


def ar_model(d: Design, priors: Mapping[str, Any], order: int):
    """The model on prepared data (the site table is in :mod:`probmodels.models.ar.model`)."""
    n, S = d.target.shape
    mu_d, phi_d, sigma_d = site_dists(priors, S, order)
    X, target = d.X, d.target
    if d.missing is not None:
        # the missing values are latent, with a flat prior: their density is the AR's own
        m = int(d.missing.numel())
        y_missing = pyro.sample("y_missing", dist.ImproperUniform(constraints.real, (), (m,)))
        batch = y_missing.shape[:-1]
        # a vectorising plate (particles, draws) gives this unplated site the batch
        # (N, 1, 1): keep N, which lines up with the plates' dims left of (time, series)
        batch = batch[:-2] if len(batch) >= 2 else batch
        _, X, target = completed(d, y_missing.reshape(batch + (m,)), order)
    with pyro.plate("series", S, dim=-1):
        mu = pyro.sample("mu", mu_d)  # (S,)
        phi = pyro.sample("phi", phi_d)  # (S, p)
        sigma = pyro.sample("sigma", sigma_d)  # (S,)
        with pyro.plate("time", n, dim=-2):
            # X (n, S, p) * phi (S, p) -> (n, S); broadcasts over vectorised draws
            loc = mu + (X * phi).sum(-1)
            return pyro.sample("y", dist.Normal(loc, sigma), obs=target)


def conjugate_applicable(priors, d: Design, order: int) -> bool:
    return gaussian_prior(priors, d.num_series, order) is not None and _sigma_unbounded(
        priors["sigma"]
    )


def _sigma_unbounded(prior) -> bool:
    """Whether the sigma prior's support reaches every large value, as the conjugate
    guide's q(sigma) (an inverse-Gamma precision) does; Uniform(0, b) does not."""
    return bool(in_support(prior, [1e-6, 1.0, 1e6, 1e30]).all())


def in_support(prior, values: Sequence[float]) -> torch.Tensor:
    """``prior.support.check`` of each value, broadcast over the prior's batch shape."""
    probe = torch.tensor(values, dtype=DTYPE)
    return prior.support.check(probe.reshape((len(values),) + (1,) * len(prior.batch_shape)))


def _least_squares(d: Design) -> tuple[np.ndarray, np.ndarray]:
    """Centred least-squares coefficients ``(S, k)`` and residual sums of squares ``(S,)``,
    with a ridge relative to each column's own scale (an absolute 1e-9 shrank the
    answer towards 0 for data in units of 1e-6)."""
    ZtZ, Zty, yy = d.ZtZ.numpy(), d.Zty.numpy(), d.yy.numpy()
    diag = np.clip(np.diagonal(ZtZ, axis1=-2, axis2=-1), 1e-300, None)
    beta = np.linalg.solve(ZtZ + 1e-9 * diag[:, None, :] * np.eye(ZtZ.shape[-1]), Zty[..., None])[
        ..., 0
    ]
    rss = yy - 2 * np.einsum("si,si->s", beta, Zty) + np.einsum("si,sij,sj->s", beta, ZtZ, beta)
    return beta, np.clip(rss, 1e-300 * np.maximum(yy, 1e-300), None)


def conjugate_guide(d: Design, priors: Mapping[str, Any], order: int):
    """q(sigma): sigma^-2 ~ Gamma (fitted); q(mu, phi | sigma): the exact conjugate conditional."""
    n, S = d.target.shape
    k = order + 1
    if "sigma_shape" not in pyro.get_param_store():
        # start at the flat-prior answer: 1/sigma^2 | y ~ Gamma((n - k)/2, RSS/2)
        _, rss = _least_squares(d)
        init_shape = torch.full((S,), max(n - k, 2) / 2.0, dtype=DTYPE)
        init_rate = torch.as_tensor(rss / 2.0, dtype=DTYPE)
    else:
        init_shape = init_rate = None  # type: ignore[assignment]
    shape = pyro.param("sigma_shape", lambda: init_shape, constraint=constraints.positive)
    rate = pyro.param("sigma_rate", lambda: init_rate, constraint=constraints.positive)  # type: ignore[arg-type, return-value]
    mean0, prec0 = gaussian_prior(priors, S, order)
    P0, info0 = (
        torch.as_tensor(a, dtype=DTYPE) for a in centred_prior(d.center.numpy(), mean0, prec0)
    )
    c = d.center  # (S,)
    with pyro.plate("series", S, dim=-1):
        # sigma = tau^(-1/2) with tau ~ Gamma: the family holds the exact posterior of
        # sigma under a flat prior, so only the prior's curvature is approximated
        q_sigma = dist.TransformedDistribution(dist.Gamma(shape, rate), [PowerTransform(-0.5)])  # type: ignore[arg-type]
        sigma = pyro.sample("sigma", q_sigma)  # (..., S)
        inv_s2 = sigma.pow(-2).unsqueeze(-1)  # (..., S, 1)
        # Lambda = Z'Z / sigma^2 + P_0 ;  Lambda b_mean = Z'(y - c) / sigma^2 + info_0
        precision = d.ZtZ * inv_s2.unsqueeze(-1) + P0  # (..., S, k, k)
        rhs = d.Zty * inv_s2 + info0  # (..., S, k)
        chol = torch.linalg.cholesky(precision)
        mean = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)  # (..., S, k)
        # phi from its marginal: precision = the Schur complement of Lambda_mm
        l_mm = precision[..., 0, 0]
        l_pm = precision[..., 1:, 0]
        prec_phi = (
            precision[..., 1:, 1:] - l_pm.unsqueeze(-1) * l_pm.unsqueeze(-2) / l_mm[..., None, None]
        )
        phi = pyro.sample("phi", dist.MultivariateNormal(mean[..., 1:], precision_matrix=prec_phi))
        # m | phi ~ N(m_mean - Lambda_mp (phi - phi_mean) / Lambda_mm, 1 / Lambda_mm); mu = m + c (1 - sum phi)
        m_loc = mean[..., 0] - (l_pm * (phi - mean[..., 1:])).sum(-1) / l_mm
        pyro.sample("mu", dist.Normal(m_loc + c * (1.0 - phi.sum(-1)), l_mm.rsqrt()))
