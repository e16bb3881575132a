"""Plots shared by the models (matplotlib). Every function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "axes",
    "plot_forecast",
    "plot_image_grid",
    "plot_latent_scatter",
    "plot_loss",
    "plot_posterior_intervals",
]


def axes(ax, figsize: tuple[float, float] = (8.0, 4.0)):
    """``ax``, or the Axes of a new pyplot figure of ``figsize`` when ``ax`` is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _x(index: pd.Index):
    """Plottable x values: periods become timestamps, everything else as is."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    return index


def plot_forecast(history: pd.Series, forecast: pd.DataFrame, *, lower: str, upper: str,
                  mean: str = "mean", ax=None, title: str | None = None):
    """History as a line, the forecast mean dashed and a shaded ``[lower, upper]`` band.

    Parameters
    ----------
    history : pandas.Series
        Observed values indexed by time.
    forecast : pandas.DataFrame
        Indexed by the future time labels, with columns ``mean``, ``lower``, ``upper``.
    """
    ax = axes(ax)
    ax.plot(_x(history.index), history.to_numpy(), color="k", lw=1.0, label="observed")
    fx = _x(forecast.index)
    ax.plot(fx, forecast[mean].to_numpy(), color="C0", ls="--", lw=1.5, label="forecast mean")
    ax.fill_between(fx, forecast[lower].to_numpy(), forecast[upper].to_numpy(), color="C0",
                    alpha=0.25, label=f"{lower}-{upper}")
    ax.set_ylabel(str(history.name) if history.name is not None else "value")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", frameon=False)
    return ax


def plot_loss(losses: np.ndarray, *, ax=None, window: int = 50):
    """SVI loss per step with a running mean over ``window`` steps."""
    ax = axes(ax)
    losses = np.asarray(losses, dtype=float)
    ax.plot(losses, color="0.7", lw=0.5, label="loss")
    if losses.size >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, losses.size), smooth, color="C0", label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("negative ELBO (nats)")
    ax.legend(frameon=False)
    return ax


def plot_posterior_intervals(draws: dict[str, np.ndarray], *, ax=None,
                             interval: tuple[float, float] = (0.05, 0.95)):
    """Posterior median and interval of each scalar, one row per parameter entry.

    ``draws`` maps a label to a 1-D array of draws.
    """
    ax = axes(ax)
    labels = list(draws)
    lo, hi = interval
    for i, label in enumerate(labels):
        d = np.asarray(draws[label]).ravel()
        q = np.quantile(d, [lo, 0.5, hi])
        ax.plot([q[0], q[2]], [i, i], color="C0", lw=2)
        ax.plot(q[1], i, "o", color="C0")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(f"posterior median and {int(round((hi - lo) * 100))}% interval")
    return ax


def plot_image_grid(images: np.ndarray, *, ncols: int | None = None, ax=None,
                    cmap: str = "gray_r", vmin: float = 0.0, vmax: float = 1.0, pad: int = 1):
    """Images tiled row by row into one picture (VAE reconstructions, samples).

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, C, H, W)`` with ``C`` 1 (grey, drawn with ``cmap``) or 3 (RGB in
        ``[vmin, vmax]``), or ``(n, H, W)``.
    ncols : int, optional
        Images per row (default ``ceil(sqrt(n))``).
    pad : int
        Blank pixels between images.
    """
    ax = axes(ax)
    images = np.asarray(images, dtype=float)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have shape (n, C, H, W) with C = 1 or 3, or (n, H, W); got "
            f"{images.shape}. Reshape them, e.g. images.reshape(n, 1, H, W)."
        )
    n, c, h, w = images.shape
    ncols = int(np.ceil(np.sqrt(n))) if ncols is None else int(ncols)
    nrows = int(np.ceil(n / ncols))
    # background at vmin: blank with the grey colour map's "white" for gray_r
    canvas = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), vmin)
    for i in range(n):
        r, k = divmod(i, ncols)
        canvas[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = (
            images[i].transpose(1, 2, 0))  # (C, H, W) -> (H, W, C)
    if c == 1:
        ax.imshow(canvas[..., 0], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(np.clip((canvas - vmin) / (vmax - vmin), 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_latent_scatter(z: np.ndarray, labels=None, *, ax=None, s: float = 8.0):
    """Latent points in 2-D coloured by label.

    ``z`` is ``(n, K)``: ``K = 2`` is drawn as is, ``K > 2`` projected on its first
    two principal components, ``K = 1`` against the label (or the index).
    """
    ax = axes(ax)
    z = np.asarray(z, dtype=float)
    if z.ndim != 2:
        raise ValueError(f"z must have shape (n, K), got {z.shape}.")
    if z.shape[1] == 1:
        y = np.asarray(labels, dtype=float) if labels is not None else np.arange(len(z))
        xy, names = np.column_stack([z[:, 0], y]), ("z", "label" if labels is not None else "index")
    elif z.shape[1] == 2:
        xy, names = z, ("z[0]", "z[1]")
    else:
        centred = z - z.mean(0)
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T  # (n, 2) principal component scores
        share = sv[:2] ** 2 / np.sum(sv ** 2)
        names = (f"PC1 of z ({share[0]:.0%} of variance)", f"PC2 of z ({share[1]:.0%})")
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=s, color="C0")
    else:
        labels = np.asarray(labels)
        for k, value in enumerate(np.unique(labels)):
            keep = labels == value
            ax.scatter(xy[keep, 0], xy[keep, 1], s=s, color=f"C{k % 10}", label=str(value))
        ax.legend(title="label", frameon=False, fontsize="small", markerscale=2,
                  loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    return ax
