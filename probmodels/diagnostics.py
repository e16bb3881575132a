r"""Posterior summaries and diagnostics in numpy: R-hat, ESS, HDI, PSIS.

One source for the numbers every fit reports (``fit.summary()``,
``fit.diagnostics``, the warnings of the fit layer), computed here in numpy
and scipy so that a summary costs milliseconds (``arviz.summary`` takes about
a hundred) and reads the same under ArviZ 0.23 and >= 1.0. The definitions
are those ArviZ uses, and the tests compare against it:

- **R-hat** (Vehtari, Gelman, Simpson, Carpenter and Bürkner 2021): the
  larger of the rank-normalised split-R-hat of the draws and of their distance
  to the median (the "folded" draws), over chains split in halves.
- **Bulk ESS**: the effective sample size of the rank-normalised split
  chains; **tail ESS**: the smaller ESS of the indicators
  :math:`1\{x \le q_{0.05}\}` and :math:`1\{x \le q_{0.95}\}`. Both estimate
  the autocorrelation by FFT and truncate its sum with Geyer's initial monotone
  sequence.
- **HDI**: the shortest interval holding ``floor(prob * n)`` of the sorted
  draws (ArviZ's default ``prob = 0.94``).
- **PSIS** (Vehtari, Simpson, Gelman, Yao and Gabry 2024): a generalized
  Pareto fit (Zhang and Stephens 2009, with the weakly informative prior on
  :math:`k` of the PSIS paper) to the largest ``min(0.2 n, 3 sqrt n)`` importance
  ratios; its shape :math:`\hat k` says whether the proposal is reliable
  (below 0.5 excellent, up to 0.7 usable, above 0.7 not).

Arrays of draws are ``(chain, draw)`` or ``(chain, draw, *shape)``; every
function here works per element of ``shape``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "HDI_PROB",
    "RHAT_THRESHOLD",
    "KHAT_THRESHOLD",
    "choose_best",
    "ess_bulk",
    "ess_tail",
    "hdi",
    "loo_pointwise",
    "psis_khat",
    "psis_log_weights",
    "psis_resample",
    "rhat",
    "summarize",
]

#: ArviZ's default probability mass of the highest density interval
HDI_PROB = 0.94
#: R-hat above this means the chains have not mixed (Vehtari et al. 2021)
RHAT_THRESHOLD = 1.01
#: PSIS k-hat above this means the importance ratios are unreliable
KHAT_THRESHOLD = 0.7


# ------------------------------------------------------------------ shapes


def _by_element(x: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(chain, draw, *shape)`` -> ``(m, chain, draw)`` with ``m = prod(shape)``, and ``shape``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(
            f"draws must have shape (chain, draw) or (chain, draw, ...), got shape {x.shape}; "
            f"add the chain axis, e.g. draws[None]."
        )
    shape = x.shape[2:]
    flat = x.reshape(x.shape[:2] + (-1,))
    return np.moveaxis(flat, -1, 0), shape


def _split_chains(x: np.ndarray) -> np.ndarray:
    """``(m, chain, draw)`` -> ``(m, 2 chain, draw // 2)``: each chain's first and last half."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., x.shape[-1] - half :]], axis=-2)


def _rank_normalize(x: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over all chains: ``Phi^-1((r - 3/8) / (n + 1/4))``, per element."""
    m = x.shape[0]
    flat = x.reshape(m, -1)
    ranks = stats.rankdata(flat, method="average", axis=-1)
    return special.ndtri((ranks - 0.375) / (flat.shape[-1] + 0.25)).reshape(x.shape)


# ------------------------------------------------------------------ R-hat


def _rhat_plain(x: np.ndarray) -> np.ndarray:
    """Potential scale reduction of ``(m, chain, draw)`` (Gelman et al., BDA3 eq. 11.4)."""
    n = x.shape[-1]
    within = x.var(axis=-1, ddof=1).mean(axis=-1)
    between = n * x.mean(axis=-1).var(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def rhat(draws: Any) -> np.ndarray | float:
    """Rank-normalised split R-hat (the larger of bulk and folded), per element.

    Parameters
    ----------
    draws : array_like
        ``(chain, draw)`` or ``(chain, draw, *shape)``, at least 4 draws per chain.

    Returns
    -------
    float or numpy.ndarray
        A float for ``(chain, draw)`` input, else an array of ``shape``; NaN
        where it is undefined (fewer than 4 draws, or constant draws).
    """
    x, shape = _by_element(draws)
    if x.shape[-1] < 4:
        out = np.full(x.shape[0], np.nan)
    else:
        bulk = _rhat_plain(_rank_normalize(_split_chains(x)))
        folded = np.abs(x - np.median(x.reshape(x.shape[0], -1), axis=-1)[:, None, None])
        tail = _rhat_plain(_rank_normalize(_split_chains(folded)))
        out = np.maximum(bulk, tail)
        out[_constant(x)] = np.nan
    return _shaped(out, shape)


def _constant(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    return (flat.max(-1) - flat.min(-1)) < np.finfo(np.float64).resolution


def _shaped(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | float:
    return float(values[0]) if shape == () else values.reshape(shape)


# ------------------------------------------------------------------ ESS


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Biased autocovariance along the last axis by FFT (zero padding to avoid wrap-around)."""
    n = x.shape[-1]
    centred = x - x.mean(axis=-1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(centred, n=size, axis=-1)
    return np.fft.irfft(f * np.conjugate(f), n=size, axis=-1)[..., :n] / n


def _ess_one(x: np.ndarray) -> float:
    """ESS of one ``(chain, draw)`` array (Vehtari et al. 2021, eqs. 10-11)."""
    chains, n = x.shape
    if n < 4 or not np.all(np.isfinite(x)):
        return float("nan")
    if x.max() - x.min() < np.finfo(np.float64).resolution:
        return float(x.size)
    acov = _autocovariance(x)  # (chain, n)
    within = acov[:, 0].mean() * n / (n - 1.0)  # mean within-chain variance
    var_plus = within * (n - 1.0) / n
    if chains > 1:
        var_plus += x.mean(axis=1).var(ddof=1)
    rho = 1.0 - (within - acov.mean(axis=0)) / var_plus  # combined autocorrelation
    # Geyer's initial positive sequence: the autocorrelations in pairs
    # (rho_0 + rho_1), (rho_2 + rho_3), ... while a pair's sum is positive
    kept = np.zeros(n)
    kept[0], kept[1] = 1.0, rho[1]
    even, odd = 1.0, rho[1]
    t = 1
    while t < n - 3 and even + odd > 0.0:
        even, odd = rho[t + 1], rho[t + 2]
        if even + odd >= 0.0:
            kept[t + 1], kept[t + 2] = even, odd
        t += 2
    last = t - 2
    if even > 0.0:
        kept[last + 1] = even
    # ... made monotone: no pair larger than the one before it
    t = 1
    while t <= last - 2:
        if kept[t + 1] + kept[t + 2] > kept[t - 1] + kept[t]:
            kept[t + 1] = kept[t + 2] = (kept[t - 1] + kept[t]) / 2.0
        t += 2
    tau = -1.0 + 2.0 * kept[: last + 1].sum() + kept[last + 1 : last + 2].sum()
    tau = max(tau, 1.0 / math.log10(x.size))
    return float(x.size / tau)


def ess_bulk(draws: Any) -> np.ndarray | float:
    """Bulk effective sample size (rank-normalised split chains), per element."""
    x, shape = _by_element(draws)
    z = _rank_normalize(_split_chains(x)) if x.shape[-1] >= 4 else x
    out = np.array([_ess_one(e) for e in z])
    out[_constant(x)] = x.shape[1] * x.shape[2]
    return _shaped(out, shape)


def ess_tail(draws: Any) -> np.ndarray | float:
    """Tail effective sample size: the smaller ESS of the 5% and 95% quantile indicators."""
    x, shape = _by_element(draws)
    flat = x.reshape(x.shape[0], -1)
    lo, hi = np.quantile(flat, [0.05, 0.95], axis=-1)
    out = np.empty(x.shape[0])
    for i, e in enumerate(x):
        out[i] = min(
            _ess_one(_split_chains((e <= lo[i])[None].astype(float))[0]),
            _ess_one(_split_chains((e <= hi[i])[None].astype(float))[0]),
        )
    out[_constant(x)] = x.shape[1] * x.shape[2]
    return _shaped(out, shape)


# ------------------------------------------------------------------ HDI


def hdi(draws: Any, prob: float = HDI_PROB) -> np.ndarray:
    """Highest density interval of each element over all chains and draws.

    Returns
    -------
    numpy.ndarray
        ``shape + (2,)``: lower and upper bound (``(2,)`` for ``(chain, draw)`` input).
    """
    x, shape = _by_element(draws)
    s = np.sort(x.reshape(x.shape[0], -1), axis=-1)  # (m, n)
    n = s.shape[-1]
    inside = int(math.floor(prob * n))
    if inside < 1 or inside >= n:
        return np.stack([s[:, 0], s[:, -1]], -1).reshape(shape + (2,))
    widths = s[:, inside:] - s[:, : n - inside]  # (m, n - inside)
    start = widths.argmin(axis=-1)
    rows = np.arange(s.shape[0])
    return np.stack([s[rows, start], s[rows, start + inside]], -1).reshape(shape + (2,))


# ------------------------------------------------------------------ summary table


def _labels(name: str, shape: tuple[int, ...], coords: Sequence[Sequence[Any]] | None) -> list[str]:
    """``name`` or ``name[i, j]`` for every element in C order, with coordinate labels."""
    if not shape:
        return [name]
    axes = [list(range(s)) for s in shape] if coords is None else [list(c) for c in coords]
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    flat = [g.reshape(-1) for g in grids]
    return [
        f"{name}[" + ", ".join(str(axes[a][idx[k]]) for a, idx in enumerate(flat)) + "]"
        for k in range(flat[0].size)
    ]


def summarize(
    draws: Mapping[str, Any],
    *,
    coords: Mapping[str, Sequence[Sequence[Any]]] | None = None,
    hdi_prob: float = HDI_PROB,
    chains_diagnostics: bool = True,
) -> pd.DataFrame:
    """One row per scalar parameter: mean, sd, HDI bounds, bulk and tail ESS, R-hat.

    Parameters
    ----------
    draws : mapping of str to array_like
        ``(chain, draw, *shape)`` per variable.
    coords : mapping of str to sequence of sequences, optional
        For a variable, the labels of each axis of ``shape`` (e.g. the lags
        ``[[1, 2, 3]]`` for ``phi``); rows are named as ``arviz.summary`` names
        them, ``phi[1]``, ``mu[0, eruptions]``. Positions by default.
    hdi_prob : float
        Mass of the HDI; the columns are ``hdi_3%`` and ``hdi_97%`` for 0.94.
    chains_diagnostics : bool
        ``r_hat`` is computed when True and there are at least two chains (it
        says nothing about one chain of independent draws); NaN otherwise.

    Returns
    -------
    pandas.DataFrame
        Index ``parameter``; columns ``mean``, ``sd``, ``hdi_<a>%``, ``hdi_<b>%``,
        ``ess_bulk``, ``ess_tail``, ``r_hat``.
    """
    lo_name = f"hdi_{100 * (1 - hdi_prob) / 2:g}%"
    hi_name = f"hdi_{100 * (1 + hdi_prob) / 2:g}%"
    frames = []
    for name, value in draws.items():
        x = np.asarray(value, dtype=np.float64)
        shape = x.shape[2:]
        flat = x.reshape(x.shape[0] * x.shape[1], -1)
        bounds = hdi(x, hdi_prob).reshape(-1, 2)
        r = (
            np.asarray(rhat(x), dtype=float).reshape(-1)
            if chains_diagnostics and x.shape[0] > 1
            else np.full(flat.shape[1], np.nan)
        )
        frames.append(
            pd.DataFrame(
                {
                    "mean": flat.mean(0),
                    "sd": flat.std(0, ddof=1) if flat.shape[0] > 1 else np.nan,
                    lo_name: bounds[:, 0],
                    hi_name: bounds[:, 1],
                    "ess_bulk": np.asarray(ess_bulk(x), dtype=float).reshape(-1),
                    "ess_tail": np.asarray(ess_tail(x), dtype=float).reshape(-1),
                    "r_hat": r,
                },
                index=_labels(name, shape, None if coords is None else coords.get(name)),
            )
        )
    table = (
        pd.concat(frames)
        if frames
        else pd.DataFrame(columns=["mean", "sd", lo_name, hi_name, "ess_bulk", "ess_tail", "r_hat"])
    )
    table.index.name = "parameter"
    return table


# ------------------------------------------------------------------ PSIS


def _gpd_fit(excess: np.ndarray) -> tuple[float, float]:
    """Generalized Pareto fit ``(k, sigma)`` of positive exceedances (Zhang and Stephens
    2009; the posterior-mean profile over a grid of ``b = k / sigma``), with the PSIS
    paper's prior pulling ``k`` towards 0.5 by ``10`` pseudo-observations."""
    x = np.sort(np.asarray(excess, dtype=np.float64))
    n = x.size
    if not x[int(n / 4 - 0.5)] > 0.0:
        # a quarter of the exceedances are 0 (weights tied with the cutoff, as in resampled
        # draws): the grid below is undefined; (nan, nan) leaves the tail unsmoothed
        return math.nan, math.nan
    m = 30 + int(math.sqrt(n))
    b = 1.0 - math.sqrt(m) / np.sqrt(np.arange(1, m + 1) - 0.5)
    b = b / (3.0 * x[int(n / 4 - 0.5)]) + 1.0 / x[-1]
    k = np.log1p(-b[:, None] * x[None, :]).mean(-1)
    profile = n * (np.log(-b / k) - k - 1.0)
    weights = 1.0 / np.exp(profile[None, :] - profile[:, None]).sum(-1)
    keep = weights > 1e-30
    weights = weights[keep] / weights[keep].sum()
    b_hat = float((b[keep] * weights).sum())
    k_hat = float(np.log1p(-b_hat * x).mean())
    sigma = -k_hat / b_hat
    return k_hat * n / (n + 10.0) + 5.0 / (n + 10.0), sigma


def _tail_size(n: int) -> int:
    return int(math.ceil(min(0.2 * n, 3.0 * math.sqrt(n))))


def psis_khat(log_weights: Any) -> float:
    """PSIS k-hat of a set of log importance weights.

    The generalized Pareto shape of the largest ``min(0.2 n, 3 sqrt n)``
    weights (those above ``1e-15`` of the largest). ``-inf`` when all weights
    are equal (an exact proposal), ``inf`` when fewer than 10 weights are in
    the tail. Equals the k of ``arviz.psislw`` (tested).
    """
    lw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    if lw.max() - lw.min() < 1e-12:
        return float("-inf")
    lw = np.sort(lw - lw.max())
    cutoff = max(math.log(1e-15), float(lw[-_tail_size(lw.size) - 1]))
    tail = lw[lw > cutoff]
    if tail.size < 10:
        return float("inf")
    return _gpd_fit(np.exp(tail) - math.exp(cutoff))[0]


def psis_log_weights(log_weights: Any) -> tuple[np.ndarray, float]:
    """Pareto-smoothed log weights (normalised to sum to one) and their k-hat.

    The largest ``M = min(0.2 n, 3 sqrt n)`` weights are replaced by the
    expected order statistics of the fitted generalized Pareto distribution,
    capped at the largest raw weight (Vehtari et al. 2024, section 3).
    """
    lw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    lw = lw - lw.max()
    n = lw.size
    khat = psis_khat(lw)
    M = _tail_size(n)
    if math.isfinite(khat) and M < n:
        order = np.argsort(lw)
        tail = order[-M:]
        cutoff = lw[order[-M - 1]]
        k, sigma = _gpd_fit(np.exp(lw[tail]) - math.exp(cutoff))
        if math.isfinite(k) and sigma > 0:
            p = (np.arange(1, M + 1) - 0.5) / M
            q = sigma / k * ((1.0 - p) ** (-k) - 1.0) if abs(k) > 1e-8 else -sigma * np.log1p(-p)
            lw = lw.copy()
            lw[tail] = np.minimum(np.log(q + math.exp(cutoff)), 0.0)
    lw = lw - special.logsumexp(lw)
    return lw, khat


def psis_resample(log_weights: Any, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` indices drawn by systematic resampling with Pareto-smoothed weights,
    in random order (so any prefix is itself a resample)."""
    lw, _ = psis_log_weights(log_weights)
    cdf = np.cumsum(np.exp(lw))
    positions = (rng.random() + np.arange(size)) / size
    idx = np.minimum(np.searchsorted(cdf, positions), lw.size - 1)
    return rng.permutation(idx)


# ------------------------------------------------------------------ model choice


def loo_pointwise(log_lik: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""PSIS-LOO of each observation: ``(elpd_i, pareto_k_i)``, each ``(n,)``.

    ``log_lik`` is ``(draws, n)`` (chains flattened). ``elpd_i`` is
    :math:`\log \sum_s w_{is} p(y_i \mid \theta_s)` with the Pareto-smoothed weights
    :math:`w_{is} \propto 1 / p(y_i \mid \theta_s)` (Vehtari, Gelman and Gabry 2017),
    as ``arviz.loo(pointwise=True)`` computes it.
    """
    ll = np.asarray(log_lik, dtype=np.float64)
    elpd = np.empty(ll.shape[1])
    k = np.empty(ll.shape[1])
    for i in range(ll.shape[1]):
        lw, k[i] = psis_log_weights(-ll[:, i])
        elpd[i] = special.logsumexp(lw + ll[:, i])
    return elpd, k


def choose_best(
    pointwise: Mapping[str, np.ndarray],
    complexity: Mapping[str, float],
    reliable: Mapping[str, bool],
) -> tuple[str, str]:
    """The model to pick from a LOO comparison, and why (one sentence).

    The rule: among the models whose LOO and fit are reliable (``reliable``:
    no Pareto k of the LOO and no PSIS k-hat of the fit above 0.7), take the one
    with the highest ``elpd_loo``; then pick the **simplest** model (lowest
    ``complexity``) whose ``elpd_loo`` is within one standard error of the
    difference of that top model's (the "one-standard-error rule": a more
    complex model must beat a simpler one by more than the noise of the
    comparison). When no model is reliable, the rule runs on all of them and
    the reason says so.

    Parameters
    ----------
    pointwise : mapping of name to array (n,)
        Each model's pointwise ``elpd_loo`` on the same observations.
    complexity : mapping of name to number
        E.g. the number of components or the order.
    reliable : mapping of name to bool
    """
    names = list(pointwise)
    candidates = [m for m in names if reliable.get(m, True)]
    note = ""
    if not candidates:
        candidates, note = (
            names,
            " (no model had a reliable LOO: every one has a Pareto k or k-hat above 0.7)",
        )
    elpd = {m: float(np.sum(pointwise[m])) for m in candidates}
    top = max(candidates, key=lambda m: elpd[m])
    n = len(pointwise[top])

    def dse(m: str) -> float:
        return float(math.sqrt(n * np.var(np.asarray(pointwise[top]) - np.asarray(pointwise[m]))))

    within = [m for m in candidates if elpd[top] - elpd[m] <= dse(m)]
    best = min(within, key=lambda m: (complexity[m], -elpd[m]))
    if best == top:
        why = f"{best} has the highest elpd_loo"
    else:
        why = (
            f"{best} is the simplest model within one standard error of the best elpd_loo "
            f"({top}: {elpd[top] - elpd[best]:.1f} higher, dse {dse(best):.1f})"
        )
    excluded = [m for m in names if m not in candidates]
    if excluded:
        why += f"; left out as unreliable (Pareto k or k-hat above 0.7): {', '.join(excluded)}"
    return best, why + note
