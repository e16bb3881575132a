r"""Gaussian mixture with latent assignments.

.. math::

    \pi &\sim \mathrm{Dirichlet}(\alpha), \qquad
    \mu_k \sim p(\mu), \qquad \sigma_k \sim p(\sigma), \qquad
    \Omega_k = L_k L_k^\top,\ L_k \sim \mathrm{LKJCholesky}(D, \eta) \\
    z_n &\sim \mathrm{Categorical}(\pi), \qquad
    x_n \mid z_n \sim \mathcal{N}(\mu_{z_n}, \Sigma_{z_n}), \qquad n = 1, \dots, N

with :math:`\Sigma_k = \mathrm{diag}(\sigma_k)\,\Omega_k\,\mathrm{diag}(\sigma_k)`
(``covariance="full"``), :math:`\mathrm{diag}(\sigma_k^2)` (``"diag"``) or
:math:`\sigma_k^2 I` (``"spherical"``). In one dimension the three coincide and
:math:`\Sigma_k = \sigma_k^2`. As in the seed notes,

.. math::

    p(x) = \sum_{k=1}^K \pi_k\, \mathcal{N}(x \mid \mu_k, \Sigma_k), \qquad
    p(z = k \mid x) = \frac{\pi_k\, \mathcal{N}(x \mid \mu_k, \Sigma_k)}{p(x)}.

The discrete site ``z`` is enumerated in parallel (``infer={"enumerate":
"parallel"}``), so every fit -- ``TraceEnum_ELBO`` for SVI, Pyro's NUTS with
``max_plate_nesting=1`` -- sums it out exactly; the pointwise log-likelihood
``log p(x_n | pi, mu, Sigma)`` keeps one value per data point so PSIS-LOO works.

Sites (``K`` components, ``D`` features, ``N`` data points):

=======  ===========  ===========  ==========================================
site     batch_shape  event_shape  plates
=======  ===========  ===========  ==========================================
pi       ()           (K,)         --
mu       ()           (K,)         --  (D = 1: ordered, mu_1 < ... < mu_K)
mu       (K,)         (D,)         component (dim -1)   (D > 1)
sigma    (K,)         ()           component            (D = 1, "spherical")
sigma    (K,)         (D,)         component            ("diag", "full")
L_omega  (K,)         (D, D)       component            ("full", D > 1)
z        (N,)         ()           data (dim -1), enumerated at dim -2
x        (N,)         (D,)         data (observed)
=======  ===========  ===========  ==========================================

Identifiability. In one dimension the means are ordered: ``mu`` has support
``ordered_vector`` and log-density ``sum_k log p(mu_k)`` (the prior restricted
to the ordered cone, without the constant ``log K!``), so NUTS and the guides
work on the ordered space directly and there is no label switching. In ``D > 1``
dimensions no single ordering is natural; instead every posterior draw is
relabelled after the fit (Stephens-style pivoting): the pivot is the maximum a
posteriori (MAP) solution with its components sorted by the mean of the first
feature, and each draw's components are permuted to minimise the summed
squared distance between its means and the pivot's (in data standard
deviations; Hungarian algorithm). Per-component summaries then describe "the
component near the pivot's component k". When components overlap so much that
draws sit between two pivots the relabelling is ambiguous; such a posterior is
better summarised by label-free quantities (``predict_proba``, the density).

Default priors (weakly informative, scaled to the data; ``m_d`` and ``s_d``
are the mean and standard deviation of feature ``d``):
``pi ~ Dirichlet(1)``, ``mu_kd ~ Normal(m_d, 2 s_d)``,
``sigma_kd ~ HalfNormal(s_d)`` (spherical: the mean of ``s_d``),
``L_omega_k ~ LKJCholesky(D, 2)``.

Sample weights multiply each point's log-likelihood, ``sum_n w_n log p(x_n)``.
Pyro's enumeration accepts only a scalar ``poutine.scale``, so the weights
enter as the factor ``(w_n - 1) log p(x_n)`` next to the enumerated site; the
total is exact.

Default fit (``method="svi"``): a full-rank Gaussian guide
(``AutoMultivariateNormal``) on the unconstrained globals, started at a Laplace
approximation and refined by SVI, then corrected by importance resampling.

1. Several starts of EM (k-means++ seeding) each give a mode; each is refined
   to the MAP of the unconstrained log joint (z summed out, Jacobians
   included) with L-BFGS, and the guide is placed at it with the inverse
   Hessian as its covariance (Laplace). The start with the best ELBO is kept.
2. SVI refines that guide with ``TraceEnum_ELBO`` (``z`` enumerated; the
   ``JitTraceEnum_ELBO`` variant by default), 8 vectorised particles, Adam at
   ``lr = 0.002``: at least 100 and at most 300 steps, stopped by the shared
   convergence rule of :func:`probmodels.infer.run_svi` on 50-step windows,
   and the parameters are Polyak-averaged over the last window. The refined
   guide is kept only if its ELBO (256 common draws) beats the Laplace start's
   (``diagnostics["svi_kept"]``): Adam moves each coordinate by about ``lr`` a
   step in absolute units, which for data in small units (1e-3) threw the means
   several component spreads away from a good start.
3. ``num_samples`` draws are taken; the PSIS k-hat of the guide against the
   exact posterior is reported (above 0.7 warns: use ``method="nuts"``); with
   ``resample=True`` (default) twice as many draws are Pareto-smoothed
   importance resampled, which corrects the remaining bias of the Gaussian.

``steps=0`` skips step 2 (the Laplace guide as is). On posteriordb
``low_dim_gauss_mix`` the Laplace guide is already close to the posterior
(importance ESS about 98% of the draws either way); the refinement matters
where the posterior is skewed: on 20 points from two components it raised
the importance ESS 2-3 times. With
``subsample_size`` the fit is minibatch SVI: the Laplace start comes from a
random subset of 5,000 points and SVI runs on a subsampled ``data`` plate for a
fixed 2,000 steps (no convergence test: minibatch noise in the loss hides the
remaining progress) averaged over the last quarter; no PSIS (the full-data log
density is not computed).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, get_args

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import TorchDistribution
from pyro.distributions.util import broadcast_shape
from pyro.ops.indexing import Vindex
from torch.distributions import biject_to

from probmodels import _priors
from probmodels._validation import (check_choice, check_float, check_int, check_keys, check_options,
                                    check_seed)
from probmodels.data import as_data_matrix
from probmodels.infer import NUTSRun, limit_threads, psis_khat, resolve_seed, run_nuts, run_svi
from probmodels.results import FitResult, index_from_json, index_to_json

__all__ = [
    "ComponentComparison",
    "GMMFit",
    "GaussianMixture",
    "compare_components",
    "demo_section",
    "plot_mixture_density",
    "plot_mixture_scatter",
]

DTYPE = torch.float64
SITES = ("pi", "mu", "sigma", "L_omega")
Covariance = Literal["full", "diag", "spherical"]
COVARIANCES: tuple[str, ...] = get_args(Covariance)
Method = Literal["svi", "nuts"]
METHODS: tuple[str, ...] = get_args(Method)
MAX_PLATE_NESTING = 1  # data (dim -1); component (dim -1) is a sibling, not nested

#: defaults of the options each method accepts (documented in GaussianMixture.fit)
SVI_DEFAULTS: dict[str, Any] = {
    "num_starts": 5, "steps": None, "lr": 0.002, "num_particles": 8, "num_samples": 4000,
    "resample": True, "subsample_size": None, "jit_compile": True, "num_threads": 1,
}
NUTS_DEFAULTS: dict[str, Any] = {
    "num_samples": 1000, "warmup_steps": 1000, "num_chains": 2, "enumerate": False,
    "jit_compile": True, "target_accept_prob": 0.8, "max_tree_depth": 10, "num_threads": 1,
}
#: most SVI steps of the full-data refinement when ``steps`` is left at None; the
#: shared convergence rule (window of :data:`SVI_WINDOW` steps) usually stops it earlier
FULL_BATCH_STEPS = 300
#: the full-data refinement runs at least this many steps before it may stop
FULL_BATCH_MIN_STEPS = 100
#: convergence and Polyak-averaging window of the full-data refinement
SVI_WINDOW = 50
#: SVI steps of a minibatch fit when ``steps`` is left at None; always all of them
#: (no convergence test: minibatch noise hides progress) with Polyak averaging over
#: the last quarter
MINIBATCH_STEPS = 2000
#: size of the random subset the minibatch fit takes its Laplace start from
MINIBATCH_INIT_SIZE = 5000


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
class _Layout:
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
        return {"pi": (K,), "mu": (K,) if self.univariate else (K, D),
                "sigma": (K,) if self.spherical else (K, D), "L_omega": (K, D, D)}[name]

    def dims(self, name: str) -> list[str]:
        """ArviZ dims of an exported variable (``Omega``: the correlations, see ``to_arviz``)."""
        return {"pi": ["component"],
                "mu": ["component"] if self.univariate else ["component", "feature"],
                "sigma": ["component"] if self.spherical else ["component", "feature"],
                "Omega": ["component", "feature_pair"]}[name]

    def num_parameters(self) -> int:
        """Free parameters, for BIC: weights, means and covariances."""
        K, D = self.K, self.D
        cov = {True: K}.get(self.spherical, K * D * (D + 1) // 2 if self.full else K * D)
        return (K - 1) + K * D + cov


def _site_dists(priors: Mapping[str, Any], layout: _Layout) -> dict[str, Any]:
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


def _in_component_plate(name: str, layout: _Layout) -> bool:
    return name in ("sigma", "L_omega") or (name == "mu" and not layout.univariate)


def _event_dim(name: str, layout: _Layout) -> int:
    """Event dims of a site's value right of the component dim (or of its own event)."""
    if name == "L_omega":
        return 2
    if name == "sigma":
        return 0 if layout.spherical else 1
    if name == "mu":
        return 0 if layout.univariate else 1
    return 0


@dataclass
class _Aligned:
    """Mixture parameters shaped ``batch + (1, K) + event``: the ``1`` lines up with the
    data plate (dim -1) so that ``x`` of shape ``(N, 1, D)`` broadcasts to ``batch + (N, K)``."""

    log_pi: torch.Tensor   # batch + (1, K)
    loc: torch.Tensor      # batch + (1, K, D)
    scale: torch.Tensor    # batch + (1, K, D)
    tril: torch.Tensor | None  # batch + (1, K, D, D) correlation Cholesky factor ("full")


def _align(values: Mapping[str, torch.Tensor], layout: _Layout, *, plated: bool) -> _Aligned:
    """Site values -> :class:`_Aligned`.

    ``plated=True``: values as the model's sites hold them (component-plate
    sites have the component dim at -1 of their batch; outside-plate sites
    carry a size-1 slot for it when vectorised). ``plated=False``: values with
    one leading batch dim per draw and no plate slots, ``(S,) + site_shape``.
    """
    def component(name):
        v = values[name]
        if plated and not _in_component_plate(name, layout):
            return v  # batch (..., 1) already aligned, or no batch at all
        return v.unsqueeze(-(_event_dim(name, layout) + 2))

    pi = component("pi")
    mu = component("mu")
    sigma = component("sigma")
    loc = mu.unsqueeze(-1) if layout.univariate else mu
    scale = sigma.unsqueeze(-1).expand(sigma.shape + (layout.D,)) if layout.spherical else sigma
    tril = component("L_omega") if layout.full else None
    return _Aligned(pi.log(), loc, scale, tril)


def _component_dist(a: _Aligned, z: torch.Tensor | None = None):
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


def _logsumexp_components(t: torch.Tensor) -> torch.Tensor:
    """``logsumexp`` over the last (component) dim; pairwise ``logaddexp`` is 3x faster
    than ``torch.logsumexp`` on CPU when that dim is short and the batch long."""
    if t.shape[-1] > 8:
        return torch.logsumexp(t, dim=-1)
    parts = t.unbind(-1)
    out = parts[0]
    for p in parts[1:]:
        out = torch.logaddexp(out, p)
    return out


def _joint_terms(x: torch.Tensor, a: _Aligned) -> torch.Tensor:
    """``log pi_k + log N(x_n | mu_k, Sigma_k)``, shape ``batch + (N, K)`` for ``x`` ``(N, D)``."""
    return a.log_pi + _component_dist(a).log_prob(x.unsqueeze(-2))


def _mixture_model(x: torch.Tensor | None, priors: Mapping[str, Any], layout: _Layout, *,
                   weights: torch.Tensor | None = None, num_data: int | None = None,
                   subsample_size: int | None = None):
    """The Pyro model on prepared data ``x`` of shape ``(N, D)`` (float64)."""
    site = _site_dists(priors, layout)
    values = {"pi": pyro.sample("pi", site["pi"])}
    if layout.univariate:
        values["mu"] = pyro.sample("mu", site["mu"])
    with pyro.plate("component", layout.K, dim=-1):
        if not layout.univariate:
            values["mu"] = pyro.sample("mu", site["mu"])
        values["sigma"] = pyro.sample("sigma", site["sigma"])
        if layout.full:
            values["L_omega"] = pyro.sample("L_omega", site["L_omega"])
    a = _align(values, layout, plated=True)
    N = x.shape[0] if x is not None else num_data
    # minibatch indices are drawn with replacement: unbiased like Pyro's default
    # randperm(N)[:B], which at N = 1e6 costs more than the rest of the step
    subsample = None if subsample_size is None else torch.randint(N, (subsample_size,))
    with pyro.plate("data", N, subsample=subsample, dim=-1) as idx:
        z = pyro.sample("z", dist.Categorical(logits=a.log_pi),
                        infer={"enumerate": "parallel"})
        x_b = None if x is None else x[idx]
        out = pyro.sample("x", _component_dist(a, z), obs=x_b)
        if weights is not None and x is not None:
            # enumeration takes scalar scales only: (w_n - 1) log p(x_n) makes w_n log p(x_n)
            lp = torch.logsumexp(_joint_terms(x_b, a), dim=-1)
            pyro.factor("sample_weight", (weights[idx] - 1.0) * lp)
    return out


# ------------------------------------------------------ unconstrained space


class _Packing:
    """Flat unconstrained vectors <-> site values, in the model's site order
    (the order ``AutoMultivariateNormal`` packs its latent vector in)."""

    def __init__(self, priors: Mapping[str, Any], layout: _Layout):
        self.layout = layout
        self.dists = _site_dists(priors, layout)
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


def _chunks(S: int, N: int, layout: _Layout) -> list[slice]:
    size = max(1, int(4e6 // max(1, N * layout.K * layout.D)))
    return [slice(i, min(i + size, S)) for i in range(0, S, size)]


def _pointwise_log_lik(x: torch.Tensor, values: Mapping[str, torch.Tensor], layout: _Layout) -> torch.Tensor:
    """``log p(x_n | theta_s)`` for draws ``values`` ``(S,) + site_shape``: shape ``(S, N)``."""
    S = values["pi"].shape[0]
    out = []
    for sl in _chunks(S, x.shape[0], layout):
        a = _align({k: v[sl] for k, v in values.items()}, layout, plated=False)
        out.append(_logsumexp_components(_joint_terms(x, a)))
    return torch.cat(out)


def _log_density(u: torch.Tensor, packing: _Packing, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Unconstrained log posterior density (unnormalised, z summed out), shape ``(S,)``."""
    values, ladj = packing.unpack(u)
    ll = _pointwise_log_lik(x, values, packing.layout)
    ll = ll.sum(-1) if w is None else (ll * w).sum(-1)
    return ll + packing.log_prior(values) + ladj


# ------------------------------------------------------------------- EM


def _kmeans_pp(x: np.ndarray, w: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur and Vassilvitskii 2007), weighted by ``w``: ``(K, D)`` centres."""
    p = w / w.sum()
    centres = [x[rng.choice(len(x), p=p)]]
    for _ in range(1, K):
        d2 = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        q = w * d2
        q = p if q.sum() <= 0 else q / q.sum()
        centres.append(x[rng.choice(len(x), p=q)])
    return np.asarray(centres)


def _em(x: np.ndarray, w: np.ndarray, layout: _Layout, rng: np.random.Generator,
        max_iter: int = 300, tol: float = 1e-8) -> dict[str, np.ndarray]:
    """Weighted maximum-likelihood EM from a k-means++ start; returns pi, mu (K, D), cov (K, D, D)."""
    N, D = x.shape
    K = layout.K
    # a ridge relative to each feature's spread (an absolute 1e-12 inflated the
    # variance of data in units of 1e-6)
    reg = np.diag(1e-6 * x.var(0) + 1e-300)
    centres = _kmeans_pp(x, w, K, rng)
    labels = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    resp = np.eye(K)[labels]
    prev = -np.inf
    for _ in range(max_iter):
        # M step (weighted)
        rw = resp * w[:, None]
        nk = rw.sum(0) + 1e-10
        pi = nk / nk.sum()
        mu = (rw.T @ x) / nk[:, None]
        diff = x[None] - mu[:, None]                               # (K, N, D)
        cov = np.einsum("kn,kni,knj->kij", rw.T, diff, diff) / nk[:, None, None]
        if layout.covariance == "diag" or layout.spherical:
            var = np.einsum("kii->ki", cov)
            if layout.spherical:
                var = np.repeat(var.mean(1, keepdims=True), D, axis=1)
            cov = np.stack([np.diag(v) for v in var])
        cov = cov + reg
        # E step
        chol = np.linalg.cholesky(cov)
        sol = np.linalg.solve(chol[:, None], diff[..., None])[..., 0]   # (K, N, D)
        logdet = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
        logp = (np.log(pi)[:, None] - 0.5 * (sol ** 2).sum(-1)
                - 0.5 * (D * math.log(2 * math.pi) + logdet)[:, None]).T   # (N, K)
        m = logp.max(1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logp - m).sum(1))
        resp = np.exp(logp - lse[:, None])
        ll = float((w * lse).sum())
        if ll - prev < tol * abs(ll):
            break
        prev = ll
    return {"pi": pi, "mu": mu, "cov": cov, "loglik": ll}


def _em_to_values(em: Mapping[str, np.ndarray], layout: _Layout) -> dict[str, torch.Tensor]:
    """EM estimates -> constrained site values (the parametrisation of the model)."""
    order = np.argsort(em["mu"][:, 0], kind="stable")
    pi = np.clip(em["pi"][order], 1e-6, None)
    mu, cov = em["mu"][order], em["cov"][order]
    sd = np.sqrt(np.einsum("kii->ki", cov))
    values = {"pi": pi / pi.sum()}
    if layout.univariate:
        m = mu[:, 0].copy()
        for k in range(1, len(m)):  # strictly increasing, or the ordered transform has log(0)
            m[k] = max(m[k], m[k - 1] + 1e-6 * (sd[k, 0] + 1e-12))
        values["mu"], values["sigma"] = m, sd[:, 0]
    else:
        values["mu"] = mu
        values["sigma"] = sd.mean(1) if layout.spherical else sd
        if layout.full:
            corr = cov / (sd[:, :, None] * sd[:, None, :])
            values["L_omega"] = np.linalg.cholesky(corr)
    return {k: torch.as_tensor(v, dtype=DTYPE) for k, v in values.items()}


# ---------------------------------------------------------------- relabelling


def _relabel(values: Mapping[str, np.ndarray], pivot_mu: np.ndarray, data_sd: np.ndarray) -> dict[str, np.ndarray]:
    """Permute each draw's components to match the pivot means (D > 1; see the module docstring).

    ``values``: ``(S,) + site_shape``; ``pivot_mu``: ``(K, D)``.
    """
    from scipy.optimize import linear_sum_assignment

    mu = values["mu"] / data_sd                           # (S, K, D)
    piv = pivot_mu / data_sd
    cost = ((mu[:, :, None, :] - piv[None, None]) ** 2).sum(-1)   # (S, K_draw, K_pivot)
    perm = np.empty(cost.shape[:2], dtype=np.int64)
    for s in range(cost.shape[0]):
        rows, cols = linear_sum_assignment(cost[s])
        perm[s, cols] = rows  # pivot component j takes the draw's component rows[j]
    take = np.arange(cost.shape[0])[:, None]
    return {k: v[take, perm] for k, v in values.items()}


# --------------------------------------------------------------------- the model


class GaussianMixture:
    """Bayesian Gaussian mixture with the assignments ``z`` summed out (model/guide pair + fit API).

    Parameters
    ----------
    n_components : int
        Number of components ``K >= 1``.
    covariance : {"full", "diag", "spherical"}
        Covariance of each component in ``D > 1`` dimensions (see the module
        docstring); in one dimension all three are ``sigma_k^2``.
    priors : dict, optional
        Replacement priors by site (``"pi"``, ``"mu"``, ``"sigma"``,
        ``"L_omega"``), each a ``pyro.distributions`` object: ``pi`` with
        event shape ``(K,)`` (a Dirichlet); ``mu`` and ``sigma`` scalar
        distributions with batch shape broadcastable to ``(K, D)`` (``(K,)`` in
        one dimension and for spherical ``sigma``), ``sigma`` with positive
        support; ``L_omega`` an ``LKJCholesky(D, eta)``. Missing sites get the
        data-scaled defaults of the module docstring. Converted to float64.

    Examples
    --------
    >>> import probmodels as pm
    >>> x = pm.datasets.load_faithful()
    >>> fit = pm.GaussianMixture(n_components=2).fit(x, seed=0)
    >>> fit.predict_proba(x)[:3]  # doctest: +SKIP
    """

    def __init__(self, n_components: int, *, covariance: Covariance = "full",
                 priors: Mapping[str, Any] | None = None):
        self.n_components = check_int(n_components, "n_components", minimum=1)
        self.covariance = check_choice(covariance, "covariance", COVARIANCES)
        priors = check_keys(priors, "priors", SITES)
        for name, prior in priors.items():
            if not isinstance(prior, torch.distributions.Distribution):
                raise TypeError(
                    f"priors[{name!r}] must be a pyro.distributions object such as "
                    f"dist.Normal(0., 1.), got {type(prior).__name__}."
                )
        self.priors = {k: _priors.to_dtype(v, DTYPE) for k, v in priors.items()}
        for name, prior in self.priors.items():
            _priors.check_finite_params(prior, name)
        self._check_priors()
        self._autoguide = None
        self._guide_key = None

    def __repr__(self) -> str:
        return f"GaussianMixture(n_components={self.n_components}, covariance={self.covariance!r})"

    # ------------------------------------------------------------- priors
    def _check_priors(self) -> None:
        K = self.n_components
        pi = self.priors.get("pi")
        if pi is not None and (tuple(pi.event_shape) != (K,) or tuple(pi.batch_shape) != ()):
            raise ValueError(
                f"the pi prior must have event_shape ({K},) and batch_shape () (one weight per "
                f"component), got batch {tuple(pi.batch_shape)}, event {tuple(pi.event_shape)}; "
                f"use e.g. dist.Dirichlet(torch.ones({K}))."
            )
        for name in ("mu", "sigma"):
            prior = self.priors.get(name)
            if prior is not None and (prior.event_shape != () or len(prior.batch_shape) > 2):
                raise ValueError(
                    f"the {name} prior must be a scalar distribution (event_shape ()) with "
                    f"batch_shape broadcastable to (components, features), got batch "
                    f"{tuple(prior.batch_shape)}, event {tuple(prior.event_shape)}; use e.g. "
                    f"dist.Normal(0., 1.)."
                )
        sigma = self.priors.get("sigma")
        if sigma is not None:
            probe = torch.tensor([-1.0, 1.0], dtype=DTYPE).reshape((2,) + (1,) * len(sigma.batch_shape))
            ok = sigma.support.check(probe).reshape(2, -1)
            if bool(ok[0].any()) or not bool(ok[1].all()):
                raise ValueError(
                    f"the sigma prior must have positive support, got {type(sigma).__name__} with "
                    f"support {sigma.support}; use e.g. dist.HalfNormal(2.) or dist.LogNormal(0., 1.)."
                )
        lkj = self.priors.get("L_omega")
        if lkj is not None and lkj.support is not constraints.corr_cholesky:
            raise ValueError(
                f"the L_omega prior must have support corr_cholesky, got {type(lkj).__name__}; "
                f"use dist.LKJCholesky(num_features, concentration=2.)."
            )

    def default_priors(self, x: torch.Tensor) -> dict[str, Any]:
        """The default priors for data ``x`` of shape ``(data, feature)`` (module docstring)."""
        x = torch.as_tensor(x, dtype=DTYPE)
        x = x.unsqueeze(-1) if x.dim() == 1 else x
        K, D = self.n_components, x.shape[1]
        m = x.mean(0)
        s = x.std(0) if x.shape[0] > 1 else torch.ones(D, dtype=DTYPE)
        s = torch.where(s > 0, s, torch.ones_like(s))
        spherical = self.covariance == "spherical" or D == 1
        out = {
            "pi": dist.Dirichlet(torch.ones(K, dtype=DTYPE)),
            "mu": dist.Normal(m[0] if D == 1 else m, 2.0 * (s[0] if D == 1 else s)),
            "sigma": dist.HalfNormal(s.mean() if spherical else s),
        }
        if self.covariance == "full" and D > 1:
            out["L_omega"] = dist.LKJCholesky(D, torch.tensor(2.0, dtype=DTYPE))
        return out

    def resolved_priors(self, x: torch.Tensor) -> dict[str, Any]:
        """The priors a fit on ``x`` uses: the user's, defaults for the rest."""
        layout = self._layout(x.shape[1] if x.dim() == 2 else 1)
        needed = layout.sites
        missing = [n for n in needed if n not in self.priors]
        defaults = self.default_priors(x) if missing else {}
        out = {n: self.priors.get(n, defaults.get(n)) for n in needed}
        for name in ("mu", "sigma"):
            shape = layout.site_shape(name)
            try:
                torch.Size(broadcast_shape(tuple(out[name].batch_shape), shape))
                if broadcast_shape(tuple(out[name].batch_shape), shape) != shape:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"the {name} prior's batch_shape {tuple(out[name].batch_shape)} does not "
                    f"broadcast to {shape} (components, features); pass a scalar prior or one "
                    f"of shape {shape}."
                ) from None
        if layout.full and out["L_omega"].event_shape[-1] != layout.D:
            raise ValueError(
                f"the L_omega prior is for {out['L_omega'].event_shape[-1]} features, the data have "
                f"{layout.D}; use dist.LKJCholesky({layout.D}, concentration=2.)."
            )
        return out

    def _layout(self, D: int) -> _Layout:
        return _Layout(self.n_components, D, self.covariance)

    # -------------------------------------------------------- the Pyro pair
    def _as_tensor(self, x) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x, dtype=np.float64) if not torch.is_tensor(x) else x, dtype=DTYPE)
        return x.unsqueeze(-1) if x.dim() == 1 else x

    def model(self, x=None, *, sample_weight=None, subsample_size: int | None = None,
              num_data: int | None = None):
        """The Pyro model (``z`` marked for parallel enumeration: use ``TraceEnum_ELBO``).

        Parameters
        ----------
        x : torch.Tensor or array-like, optional
            Data ``(data,)`` or ``(data, feature)``. With ``x=None`` the model
            simulates ``num_data`` points (every prior must be given then: the
            defaults are scaled to the data), returned with shape ``(data, feature)``.
        sample_weight : torch.Tensor, optional
            Non-negative weights ``(data,)`` multiplying each point's log-likelihood.
        subsample_size : int, optional
            Minibatch size ``B`` of the ``data`` plate: ``B`` indices drawn
            uniformly with replacement at each call (Pyro rescales by ``N / B``).
        """
        if x is None:
            missing = [s for s in ("pi", "mu", "sigma") if s not in self.priors]
            if missing:
                raise ValueError(
                    f"simulating without data needs the priors of pi, mu and sigma (defaults are "
                    f"scaled to the data); missing {missing}. Pass priors={{...}}."
                )
            D = 1
            mu = self.priors["mu"]
            if len(mu.batch_shape) >= 1 and mu.batch_shape[-1] > 1:
                D = mu.batch_shape[-1]
            layout = self._layout(D)
            priors = dict(self.priors)
            if layout.full and "L_omega" not in priors:
                priors["L_omega"] = dist.LKJCholesky(D, torch.tensor(2.0, dtype=DTYPE))
            return _mixture_model(None, priors, layout,
                                  num_data=check_int(num_data, "num_data", minimum=1))
        x = self._as_tensor(x)
        w = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=DTYPE)
        return _mixture_model(x, self.resolved_priors(x), self._layout(x.shape[1]), weights=w,
                              subsample_size=subsample_size)

    def guide(self, x=None, **kwargs):
        """``AutoMultivariateNormal`` over the global sites; takes the model's arguments.

        :meth:`fit` starts it at the Laplace approximation; used raw with
        ``SVI(gmm.model, gmm.guide, optim, TraceEnum_ELBO(max_plate_nesting=1))``
        it starts at the prior median like any autoguide.
        """
        if x is None:
            raise ValueError("the guide needs the data x (the same argument as the model).")
        x = self._as_tensor(x)
        key = (x.shape[1],)
        if self._autoguide is None or self._guide_key != key:
            layout = self._layout(x.shape[1])
            self._autoguide = pyro.infer.autoguide.AutoMultivariateNormal(
                poutine.block(self.model, expose=list(layout.sites)),
                init_loc_fn=pyro.infer.autoguide.init_to_median, init_scale=0.01)
            self._guide_key = key
        return self._autoguide(x, **kwargs)

    # ---------------------------------------------------------------- fit
    def _check_data(self, data, name="x"):
        values, index, names = as_data_matrix(data, name=name)
        N, D = values.shape
        K = self.n_components
        if not isinstance(data, (pd.DataFrame, pd.Series)) and D > N:
            warnings.warn(
                f"GaussianMixture orientation check: {name} has shape {values.shape}, read as "
                f"{N} data points (rows) of {D} features (columns). Rows are observations; if "
                f"each row is a feature, pass the transpose ({name}.T).",
                UserWarning, stacklevel=3,
            )
        if N <= K:
            # with N = K the maximum-likelihood start puts each component on one point with
            # zero spread, where the density is unbounded: no mode, no Laplace approximation
            relation = "is larger than" if K > N else "equals"
            fix = f"Use n_components <= {N - 1} or pass more data." if N > 1 else "Pass more data."
            raise ValueError(
                f"n_components={K} {relation} the number of data points ({N}); a mixture "
                f"needs more points than components (a component with a single point collapses "
                f"onto it with zero spread, where the likelihood is unbounded). {fix}"
            )
        # a feature without spread has no finite Gaussian density (sigma -> 0); numerically
        # zero is a spread below 1e-12 of its level (fits at 1e-11 still had k-hat < 0.7)
        spread = values.std(0)
        level = np.abs(values).max(0)
        flat = np.flatnonzero(spread <= 1e-12 * level)
        if flat.size:
            j = int(flat[0])
            got = f"standard deviation {spread[j]:.3g} at values around {values[0, j]:.6g}"
            if D == 1:
                raise ValueError(
                    f"{name} is constant ({got}); a Gaussian component needs a positive spread. "
                    f"Pass data with more than one distinct value."
                )
            raise ValueError(
                f"feature {names[j]!r} (column {j}) of {name} is constant ({got}); a Gaussian "
                f"component needs a positive spread in every feature (constant: "
                f"{[names[i] for i in flat]}). Drop it, e.g. df.drop(columns=[{names[j]!r}]) "
                f"or np.delete({name}, {j}, axis=1)."
            )
        return values, index, names

    @staticmethod
    def _check_weights(sample_weight, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1) if np.ndim(sample_weight) else None
        if w is None or np.ndim(sample_weight) != 1 or w.shape[0] != n:
            raise ValueError(
                f"sample_weight must be a 1-D array with one weight per data point ({n}), got "
                f"shape {np.shape(sample_weight)}; pass e.g. np.ones({n})."
            )
        if not np.all(np.isfinite(w)):
            raise ValueError(
                f"sample_weight must be finite, got {int((~np.isfinite(w)).sum())} NaN or infinite "
                f"value(s); drop those points or give them weight 0."
            )
        if np.any(w < 0):
            raise ValueError(
                f"sample_weight must be non-negative, got {int((w < 0).sum())} negative value(s) "
                f"(smallest {w.min():g}); use 0 to leave a point out."
            )
        if not np.any(w > 0):
            raise ValueError(
                "sample_weight must have at least one positive entry, got all zeros; "
                "use np.ones(n) for unweighted data."
            )
        return w

    def fit(self, data, *, method: Method = "svi", seed: int | None = None,
            progress: bool = True, sample_weight=None, **options) -> "GMMFit":
        """Fit the mixture.

        Parameters
        ----------
        data : pandas.DataFrame, pandas.Series, numpy.ndarray or list
            Rows are data points, columns features (a Series or 1-D array is one
            feature); more rows than ``n_components``, and no constant feature.
            A DataFrame's column names are kept: the predictors match a
            DataFrame ``x`` by name.
        method : {"svi", "nuts"}
            ``"svi"`` (default): the full-rank Gaussian guide of the module
            docstring, started at the best of several Laplace approximations,
            refined by ``TraceEnum_ELBO`` SVI and importance resampled. ``"nuts"``:
            Pyro's NUTS on the globals with ``z`` enumerated.
        seed : int, optional
            Makes the fit reproducible; drawn at random and recorded when omitted.
        progress : bool
            Show a progress bar.
        sample_weight : array-like, optional
            Non-negative weights ``(data,)``, not all zero.
        **options
            For ``"svi"``: ``num_starts`` (5 EM starts), ``steps`` (None: at
            most 300 SVI steps from the Laplace start, stopped by the
            convergence rule, or a fixed 2,000 with ``subsample_size``; 0:
            the Laplace guide as is), ``lr`` (0.002, Adam), ``num_particles``
            (8, vectorised), ``jit_compile`` (True: ``JitTraceEnum_ELBO``,
            2-3 times faster per step than ``TraceEnum_ELBO``), ``num_samples``
            (4000 draws), ``resample`` (True: PSIS importance resampling of the
            draws when k-hat < 0.7), ``subsample_size`` (None; an int makes it
            minibatch SVI on a subsampled data plate).
            For ``"nuts"``: ``num_samples`` (1000), ``warmup_steps`` (1000),
            ``num_chains`` (2, one after another, each started at a draw from
            the Laplace approximation), ``enumerate`` (False: NUTS on the
            potential with z summed by log-sum-exp; True: Pyro's NUTS on the
            model with ``z`` enumerated, about 5 times slower, same posterior),
            ``jit_compile`` (True: compile the potential with the PyTorch JIT),
            ``target_accept_prob`` (0.8), ``max_tree_depth`` (10).
            Both: ``num_threads`` (1): torch threads during the fit, restored
            afterwards (small models run fastest on one; ``None`` leaves torch's
            setting alone).

        Returns
        -------
        GMMFit

        Raises
        ------
        ValueError
            ``n_components`` is not below the number of rows, or a feature is
            constant (zero spread, or below 1e-12 of its level).

        Warns
        -----
        UserWarning
            "orientation check": an array (not a DataFrame) with more columns
            than rows; pass ``x.T`` if its rows are features.
        """
        method = check_choice(method, "method", METHODS)
        opts = check_options(options, method, SVI_DEFAULTS if method == "svi" else NUTS_DEFAULTS)
        seed = resolve_seed(seed)
        values, index, names = self._check_data(data)
        w = self._check_weights(sample_weight, values.shape[0])
        x = torch.as_tensor(values, dtype=DTYPE)
        wt = None if w is None else torch.as_tensor(w, dtype=DTYPE)
        layout = self._layout(x.shape[1])
        priors = self.resolved_priors(x)
        start = time.perf_counter()
        if method == "svi":
            with limit_threads(opts["num_threads"]):
                draws, losses, diagnostics = _fit_svi(x, wt, priors, layout, opts, seed, progress)
            sample_stats: dict[str, np.ndarray] = {}
        else:
            with limit_threads(opts["num_threads"]):
                draws, run = _fit_nuts(x, wt, priors, layout, opts, seed, progress)
            losses = np.empty(0)
            sample_stats = {"diverging": run.diverging}
            diagnostics = {"divergences": int(run.diverging.sum()), "chain_seeds": run.chain_seeds}
            if diagnostics["divergences"]:
                warnings.warn(
                    f"NUTS divergences check: {diagnostics['divergences']} divergent transitions; "
                    "the draws may be biased. Raise target_accept_prob (e.g. 0.95).",
                    UserWarning, stacklevel=2,
                )
        diagnostics["seconds"] = time.perf_counter() - start
        if diagnostics.get("khat", -np.inf) > 0.7:
            warnings.warn(
                f"PSIS check: k-hat {diagnostics['khat']:.2f} > 0.7, the variational posterior is "
                "not a reliable approximation here; use method='nuts'.", UserWarning, stacklevel=2)
        return GMMFit(draws=draws, method=method, seed=seed, losses=losses, options=opts,
                      diagnostics=diagnostics, sample_stats=sample_stats, gmm=self,
                      data=values, index=index, feature_names=tuple(names),
                      named_features=isinstance(data, pd.DataFrame),
                      sample_weight=w, priors_used=priors)


def _map_fit(x, w, packing: _Packing, init: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    """L-BFGS on the unconstrained negative log density from ``init``: (mode, log density)."""
    u = packing.pack(init).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([u], lr=1.0, max_iter=200, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -_log_density(u.unsqueeze(0), packing, x, w)[0]
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    with torch.no_grad():
        lp = float(_log_density(u.unsqueeze(0), packing, x, w)[0])
    return u.detach(), lp


def _laplace(x, w, packing: _Packing, mode: torch.Tensor) -> torch.Tensor | None:
    """Cholesky factor of the inverse Hessian of the negative log density at ``mode``
    (None where the Hessian is not finite, e.g. a component collapsed onto one point)."""
    H = torch.autograd.functional.hessian(lambda u: -_log_density(u.unsqueeze(0), packing, x, w)[0], mode)
    H = 0.5 * (H + H.T)
    if not bool(torch.isfinite(H).all()):
        return None
    # in coordinates scaled by the curvature (unit diagonal), so the threshold below means
    # the same for data in any units (absolute, it replaced every mean's curvature by 1
    # for data in units of 1e6, whose curvatures are about 1e-12 N)
    h = torch.diagonal(H)
    d = torch.where(h > 0, h.clamp_min(1e-300).rsqrt(), torch.ones_like(h))
    evals, evecs = torch.linalg.eigh(d[:, None] * H * d[None, :])
    # a saddle or flat direction (an empty component) gets a unit-scale direction instead
    evals = torch.where(evals > 1e-8, evals, torch.ones_like(evals))
    cov = d[:, None] * ((evecs / evals) @ evecs.T) * d[None, :]
    return torch.linalg.cholesky(0.5 * (cov + cov.T))


def _starts(x, w, priors, layout, seed: int, num_starts: int):
    """EM from ``num_starts`` k-means++ seeds, each refined to the MAP: [(mode, log density, em)]."""
    rng = np.random.default_rng(seed)
    xn = x.numpy()
    wn = np.ones(xn.shape[0]) if w is None else w.numpy()
    packing = _Packing(priors, layout)
    out = []
    for _ in range(num_starts):
        em = _em(xn, wn, layout, rng)
        mode, lp = _map_fit(x, w, packing, _em_to_values(em, layout))
        if math.isfinite(lp):
            out.append((mode, lp, em))
    if not out:
        raise FloatingPointError(
            "every EM start gave a non-finite log density; check the data scale and priors "
            "(e.g. standardise the data)."
        )
    return packing, out


@contextmanager
def _quiet_jit():
    """Hide the tracer's warnings about Python-level shape logic it cannot see, and the
    deprecation of ``torch.jit.trace`` (torch >= 2.9), which Pyro's JIT uses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated",
                                category=DeprecationWarning)
        yield


def _fit_nuts(x, w, priors, layout, opts, seed, progress):
    """NUTS on the globals with ``z`` summed out; returns (draws (chain, draw, ...), NUTSRun-like).

    ``enumerate=False`` (default): Pyro's NUTS on the potential ``-log p(u | x)``
    of :func:`_log_density`, z summed by log-sum-exp (about 5 times faster than
    tracing the model at every leapfrog step; the two potentials are equal, see
    the tests). ``enumerate=True``: :func:`probmodels.infer.run_nuts` on the
    Pyro model itself, ``z`` enumerated by ``TraceEinsumEvaluator``.
    """
    num_samples = check_int(opts["num_samples"], "num_samples", minimum=1)
    warmup = check_int(opts["warmup_steps"], "warmup_steps", minimum=0)
    num_chains = check_int(opts["num_chains"], "num_chains", minimum=1)
    packing, starts = _starts(x, w, priors, layout, seed, num_starts=3)
    mode = max(starts, key=lambda s: s[1])[0]
    if opts["enumerate"]:
        model = partial(_mixture_model, x, priors, layout, weights=w)
        run = run_nuts(
            model, num_samples=num_samples, warmup_steps=warmup, num_chains=num_chains,
            jit_compile=opts["jit_compile"], target_accept_prob=opts["target_accept_prob"],
            max_tree_depth=opts["max_tree_depth"], max_plate_nesting=MAX_PLATE_NESTING,
            progress=progress, seed=seed,
        )
        samples = {k: run.samples[k].reshape(run.samples[k].shape[:2] + layout.site_shape(k))
                   for k in layout.sites}
    else:
        L = _laplace(x, w, packing, mode)
        L = torch.eye(packing.dim, dtype=DTYPE) * 0.1 if L is None else L

        def neg_log_density(u):
            return -_log_density(u.unsqueeze(0), packing, x, w)[0]

        if opts["jit_compile"]:
            with _quiet_jit():
                # the potential has no data-dependent control flow, so one trace serves all u
                neg_log_density = torch.jit.trace(neg_log_density, mode.clone(), check_trace=False)

        def potential(params):
            return neg_log_density(params["u"])

        run = run_nuts(
            None, potential_fn=potential,
            # each chain starts at its own draw from the Laplace approximation
            initial_params=lambda c: {"u": mode + L @ torch.randn(packing.dim, dtype=DTYPE)},
            num_samples=num_samples, warmup_steps=warmup, num_chains=num_chains,
            target_accept_prob=opts["target_accept_prob"], max_tree_depth=opts["max_tree_depth"],
            progress=progress, seed=seed,
        )
        u = torch.as_tensor(run.samples["u"])                            # (chain, draw, dim)
        with torch.no_grad():
            flat, _ = packing.unpack(u.reshape(-1, packing.dim))
        samples = {k: v.reshape((num_chains, num_samples) + v.shape[1:]).numpy()
                   for k, v in flat.items()}
        run = NUTSRun(samples, run.diverging, run.seconds, run.chain_seeds)
    if not layout.univariate:
        pivot, _ = packing.unpack(mode.unsqueeze(0))
        order = np.argsort(pivot["mu"][0, :, 0].numpy(), kind="stable")
        C, S = samples["pi"].shape[:2]
        flat = _relabel({k: v.reshape((C * S,) + v.shape[2:]) for k, v in samples.items()},
                        pivot["mu"][0].numpy()[order], x.std(0).numpy() + 1e-12)
        samples = {k: v.reshape((C, S) + v.shape[1:]) for k, v in flat.items()}
    return samples, run


def _psis_resample(log_w: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Indices drawn with Pareto-smoothed importance weights (Vehtari et al. 2024), systematic."""
    lw = log_w - log_w.max()
    n = len(lw)
    M = int(math.ceil(min(0.2 * n, 3.0 * math.sqrt(n))))
    order = np.argsort(lw)
    tail = order[-M:]
    cutoff = lw[order[-M - 1]]
    from pyro.ops.stats import fit_generalized_pareto

    excess = np.exp(lw[tail]) - math.exp(cutoff)
    k, sigma = fit_generalized_pareto(torch.as_tensor(excess))
    k, sigma = float(k), float(sigma)
    if math.isfinite(k) and sigma > 0:
        # replace the tail by the expected order statistics of the fitted GPD
        p = (np.arange(1, M + 1) - 0.5) / M
        q = sigma / k * ((1 - p) ** (-k) - 1) if abs(k) > 1e-8 else -sigma * np.log1p(-p)
        smoothed = np.log(q + math.exp(cutoff))
        lw = lw.copy()
        lw[tail] = np.minimum(smoothed, 0.0)
    p = np.exp(lw - lw.max())
    p /= p.sum()
    positions = (rng.random() + np.arange(size)) / size
    idx = np.searchsorted(np.cumsum(p), positions)
    return rng.permutation(np.minimum(idx, n - 1))


def _fit_svi(x, w, priors, layout, opts, seed, progress):
    num_starts = check_int(opts["num_starts"], "num_starts", minimum=1)
    S = check_int(opts["num_samples"], "num_samples", minimum=10)
    B = opts["subsample_size"]
    N = x.shape[0]
    minibatch = B is not None and check_int(B, "subsample_size", minimum=1) < N
    if opts["steps"] is None:
        steps = MINIBATCH_STEPS if minibatch else FULL_BATCH_STEPS
    else:
        steps = check_int(opts["steps"], "steps", minimum=0)
    pyro.set_rng_seed(seed)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    if minibatch:
        sub = torch.as_tensor(rng.choice(N, size=min(N, MINIBATCH_INIT_SIZE), replace=False))
        x_init, w_init = x[sub], None if w is None else w[sub]
        shrink = math.sqrt(x_init.shape[0] / N)
    else:
        x_init, w_init, shrink = x, w, 1.0
    packing, starts = _starts(x_init, w_init, priors, layout, seed, num_starts)

    # Laplace at each distinct mode; keep the best ELBO = E_q[log p - log q]
    best = None
    seen: list[torch.Tensor] = []
    probe_gen = torch.Generator().manual_seed(seed)
    for mode, lp, em in sorted(starts, key=lambda s: -s[1]):
        if any(torch.allclose(mode, m, atol=1e-4, rtol=1e-4) for m in seen):
            continue
        seen.append(mode)
        L = _laplace(x_init, w_init, packing, mode)
        if L is None:
            continue
        L = L * shrink
        eps = torch.randn((256, packing.dim), generator=probe_gen, dtype=DTYPE)
        elbo = _probe_elbo(mode, L, eps, packing, x_init, w_init) if not minibatch else lp
        if best is None or elbo > best[0]:
            best = (elbo, mode, L, em)
    if best is None:
        raise FloatingPointError(
            f"no EM start gave a mode with a finite Hessian ({len(starts)} starts); components "
            "collapsed onto single points. Use fewer components or method='nuts'."
        )
    elbo0, mode, L, em = best
    init_seconds = time.perf_counter() - start

    # the Pyro guide, started at the Laplace approximation
    model = partial(_mixture_model, x, priors, layout, weights=w,
                    subsample_size=B if minibatch else None)
    blocked = poutine.block(model, expose=list(layout.sites))
    guide = pyro.infer.autoguide.AutoMultivariateNormal(blocked, init_scale=0.01)
    pyro.clear_param_store()
    losses = np.empty(0)
    run = None
    refined = None
    guide()  # builds the prototype; then its parameters are overwritten
    _set_guide(guide, mode, L)
    if steps > 0:
        num_particles = check_int(opts["num_particles"], "num_particles", minimum=1)
        elbo_class = pyro.infer.JitTraceEnum_ELBO if opts["jit_compile"] else pyro.infer.TraceEnum_ELBO
        elbo_loss = elbo_class(num_particles=num_particles, vectorize_particles=num_particles > 1,
                               max_plate_nesting=MAX_PLATE_NESTING,
                               **({"ignore_jit_warnings": True} if opts["jit_compile"] else {}))
        run = _run_svi_keep(model, guide, steps, opts["lr"], elbo_loss, progress, seed,
                            minibatch=minibatch)
        losses = run.losses
        with torch.no_grad():
            loc = guide.loc.detach().clone()
            tril = (guide.scale[..., None] * guide.scale_tril).detach().clone()
        if not minibatch:
            # keep the refinement only if it improved the ELBO over the Laplace start
            # (same draws for both). Adam moves each coordinate by about lr a step in
            # absolute units, so for data in small units (1e-3) it can throw the means
            # several component spreads away from a good start
            eps = torch.randn((256, packing.dim), generator=probe_gen, dtype=DTYPE)
            refined_elbo = _probe_elbo(loc, tril, eps, packing, x, w)
            start_elbo = _probe_elbo(mode, L, eps, packing, x, w)
            refined = bool(np.isfinite(refined_elbo) and refined_elbo >= start_elbo)
            if not refined:
                loc, tril = mode, L
    else:
        loc, tril = mode, L

    # draws and PSIS
    q = dist.MultivariateNormal(loc, scale_tril=tril)
    gen = torch.Generator().manual_seed(seed + 1)
    resample = bool(opts["resample"]) and not minibatch
    num_proposals = 2 * S if resample else S
    u = loc + torch.randn((num_proposals, packing.dim), generator=gen, dtype=DTYPE) @ tril.T
    khat = float("nan")
    ess = float("nan")
    if not minibatch:
        with torch.no_grad():
            log_w = (_log_density(u, packing, x, w) - q.log_prob(u)).numpy()
        khat = psis_khat(log_w[:S])
        p = np.exp(log_w - log_w.max())
        ess = float(p.sum() ** 2 / (p ** 2).sum())
        if resample and khat < 0.7:
            u = u[torch.as_tensor(_psis_resample(log_w, rng, S))]
        else:
            u = u[:S]
            resample = False
    with torch.no_grad():
        values, _ = packing.unpack(u)
    draws = {k: v.numpy() for k, v in values.items()}
    if not layout.univariate:
        pivot, _ = packing.unpack(mode.unsqueeze(0))
        order = np.argsort(pivot["mu"][0, :, 0].numpy(), kind="stable")
        draws = _relabel(draws, pivot["mu"][0].numpy()[order], x.std(0).numpy() + 1e-12)
    draws = {k: v[None] for k, v in draws.items()}  # (chain=1, draw, ...)
    diagnostics = {
        "khat": khat, "importance_ess": ess, "resampled": resample, "elbo_laplace": elbo0,
        "num_starts": len(starts), "distinct_modes": len(seen), "init_seconds": init_seconds,
        "em_loglik": float(em["loglik"]) if not minibatch else float("nan"),
        "minibatch": minibatch, "num_steps": 0 if run is None else run.num_steps,
        "converged": None if run is None else run.converged,
        "svi_kept": refined,
    }
    return draws, losses, diagnostics


def _probe_elbo(loc, tril, eps, packing: _Packing, x, w) -> float:
    """ELBO of ``N(loc, tril tril^T)`` on the unconstrained globals, from the standard
    normal draws ``eps`` ``(draws, dim)``: mean of ``log p(x, u) - log q(u)``."""
    u = loc + eps @ tril.T
    with torch.no_grad():
        return float((_log_density(u, packing, x, w)
                      - dist.MultivariateNormal(loc, scale_tril=tril).log_prob(u)).mean())


def _set_guide(guide, loc: torch.Tensor, tril: torch.Tensor) -> None:
    """Put an ``AutoMultivariateNormal`` at ``N(loc, tril tril^T)`` (its scale x unit-triangular form)."""
    from pyro.nn import PyroParam

    diag = torch.diagonal(tril)
    guide.loc = torch.nn.Parameter(loc.clone())
    guide.scale = PyroParam(diag.clone(), guide.scale_constraint)
    guide.scale_tril = PyroParam(tril / diag[:, None], guide.scale_tril_constraint)


def _run_svi_keep(model, guide, steps, lr, loss, progress, seed, *, minibatch: bool):
    """run_svi from the guide's Laplace start (its parameters live on the module, so
    run_svi's fresh parameter store keeps them), with Polyak averaging.

    Full data: the shared convergence rule on a window of :data:`SVI_WINDOW` steps,
    after at least :data:`FULL_BATCH_MIN_STEPS`. Minibatch: all ``steps`` (the
    minibatch noise of the loss is larger than the progress the rule looks for, so
    it stops a 1e6-point fit after ~250 steps, far from converged), averaged over the
    last quarter of them.
    """
    if minibatch:
        schedule = {"convergence": False, "window": max(5, steps // 4)}
    else:
        schedule = {"convergence": True, "window": min(SVI_WINDOW, max(5, steps // 2)),
                    "min_steps": min(FULL_BATCH_MIN_STEPS, steps)}
    with _quiet_jit():
        return run_svi(model, guide, steps=steps, lr=check_float(lr, "lr", positive=True),
                       loss=loss, progress=progress, seed=seed, average=True,
                       description="GMM SVI", **schedule)


# ------------------------------------------------------------------ results


@dataclass
class GMMFit(FitResult):
    """The result of :meth:`GaussianMixture.fit`.

    Draws ``(chain, draw) + site_shape``: ``pi`` ``(K,)``, ``mu`` ``(K,)`` (1-D)
    or ``(K, D)``, ``sigma`` ``(K,)`` or ``(K, D)``, ``L_omega`` ``(K, D, D)``
    (``"full"``, ``D > 1``). Components are ordered by their mean (1-D) or
    relabelled to the pivot (``D > 1``, see the module docstring).

    ``named_features`` is True when the fit saw a DataFrame: a DataFrame ``x``
    given to the predictors is then matched to ``feature_names`` by column name
    (reordered; missing or extra columns raise), as scikit-learn does. Arrays
    are taken by position.
    """

    gmm: GaussianMixture | None = None
    data: np.ndarray | None = None                      # (data, feature) float64
    index: pd.Index | None = None
    feature_names: tuple[str | int, ...] = ()
    named_features: bool = False
    sample_weight: np.ndarray | None = None
    priors_used: dict[str, Any] = field(default_factory=dict)

    model_name = "GaussianMixture"

    # ---------------------------------------------------------- helpers
    @property
    def n_components(self) -> int:
        return self.gmm.n_components

    @property
    def layout(self) -> _Layout:
        return self.gmm._layout(self.data.shape[1])

    def _flat(self) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v.reshape((-1,) + v.shape[2:]), dtype=DTYPE)
                for k, v in self.draws.items()}

    def _check_x(self, x) -> torch.Tensor:
        D = self.data.shape[1]
        values, _, names = as_data_matrix(x, name="x")
        if self.named_features and isinstance(x, pd.DataFrame):
            wanted = list(self.feature_names)
            if set(wanted) != set(names) and len({str(n) for n in names}) == len(names):
                # a fit saved when integer labels were stored as strings ("0", "1")
                by_text = {str(n): n for n in names}
                if all(str(n) in by_text for n in wanted) and len(wanted) == len(names):
                    wanted = [by_text[str(n)] for n in wanted]
            missing = [n for n in wanted if n not in names]
            extra = [n for n in names if n not in wanted]
            if missing or extra:
                raise ValueError(
                    f"x must have the columns the mixture was fitted on, "
                    f"{list(self.feature_names)}, got {list(names)} (missing {missing}, extra "
                    f"{extra}); select them, e.g. x[{list(self.feature_names)}], or pass an "
                    f"array to match columns by position."
                )
            values = values[:, [names.index(n) for n in wanted]]
        if values.shape[1] != D:
            raise ValueError(
                f"x must have {D} feature(s) like the data the mixture was fitted on "
                f"({list(self.feature_names)}), got {values.shape[1]} (shape {np.shape(x)}); "
                f"pass an array of shape (n, {D})."
            )
        return torch.as_tensor(values, dtype=DTYPE)

    def _draw_terms(self, x: torch.Tensor):
        """``log pi_k + log N(x_n | k)`` per draw, in chunks: yields ``(chunk, N, K)``."""
        flat = self._flat()
        S = flat["pi"].shape[0]
        for sl in _chunks(S, x.shape[0], self.layout):
            a = _align({k: v[sl] for k, v in flat.items()}, self.layout, plated=False)
            yield _joint_terms(x, a)

    def _conditioned_model(self, x: torch.Tensor, values: Mapping[str, torch.Tensor]):
        """The model conditioned on ``S`` draws, vectorised in a plate at dim -2."""
        layout = self.layout
        S = values["pi"].shape[0]
        cond = {}
        for k, v in values.items():
            # outside the component plate a site's batch is (S, 1); inside it, (S, K)
            cond[k] = v if _in_component_plate(k, layout) else v.unsqueeze(1)
        model = partial(_mixture_model, x, self.priors_used, layout)

        def vectorised():
            with pyro.plate("_draws", S, dim=-MAX_PLATE_NESTING - 1):
                return poutine.condition(model, cond)()

        return vectorised

    def _assignments(self, x: torch.Tensor, temperature: int, seed: int | None) -> np.ndarray:
        """``infer_discrete`` of ``z`` for every draw: ``(chain * draw, N)``."""
        from pyro.infer import infer_discrete

        flat = self._flat()
        S = flat["pi"].shape[0]
        out = []
        with torch.random.fork_rng():
            torch.manual_seed(self.seed if seed is None else check_seed(seed))
            for sl in _chunks(S, x.shape[0], self.layout):
                model = self._conditioned_model(x, {k: v[sl] for k, v in flat.items()})
                sampler = infer_discrete(model, first_available_dim=-MAX_PLATE_NESTING - 2,
                                         temperature=temperature)
                with torch.no_grad():
                    tr = poutine.trace(sampler).get_trace()
                out.append(tr.nodes["z"]["value"].reshape(-1, x.shape[0]))
        return torch.cat(out).numpy()

    # ---------------------------------------------------------- public
    def predict_proba(self, x=None) -> np.ndarray:
        """Posterior responsibilities ``p(z_n = k | x_n, data)``, shape ``(n, K)``.

        Exact for each posterior draw (``softmax_k(log pi_k + log N(x_n | mu_k, Sigma_k))``),
        averaged over draws. ``x`` defaults to the fitted data.
        """
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        total = torch.zeros(x.shape[0], self.n_components, dtype=DTYPE)
        for terms in self._draw_terms(x):
            total += torch.softmax(terms, dim=-1).sum(0)
        return (total / (self.num_chains * self.num_draws)).numpy()

    def predict(self, x=None) -> np.ndarray:
        """Most probable component of each point, ``(n,)`` int.

        ``infer_discrete`` at temperature 0 gives each posterior draw's most
        probable assignment; the result is the component chosen by the most
        draws (ties: the lower index).
        """
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        z = self._assignments(x, temperature=0, seed=None)                # (S, n)
        counts = np.stack([(z == k).sum(0) for k in range(self.n_components)], axis=1)
        return counts.argmax(1)

    def sample_assignments(self, x=None, *, seed: int | None = None) -> np.ndarray:
        """Assignments drawn from ``p(z | x, theta)`` (``infer_discrete`` at temperature 1),
        one per posterior draw: shape ``(chain * draw, n)``. ``seed`` defaults to the fit's."""
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        return self._assignments(x, temperature=1, seed=seed)

    def log_likelihood(self, x=None) -> np.ndarray:
        """Pointwise ``log p(x_n | theta)`` with ``z`` summed out, shape ``(chain, draw, n)``."""
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        ll = torch.cat([_logsumexp_components(t) for t in self._draw_terms(x)])
        return self._shape_out(ll.numpy())

    def score(self, x=None) -> float:
        """Mean log posterior predictive density per point, ``mean_n log mean_s p(x_n | theta_s)``."""
        ll = self.log_likelihood(x).reshape(self.num_chains * self.num_draws, -1)
        S = ll.shape[0]
        return float((torch.logsumexp(torch.as_tensor(ll), 0) - math.log(S)).mean())

    def posterior_predictive(self, *, seed: int | None = None) -> np.ndarray:
        """Replicated data sets, one per draw: ``(chain, draw, data, feature)``."""
        flat = self._flat()
        S, N = flat["pi"].shape[0], self.data.shape[0]
        gen = self._rng(seed)
        z = torch.multinomial(flat["pi"], N, replacement=True, generator=gen)   # (S, N)
        a = _align(flat, self.layout, plated=False)
        take = torch.arange(S)[:, None]
        loc = a.loc[:, 0][take, z]                                              # (S, N, D)
        scale = a.scale[:, 0][take, z]
        eps = torch.randn(loc.shape, generator=gen, dtype=DTYPE)
        if a.tril is not None:
            tril = a.tril[:, 0][take, z]                                        # (S, N, D, D)
            eps = (tril @ eps.unsqueeze(-1)).squeeze(-1)
        return self._shape_out((loc + scale * eps).numpy())

    def posterior_means(self) -> dict[str, np.ndarray]:
        """Posterior mean of each site (and ``cov``, ``(K, D, D)``)."""
        out = {k: v.reshape((-1,) + v.shape[2:]).mean(0) for k, v in self.draws.items()}
        out["cov"] = self.covariances().mean(0)
        return out

    def covariances(self) -> np.ndarray:
        """Component covariance matrices per draw, ``(chain * draw, K, D, D)``."""
        a = _align(self._flat(), self.layout, plated=False)
        scale = a.scale[:, 0]                                                   # (S, K, D)
        L = scale.unsqueeze(-1) * (a.tril[:, 0] if a.tril is not None
                                   else torch.eye(self.data.shape[1], dtype=DTYPE))
        return (L @ L.transpose(-1, -2)).numpy()

    def to_arviz(self, *, seed: int | None = None):
        """ArviZ data: posterior (dims ``component``, ``feature``), posterior_predictive,
        log_likelihood (one value per data point, ``z`` summed out, sample weights not
        applied), observed_data (and sample_stats for NUTS).

        The posterior holds ``pi``, ``mu`` and ``sigma`` and, for ``"full"`` covariance
        in ``D > 1``, ``Omega`` ``(component, feature_pair)``: the correlations
        ``Omega_k[i, j] = (L_k L_k^T)[i, j]`` for ``i > j`` (pairs in
        ``np.tril_indices(D, -1)`` order, labelled ``"<feature j>,<feature i>"``).
        The other entries of ``L_omega`` and ``Omega`` are fixed (zeros, ones) and
        would be constant rows in ``az.summary``; ``fit.draws["L_omega"]`` keeps the
        Cholesky factors.
        """
        from probmodels.export import to_arviz

        layout = self.layout
        names = list(self.feature_names)
        post = {k: np.asarray(v) for k, v in self.draws.items()}
        coords = {"component": np.arange(self.n_components), "data": self.index, "feature": names}
        if layout.full:
            L = post.pop("L_omega")                                      # (chain, draw, K, D, D)
            rows, cols = np.tril_indices(layout.D, -1)
            post["Omega"] = (L @ np.swapaxes(L, -1, -2))[..., rows, cols]  # (chain, draw, K, pair)
            coords["feature_pair"] = [f"{names[c]},{names[r]}" for r, c in zip(rows, cols)]
        dims = {k: layout.dims(k) for k in post}
        pp = self.posterior_predictive(seed=seed)
        obs = self.data
        if layout.univariate:
            pp, obs = pp[..., 0], obs[:, 0]
            dims["x"] = ["data"]
        else:
            dims["x"] = ["data", "feature"]
        if layout.univariate:
            coords.pop("feature")
        attrs = {"inference_library": "pyro", "inference_library_version": pyro.__version__,
                 "model": repr(self.gmm), "method": self.method, "seed": int(self.seed)}
        ll = self.log_likelihood()
        # the observation x is (data[, feature]); its pointwise log-likelihood, z summed
        # out, has one value per point: (data)
        dims["log_likelihood/x"] = ["data"]
        return to_arviz(posterior=post, posterior_predictive={"x": pp}, log_likelihood={"x": ll},
                        observed_data={"x": obs}, sample_stats=self.sample_stats or None,
                        coords=coords, dims=dims, attrs=attrs)

    def bic(self, *, num_starts: int = 5) -> float:
        """Bayesian information criterion ``-2 log p(data | theta_hat) + p log N``; lower is
        better.

        ``theta_hat`` is the maximum-likelihood estimate, as in scikit-learn's
        ``GaussianMixture.bic``: the best of weighted EM from ``num_starts``
        k-means++ starts (seeded by the fit's seed) and the posterior draws. (The best
        draw alone sits about ``chi2_p / 2`` below the maximum, a bias against larger
        ``K``.)
        """
        num_starts = check_int(num_starts, "num_starts", minimum=1)
        ll = self.log_likelihood()
        w = np.ones(self.data.shape[0]) if self.sample_weight is None else self.sample_weight
        best = float((ll * w).sum(-1).max())
        rng = np.random.default_rng(self.seed)
        for _ in range(num_starts):
            best = max(best, _em(self.data, w, self.layout, rng)["loglik"])
        n = self.data.shape[0] if self.sample_weight is None else float(np.sum(self.sample_weight))
        return -2.0 * best + self.layout.num_parameters() * math.log(n)

    def plot_density(self, *, ax=None, feature: int | str = 0, bins: int = 40):
        """1-D: histogram, posterior mean density and its weighted components; returns the Axes."""
        return plot_mixture_density(self, ax=ax, feature=feature, bins=bins)

    def plot_clusters(self, *, ax=None, features: tuple[int, int] = (0, 1)):
        """2-D scatter coloured by responsibility with covariance ellipses; returns the Axes."""
        return plot_mixture_scatter(self, ax=ax, features=features)

    # ------------------------------------------------------- persistence
    def _state(self):
        meta = {
            "n_components": self.gmm.n_components,
            "covariance": self.gmm.covariance,
            "user_priors": {k: _priors.to_json(v) for k, v in self.gmm.priors.items()},
            "priors_used": {k: _priors.to_json(v) for k, v in self.priors_used.items()},
            "index": index_to_json(self.index),
            "feature_names": list(self.feature_names),
            "named_features": bool(self.named_features),
        }
        arrays = {"data": self.data}
        if self.sample_weight is not None:
            arrays["sample_weight"] = self.sample_weight
        return meta, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        gmm = GaussianMixture(meta["n_components"], covariance=meta["covariance"],
                              priors={k: _priors.from_json(v) for k, v in meta["user_priors"].items()})
        priors_used = {k: _priors.from_json(v) for k, v in meta["priors_used"].items()}
        return cls(**common, gmm=gmm, data=np.ascontiguousarray(arrays["data"], dtype=np.float64),
                   index=index_from_json(meta["index"]), feature_names=tuple(meta["feature_names"]),
                   # files written before the name check existed are matched by position
                   named_features=bool(meta.get("named_features", False)),
                   sample_weight=arrays.get("sample_weight"), priors_used=priors_used)


# ------------------------------------------------------------ choosing K


def _import_arviz():
    """``import arviz`` without ArviZ 0.23's import-time FutureWarning."""
    with warnings.catch_warnings():
        # ArviZ 0.23 announces its own refactor on import; nothing for our users to act on
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                                category=FutureWarning)
        import arviz

    return arviz


@dataclass
class ComponentComparison:
    """Mixtures with different numbers of components compared by PSIS-LOO and BIC.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``"K=k"``, best by LOO first: ``rank``, ``elpd_loo``, ``p_loo``,
        ``elpd_diff``, ``weight``, ``se``, ``dse`` (``arviz.compare``), ``warning``
        (a Pareto k above 0.7), ``bic`` (lower is better), ``n_parameters``, ``khat``
        (the PSIS k-hat of the variational fit, NaN for NUTS).
    fits : dict of int to GMMFit
    best_loo : int
        ``K`` ranked first by PSIS-LOO.
    best_bic : int
        ``K`` with the lowest BIC.
    """

    table: pd.DataFrame
    fits: dict[int, GMMFit]
    best_loo: int
    best_bic: int


def compare_components(data, n_components: Sequence[int] = range(1, 6), *,
                       covariance: Covariance = "full", priors: Mapping[str, Any] | None = None,
                       method: Method = "svi", seed: int | None = None, progress: bool = False,
                       **options) -> ComponentComparison:
    """Fit a mixture for each ``K`` in ``n_components`` and compare them by PSIS-LOO and BIC.

    ``priors`` apply to every ``K`` (a ``pi`` prior fixes ``K``, so leave it out
    here). The ``bic`` column is :meth:`GMMFit.bic`, at the maximum likelihood. ``**options`` go to :meth:`GaussianMixture.fit`.

    ``sample_weight`` is refused: PSIS-LOO takes one log-likelihood per row and
    would ignore the weights that the fits and BIC use. Integer frequency
    weights stand for replicated rows, so pass the replicated data
    (``np.repeat(x, w, axis=0)``, or ``x.loc[x.index.repeat(w)]`` for a
    DataFrame); other weights can be compared by BIC, ``fit.bic()`` of each
    weighted fit.
    """
    if "sample_weight" in options:
        raise ValueError(
            "compare_components does not take sample_weight: its PSIS-LOO uses one "
            "log-likelihood per row and would ignore the weights that the fits and BIC use. "
            "For integer frequency weights pass the replicated rows instead, "
            "np.repeat(x, w, axis=0) (x.loc[x.index.repeat(w)] for a DataFrame); for other "
            "weights compare GaussianMixture(k).fit(x, sample_weight=w).bic() across k."
        )
    from probmodels.export import compare_loo

    ks = sorted({check_int(k, "n_components", minimum=1) for k in n_components})
    if not ks:
        raise ValueError("n_components is empty; pass e.g. n_components=range(1, 6).")
    seed = resolve_seed(seed)
    fits = {k: GaussianMixture(k, covariance=covariance, priors=priors).fit(
        data, method=method, seed=seed, progress=progress, **options) for k in ks}
    with warnings.catch_warnings():
        # ArviZ warns about large Pareto k, which the table's `warning` column reports;
        # compare_loo gives the same table under ArviZ 0.23 and >= 1.0
        warnings.filterwarnings("ignore", message=r".*Pareto", category=UserWarning)
        table = compare_loo({f"K={k}": fit.to_arviz() for k, fit in fits.items()})
    table = table.copy()
    table["bic"] = [fits[int(str(i)[2:])].bic() for i in table.index]
    table["n_parameters"] = [fits[int(str(i)[2:])].layout.num_parameters() for i in table.index]
    table["khat"] = [fits[int(str(i)[2:])].diagnostics.get("khat", float("nan")) for i in table.index]
    table.index.name = "model"
    best_loo = int(str(table.index[0])[2:])
    best_bic = int(str(table["bic"].idxmin())[2:])
    return ComponentComparison(table=table, fits=fits, best_loo=best_loo, best_bic=best_bic)


# ------------------------------------------------------------------ plots


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4))
    return ax


def plot_mixture_density(fit: GMMFit, *, ax=None, feature: int | str = 0, bins: int = 40,
                         grid_size: int = 400):
    """Histogram of one feature with the posterior mean mixture density, a 90% band and
    each component's weighted density ``pi_k N(x | mu_k, sigma_k^2)``; returns the Axes.

    In ``D > 1`` dimensions the feature's marginal is shown (a mixture of the
    components' marginals).
    """
    ax = _axes(ax)
    names = list(fit.feature_names)
    if not isinstance(feature, (bool, np.bool_)) and feature in names:
        j = names.index(feature)  # a column label first (also an integer label), like df[label]
    elif isinstance(feature, str):
        raise ValueError(f"feature must be one of the feature names {names} or a position "
                         f"0..{len(names) - 1}, got {feature!r}.")
    else:
        j = check_int(feature, "feature", minimum=0)
        if j >= len(names):
            raise ValueError(f"feature must be < {len(names)} (features {names}), got {feature!r}.")
    x = fit.data[:, j]
    lo, hi = x.min(), x.max()
    pad = 0.1 * (hi - lo + 1e-12)
    grid = torch.linspace(lo - pad, hi + pad, grid_size, dtype=DTYPE)
    flat = fit._flat()
    a = _align(flat, fit.layout, plated=False)
    loc, scale = a.loc[:, 0, :, j], a.scale[:, 0, :, j]                  # (S, K)
    comp = a.log_pi[:, 0].unsqueeze(1) + dist.Normal(loc.unsqueeze(1), scale.unsqueeze(1)).log_prob(
        grid[None, :, None])                                              # (S, G, K)
    dens = torch.logsumexp(comp, -1).exp().numpy()                        # (S, G)
    g = grid.numpy()
    ax.hist(x, bins=bins, density=True, color="0.85", edgecolor="white", label="data")
    lo_b, hi_b = np.quantile(dens, [0.05, 0.95], axis=0)
    ax.fill_between(g, lo_b, hi_b, color="C0", alpha=0.25, label="90% band")
    ax.plot(g, dens.mean(0), color="C0", lw=2, label="posterior mean density")
    for k in range(fit.n_components):
        ax.plot(g, comp[..., k].exp().mean(0).numpy(), color=f"C{k + 1}", ls="--", lw=1.2,
                label=f"component {k}")
    ax.set_xlabel(names[j])
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_mixture_scatter(fit: GMMFit, *, ax=None, features: tuple[int, int] = (0, 1)):
    """Scatter of two features coloured by the posterior responsibilities (each point's
    colour mixes the component colours with weights ``p(z = k | x)``), with each
    component's posterior mean covariance as 1- and 2-sd ellipses; returns the Axes."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Ellipse

    ax = _axes(ax)
    D = fit.data.shape[1]
    if D < 2:
        raise ValueError(f"plot_mixture_scatter needs data with 2 or more features, got {D}; "
                         "use plot_mixture_density for one feature.")
    i, j = (check_int(f, "features", minimum=0) for f in features)
    if max(i, j) >= D or i == j:
        raise ValueError(f"features must be two different indices below {D}, got {features}.")
    resp = fit.predict_proba()                                            # (N, K)
    palette = np.array([to_rgb(f"C{k}") for k in range(fit.n_components)])
    ax.scatter(fit.data[:, i], fit.data[:, j], c=np.clip(resp @ palette, 0, 1), s=14,
               edgecolors="none")
    means = fit.posterior_means()
    mu = np.atleast_2d(means["mu"])
    for k in range(fit.n_components):
        cov = means["cov"][k][np.ix_([i, j], [i, j])]
        evals, evecs = np.linalg.eigh(cov)
        angle = math.degrees(math.atan2(evecs[1, -1], evecs[0, -1]))
        for n_sd in (1, 2):
            ax.add_patch(Ellipse((mu[k, i], mu[k, j]), 2 * n_sd * math.sqrt(evals[-1]),
                                 2 * n_sd * math.sqrt(evals[0]), angle=angle, fill=False,
                                 color=palette[k], lw=1.5 if n_sd == 1 else 0.8))
        ax.plot(mu[k, i], mu[k, j], "x", color=palette[k], ms=9, mew=2, label=f"component {k}")
    ax.set_xlabel(fit.feature_names[i])
    ax.set_ylabel(fit.feature_names[j])
    ax.legend(frameon=False, fontsize="small")
    return ax


# ------------------------------------------------------------------- demo


def demo_section(out_dir: Path, seed: int, quick: bool) -> dict:
    """The mixture's part of ``probmodels demo``: Old Faithful.

    Chooses K by PSIS-LOO and BIC (K = 1..4; 1..3 when ``quick``), fits the
    chosen K with the default variational fit, and writes into
    ``out_dir / "gmm"``: ``component_comparison.csv``, ``summary.csv``,
    ``posterior.nc``, ``fit.npz``, ``clusters.png``, ``density_eruptions.png``,
    ``density_waiting.png``. Returns ``{"title", "markdown", "files"}`` (files
    relative to ``out_dir``, a tuple, so ``cli.ReportSection(**result)`` works).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from probmodels import export
    from probmodels.datasets import load_faithful

    az = _import_arviz()
    out_dir = Path(out_dir)
    folder = out_dir / "gmm"
    folder.mkdir()
    files: list[Path] = []

    def out(name: str) -> Path:
        files.append(Path("gmm") / name)
        return folder / name

    def figure(plot, path, figsize=(7.0, 4.5)):
        fig = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(fig)
        plot(fig.add_subplot())
        fig.savefig(path, dpi=110)

    x = load_faithful()
    ks = range(1, 4) if quick else range(1, 5)
    options = {"num_samples": 1000} if quick else {}
    # a K with k-hat > 0.7 is reported in the table's khat column; the report
    # shows those warnings instead of printing them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        comparison = compare_components(x, ks, seed=seed, **options)
    notes = sorted({str(w.message) for w in caught})
    table = comparison.table
    table.to_csv(out("component_comparison.csv"))
    K = comparison.best_loo
    fit = comparison.fits[K]
    idata = fit.to_arviz()
    export.save_netcdf(idata, out("posterior.nc"))
    fit.save(out("fit.npz"))
    summary = az.summary(idata, var_names=list(idata.posterior.data_vars), kind="stats",
                         round_to="none")
    summary.index.name = "parameter"
    summary.to_csv(out("summary.csv"))
    figure(lambda ax: fit.plot_clusters(ax=ax), out("clusters.png"))
    figure(lambda ax: fit.plot_density(ax=ax, feature="eruptions"), out("density_eruptions.png"))
    figure(lambda ax: fit.plot_density(ax=ax, feature="waiting"), out("density_waiting.png"))
    sizes = np.bincount(fit.predict(), minlength=K)
    d = fit.diagnostics

    def md(frame, digits=3):
        frame = frame.astype(object)
        head = "| " + " | ".join([str(frame.index.name or "")] + [str(c) for c in frame.columns]) + " |"
        rows = [head, "|" + "---|" * (len(frame.columns) + 1)]
        for label, row in frame.iterrows():
            cells = [f"{v:.{digits}f}" if isinstance(v, (float, np.floating)) else str(v) for v in row]
            rows.append("| " + " | ".join([str(label)] + cells) + " |")
        return "\n".join(rows)

    shown = table[[c for c in ("rank", "elpd_loo", "p_loo", "elpd_diff", "se", "bic", "khat")
                   if c in table.columns]]
    text = f"""\
Data: Old Faithful, {len(x)} eruptions (duration and waiting time, minutes),
`probmodels.datasets.load_faithful()`.

### Number of components

`compare_components(x, {list(ks)})`: PSIS-LOO (higher `elpd_loo` is better) and BIC
(lower is better). Table: [gmm/component_comparison.csv](gmm/component_comparison.csv).

{md(shown, 2)}

**Chosen: K = {K}** by PSIS-LOO (BIC prefers K = {comparison.best_bic}).
{"".join(chr(10) + "- Warning: " + n for n in notes)}

### Fit with K = {K}

`pm.GaussianMixture(n_components={K}).fit(x, seed={seed})`: {d.get("distinct_modes")} distinct
mode(s) from {d.get("num_starts")} EM starts, Laplace-started guide refined by {d.get("num_steps")} SVI steps, PSIS k-hat {d.get("khat", float("nan")):.2f}
(below 0.5 excellent, 0.5-0.7 usable, above 0.7 unreliable), {fit.num_draws} draws, {d.get("seconds", float("nan")):.1f} s.
Points per component (most probable): {", ".join(str(int(n)) for n in sizes)}.
Summary: [gmm/summary.csv](gmm/summary.csv).

{md(summary[["mean", "sd"]], 3)}

![clusters](gmm/clusters.png)

![eruptions](gmm/density_eruptions.png)

![waiting](gmm/density_waiting.png)

### Files

- ArviZ data (posterior, posterior_predictive, log_likelihood, observed_data):
  [gmm/posterior.nc](gmm/posterior.nc), read with `probmodels.export.load_netcdf`.
- The fit: [gmm/fit.npz](gmm/fit.npz), read with `probmodels.load`.
"""
    return {"title": "Gaussian mixture: Old Faithful", "markdown": text, "files": tuple(files)}
