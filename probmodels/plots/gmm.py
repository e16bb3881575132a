r"""Gaussian mixture plots: the density of a feature, the clusters with their covariance
ellipses, the responsibility map and the comparison of the number of components.

Every plot colours component ``k`` with ``component_colors(K)[k]``, so a component
keeps its colour from one figure to the next. The ellipses of component ``k`` are
those of its posterior mean covariance :math:`\Sigma_k` restricted to the two
features drawn: with :math:`\Sigma_k = V \operatorname{diag}(\lambda) V^\top`
(``numpy.linalg.eigh``, :math:`\lambda_1 \le \lambda_2`), the ``n``-sd ellipse
has semi-axes :math:`n \sqrt{\lambda_2}` along :math:`v_2` and
:math:`n \sqrt{\lambda_1}` along :math:`v_1`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyro.distributions as dist
import torch

from probmodels._validation import check_int
from probmodels.plots.common import axes, plot_loo_comparison

__all__ = [
    "component_colors",
    "plot_component_comparison",
    "plot_covariance_ellipses",
    "plot_mixture_density",
    "plot_mixture_scatter",
    "plot_responsibility_map",
]


def component_colors(n_components: int) -> np.ndarray:
    """The colour of each mixture component, the same in every plot.

    Parameters
    ----------
    n_components : int
        ``K``.

    Returns
    -------
    numpy.ndarray
        ``(K, 3)`` RGB in ``[0, 1]``: matplotlib's ``tab10`` for ``K <= 10``,
        ``tab20`` up to 20, evenly spaced hues of ``hsv`` beyond.
    """
    from matplotlib import colormaps

    K = check_int(n_components, "n_components", minimum=1)
    if K <= 10:
        rgba = colormaps["tab10"](np.arange(K))
    elif K <= 20:
        rgba = colormaps["tab20"](np.arange(K))
    else:
        rgba = colormaps["hsv"](np.arange(K) / K)
    return np.asarray(rgba)[:, :3]


def _feature_position(fit, feature) -> int:
    """A column label (also an integer label, like ``df[label]``) or a position."""
    names = list(fit.feature_names)
    if not isinstance(feature, (bool, np.bool_)) and feature in names:
        return names.index(feature)
    if isinstance(feature, str):
        raise ValueError(
            f"feature must be one of the feature names {names} or a position "
            f"0..{len(names) - 1}, got {feature!r}."
        )
    j = check_int(feature, "feature", minimum=0)
    if j >= len(names):
        raise ValueError(f"feature must be < {len(names)} (features {names}), got {feature!r}.")
    return j


def _feature_pair(fit, features, what: str) -> tuple[int, int]:
    D = fit.data.shape[1]
    if D < 2:
        raise ValueError(
            f"{what} needs data with 2 or more features, got {D}; "
            "use plot_mixture_density for one feature."
        )
    if len(features) != 2:
        raise ValueError(f"features must name two features, got {features!r}.")
    i, j = (_feature_position(fit, f) for f in features)
    if i == j:
        raise ValueError(f"features must be two different features below {D}, got {features}.")
    return i, j


def plot_mixture_density(
    fit, *, ax=None, feature: int | str = 0, bins: int = 40, grid_size: int = 400
):
    """Histogram of one feature with the posterior mean mixture density, its 90% band and
    each component's weighted density ``pi_k N(x | mu_k, sigma_k^2)``.

    In ``D > 1`` dimensions the feature's marginal is shown (a mixture of the
    components' marginals).

    Parameters
    ----------
    fit : GMMFit
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    feature : int or str, default 0
        A feature name or position.
    bins : int, default 40
        Histogram bins.
    grid_size : int, default 400
        Points of the density curves.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` is the mixture density, ``ax.lines[1 + k]`` component ``k``
        (in ``component_colors(K)[k]``).
    """
    ax = axes(ax)
    names = list(fit.feature_names)
    j = _feature_position(fit, feature)
    x = fit.data[:, j]
    lo, hi = x.min(), x.max()
    pad = 0.1 * (hi - lo + 1e-12)
    grid = torch.linspace(lo - pad, hi + pad, grid_size, dtype=torch.float64)
    flat = fit._flat()
    from probmodels.models.gmm.sites import align

    a = align(flat, fit.layout, plated=False)
    loc, scale = a.loc[:, 0, :, j], a.scale[:, 0, :, j]  # (S, K)
    comp = a.log_pi[:, 0].unsqueeze(1) + dist.Normal(loc.unsqueeze(1), scale.unsqueeze(1)).log_prob(
        grid[None, :, None]
    )  # (S, G, K)
    dens = torch.logsumexp(comp, -1).exp().numpy()  # (S, G)
    g = grid.numpy()
    colors = component_colors(fit.n_components)
    ax.hist(x, bins=bins, density=True, color="0.85", edgecolor="white", label="data")
    lo_b, hi_b = np.quantile(dens, [0.05, 0.95], axis=0)
    ax.fill_between(g, lo_b, hi_b, color="k", alpha=0.15, lw=0, label="90% band")
    ax.plot(g, dens.mean(0), color="k", lw=2, label="posterior mean density")
    for k in range(fit.n_components):
        ax.plot(
            g,
            comp[..., k].exp().mean(0).numpy(),
            color=colors[k],
            ls="--",
            lw=1.5,
            label=f"component {k}",
        )
    ax.set_xlabel(str(names[j]))
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_covariance_ellipses(
    fit,
    *,
    features: tuple[int | str, int | str] = (0, 1),
    n_std: Sequence[float] = (1.0, 2.0),
    ax=None,
):
    """Each component's posterior mean covariance as ellipses of ``n_std`` standard
    deviations around its posterior mean, in the component's colour.

    Parameters
    ----------
    fit : GMMFit
        A mixture of 2 or more features.
    features : tuple of two int or str, default (0, 1)
        The features on the x and y axes.
    n_std : sequence of float, default (1.0, 2.0)
        Ellipse sizes, in standard deviations along each principal axis.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.patches`` holds ``len(n_std)`` ellipses per component, component by
        component: ``width = 2 n sqrt(lambda_max)``, ``height = 2 n sqrt(lambda_min)``,
        ``angle`` the direction of the largest eigenvector in degrees.
    """
    from matplotlib.patches import Ellipse

    i, j = _feature_pair(fit, features, "plot_covariance_ellipses")
    sizes = [float(v) for v in np.atleast_1d(n_std)]
    if not sizes or any(not (v > 0 and math.isfinite(v)) for v in sizes):
        raise ValueError(f"n_std must be positive numbers of standard deviations, got {n_std!r}.")
    ax = axes(ax, figsize=(6.0, 5.0))
    colors = component_colors(fit.n_components)
    means = fit.posterior_means()
    mu = np.asarray(means["mu"]).reshape(fit.n_components, -1)
    for k in range(fit.n_components):
        cov = means["cov"][k][np.ix_([i, j], [i, j])]
        evals, evecs = np.linalg.eigh(cov)  # ascending
        angle = math.degrees(math.atan2(evecs[1, -1], evecs[0, -1]))
        for m, n in enumerate(sizes):
            ax.add_patch(
                Ellipse(
                    (mu[k, i], mu[k, j]),
                    2 * n * math.sqrt(evals[-1]),
                    2 * n * math.sqrt(evals[0]),
                    angle=angle,
                    fill=False,
                    edgecolor=colors[k],
                    lw=1.5 if m == 0 else 0.8,
                )
            )
    ax.autoscale_view()
    return ax


def _means_markers(fit, ax, i: int, j: int) -> None:
    """Each component's posterior mean as a cross in its colour, labelled for the legend."""
    colors = component_colors(fit.n_components)
    mu = np.asarray(fit.posterior_means()["mu"]).reshape(fit.n_components, -1)
    for k in range(fit.n_components):
        ax.plot(mu[k, i], mu[k, j], "x", color=colors[k], ms=9, mew=2, label=f"component {k}")


def plot_mixture_scatter(fit, *, ax=None, features: tuple[int | str, int | str] = (0, 1)):
    """Scatter of two features coloured by the posterior responsibilities (each point's
    colour mixes the component colours with weights ``p(z = k | x)``), with each
    component's 1- and 2-sd covariance ellipses (:func:`plot_covariance_ellipses`).

    Parameters
    ----------
    fit : GMMFit
        A mixture of 2 or more features.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    features : tuple of two int or str, default (0, 1)
        The features on the x and y axes.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.collections[0]`` holds the points (facecolors ``predict_proba() @
        component_colors(K)``), ``ax.patches`` the ellipses and ``ax.lines[k]`` the
        mean of component ``k``.
    """
    i, j = _feature_pair(fit, features, "plot_mixture_scatter")
    ax = axes(ax, figsize=(6.0, 5.0))
    resp = fit.predict_proba()  # (N, K)
    colors = component_colors(fit.n_components)
    ax.scatter(
        fit.data[:, i], fit.data[:, j], c=np.clip(resp @ colors, 0, 1), s=14, edgecolors="none"
    )
    plot_covariance_ellipses(fit, features=(i, j), ax=ax)
    _means_markers(fit, ax, i, j)
    ax.set_xlabel(str(fit.feature_names[i]))
    ax.set_ylabel(str(fit.feature_names[j]))
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_responsibility_map(
    fit, *, features: tuple[int | str, int | str] = (0, 1), grid_size: int = 100, ax=None
):
    """The posterior responsibilities ``p(z = k | x)`` (:meth:`GMMFit.predict_proba`) over a
    grid covering the data.

    Two or more features: an image over a ``grid_size x grid_size`` grid of the two
    features (the others held at their data mean), each cell coloured by the
    responsibilities' mix of the component colours, ``predict_proba(cell) @
    component_colors(K)``, with the data and the component means on top. One
    feature: the responsibilities stacked over ``grid_size`` points.

    Parameters
    ----------
    fit : GMMFit
    features : tuple of two int or str, default (0, 1)
        The features on the x and y axes (ignored for one feature).
    grid_size : int, default 100
        Grid points per feature (the grid spans the data's range plus 5% on each side).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Two or more features: ``ax.images[0]`` holds the ``(grid_size, grid_size, 3)``
        colours, origin at the lower left, its pixel centres the grid points
        (``extent`` half a cell beyond them); one feature: ``ax.collections[k]`` is
        component ``k``'s band.
    """
    G = check_int(grid_size, "grid_size", minimum=2)
    colors = component_colors(fit.n_components)
    data = fit.data
    if data.shape[1] == 1:
        ax = axes(ax)
        x = data[:, 0]
        pad = 0.05 * (x.max() - x.min() + 1e-12)
        g = np.linspace(x.min() - pad, x.max() + pad, G)
        resp = fit.predict_proba(g[:, None])  # (G, K)
        ax.stackplot(
            g, resp.T, colors=colors, labels=[f"component {k}" for k in range(fit.n_components)]
        )
        ax.plot(x, np.full_like(x, -0.02), "|", color="k", ms=6, label="data")
        ax.set_ylim(-0.05, 1.0)
        ax.set_xlabel(str(fit.feature_names[0]))
        ax.set_ylabel("p(z = k | x)")
        ax.legend(frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
        return ax
    i, j = _feature_pair(fit, features, "plot_responsibility_map")
    ax = axes(ax, figsize=(6.0, 5.0))
    lo, hi = data[:, [i, j]].min(0), data[:, [i, j]].max(0)
    pad = 0.05 * (hi - lo + 1e-12)
    gx, gy = (np.linspace(lo[d] - pad[d], hi[d] + pad[d], G) for d in (0, 1))
    X, Y = np.meshgrid(gx, gy)  # (G, G): row = y
    cells = np.tile(data.mean(0), (G * G, 1))
    cells[:, i], cells[:, j] = X.ravel(), Y.ravel()
    resp = fit.predict_proba(cells)  # (G * G, K)
    image = np.clip(resp @ colors, 0, 1).reshape(G, G, 3)
    dx, dy = gx[1] - gx[0], gy[1] - gy[0]
    ax.imshow(
        image,
        origin="lower",
        interpolation="nearest",
        aspect="auto",
        alpha=0.85,
        extent=(gx[0] - dx / 2, gx[-1] + dx / 2, gy[0] - dy / 2, gy[-1] + dy / 2),
    )
    ax.scatter(data[:, i], data[:, j], s=4, color="k", alpha=0.5, edgecolors="none")
    _means_markers(fit, ax, i, j)
    ax.set_xlabel(str(fit.feature_names[i]))
    ax.set_ylabel(str(fit.feature_names[j]))
    ax.set_title("responsibilities p(z = k | x)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_component_comparison(comparison, *, ax=None):
    """PSIS-LOO ``elpd_loo`` (± 1 se) of each number of components, the chosen ``K`` starred.

    Parameters
    ----------
    comparison : ComponentComparison
        From :func:`~probmodels.models.gmm.compare.compare_components`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[1]`` marks ``comparison.best`` (labelled ``"best: K=k"``); the
        title names the ``K`` of lowest BIC.
    """
    ks = {f"K={k}": k for k in comparison.fits}
    ax = plot_loo_comparison(
        comparison.table, ks, f"K={comparison.best}", xlabel="components K", ax=ax
    )
    ax.set_title(f"PSIS-LOO by number of components (lowest BIC: K={comparison.best_bic})")
    return ax
