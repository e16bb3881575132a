"""Gaussian mixture plots: the density of a feature and the clusters with their ellipses."""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import torch

from probmodels._validation import check_int
from probmodels.plots.common import axes

__all__ = ["plot_mixture_density", "plot_mixture_scatter"]


def plot_mixture_density(fit, *, ax=None, feature: int | str = 0, bins: int = 40,
                         grid_size: int = 400):
    """Histogram of one feature with the posterior mean mixture density, a 90% band and
    each component's weighted density ``pi_k N(x | mu_k, sigma_k^2)``; returns the Axes.

    In ``D > 1`` dimensions the feature's marginal is shown (a mixture of the
    components' marginals).
    """
    ax = axes(ax)
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
    grid = torch.linspace(lo - pad, hi + pad, grid_size, dtype=torch.float64)
    flat = fit._flat()
    from probmodels.models.gmm.sites import align

    a = align(flat, fit.layout, plated=False)
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


def plot_mixture_scatter(fit, *, ax=None, features: tuple[int, int] = (0, 1)):
    """Scatter of two features coloured by the posterior responsibilities (each point's
    colour mixes the component colours with weights ``p(z = k | x)``), with each
    component's posterior mean covariance as 1- and 2-sd ellipses; returns the Axes."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Ellipse

    ax = axes(ax)
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
