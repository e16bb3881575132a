r"""The exact posterior of the Bayesian AR(p) when the priors of ``(mu, phi)`` are Gaussian.

With :math:`\beta = (\mu, \phi)`, the lag matrix ``Z = [1, X]`` and a Gaussian
prior :math:`\beta \sim \mathcal N(m_0, \Pi_0^{-1})`, the posterior factorises as

.. math::

    p(\beta, \sigma \mid y) = p(\sigma \mid y)\, \mathcal N(\beta \mid m(\sigma), \Lambda(\sigma)^{-1}),
    \qquad \Lambda(\sigma) = Z^\top Z / \sigma^2 + \Pi_0, \qquad
    m(\sigma) = \Lambda^{-1}(Z^\top y / \sigma^2 + \Pi_0 m_0),

.. math::

    \log p(\sigma \mid y) = \log p(\sigma) + \log \mathcal N(y \mid Z m_0, \sigma^2 I + Z \Pi_0^{-1} Z^\top)
        + \text{const}

(shared/NOTES.md, "Bayesian AR(p)"). Everything is computed per series in
centred coordinates (``y - c``, ``X - c``, ``c`` the series mean; the intercept
becomes ``m = mu - c (1 - sum phi)``, a shear of unit Jacobian), and in the basis
that diagonalises :math:`Z^\top Z` against :math:`B = Z^\top Z + \Pi_0 = R^\top R`:
with :math:`R^{-\top} Z^\top Z R^{-1} = U \operatorname{diag}(f) U^\top`,

.. math::

    \Lambda(\sigma) = R^\top U \operatorname{diag}(f / \sigma^2 + 1 - f) U^\top R,

so that for any :math:`\sigma` the marginal likelihood, the conditional mean and
a conditional draw cost :math:`O(k)` numbers with no factorisation. The
one-dimensional :math:`p(\sigma \mid y)` is evaluated on an adaptive grid in
:math:`\log\sigma` (a coarse pass over a factor :math:`e^{\pm 10}` around the
least-squares :math:`\hat\sigma`, then 2,049 points over the region within 50
nats of the peak) and sampled exactly from its piecewise-linear interpolant;
each :math:`\beta` is then drawn from its conditional Gaussian. The draws are
independent, exact up to the grid (about 1e-4 posterior sd apart), and cost
milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from probmodels.models.ar.design import centred_prior

__all__ = [
    "Conjugate",
    "conjugate",
    "draw_beta",
    "draw_on_grid",
    "log_marginal",
    "sample_sigma",
    "sigma_grid",
]

#: coarse offsets in log sigma around the least-squares value
_COARSE = np.linspace(-10.0, 10.0, 201)
#: points of the fine grid
_FINE = 513
#: the fine grid covers the coarse points within this many nats of the highest
_SPAN = 50.0


@dataclass(frozen=True)
class Conjugate:
    r"""The sufficient quantities of ``S`` series' regressions, in the diagonal basis.

    With :math:`B = Z^\top Z + \Pi_0 = R^\top R` and the eigenvalues ``f`` (in [0, 1])
    and vectors ``U`` of :math:`R^{-\top} Z^\top Z R^{-1}`,
    :math:`\Lambda(\sigma) = R^\top U \operatorname{diag}(f / \sigma^2 + 1 - f) U^\top R`.
    Both factors are well conditioned whatever the prior's scale (a vague intercept
    prior of precision 1e-18 next to data precisions of 1e2 included), which a
    whitening by the prior alone is not.

    Attributes (``k = p + 1``)
    --------------------------
    n : (S,) modelled steps; yy : (S,) the centred targets' sum of squares;
    f : (S, k); h1 : (S, k) :math:`U^\top R^{-\top} Z^\top y`;
    h0 : (S, k) :math:`U^\top R^{-\top} \Pi_0 m_0`;
    W : (S, k, k) :math:`R^{-1} U` (centred coefficients ``b = W w``);
    center : (S,) the series means ``c``.
    """

    n: np.ndarray
    yy: np.ndarray
    f: np.ndarray
    h1: np.ndarray
    h0: np.ndarray
    W: np.ndarray
    center: np.ndarray


def conjugate(
    ZtZ: np.ndarray,
    Zty: np.ndarray,
    yy: np.ndarray,
    n: np.ndarray,
    center: np.ndarray,
    prior_mean: np.ndarray,
    prior_precision: np.ndarray,
) -> Conjugate:
    r"""Prepare the exact posterior of ``S`` series.

    Parameters
    ----------
    ZtZ : (S, k, k), Zty : (S, k), yy : (S,)
        :math:`Z^\top Z`, :math:`Z^\top (y - c)` and :math:`\sum (y - c)^2` of the centred
        regression ``Z = [1, X - c]`` on the targets ``y - c``.
    n : (S,)
        Modelled steps.
    center : (S,)
        ``c`` of each series.
    prior_mean : (S, k), prior_precision : (S, k, k)
        The Gaussian prior of :math:`\beta = (\mu, \phi)` in the original coordinates.
    """
    P0, info0 = centred_prior(center, prior_mean, prior_precision)
    R = np.swapaxes(np.linalg.cholesky(ZtZ + P0), -1, -2)  # B = R' R, R upper
    Rinv = np.linalg.inv(R)
    F = np.swapaxes(Rinv, -1, -2) @ ZtZ @ Rinv
    f, U = np.linalg.eigh(0.5 * (F + np.swapaxes(F, -1, -2)))
    Ut_RinvT = np.swapaxes(U, -1, -2) @ np.swapaxes(Rinv, -1, -2)
    return Conjugate(
        n=np.asarray(n, dtype=np.float64),
        yy=yy,
        f=np.clip(f, 0.0, 1.0),
        h1=(Ut_RinvT @ Zty[..., None])[..., 0],
        h0=(Ut_RinvT @ info0[..., None])[..., 0],
        W=Rinv @ U,
        center=center,
    )


def _precisions(conj: Conjugate, s2: np.ndarray) -> np.ndarray:
    r"""The diagonal of :math:`\Lambda(\sigma)` in the basis ``w``: ``f / sigma^2 + 1 - f``."""
    return conj.f[:, None, :] / s2 + (1.0 - conj.f[:, None, :])


def log_marginal(conj: Conjugate, sigma: np.ndarray) -> np.ndarray:
    r""":math:`\log p(y \mid \sigma)` with :math:`\beta` integrated out, up to a constant
    that does not depend on sigma; ``sigma`` ``(S, G)``."""
    s2 = np.square(sigma)[..., None]  # (S, G, 1)
    a = _precisions(conj, s2)  # (S, G, k)
    r = conj.h1[:, None, :] / s2 + conj.h0[:, None, :]
    quad = conj.yy[:, None] / s2[..., 0] - (np.square(r) / a).sum(-1)
    return -conj.n[:, None] * np.log(sigma) - 0.5 * quad - 0.5 * np.log(a).sum(-1)


def sigma_grid(
    log_post: Callable[[np.ndarray], np.ndarray],
    sigma_hat: np.ndarray,
    points: int = _FINE,
    *,
    with_density: bool = False,
):
    """The adaptive grid of ``u = log sigma`` of each series, ``(S, points)``.

    The density of ``u`` (``log_post`` plus the Jacobian ``u``) is located on a coarse
    grid around ``log sigma_hat`` (a factor e^10 either way); the grid covers the coarse
    points within 50 nats of the highest, one coarse step more on each side, and, for a
    bounded support (Uniform(0, b)), no more than the points of positive density.
    ``with_density``: also return ``log_post`` on the grid (``None`` where the grid was
    narrowed to a bounded support and must be evaluated again).
    """
    S = sigma_hat.shape[0]
    u = np.log(sigma_hat)[:, None] + _COARSE[None, :]  # (S, 201)
    f = log_post(np.exp(u)) + u
    if not np.isfinite(f.max(1)).all():
        bad = int(np.flatnonzero(~np.isfinite(f.max(1)))[0])
        raise FloatingPointError(
            f"the posterior of sigma has no finite density near the least-squares value "
            f"{sigma_hat[bad]:.4g} (series {bad}); check that the sigma prior puts mass there."
        )
    inside = f > f.max(1, keepdims=True) - _SPAN
    first = np.clip(inside.argmax(1) - 1, 0, u.shape[1] - 1)
    last = np.clip(u.shape[1] - inside[:, ::-1].argmax(1), 0, u.shape[1] - 1)
    rows = np.arange(S)
    lo, hi = u[rows, first], u[rows, last]
    t = np.linspace(0.0, 1.0, points)
    grid = lo[:, None] + (hi - lo)[:, None] * t[None, :]  # (S, G)
    g = log_post(np.exp(grid))
    finite = np.isfinite(g)
    if not finite.all():
        # a bounded support: the grid again, between its first and last points of positive
        # density, so that no cell straddles the bound
        first = finite.argmax(1)
        last = points - 1 - finite[:, ::-1].argmax(1)
        lo, hi = grid[rows, first], grid[rows, last]
        grid = lo[:, None] + (hi - lo)[:, None] * t[None, :]
        g = None  # type: ignore[assignment]
    return (grid, g) if with_density else grid


def draw_on_grid(grid: np.ndarray, g: np.ndarray, rng, num: int) -> np.ndarray:
    """``num`` draws of sigma per series from the piecewise-linear density of ``u = log sigma``
    whose log is ``g`` on the evenly spaced ``grid`` (both ``(S, G)``). ``rng``: one
    generator per series (a list) or one for all."""
    S, G = grid.shape
    rows = np.arange(S)
    dens = np.exp(g - g.max(1, keepdims=True))
    dens[~np.isfinite(dens)] = 0.0
    h = grid[:, 1] - grid[:, 0]
    left, right = dens[:, :-1], dens[:, 1:]
    cdf = np.cumsum(0.5 * (left + right), axis=1)
    cdf /= cdf[:, -1:]
    rngs = list(rng) if isinstance(rng, (list, tuple)) else [rng] * S
    v = np.stack([r.random(num) for r in rngs])
    # one searchsorted for all series: row s's CDF shifted to (s, s + 1]
    flat = np.searchsorted((cdf + rows[:, None]).ravel(), (v + rows[:, None]).ravel())
    cell = np.minimum(flat.reshape(S, num) - rows[:, None] * (G - 1), G - 2)
    a = np.take_along_axis(left, cell, 1)
    b = np.take_along_axis(right, cell, 1)
    w = np.stack([r.random(num) for r in rngs])
    # inverse CDF of the density a + (b - a) x on [0, 1]
    slope = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(
            np.abs(slope) > 1e-12 * np.maximum(a, b),
            (np.sqrt(a * a + slope * w * (a + b)) - a) / slope,
            w,
        )
    return np.exp(grid[rows[:, None], cell] + np.clip(x, 0.0, 1.0) * h[:, None])


def sample_sigma(
    log_post: Callable[[np.ndarray], np.ndarray], sigma_hat: np.ndarray, rng, num: int
) -> np.ndarray:
    """``num`` exact draws of sigma per series from ``log_post(sigma (S, G)) -> (S, G)``:
    :func:`sigma_grid`, then :func:`draw_on_grid`. Returns ``(S, num)``. ``rng`` is one
    ``numpy.random.Generator`` per series (a list), so that each series' draws depend on
    its own stream only (not on which other series share the call), or one for all.
    """
    grid, g = sigma_grid(log_post, sigma_hat, with_density=True)
    if g is None:
        g = log_post(np.exp(grid))
    return draw_on_grid(grid, g + grid, rng, num)


def draw_beta(conj: Conjugate, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
    r"""Draws of :math:`\beta = (\mu, \phi)` given ``sigma`` ``(S, N)`` from standard normal
    ``eps`` ``(S, N, k)``; returns ``(S, N, k)`` in the original coordinates."""
    s2 = np.square(sigma)[..., None]
    a = _precisions(conj, s2)
    w = (conj.h1[:, None, :] / s2 + conj.h0[:, None, :]) / a + eps / np.sqrt(a)
    # batched matmul, one product per series: a series' draws do not depend on the batch
    b = w @ np.swapaxes(conj.W, -1, -2)  # centred (m, phi)
    beta = b.copy()
    beta[..., 0] = b[..., 0] + conj.center[:, None] * (1.0 - b[..., 1:].sum(-1))
    return beta
