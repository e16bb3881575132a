"""Where every mixture fit starts: EM from k-means++ seeds, the MAP, the Laplace approximation.

1. :func:`em` runs weighted maximum-likelihood EM from a k-means++ start
   (Arthur and Vassilvitskii 2007), with a ridge relative to each feature.
2. :func:`map_fit` refines an EM answer to the maximum of the unconstrained log
   posterior (``z`` summed out, Jacobians included) with L-BFGS.
3. :func:`laplace` puts a Gaussian at that mode with the inverse Hessian as its
   covariance, inverted in curvature-scaled coordinates so that the result is the
   same for data in any units.
4. :func:`relabel` permutes each draw's components to the pivot's (``D > 1``).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pyro.distributions as dist
import torch

from probmodels.models.gmm.sites import DTYPE, Layout, Packing, log_density

__all__ = ["em", "em_to_values", "kmeans_pp", "laplace", "map_fit", "probe_elbo", "relabel",
           "set_guide", "starts"]


def kmeans_pp(x: np.ndarray, w: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur and Vassilvitskii 2007), weighted by ``w``: ``(K, D)`` centres."""
    p = w / w.sum()
    centres = [x[rng.choice(len(x), p=p)]]
    for _ in range(1, K):
        d2 = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        q = w * d2
        q = p if q.sum() <= 0 else q / q.sum()
        centres.append(x[rng.choice(len(x), p=q)])
    return np.asarray(centres)


def em(x: np.ndarray, w: np.ndarray, layout: Layout, rng: np.random.Generator,
        max_iter: int = 300, tol: float = 1e-8) -> dict[str, np.ndarray]:
    """Weighted maximum-likelihood EM from a k-means++ start; returns pi, mu (K, D), cov (K, D, D)."""
    N, D = x.shape
    K = layout.K
    # a ridge relative to each feature's spread (an absolute 1e-12 inflated the
    # variance of data in units of 1e-6)
    reg = np.diag(1e-6 * x.var(0) + 1e-300)
    centres = kmeans_pp(x, w, K, rng)
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


def em_to_values(fitted: Mapping[str, np.ndarray], layout: Layout) -> dict[str, torch.Tensor]:
    """EM estimates -> constrained site values (the parametrisation of the model)."""
    order = np.argsort(fitted["mu"][:, 0], kind="stable")
    pi = np.clip(fitted["pi"][order], 1e-6, None)
    mu, cov = fitted["mu"][order], fitted["cov"][order]
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


def relabel(values: Mapping[str, np.ndarray], pivot_mu: np.ndarray, data_sd: np.ndarray) -> dict[str, np.ndarray]:
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


def map_fit(x, w, packing: Packing, init: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    """L-BFGS on the unconstrained negative log density from ``init``: (mode, log density)."""
    u = packing.pack(init).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([u], lr=1.0, max_iter=200, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -log_density(u.unsqueeze(0), packing, x, w)[0]
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    with torch.no_grad():
        lp = float(log_density(u.unsqueeze(0), packing, x, w)[0])
    return u.detach(), lp


def laplace(x, w, packing: Packing, mode: torch.Tensor) -> torch.Tensor | None:
    """Cholesky factor of the inverse Hessian of the negative log density at ``mode``
    (None where the Hessian is not finite, e.g. a component collapsed onto one point)."""
    H = torch.autograd.functional.hessian(lambda u: -log_density(u.unsqueeze(0), packing, x, w)[0], mode)
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


def starts(x, w, priors, layout, seed: int, num_starts: int):
    """EM from ``num_starts`` k-means++ seeds, each refined to the MAP: [(mode, log density, em)]."""
    rng = np.random.default_rng(seed)
    xn = x.numpy()
    wn = np.ones(xn.shape[0]) if w is None else w.numpy()
    packing = Packing(priors, layout)
    out = []
    for _ in range(num_starts):
        fitted = em(xn, wn, layout, rng)
        mode, lp = map_fit(x, w, packing, em_to_values(fitted, layout))
        if math.isfinite(lp):
            out.append((mode, lp, fitted))
    if not out:
        raise FloatingPointError(
            "every EM start gave a non-finite log density; check the data scale and priors "
            "(e.g. standardise the data)."
        )
    return packing, out


def probe_elbo(loc, tril, eps, packing: Packing, x, w) -> float:
    """ELBO of ``N(loc, tril tril^T)`` on the unconstrained globals, from the standard
    normal draws ``eps`` ``(draws, dim)``: mean of ``log p(x, u) - log q(u)``."""
    u = loc + eps @ tril.T
    with torch.no_grad():
        return float((log_density(u, packing, x, w)
                      - dist.MultivariateNormal(loc, scale_tril=tril).log_prob(u)).mean())


def set_guide(guide, loc: torch.Tensor, tril: torch.Tensor) -> None:
    """Put an ``AutoMultivariateNormal`` at ``N(loc, tril tril^T)`` (its scale x unit-triangular form)."""
    from pyro.nn import PyroParam

    diag = torch.diagonal(tril)
    guide.loc = torch.nn.Parameter(loc.clone())
    guide.scale = PyroParam(diag.clone(), guide.scale_constraint)
    guide.scale_tril = PyroParam(tril / diag[:, None], guide.scale_tril_constraint)
