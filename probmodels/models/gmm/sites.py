"""The mixture's sites, its Pyro model and its log density on the unconstrained space.

Shared by every method of :class:`~probmodels.models.gmm.model.GaussianMixture`
and by its result: the site layout (:class:`Layout`), the priors shaped per site,
the mixture parameters aligned for broadcasting against the data, the Pyro model
itself and the unconstrained packing NUTS and the Laplace start work on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import TorchDistribution
from pyro.ops.indexing import Vindex
from torch.distributions import biject_to

from probmodels.scale.chunks import draw_slices

__all__ = [
    "DTYPE",
    "Layout",
    "MAX_PLATE_NESTING",
    "OrderedIID",
    "Packing",
    "SITES",
    "align",
    "chunks",
    "component_dist",
    "in_component_plate",
    "joint_terms",
    "log_density",
    "logsumexp_components",
    "mixture_model",
    "pointwise_log_lik",
    "site_dists",
]

DTYPE = torch.float64
SITES = ("pi", "mu", "sigma", "L_omega")
MAX_PLATE_NESTING = 1  # data (dim -1); component (dim -1) is a sibling, not nested


# ------------------------------------------------------------------ sites


class OrderedIID(TorchDistribution):
    """A prior restricted to increasing vectors: ``log p(v) = sum_k log base(v_k)``.

    Support ``ordered_vector``; the normalising constant ``log K!`` of an
    i.i.d. base is left out (as Stan's ``ordered``). Samples are sorted base
    draws. Pyro's ``MCMC`` refuses ``ImproperUniform(ordered_vector)``; this
    small distribution works with NUTS and the autoguides.

    Parameters
    ----------
    base : torch.distributions.Distribution
        Scalar base distribution with batch shape ``batch + (K,)``.
    """

    arg_constraints: dict = {}
    support = constraints.ordered_vector

    def __init__(self, base, validate_args=None):
        self.base = base
        super().__init__(base.batch_shape[:-1], base.batch_shape[-1:], validate_args=False)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return OrderedIID(self.base.expand(batch_shape + self.event_shape))

    def sample(self, sample_shape=torch.Size()):
        return self.base.sample(sample_shape).sort(-1).values

    def log_prob(self, value):
        return self.base.log_prob(value).sum(-1)


@dataclass(frozen=True)
class Layout:
    """Sizes and covariance type; everything the site shapes depend on."""

    K: int
    D: int
    covariance: str

    @property
    def univariate(self) -> bool:
        return self.D == 1

    @property
    def full(self) -> bool:
        return self.covariance == "full" and self.D > 1

    @property
    def spherical(self) -> bool:
        return self.covariance == "spherical" or self.D == 1

    @property
    def sites(self) -> tuple[str, ...]:
        return SITES if self.full else SITES[:3]

    def site_shape(self, name: str) -> tuple[int, ...]:
        K, D = self.K, self.D
        return {
            "pi": (K,),
            "mu": (K,) if self.univariate else (K, D),
            "sigma": (K,) if self.spherical else (K, D),
            "L_omega": (K, D, D),
        }[name]

    def dims(self, name: str) -> list[str]:
        """ArviZ dims of an exported variable (``Omega``: the correlations, see ``to_arviz``)."""
        return {
            "pi": ["component"],
            "mu": ["component"] if self.univariate else ["component", "feature"],
            "sigma": ["component"] if self.spherical else ["component", "feature"],
            "Omega": ["component", "feature_pair"],
        }[name]

    def num_parameters(self) -> int:
        """Free parameters, for BIC: weights, means and covariances."""
        K, D = self.K, self.D
        cov = {True: K}.get(self.spherical, K * D * (D + 1) // 2 if self.full else K * D)
        return (K - 1) + K * D + cov


def site_dists(priors: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """The prior of every global site, shaped as in the module docstring's table."""
    K, D = layout.K, layout.D
    out = {"pi": priors["pi"]}
    if layout.univariate:
        out["mu"] = OrderedIID(priors["mu"].expand((K,)))
    else:
        out["mu"] = priors["mu"].expand((K, D)).to_event(1)
    if layout.spherical:
        out["sigma"] = priors["sigma"].expand((K,))
    else:
        out["sigma"] = priors["sigma"].expand((K, D)).to_event(1)
    if layout.full:
        out["L_omega"] = priors["L_omega"].expand((K,))
    return out


def in_component_plate(name: str, layout: Layout) -> bool:
    return name in ("sigma", "L_omega") or (name == "mu" and not layout.univariate)


def _event_dim(name: str, layout: Layout) -> int:
    """Event dims of a site's value right of the component dim (or of its own event)."""
    if name == "L_omega":
        return 2
    if name == "sigma":
        return 0 if layout.spherical else 1
    if name == "mu":
        return 0 if layout.univariate else 1
    return 0


@dataclass
class Aligned:
    """Mixture parameters shaped ``batch + (1, K) + event``: the ``1`` lines up with the
    data plate (dim -1) so that ``x`` of shape ``(N, 1, D)`` broadcasts to ``batch + (N, K)``."""

    log_pi: torch.Tensor  # batch + (1, K)
    loc: torch.Tensor  # batch + (1, K, D)
    scale: torch.Tensor  # batch + (1, K, D)
    tril: torch.Tensor | None  # batch + (1, K, D, D) correlation Cholesky factor ("full")


def align(values: Mapping[str, torch.Tensor], layout: Layout, *, plated: bool) -> Aligned:
    """Site values -> :class:`Aligned`.

    ``plated=True``: values as the model's sites hold them (component-plate
    sites have the component dim at -1 of their batch; outside-plate sites
    carry a size-1 slot for it when vectorised). ``plated=False``: values with
    one leading batch dim per draw and no plate slots, ``(S,) + site_shape``.
    """

    def component(name):
        v = values[name]
        if plated and not in_component_plate(name, layout):
            return v  # batch (..., 1) already aligned, or no batch at all
        return v.unsqueeze(-(_event_dim(name, layout) + 2))

    pi = component("pi")
    mu = component("mu")
    sigma = component("sigma")
    loc = mu.unsqueeze(-1) if layout.univariate else mu
    scale = sigma.unsqueeze(-1).expand(sigma.shape + (layout.D,)) if layout.spherical else sigma
    tril = component("L_omega") if layout.full else None
    return Aligned(pi.log(), loc, scale, tril)


def component_dist(a: Aligned, z: torch.Tensor | None = None):
    """N(mu_k, Sigma_k), event (D,); indexed by the assignment ``z`` when given."""
    loc, scale, tril = a.loc, a.scale, a.tril
    if z is not None:
        loc = Vindex(loc)[..., z, :]
        scale = Vindex(scale)[..., z, :]
        tril = None if tril is None else Vindex(tril)[..., z, :, :]
    if tril is not None:
        # Sigma = diag(sigma) Omega diag(sigma): Cholesky factor diag(sigma) L_omega
        return dist.MultivariateNormal(loc, scale_tril=scale.unsqueeze(-1) * tril)
    return dist.Normal(loc, scale).to_event(1)


def logsumexp_components(t: torch.Tensor) -> torch.Tensor:
    """``logsumexp`` over the last (component) dim, shifted by the (constant) largest term.

    ``m + log sum_k exp(t_k - m)`` with ``m`` detached: the value does not depend on
    ``m``, and its first and second derivatives are those of ``logsumexp`` for any
    separation of the terms. (Pairwise ``torch.logaddexp`` has a NaN second
    derivative once two terms differ by more than about 709 nats, which made every
    Hessian entry of the Laplace start NaN on well-separated data such as iris.)
    """
    m = t.detach().amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (t - m).exp().sum(-1).log() + m.squeeze(-1)


def joint_terms(x: torch.Tensor, a: Aligned) -> torch.Tensor:
    """``log pi_k + log N(x_n | mu_k, Sigma_k)``, shape ``batch + (N, K)`` for ``x`` ``(N, D)``."""
    return a.log_pi + component_dist(a).log_prob(x.unsqueeze(-2))


def mixture_model(
    x: torch.Tensor | None,
    priors: Mapping[str, Any],
    layout: Layout,
    *,
    weights: torch.Tensor | None = None,
    num_data: int | None = None,
    subsample_size: int | None = None,
):
    """The Pyro model on prepared data ``x`` of shape ``(N, D)`` (float64)."""
    site = site_dists(priors, layout)
    values = {"pi": pyro.sample("pi", site["pi"])}
    if layout.univariate:
        values["mu"] = pyro.sample("mu", site["mu"])
    with pyro.plate("component", layout.K, dim=-1):
        if not layout.univariate:
            values["mu"] = pyro.sample("mu", site["mu"])
        values["sigma"] = pyro.sample("sigma", site["sigma"])
        if layout.full:
            values["L_omega"] = pyro.sample("L_omega", site["L_omega"])
    a = align(values, layout, plated=True)
    N = x.shape[0] if x is not None else num_data
    # minibatch indices are drawn with replacement: unbiased like Pyro's default
    # randperm(N)[:B], which at N = 1e6 costs more than the rest of the step
    subsample = None if subsample_size is None else torch.randint(N, (subsample_size,))  # type: ignore[arg-type]
    with pyro.plate("data", N, subsample=subsample, dim=-1) as idx:
        z = pyro.sample("z", dist.Categorical(logits=a.log_pi), infer={"enumerate": "parallel"})
        x_b = None if x is None else x[idx]
        out = pyro.sample("x", component_dist(a, z), obs=x_b)
        if weights is not None and x is not None:
            # enumeration takes scalar scales only: (w_n - 1) log p(x_n) makes w_n log p(x_n)
            lp = torch.logsumexp(joint_terms(x_b, a), dim=-1)  # type: ignore[arg-type]
            pyro.factor("sample_weight", (weights[idx] - 1.0) * lp)
    return out


# ------------------------------------------------------ unconstrained space


class Packing:
    """Flat unconstrained vectors <-> site values, in the model's site order
    (the order ``AutoMultivariateNormal`` packs its latent vector in)."""

    def __init__(self, priors: Mapping[str, Any], layout: Layout):
        self.layout = layout
        self.dists = site_dists(priors, layout)
        self.names = list(layout.sites)
        self.transforms = {n: biject_to(self.dists[n].support) for n in self.names}
        self.shapes, self.slices = {}, {}
        start = 0
        for n in self.names:
            proto = self.dists[n].sample()
            ushape = tuple(self.transforms[n].inv(proto).shape)
            size = int(np.prod(ushape))
            self.shapes[n], self.slices[n] = ushape, slice(start, start + size)
            start += size
        self.dim = start

    def unpack(self, u: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``u`` ``(S, dim)`` -> (constrained values ``(S,) + site_shape``, log|J| ``(S,)``)."""
        S = u.shape[0]
        values, ladj = {}, torch.zeros(S, dtype=u.dtype)
        for n in self.names:
            un = u[:, self.slices[n]].reshape((S,) + self.shapes[n])
            v = self.transforms[n](un)
            ladj = ladj + self.transforms[n].log_abs_det_jacobian(un, v).reshape(S, -1).sum(-1)
            values[n] = v
        return values, ladj

    def pack(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Constrained values ``site_shape`` (no batch) -> flat ``(dim,)``."""
        return torch.cat([self.transforms[n].inv(values[n]).reshape(-1) for n in self.names])

    def log_prior(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        S = values["pi"].shape[0]
        total = torch.zeros(S, dtype=DTYPE)
        for n in self.names:
            total = total + self.dists[n].log_prob(values[n]).reshape(S, -1).sum(-1)
        return total


def chunks(S: int, N: int, layout: Layout) -> list[slice]:
    """Slices of the ``S`` draws for a ``(draws, N, K, D)`` computation (bounded memory)."""
    return draw_slices(S, N * layout.K * layout.D)


def pointwise_log_lik(
    x: torch.Tensor, values: Mapping[str, torch.Tensor], layout: Layout
) -> torch.Tensor:
    """``log p(x_n | theta_s)`` for draws ``values`` ``(S,) + site_shape``: shape ``(S, N)``."""
    S = values["pi"].shape[0]
    out = []
    for sl in chunks(S, x.shape[0], layout):
        a = align({k: v[sl] for k, v in values.items()}, layout, plated=False)
        out.append(logsumexp_components(joint_terms(x, a)))
    return torch.cat(out)


def log_density(
    u: torch.Tensor, packing: Packing, x: torch.Tensor, w: torch.Tensor | None
) -> torch.Tensor:
    """Unconstrained log posterior density (unnormalised, z summed out), shape ``(S,)``."""
    values, ladj = packing.unpack(u)
    ll = pointwise_log_lik(x, values, packing.layout)
    ll = ll.sum(-1) if w is None else (ll * w).sum(-1)
    return ll + packing.log_prior(values) + ladj
