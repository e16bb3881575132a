"""Where every mixture fit starts: EM from k-means++ seeds, the MAP, the Laplace approximation.

1. :func:`em` runs weighted maximum-likelihood EM from a greedy k-means++ start
   (Arthur and Vassilvitskii 2007), with a ridge relative to each feature and each
   component's variance floored at :data:`VARIANCE_FLOOR` of the data's;
   :func:`starts` runs it from :data:`EM_RUNS_PER_COMPONENT` seeds per component.
2. :func:`map_fit` refines the best distinct EM answers to the maximum of the
   unconstrained log posterior (``z`` summed out, Jacobians included) with L-BFGS.
   Where that runs a component's sigma below the floor (a component on one or two
   points: its ``log sigma`` ridge is flat), the floored EM answer is a start too.
3. :func:`laplace` puts a Gaussian at that mode with the inverse Hessian as its
   covariance, inverted in curvature-scaled coordinates so that the result is the
   same for data in any units; no coordinate's scale exceeds its prior's.
4. :func:`relabel` permutes each draw's components to the pivot's (``D > 1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyro.distributions as dist
import torch
from scipy.linalg import solve_triangular

from probmodels.models.gmm.sites import DTYPE, Layout, Packing, align, log_density

__all__ = [
    "EM_RUNS_PER_COMPONENT",
    "VARIANCE_FLOOR",
    "em",
    "em_to_values",
    "kmeans_pp",
    "laplace",
    "map_fit",
    "prior_scale",
    "probe_elbo",
    "relabel",
    "set_guide",
    "starts",
]

#: EM runs per component behind the MAP starts (at least ``num_starts`` runs)
EM_RUNS_PER_COMPONENT = 2
#: each EM component's variance is at least this fraction of the data's (scikit-learn's
#: ``reg_covar`` relative to each feature): with 4 to 15 points a component on one or two of
#: them had a variance of 1e-6 of the data's, from which the MAP ran down the collapsed
#: component's ridge (log sigma, flat) to sigma = 0.001 or to NaN in the line search
VARIANCE_FLOOR = 1e-3


def kmeans_pp(
    x: np.ndarray, w: np.ndarray, K: int, rng: np.random.Generator, num_trials: int | None = None
) -> np.ndarray:
    """Greedy k-means++ seeding, weighted by ``w``: ``(K, D)`` centres.

    Each centre after the first is the best of ``num_trials`` candidates (default
    ``2 + int(log K)``, as scikit-learn's ``kmeans_plusplus``) drawn with probability
    proportional to ``w`` times the squared distance to the nearest centre so far: the
    candidate that leaves the smallest weighted potential is kept (Arthur and
    Vassilvitskii 2007, section 5). ``num_trials=1`` is plain k-means++.
    """
    N = x.shape[0]
    L = 2 + int(math.log(K)) if num_trials is None else num_trials
    p = w / w.sum()
    centres = np.empty((K, x.shape[1]))
    centres[0] = x[rng.choice(N, p=p)]
    d2 = ((x - centres[0]) ** 2).sum(1)  # (data,) to the nearest centre
    for k in range(1, K):
        q = w * d2
        idx = rng.choice(N, size=L, p=p if q.sum() <= 0 else q / q.sum())
        trial = np.minimum(d2, ((x[None] - x[idx][:, None]) ** 2).sum(-1))  # (trial, data)
        best = int(np.argmin(trial @ w))
        centres[k], d2 = x[idx[best]], trial[best]
    return centres


def _log_joint(
    x: np.ndarray, pi: np.ndarray, mu: np.ndarray, cov: np.ndarray, diagonal: bool
) -> np.ndarray:
    """``log pi_k + log N(x_n | mu_k, cov_k)``: ``(data, component)``; ``cov`` is
    ``(component, feature, feature)``, of which ``diagonal`` reads only the diagonal."""
    D = x.shape[1]
    diff = x[None] - mu[:, None]  # (component, data, feature)
    if diagonal:
        var = np.einsum("kii->ki", cov)  # (component, feature)
        maha = np.einsum("knd,kd->kn", diff**2, 1.0 / var)
        logdet = np.log(var).sum(1)
    else:
        chol = np.linalg.cholesky(cov)
        # one triangular solve per component for all points (not one per point)
        maha = np.stack(
            [(solve_triangular(chol[k], diff[k].T, lower=True) ** 2).sum(0) for k in range(len(mu))]
        )  # (component, data)
        logdet = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
    return (
        np.log(pi)[:, None] - 0.5 * maha - 0.5 * (D * math.log(2 * math.pi) + logdet)[:, None]
    ).T


def _floor_eigenvalues(cov: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Covariances ``(component, feature, feature)`` with every eigenvalue at least 1 in the
    units of ``sqrt(floor)`` ``(feature,)``; the components already above it unchanged."""
    s = np.sqrt(floor)
    scaled = cov / (s[:, None] * s[None, :])  # (component, feature, feature)
    out = cov.copy()
    for k in range(len(cov)):
        evals, evecs = np.linalg.eigh(scaled[k])
        if evals.min() < 1.0:
            out[k] = ((evecs * np.maximum(evals, 1.0)) @ evecs.T) * (s[:, None] * s[None, :])
    return out


def em(
    x: np.ndarray,
    w: np.ndarray,
    layout: Layout,
    rng: np.random.Generator,
    max_iter: int = 300,
    tol: float = 1e-8,
    init: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Weighted maximum-likelihood EM; returns pi, mu (K, D), cov (K, D, D) and the weighted
    log-likelihood ``loglik`` at them.

    It starts from greedy k-means++ seeds (:func:`kmeans_pp`, each point assigned to its
    nearest seed), or with ``init`` from the parameters ``pi, mu, cov`` (e.g. a fit's
    posterior means: EM then climbs to the maximum of their mode). The seeds are not
    refined by Lloyd's k-means first: on the digits (K = 10, 8 principal components)
    Lloyd's centres led EM to fewer of the highest modes (4% of starts within 1 BIC unit
    of scikit-learn's best of 20, against 10% from the seeds themselves).
    Every component's variance (every eigenvalue of its covariance, in units of the
    data's standard deviations) is floored at :data:`VARIANCE_FLOOR` of the data's.
    """
    N, D = x.shape
    K = layout.K
    # a ridge relative to each feature's spread (an absolute 1e-12 inflated the
    # variance of data in units of 1e-6)
    ridge = 1e-6 * x.var(0) + 1e-300  # (feature,)
    diagonal = layout.covariance == "diag" or layout.spherical
    # the floor of every component's variance (every eigenvalue, "full"), relative to the
    # data's own; spherical: to the mean variance, so the floored variance stays spherical
    floor = VARIANCE_FLOOR * (np.full(D, x.var(0).mean()) if layout.spherical else x.var(0))
    floor = floor + 1e-300  # (feature,)
    if init is None:
        centres = kmeans_pp(x, w, K, rng)
        resp = np.eye(K)[np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)]
    else:
        # D = 1: the univariate sites' mu is (K,), cov (K, 1, 1)
        logp = _log_joint(
            x,
            np.asarray(init["pi"]),
            np.asarray(init["mu"]).reshape(K, D),
            np.asarray(init["cov"]).reshape(K, D, D),
            diagonal,
        )
        resp = np.exp(logp - logp.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)  # (data, component)
    prev = -np.inf
    for _ in range(max_iter):
        # M step (weighted)
        rw = resp * w[:, None]
        nk = rw.sum(0) + 1e-10
        pi = nk / nk.sum()
        mu = (rw.T @ x) / nk[:, None]
        diff = x[None] - mu[:, None]  # (component, data, feature)
        if diagonal:
            var = np.einsum("nk,knd->kd", rw, diff**2) / nk[:, None]
            if layout.spherical:
                var = np.repeat(var.mean(1, keepdims=True), D, axis=1)
            cov = (np.maximum(var, floor) + ridge)[:, :, None] * np.eye(D)
        else:
            cov = np.stack([(diff[k] * rw[:, k, None]).T @ diff[k] for k in range(K)])
            cov = _floor_eigenvalues(cov / nk[:, None, None], floor) + np.diag(ridge)
        # E step
        logp = _log_joint(x, pi, mu, cov, diagonal)
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


def relabel(
    values: Mapping[str, np.ndarray], pivot_mu: np.ndarray, data_sd: np.ndarray
) -> dict[str, np.ndarray]:
    """Permute each draw's components to match the pivot means (D > 1; see the module docstring).

    ``values``: ``(S,) + site_shape``; ``pivot_mu``: ``(K, D)``.
    """
    from scipy.optimize import linear_sum_assignment

    mu = values["mu"] / data_sd  # (S, K, D)
    piv = pivot_mu / data_sd
    cost = ((mu[:, :, None, :] - piv[None, None]) ** 2).sum(-1)  # (S, K_draw, K_pivot)
    perm = np.empty(cost.shape[:2], dtype=np.int64)
    for s in range(cost.shape[0]):
        rows, cols = linear_sum_assignment(cost[s])
        perm[s, cols] = rows  # pivot component j takes the draw's component rows[j]
    take = np.arange(cost.shape[0])[:, None]
    return {k: v[take, perm] for k, v in values.items()}


def map_fit(x, w, packing: Packing, init: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    """L-BFGS on the unconstrained negative log density from ``init``: (mode, log density)."""
    u = packing.pack(init).clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [u],
        lr=1.0,
        max_iter=200,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    start_loss: list[float] = []

    def closure():
        opt.zero_grad()
        if not _in_support(u.detach(), packing):
            # a line-search trial whose exp over- or underflowed (sigma of inf or 0, a NaN
            # mean: it raised in the distributions' checks on 5 to 15 points): a finite
            # loss above the start's and no gradient, so the search steps back
            return torch.tensor(10.0 * abs(start_loss[0]) + 1e6, dtype=DTYPE)
        loss = -log_density(u.unsqueeze(0), packing, x, w)[0]
        loss.backward()
        if not start_loss:
            start_loss.append(float(loss.detach()))
        return loss

    for _ in range(3):
        opt.step(closure)
    with torch.no_grad():
        inside = _in_support(u.detach(), packing)
        lp = float(log_density(u.unsqueeze(0), packing, x, w)[0]) if inside else -math.inf
    return u.detach(), lp


def _in_support(u: torch.Tensor, packing: Packing) -> bool:
    """Whether the flat ``u`` ``(dim,)`` maps to finite site values inside every support."""
    if not bool(torch.isfinite(u).all()):
        return False
    values, _ = packing.unpack(u.unsqueeze(0))
    if not all(
        bool(torch.isfinite(v).all()) and bool(packing.dists[n].support.check(v[0]).all())
        for n, v in values.items()
    ):
        return False
    # each component's Cholesky factor diag(sigma_k) L_k: sigma 1e-229 times L's diagonal
    # underflowed to a zero diagonal with every site inside its support
    a = align(values, packing.layout, plated=False)
    diag = a.scale if a.tril is None else a.scale * torch.diagonal(a.tril, dim1=-2, dim2=-1)
    return bool((torch.isfinite(diag) & (diag > 0)).all())


def prior_scale(packing: Packing, num_draws: int = 2000) -> torch.Tensor:
    """Robust prior standard deviation of each unconstrained coordinate: ``(dim,)``.

    The interquartile range of ``num_draws`` prior draws mapped to the unconstrained space,
    divided by 1.349 (the normal's ratio; finite for heavy-tailed priors too). Drawn from a
    fixed seed inside :func:`torch.random.fork_rng`, so the global stream is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        draws = {n: packing.dists[n].sample((num_draws,)) for n in packing.names}
    u = torch.cat(
        [
            packing.transforms[n].inv(draws[n]).reshape(num_draws, -1).to(DTYPE)
            for n in packing.names
        ],
        dim=1,
    )  # (draw, dim)
    q = torch.nanquantile(u, torch.tensor([0.25, 0.75], dtype=DTYPE), dim=0)
    scale = (q[1] - q[0]) / 1.349
    # a prior whose draws leave the support in floating point: a unit scale
    return torch.where(torch.isfinite(scale) & (scale > 0), scale, torch.ones_like(scale))


def laplace(x, w, packing: Packing, mode: torch.Tensor) -> torch.Tensor | None:
    """Cholesky factor of the inverse Hessian of the negative log density at ``mode``
    (None where the Hessian is not finite, e.g. a component collapsed onto one point).

    No coordinate's standard deviation exceeds its prior's (:func:`prior_scale`): a
    component on one or two points sits on a flat ridge of the log density (its ``log
    sigma`` has almost no curvature), where the inverse Hessian was 1e3 or more wide in
    ``log sigma``, so that the guide's draws of ``sigma`` overflowed to inf or underflowed
    to 0 and SVI failed at step 0. A posterior is not wider than its prior where the data
    are informative at all, so the cap leaves ordinary fits as they were.
    """
    H = torch.autograd.functional.hessian(
        lambda u: -log_density(u.unsqueeze(0), packing, x, w)[0], mode
    )
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
    C = (evecs / evals) @ evecs.T  # the covariance in the scaled coordinates
    # the standard deviation d_i sqrt(C_ii) capped at the prior's: the scale e_i replaces d_i
    # (in logs: d_i reaches 1e150 where a coordinate has no curvature)
    cap = prior_scale(packing)
    log_sd = d.log() + 0.5 * torch.diagonal(C).log()
    e = d * torch.exp((cap.log() - log_sd).clamp_max(0.0))
    cov = e[:, None] * C * e[None, :]
    L, info = torch.linalg.cholesky_ex(0.5 * (cov + cov.T))
    if int(info) != 0 or not bool(torch.isfinite(L).all()):
        # not positive definite in floating point: the capped marginal scales alone
        return torch.diag(e * torch.diagonal(C).sqrt())
    return L


def starts(x, w, priors, layout, seed: int, num_starts: int):
    """EM from ``max(num_starts, EM_RUNS_PER_COMPONENT * K)`` greedy k-means++ seeds; the
    ``num_starts`` distinct answers of highest log-likelihood, each refined to the MAP:
    ``(packing, [(mode, log density, em)])``.

    EM is cheap next to a MAP and a Laplace approximation, and the number of poor local
    maxima grows with ``K``: on the digits (K = 10, 8 principal components) a third of
    the EM runs reach a mode whose held-out density matches scikit-learn's best of five,
    so five runs missed it about one time in six. A MAP whose sigma fell below half the
    EM floor's is joined by its floored EM answer (with that point's log density), which
    the fit's ELBO probe may prefer.
    """
    rng = np.random.default_rng(seed)
    xn = x.numpy()
    wn = np.ones(xn.shape[0]) if w is None else w.numpy()
    packing = Packing(priors, layout)
    runs = [
        em(xn, wn, layout, rng) for _ in range(max(num_starts, EM_RUNS_PER_COMPONENT * layout.K))
    ]
    kept: list[dict[str, np.ndarray]] = []
    for fitted in sorted(runs, key=lambda f: -f["loglik"]):
        # the same maximum reached twice: equal log-likelihood and mixing weights
        if not any(
            abs(fitted["loglik"] - k["loglik"]) <= 1e-6 * abs(k["loglik"]) + 1e-9
            and np.allclose(np.sort(fitted["pi"]), np.sort(k["pi"]), atol=1e-4)
            for k in kept
        ):
            kept.append(fitted)
    out = []
    # a component's sigma below the EM floor: the MAP ran down a collapsed component's ridge
    low = math.sqrt(VARIANCE_FLOOR) * np.sqrt(xn.var(0))  # (feature,)
    for fitted in kept[:num_starts]:
        init = em_to_values(fitted, layout)
        mode, lp = map_fit(x, w, packing, init)
        if math.isfinite(lp):
            out.append((mode, lp, fitted))
        sigma = packing.unpack(mode.unsqueeze(0))[0]["sigma"][0].numpy()  # (K,) or (K, D)
        collapsed = sigma < 0.5 * (low.mean() if layout.spherical else low)
        if not math.isfinite(lp) or bool(np.any(collapsed)):
            # the floored EM answer itself competes (the fit keeps the start of best ELBO)
            u = packing.pack(init)
            with torch.no_grad():
                lp_em = float(log_density(u.unsqueeze(0), packing, x, w)[0])
            if math.isfinite(lp_em):
                out.append((u, lp_em, fitted))
    if not out:
        raise FloatingPointError(
            "every EM start gave a non-finite log density; check the data scale and priors "
            "(e.g. standardise the data)."
        )
    return packing, out


def probe_elbo(loc, tril, eps, packing: Packing, x, w) -> float:
    """ELBO of ``N(loc, tril tril^T)`` on the unconstrained globals, from the standard
    normal draws ``eps`` ``(draws, dim)``: mean of ``log p(x, u) - log q(u)``; ``-inf``
    where a draw leaves the support in floating point (a wide Laplace approximation of a
    component on a few points: ``exp`` of its log-scale under- or overflows)."""
    u = loc + eps @ tril.T
    with torch.no_grad():
        try:
            elbo = float(
                (
                    log_density(u, packing, x, w)
                    - dist.MultivariateNormal(loc, scale_tril=tril).log_prob(u)
                ).mean()
            )
        except ValueError as exc:  # a distribution's parameter check: a scale of 0 or inf
            if "constraint" not in str(exc):
                raise
            return -math.inf
    return elbo if math.isfinite(elbo) else -math.inf


def set_guide(guide, loc: torch.Tensor, tril: torch.Tensor) -> None:
    """Put an ``AutoMultivariateNormal`` at ``N(loc, tril tril^T)`` (its scale x unit-triangular form)."""
    from pyro.nn import PyroParam

    diag = torch.diagonal(tril)
    guide.loc = torch.nn.Parameter(loc.clone())
    guide.scale = PyroParam(diag.clone(), guide.scale_constraint)
    guide.scale_tril = PyroParam(tril / diag[:, None], guide.scale_tril_constraint)
