r"""What NUTS samples for a complete-data AR(p): its potential from sufficient statistics.

The model's log density, on the unconstrained parameters :math:`u = (\mu, \phi,
t(\sigma))` of every series (``t = biject_to(support)^{-1}`` of each prior: the
log for a positive prior), is

.. math::

    \log p(\mu) + \log p(\phi) + \log p(\sigma) + \log |J_t|
    - n \log \sigma - \frac{\mathrm{RSS}}{2 \sigma^2}, \qquad
    \mathrm{RSS} = y_c^\top y_c - 2 b^\top Z^\top y_c + b^\top Z^\top Z\, b,

with the centred regression of :mod:`.design` (``Z = [1, X - c]``, ``y_c = y - c``,
``b = (\mu - c (1 - \sum \phi), \phi)``), so each evaluation costs ``O(S p^2)``
whatever the length of the series, instead of the ``O(n S p)`` of tracing the Pyro
model at every leapfrog step. It is the same density as
:func:`~probmodels.models.ar.sites.ar_model` (tested), compiled with the JIT. Each
chain starts at its own exact posterior draw (under the Gaussian surrogate priors for
non-Gaussian ones). Data with missing values use the Pyro model itself
(:class:`~probmodels.infer.nuts.ModelTarget`), whose missing values are latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.distributions import biject_to

from probmodels.infer.nuts import NUTSTarget
from probmodels.infer.runtime import quiet_jit
from probmodels.models.ar.design import DTYPE

__all__ = ["ARTarget", "FULL_MASS_MAX_DIM", "split_u", "unconstrained_starts"]

#: the largest number of parameters (series x (order + 2)) adapted with a dense mass matrix
FULL_MASS_MAX_DIM = 200


def split_u(u: torch.Tensor, S: int, p: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The flat unconstrained vector(s) ``(..., S (p + 2))`` -> ``mu (..., S)``,
    ``phi (..., S, p)``, the unconstrained sigma ``(..., S)``."""
    u = u.reshape(u.shape[:-1] + (S, p + 2))
    return u[..., 0], u[..., 1 : p + 1], u[..., p + 1]


@dataclass
class ARTarget(NUTSTarget):
    """The potential of the module docstring (picklable: compiled in a chain's process)."""

    ZtZ: torch.Tensor  # (S, k, k)
    Zty: torch.Tensor  # (S, k)
    yy: torch.Tensor  # (S,)
    n: int
    center: torch.Tensor  # (S,)
    priors: dict[str, Any]  # mu (S,), phi (S,) event (p,), sigma (S,): site_dists
    starts: torch.Tensor  # (chains, S (p + 2)) unconstrained starting points
    jit_compile: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.Zty.shape[0]), int(self.Zty.shape[1]) - 1

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        """The log density of the unconstrained ``u`` ``(S (p + 2),)`` (module docstring)."""
        S, p = self.shape
        mu_d, phi_d, sigma_d = (self.priors[k] for k in ("mu", "phi", "sigma"))
        mu, phi, v = split_u(u, S, p)
        to_sigma = biject_to(sigma_d.support)
        sigma = to_sigma(v)
        b = torch.cat([(mu - self.center * (1.0 - phi.sum(-1))).unsqueeze(-1), phi], -1)  # (S, k)
        rss = (
            self.yy
            - 2.0 * (b * self.Zty).sum(-1)
            + (b.unsqueeze(-2) @ self.ZtZ @ b.unsqueeze(-1))[..., 0, 0]
        )
        loglik = (
            -self.n * torch.log(sigma) - 0.5 * rss / sigma**2 - 0.5 * self.n * math.log(2 * math.pi)
        )
        return (
            mu_d.log_prob(mu).sum()
            + phi_d.log_prob(phi).sum()
            + sigma_d.log_prob(sigma).sum()
            + to_sigma.log_abs_det_jacobian(v, sigma).sum()
            + loglik.sum()
        )

    def kernel_args(self) -> dict[str, Any]:
        def potential(u):
            return -self.log_density(u)

        if self.jit_compile:
            with quiet_jit():
                # no data-dependent control flow: one trace serves every u
                potential = torch.jit.trace(potential, self.starts[0].clone(), check_trace=False)
        # a dense mass matrix: the lag coefficients of an AR are strongly correlated, and
        # a diagonal one makes NUTS take several times the leapfrog steps per draw
        return {
            "potential_fn": lambda params: potential(params["u"]),
            "full_mass": self.starts.shape[1] <= FULL_MASS_MAX_DIM,
        }

    def initial_params(self, chain: int):
        return {"u": self.starts[chain % self.starts.shape[0]].clone()}


def unconstrained_starts(draws: dict[str, np.ndarray], sigma_prior, num: int) -> torch.Tensor:
    """``num`` starting points from exact draws ``mu (N, S)``, ``phi (N, S, p)``,
    ``sigma (N, S)``: the first ``num`` draws, in the unconstrained coordinates."""
    mu = torch.as_tensor(draws["mu"][:num], dtype=DTYPE)
    phi = torch.as_tensor(draws["phi"][:num], dtype=DTYPE)
    sigma = torch.as_tensor(draws["sigma"][:num], dtype=DTYPE)
    v = biject_to(sigma_prior.support).inv(sigma)
    return torch.cat([mu.unsqueeze(-1), phi, v.unsqueeze(-1)], -1).reshape(mu.shape[0], -1)
