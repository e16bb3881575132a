r"""The default method of the Bayesian AR(p): exact posterior draws, series by series.

For a batch of series (the columns of one fit, or a chunk of ``fit_many``), each
with its own length and seed:

- **complete series** get independent exact draws (:mod:`.exact`), vectorised
  over the batch;
- **series with missing values** are sampled by data augmentation
  (:mod:`.gibbs`): the exact draw of the parameters given the completed series,
  then the missing values given the parameters;
- **priors of mu or phi that are not Gaussian** (Laplace, StudentT, ...) are
  replaced by a Gaussian surrogate with the prior's median and 1.5 robust sds
  (the interquartile range / 1.349, finite for heavy tails); twice the draws are
  made under it and Pareto-smoothed importance resampled to the actual prior
  (weights ``p(mu, phi) / q(mu, phi)``), with the k-hat of each series reported.

Every series draws from its own generator, seeded with ``seed_stream(seed,
"series", label)``, so its draws do not depend on which other series share the
batch: a column fitted alone, in a DataFrame, or in any chunk of ``fit_many``
(on any number of workers) gets the same draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from scipy import special

from probmodels import _priors
from probmodels.diagnostics import ess_bulk, psis_log_weights, psis_resample, rhat
from probmodels.infer.runtime import seed_stream
from probmodels.models.ar import exact, gibbs
from probmodels.models.ar.design import DTYPE, gaussian_prior

__all__ = ["SeriesDraws", "draws_for_series", "series_rngs"]

#: the surrogate prior of a non-Gaussian mu/phi prior is this many robust sds wide
SURROGATE_WIDTH = 1.5
#: Gibbs iterations discarded before the kept draws
GIBBS_WARMUP = 300


@dataclass
class SeriesDraws:
    """The posterior draws of one series: ``beta`` ``(N, k)`` = ``(mu, phi)``, ``sigma``
    ``(N,)``, the imputed ``missing`` values ``(N, m)`` at times ``positions`` ``(m,)``
    and the series' diagnostics (``khat`` where importance-corrected; ``ess`` and
    ``rhat`` for Gibbs chains)."""

    beta: np.ndarray
    sigma: np.ndarray
    missing: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    diagnostics: dict[str, Any] = field(default_factory=dict)


def series_rngs(seed: int, labels: Sequence[Any]) -> list[np.random.Generator]:
    """One generator per series, keyed by its label."""
    # keyed by the label as text: a DataFrame column 17 and a Series named 17 draw alike
    return [np.random.default_rng(seed_stream(seed, "series", str(label))) for label in labels]


def _surrogate(prior, shape: tuple[int, ...], seed: int) -> dist.Normal:
    """A Normal with the prior's median and 1.5 robust sds, batch ``shape`` (module docstring).
    The prior is sampled with its own batch shape (so a shared prior gives every series the
    same surrogate, whichever series share the batch), from a fixed seed. A Normal prior
    (the default of mu, scaled to each series) is its own surrogate: the importance
    weights then carry only the non-Gaussian sites."""
    if isinstance(prior, dist.Normal):
        return dist.Normal(prior.loc.expand(shape), prior.scale.expand(shape))
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        x = prior.sample((20_000,))
    finally:
        torch.random.set_rng_state(state)
    q = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=DTYPE), dim=0)
    scale = ((q[2] - q[0]) / 1.349).clamp_min(1e-12) * SURROGATE_WIDTH
    return dist.Normal(q[1].expand(shape), scale.expand(shape))


def _centred_stats(y: np.ndarray, order: int, hold_back: int):
    return gibbs._stats(y, order, hold_back)


def draws_for_series(
    series: Sequence[np.ndarray],
    labels: Sequence[Any],
    priors: Mapping[str, Any],
    order: int,
    hold_back: int,
    num: int,
    seed: int,
    *,
    correct: bool = True,
) -> list[SeriesDraws]:
    """Posterior draws of each series (see the module docstring).

    Parameters
    ----------
    series : sequence of (T_s,) arrays, NaN at missing values
    labels : the series' labels (they key the random streams)
    priors : the resolved priors, batch shape () or (S,) (S = len(series))
    correct : bool
        ``False``: draws under the Gaussian surrogate without the importance correction.
    """
    S, p, k = len(series), order, order + 1
    gauss = gaussian_prior(priors, S, p)
    surrogates = None
    if gauss is None:
        surrogates = {
            "mu": _surrogate(priors["mu"], (S,), 17),
            "phi": _surrogate(priors["phi"], (S, p), 18),
        }
        mean = np.concatenate(
            [surrogates["mu"].loc.numpy()[:, None], surrogates["phi"].loc.numpy()], 1
        )
        sd = np.concatenate(
            [surrogates["mu"].scale.numpy()[:, None], surrogates["phi"].scale.numpy()], 1
        )
        gauss = (mean, np.einsum("si,ij->sij", sd**-2.0, np.eye(k)))
    with pyro.validation_enabled(False):
        # rebuilt without argument validation: grid points outside a bounded support
        # (Uniform(0, b)) get -inf instead of an error
        sigma_prior = _priors.to_dtype(priors["sigma"], DTYPE).expand((S,))

    def log_prior_sigma(sigma: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``log p(sigma)`` of the series ``rows`` on their grids ``sigma`` ``(len(rows), G)``."""
        grid = np.ones((sigma.shape[1], S))  # (G, S); 1: a dummy
        grid[:, rows] = sigma.T
        s = torch.as_tensor(grid)
        with pyro.validation_enabled(False):
            lp = sigma_prior.log_prob(s)
        lp = torch.where(sigma_prior.support.check(s), lp, torch.full_like(lp, -np.inf))
        return lp.numpy()[:, rows].T

    rngs = series_rngs(seed, labels)
    proposals = num if surrogates is None or not correct else 2 * num
    results: list[SeriesDraws | None] = [None] * S
    complete = [s for s in range(S) if not np.isnan(series[s]).any()]
    if complete:
        stats = [_centred_stats(series[s], order, hold_back) for s in complete]
        ZtZ, Zty = np.stack([a[0] for a in stats]), np.stack([a[1] for a in stats])
        yy, n, c = (np.array([a[i] for a in stats], dtype=float) for i in (2, 3, 4))
        rows = np.asarray(complete)
        conj = exact.conjugate(ZtZ, Zty, yy, n, c, gauss[0][rows], gauss[1][rows])
        beta_ols = np.linalg.solve(
            ZtZ + 1e-9 * np.eye(k) * np.diagonal(ZtZ, axis1=1, axis2=2)[:, None, :], Zty[..., None]
        )[..., 0]
        rss = np.clip(
            yy - np.einsum("si,si->s", beta_ols, Zty), 1e-300 * np.maximum(yy, 1e-300), None
        )
        sigma_hat = np.sqrt(rss / np.maximum(n - k, 1))
        sub = [rngs[s] for s in complete]
        sigma = exact.sample_sigma(
            lambda sg: log_prior_sigma(sg, rows) + exact.log_marginal(conj, sg),
            sigma_hat,
            sub,
            proposals,
        )  # (S_c, M)
        eps = np.stack([g.standard_normal((proposals, k)) for g in sub])
        beta = exact.draw_beta(conj, sigma, eps)  # (S_c, M, k)
        for i, s in enumerate(complete):
            results[s] = SeriesDraws(beta[i], sigma[i])
    for s in range(S):
        if results[s] is not None:
            continue
        rows = np.array([s])
        out = gibbs.gibbs(
            series[s],
            order,
            hold_back,
            gauss[0][s],
            gauss[1][s],
            partial(log_prior_sigma, rows=rows),
            rngs[s],
            num_samples=proposals,
            warmup=GIBBS_WARMUP,
        )
        chain = np.concatenate([out["beta"], out["sigma"][:, None]], 1)[None]  # (1, M, k + 1)
        results[s] = SeriesDraws(
            out["beta"],
            out["sigma"],
            out["missing"],
            out["positions"],
            {
                "gibbs": True,
                "ess": float(np.min(ess_bulk(chain))),
                "rhat": float(np.max(rhat(chain))),
            },
        )
    if surrogates is not None and correct:
        _importance_correct(results, priors, surrogates, rngs, num, p)  # type: ignore[arg-type]
    return results  # type: ignore[return-value]


def _importance_correct(
    results: list[SeriesDraws], priors, surrogates, rngs, num: int, p: int
) -> None:
    """Resample each series' 2 num proposals to num draws with PSIS weights p / q."""
    S = len(results)
    mu_d = priors["mu"].expand((S,))
    phi_d = (
        priors["phi"].expand((S, p)).to_event(1)
        if priors["phi"].event_shape == ()
        else priors["phi"].expand((S,))
    )
    mu_v = torch.as_tensor(np.stack([r.beta[:, 0] for r in results], 1))  # (M, S)
    phi_v = torch.as_tensor(np.stack([r.beta[:, 1:] for r in results], 1))  # (M, S, p)
    with pyro.validation_enabled(False):
        log_w = (
            mu_d.log_prob(mu_v)
            + phi_d.log_prob(phi_v)
            - surrogates["mu"].log_prob(mu_v)
            - surrogates["phi"].log_prob(phi_v).sum(-1)
        ).numpy()  # (M, S)
    for s, r in enumerate(results):
        pick = psis_resample(log_w[:, s], rngs[s], num)
        smoothed, khat = psis_log_weights(log_w[:, s])
        # the effective size of the weighted proposals (Kish), at most 2 num
        r.diagnostics.update(
            khat=khat, is_ess=float(1.0 / np.exp(special.logsumexp(2.0 * smoothed)))
        )
        r.beta, r.sigma = r.beta[pick], r.sigma[pick]
        if r.missing.size:
            r.missing = r.missing[pick]
