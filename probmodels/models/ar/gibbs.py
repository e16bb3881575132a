r"""Missing values of an AR(p) series: data augmentation around the exact posterior.

With some values :math:`y_M` of a series unknown, the posterior of
:math:`(\mu, \phi, \sigma, y_M)` is sampled by Gibbs sampling in two blocks:

1. :math:`(\mu, \phi, \sigma) \mid y` with the series completed by the current
   :math:`y_M`: an exact draw (:mod:`.exact`: sigma from its marginal on a grid,
   then the conditional Gaussian of ``(mu, phi)``);
2. :math:`y_M \mid \mu, \phi, \sigma, y_O`: Gaussian. With the residuals
   :math:`e_u = y_u - \mu - \sum_i \phi_i y_{u-i}` of the modelled steps ``u``, linear
   in :math:`y_M`, :math:`\sum_u e_u^2 / \sigma^2` is a quadratic form whose precision
   :math:`Q / \sigma^2` couples missing values at most ``p`` steps apart, so ``Q`` is
   banded (bandwidth ``p`` in time order) and the draw costs ``O(m p^2)`` by a
   banded Cholesky factorisation.

Missing values before ``hold_back - p`` enter no modelled step and are left out
(they stay NaN). The chain starts from linear interpolation, runs ``warmup``
iterations and keeps the next ``num_samples``; its draws are autocorrelated, so
their bulk ESS and split R-hat are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from scipy import linalg

from probmodels.models.ar import exact

__all__ = ["gibbs", "relevant_missing"]

#: points of sigma's grid in the Gibbs sampler (an exact draw given the completed series)
_GIBBS_GRID = 513
#: the grid is located again when its ends are within this many nats of its peak
_GRID_EDGE = 25.0


def relevant_missing(y: np.ndarray, order: int, hold_back: int) -> np.ndarray:
    """Positions (time) of the missing values of one series ``y`` ``(T,)`` that enter a
    modelled step: ``t >= hold_back - order``."""
    return np.flatnonzero(np.isnan(y) & (np.arange(y.size) >= hold_back - order))


def _stats(y: np.ndarray, order: int, hold_back: int):
    """Centred regression statistics of a complete series: ``(ZtZ (k, k), Zty (k,), yy, n, c)``."""
    T = y.size
    X = np.stack([y[hold_back - 1 - i : T - 1 - i] for i in range(order)], axis=-1)  # (n, p)
    target = y[hold_back:]
    c = y.mean()
    Z = np.concatenate([np.ones((target.size, 1)), X - c], axis=1)
    return Z.T @ Z, Z.T @ (target - c), float(np.square(target - c).sum()), target.size, c


def _draw_missing(
    y: np.ndarray,
    positions: np.ndarray,
    mu: float,
    phi: np.ndarray,
    sigma: float,
    hold_back: int,
    eps: np.ndarray,
) -> np.ndarray:
    """One draw of ``y[positions]`` given ``(mu, phi, sigma)`` and the other values of ``y``."""
    p, T, m = phi.size, y.size, positions.size
    coef = np.concatenate([[1.0], -phi])  # e_u = sum_k coef[k] y_{u-k} - mu
    y0 = y.copy()
    y0[positions] = 0.0
    u = np.arange(hold_back, T)
    r = y0[u] - mu - sum(phi[i] * y0[u - 1 - i] for i in range(p))  # residuals without y_M
    r_full = np.zeros(T + p + 1)
    r_full[u] = r
    valid = np.zeros(T + p + 1, dtype=bool)
    valid[u] = True
    # linear term: b_a = -sum_k coef[k] r_{t_a + k}
    b = -sum(coef[k] * r_full[positions + k] * valid[positions + k] for k in range(p + 1))
    # banded precision in upper form: ab[p + a - b, b] = Q[a, b] for a <= b <= a + p
    ab = np.zeros((p + 1, m))
    for d in range(p + 1):  # pairs (a, a + d) in sorted order
        a = np.arange(m - d)
        delta = positions[a + d] - positions[a]
        ok = delta <= p
        q = np.zeros(a.size)
        for k in range(p + 1):
            j = k + delta  # u = t_b + k, u - t_a = k + delta
            use = ok & (j <= p)
            uu = positions[a + d] + k
            use &= valid[np.minimum(uu, T + p)]
            q[use] += coef[np.minimum(j[use], p)] * coef[k]
        ab[p - d, d:] = q
    R = linalg.cholesky_banded(ab, lower=False)
    mean = linalg.cho_solve_banded((R, False), b)
    return mean + sigma * linalg.solve_banded((0, p), R, eps)


def _log_post(log_prior_sigma: Callable[[np.ndarray], np.ndarray], conj, sigma: np.ndarray):
    """Sigma's log posterior on a grid: its prior plus the conjugate marginal likelihood."""
    return log_prior_sigma(sigma) + exact.log_marginal(conj, sigma)


def gibbs(
    y: np.ndarray,
    order: int,
    hold_back: int,
    prior_mean: np.ndarray,
    prior_precision: np.ndarray,
    log_prior_sigma: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    *,
    num_samples: int,
    warmup: int,
) -> dict[str, Any]:
    """Gibbs draws of one series with missing values (see the module docstring).

    Parameters
    ----------
    y : (T,) with NaN at the missing values.
    prior_mean, prior_precision : (k,), (k, k)
        The Gaussian prior of ``(mu, phi)``.
    log_prior_sigma : callable
        ``sigma (1, G) -> log p(sigma) (1, G)``.

    Returns
    -------
    dict
        ``beta`` ``(num_samples, k)``, ``sigma`` ``(num_samples,)``, ``missing``
        ``(num_samples, m)`` and ``positions`` ``(m,)``.
    """
    k = order + 1
    positions = relevant_missing(y, order, hold_back)
    full = y.copy()
    observed = np.flatnonzero(~np.isnan(y))
    full[np.isnan(full)] = np.interp(np.flatnonzero(np.isnan(full)), observed, y[observed])
    out_beta = np.empty((num_samples, k))
    out_sigma = np.empty(num_samples)
    out_missing = np.empty((num_samples, positions.size))
    grid = prior_on_grid = None
    for it in range(warmup + num_samples):
        ZtZ, Zty, yy, n, c = _stats(full, order, hold_back)
        conj = exact.conjugate(
            ZtZ[None],
            Zty[None],
            np.array([yy]),
            np.array([n]),
            np.array([c]),
            prior_mean[None],
            prior_precision[None],
        )
        g = None
        if grid is not None:
            g = exact.log_marginal(conj, np.exp(grid)) + prior_on_grid
            edge = np.maximum(g[0, 0], g[0, -1]) - g.max()
        if grid is None or not edge < -_GRID_EDGE:
            # (re)locate sigma's grid, then keep it while the mass stays inside: its prior
            # term is computed once, and each iteration evaluates the marginal likelihood only
            rss = max(
                yy - Zty @ np.linalg.solve(ZtZ + 1e-9 * np.diag(np.diag(ZtZ)), Zty), 1e-300 * yy
            )
            sigma_hat = np.array([np.sqrt(rss / max(n - k, 1))])
            grid = exact.sigma_grid(
                partial(_log_post, log_prior_sigma, conj),
                sigma_hat,
                points=_GIBBS_GRID,
            )
            prior_on_grid = log_prior_sigma(np.exp(grid)) + grid
            g = exact.log_marginal(conj, np.exp(grid)) + prior_on_grid
        sigma = exact.draw_on_grid(grid, g, rng, 1)  # type: ignore[arg-type]
        beta = exact.draw_beta(conj, sigma, rng.standard_normal((1, 1, k)))[0, 0]
        s = float(sigma[0, 0])
        full[positions] = _draw_missing(
            full, positions, beta[0], beta[1:], s, hold_back, rng.standard_normal(positions.size)
        )
        if it >= warmup:
            i = it - warmup
            out_beta[i], out_sigma[i], out_missing[i] = beta, s, full[positions]
    return {"beta": out_beta, "sigma": out_sigma, "missing": out_missing, "positions": positions}
