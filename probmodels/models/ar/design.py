r"""The AR(p) regression on the lag matrix, once for every method: design, Gaussian priors, recursion.

A series ``y`` of ``T`` values conditioned on its first ``h`` (``hold_back``)
gives ``n = T - h`` regression rows: the target :math:`y_t` and the lags
:math:`X_{t,i} = y_{t-i}`, ``t = h+1..T``. The sufficient statistics are kept in
centred coordinates (``y - c``, ``X - c`` with ``c`` the series mean) with
``Z = [1, X - c]``: with a level far above the spread, ``[1, X]'[1, X]`` has a
condition number of about ``(c / sd)^2`` and float64 would lose ``phi``. The
intercept is then ``m = mu - c (1 - sum phi)``, a shear of ``(mu, phi)`` with unit
Jacobian, and a Gaussian prior on ``(mu, phi)`` becomes the Gaussian prior of
:func:`centred_prior` on ``(m, phi)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import ExpandedDistribution

__all__ = [
    "DTYPE",
    "Design",
    "centred_prior",
    "completed",
    "design",
    "gaussian_prior",
    "lag_matrix",
    "recurse",
    "stationary",
]

DTYPE = torch.float64


def lag_matrix(y: torch.Tensor, order: int, hold_back: int) -> torch.Tensor:
    """The lag matrix ``X[t, s, i] = y[hold_back + t - 1 - i, s]``.

    Parameters
    ----------
    y : torch.Tensor
        Series, shape ``(time, series)``.
    order : int
        Number of lags ``p``.
    hold_back : int
        First modelled time step (``>= order``).

    Returns
    -------
    torch.Tensor
        Shape ``(time - hold_back, series, order)``; column ``i`` holds lag ``i + 1``.
    """
    T = y.shape[0]
    # one slice per lag, no loop over time
    return torch.stack([y[hold_back - 1 - i : T - 1 - i] for i in range(order)], dim=-1)


@dataclass(frozen=True)
class Design:
    """Everything the methods need from one data set (float64; torch tensors share
    memory with the numpy views the exact method reads)."""

    y: torch.Tensor  # (T, S) the whole series
    target: torch.Tensor  # (n, S) modelled values y[h:]
    X: torch.Tensor  # (n, S, p) lag matrix
    center: torch.Tensor  # (S,) c: the mean of each series
    ZtZ: torch.Tensor  # (S, k, k) with the centred Z = [1, X - c], k = p + 1
    Zty: torch.Tensor  # (S, k): Z'(y - c)
    yy: torch.Tensor  # (S,): sum of (y - c)^2 over the modelled steps
    hold_back: int
    #: flat positions in y.reshape(-1) of the missing values that enter a modelled step
    #: (t >= hold_back - order), in time-major order; None for complete data. y holds
    #: placeholders there (linear interpolation), and the statistics above are of them
    missing: torch.Tensor | None = None

    @property
    def num_series(self) -> int:
        return int(self.y.shape[1])

    @property
    def num_rows(self) -> int:
        return int(self.target.shape[0])


def _interpolated(y: torch.Tensor) -> torch.Tensor:
    """``y`` ``(time, series)`` with each column's NaN linearly interpolated (ends held)."""
    values = y.numpy().copy()
    steps = np.arange(values.shape[0])
    for s in range(values.shape[1]):
        gap = np.isnan(values[:, s])
        if gap.any():
            values[gap, s] = np.interp(steps[gap], steps[~gap], values[~gap, s])
    return torch.as_tensor(values)


def design(y: torch.Tensor, order: int, hold_back: int) -> Design:
    """The :class:`Design` of ``y`` ``(time, series)`` (NaN: missing values)."""
    missing = None
    if bool(torch.isnan(y).any()):
        relevant = torch.isnan(y) & (torch.arange(y.shape[0]).unsqueeze(-1) >= hold_back - order)
        missing = torch.nonzero(relevant.reshape(-1)).reshape(-1)
        y = _interpolated(y)
    X = lag_matrix(y, order, hold_back)
    target = y[hold_back:]
    center = y.mean(0)
    Z = torch.cat([torch.ones_like(X[..., :1]), X - center.unsqueeze(-1)], dim=-1)  # (n, S, k)
    yc = target - center
    ZtZ = torch.einsum("nsi,nsj->sij", Z, Z)
    Zty = torch.einsum("nsi,ns->si", Z, yc)
    return Design(y, target, X, center, ZtZ, Zty, yc.pow(2).sum(0), hold_back, missing)


def completed(d: Design, y_missing: torch.Tensor, order: int):
    """The series with ``y_missing`` ``batch + (m,)`` in the missing places, its lag matrix and
    targets: ``(y batch + (T, S), X batch + (n, S, p), target batch + (n, S))``."""
    T, S = d.y.shape
    if d.missing is None:
        raise ValueError("completed() needs a design with missing values (d.missing is None)")
    batch = y_missing.shape[:-1]
    flat = d.y.reshape(T * S).expand(batch + (T * S,))
    y = flat.scatter(-1, d.missing.expand(batch + d.missing.shape), y_missing).reshape(
        batch + (T, S)
    )
    h = d.hold_back
    X = torch.stack([y[..., h - 1 - i : T - 1 - i, :] for i in range(order)], dim=-1)
    return y, X, y[..., h:, :]


def _normal_base(d) -> Any:
    while isinstance(d, (torch.distributions.Independent, ExpandedDistribution)):
        d = d.base_dist
    return d


def gaussian_prior(priors: Mapping[str, Any], num_series: int, order: int):
    """The prior of ``beta = (mu, phi)`` as ``(mean (S, k), precision (S, k, k))`` numpy arrays,
    or ``None`` when the ``mu`` or ``phi`` prior is not Gaussian.

    Gaussian means ``Normal`` (any batch shape of the accepted ones, also wrapped
    by ``.expand`` or ``.to_event``) for ``mu`` and ``phi``, or a
    ``MultivariateNormal`` of event shape ``(p,)`` for ``phi``.
    """
    S, p = num_series, order
    mu = _normal_base(priors["mu"])
    phi = priors["phi"]
    if type(mu) is not dist.Normal:
        return None
    mean = np.zeros((S, p + 1))
    precision = np.zeros((S, p + 1, p + 1))
    mean[:, 0] = np.broadcast_to(mu.loc.detach().numpy(), (S,))
    precision[:, 0, 0] = np.broadcast_to(mu.scale.detach().numpy(), (S,)) ** -2.0
    if isinstance(phi, dist.MultivariateNormal):
        mean[:, 1:] = np.broadcast_to(phi.loc.detach().numpy(), (S, p))
        precision[:, 1:, 1:] = np.broadcast_to(phi.precision_matrix.detach().numpy(), (S, p, p))
        return mean, precision
    base = _normal_base(phi)
    if type(base) is not dist.Normal:
        return None
    # the batch shapes accepted for phi: (), (p,), (S, p), (S, 1); an event (p,) comes from .to_event
    loc = np.broadcast_to(base.loc.detach().numpy(), np.broadcast_shapes(base.loc.shape, (S, p)))
    scale = np.broadcast_to(
        base.scale.detach().numpy(), np.broadcast_shapes(base.scale.shape, (S, p))
    )
    mean[:, 1:] = loc
    precision[:, np.arange(1, p + 1), np.arange(1, p + 1)] = scale**-2.0
    return mean, precision


def centred_prior(center: np.ndarray, mean: np.ndarray, precision: np.ndarray):
    """The Gaussian prior of ``(mu, phi)`` in the centred coordinates ``b = (m, phi)``:
    ``(precision (S, k, k), information (S, k))`` with information = precision @ mean.

    With ``beta = A b + a``, ``A = [[1, -c 1'], [0, I]]``, ``a = (c, 0, ..., 0)``:
    precision ``A' Pi_0 A`` and information ``A' Pi_0 (m_0 - a)``.
    """
    S, k = mean.shape
    A = np.broadcast_to(np.eye(k), (S, k, k)).copy()
    A[:, 0, 1:] = -center[:, None]
    a = np.zeros((S, k))
    a[:, 0] = center
    At = np.swapaxes(A, -1, -2)
    P0 = At @ precision @ A
    info0 = (At @ precision @ (mean - a)[..., None])[..., 0]
    return P0, info0


def recurse(
    mu: torch.Tensor, phi: torch.Tensor, u: torch.Tensor, init: torch.Tensor
) -> torch.Tensor:
    """Run the AR recursion forward from ``init``.

    With ``B`` the same leading batch shape for every argument: mu ``B + (S,)``,
    phi ``B + (S, p)``, u ``B + (steps, S)`` innovations, init ``B + (p, S)`` the
    last p values, oldest first. Returns y ``B + (steps, S)``. Simulation is
    sequential by nature; the loop is over new steps, vectorised over draws and series.
    """
    # lags[..., s, i] = y_{t-1-i}: newest first
    lags = init.flip(-2).transpose(-1, -2)
    out = []
    for t in range(u.shape[-2]):
        y_t = mu + (phi * lags).sum(-1) + u[..., t, :]
        out.append(y_t)
        lags = torch.cat([y_t.unsqueeze(-1), lags[..., :-1]], dim=-1)
    return torch.stack(out, dim=-2)


def stationary(phi: np.ndarray) -> np.ndarray:
    r"""Whether each coefficient vector ``phi`` ``(..., p)`` gives a stationary AR(p).

    Stationary means every root of ``1 - sum_i phi_i z^i`` lies outside the unit circle.
    Tested by the step-down (backward Levinson-Durbin) recursion: the process is
    stationary exactly when every partial autocorrelation :math:`\kappa_k = \phi^{(k)}_k`
    has :math:`|\kappa_k| < 1`, with
    :math:`\phi^{(k-1)}_i = (\phi^{(k)}_i + \kappa_k \phi^{(k)}_{k-i}) / (1 - \kappa_k^2)`;
    vectorised, ``O(p^2)`` a vector, no eigenvalues.
    """
    a = np.array(phi, dtype=np.float64, copy=True)
    ok = np.ones(a.shape[:-1], dtype=bool)
    for k in range(a.shape[-1], 0, -1):
        kappa = a[..., k - 1]
        ok &= np.abs(kappa) < 1.0
        if k > 1:
            denom = np.where(ok, 1.0 - kappa * kappa, 1.0)[..., None]
            a = (a[..., : k - 1] + kappa[..., None] * a[..., k - 2 :: -1]) / denom
    return ok
