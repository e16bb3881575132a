"""Plots shared by the models (matplotlib). Every function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "axes",
    "plot_forecast",
    "plot_image_grid",
    "plot_latent_scatter",
    "plot_loo_comparison",
    "plot_loss",
    "plot_posterior_intervals",
]


def axes(ax, figsize: tuple[float, float] = (8.0, 4.0)):
    """``ax``, or the Axes of a new pyplot figure of ``figsize`` when ``ax`` is None.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or None
        The Axes to draw on.
    figsize : tuple of float, default (8.0, 4.0)
        Size in inches of the new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _x(index: pd.Index):
    """Plottable x values: periods become timestamps, everything else as is."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    return index


def plot_forecast(
    history: pd.Series,
    forecast: pd.DataFrame,
    *,
    lower: str | None = None,
    upper: str | None = None,
    mean: str = "mean",
    bands: Sequence[tuple[str, str]] = (),
    labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """History as a line, the forecast mean dashed and shaded bands between quantile columns.

    Parameters
    ----------
    history : pandas.Series
        Observed values indexed by time.
    forecast : pandas.DataFrame
        Indexed by the future time labels, with the column ``mean`` and the band columns.
    lower : str, optional
        The lower column of a single band (the same as ``bands=[(lower, upper)]``).
    upper : str, optional
        Its upper column.
    mean : str, default "mean"
        The column of the forecast mean.
    bands : sequence of (str, str)
        ``(lower, upper)`` column pairs, widest first: each band is drawn over the
        one before it, darker, so that a fan chart shows its inner bands.
    labels : sequence of str, optional
        One legend label per band (default ``"lower-upper"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        The observed line is ``ax.lines[0]``, the mean ``ax.lines[1]`` and the bands
        ``ax.collections`` in the order of ``bands``.
    """
    pairs = list(bands)
    if lower is not None or upper is not None:
        if lower is None or upper is None:
            raise ValueError(
                f"lower and upper name the two columns of one band; got lower="
                f"{lower!r}, upper={upper!r}. Pass both, or bands=[(lower, upper)]."
            )
        pairs.insert(0, (lower, upper))
    if not pairs:
        raise ValueError(
            "plot_forecast needs at least one band: pass lower= and upper= or "
            "bands=[(lower, upper), ...] naming quantile columns of the forecast."
        )
    if labels is not None and len(labels) != len(pairs):
        raise ValueError(f"labels must give one label per band ({len(pairs)}), got {len(labels)}.")
    from matplotlib.colors import to_rgb

    ax = axes(ax)
    ax.plot(_x(history.index), history.to_numpy(), color="k", lw=1.0, label="observed")
    fx = _x(forecast.index)
    ax.plot(fx, forecast[mean].to_numpy(), color="C0", ls="--", lw=1.5, label="forecast mean")
    # opaque tints of C0 (so that the legend shows each band as drawn), darker inwards;
    # the lines stay on top (zorder 2 over the bands' 1)
    base = np.asarray(to_rgb("C0"))
    for i, (lo, hi) in enumerate(pairs):
        strength = 0.25 if len(pairs) == 1 else 0.2 + 0.45 * i / (len(pairs) - 1)
        ax.fill_between(
            fx,
            forecast[lo].to_numpy(),
            forecast[hi].to_numpy(),
            color=1.0 - strength * (1.0 - base),
            lw=0,
            label=labels[i] if labels is not None else f"{lo}-{hi}",
        )
    ax.set_ylabel(str(history.name) if history.name is not None else "value")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", frameon=False)
    return ax


def plot_loss(
    losses: np.ndarray, *, ax=None, window: int = 50, val_losses=None, xlabel: str = "step"
):
    """The training loss at each step (or epoch) with a running mean over ``window`` values,
    and the validation loss when given.

    Parameters
    ----------
    losses : numpy.ndarray
        ``(steps,)`` training losses (negative ELBO, nats).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    window : int, default 50
        Values in the running mean (drawn only for at least ``window`` losses).
    val_losses : numpy.ndarray, optional
        ``(steps,)`` validation losses on the same x positions; drawn when not empty.
    xlabel : str, default "step"

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` is the training loss.
    """
    ax = axes(ax)
    losses = np.asarray(losses, dtype=float)
    ax.plot(losses, color="0.7", lw=0.5 if losses.size > 200 else 1.0, label="training loss")
    if losses.size >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, losses.size), smooth, color="C0", label=f"mean of {window}")
    if val_losses is not None and np.asarray(val_losses).size:
        ax.plot(np.asarray(val_losses, dtype=float), color="C1", lw=1.5, label="validation loss")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("negative ELBO (nats)")
    ax.legend(frameon=False)
    return ax


def plot_loo_comparison(
    table: pd.DataFrame, complexity: Mapping[str, float], best: str, *, xlabel: str, ax=None
):
    """``elpd_loo`` with its standard error per model, against each model's complexity,
    with the chosen model marked.

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by model name, with columns ``elpd_loo`` and ``se`` (and ``warning``:
        unreliable rows are drawn hollow), as :func:`probmodels.comparison.compare_fits`
        returns.
    complexity : mapping of str to number
        The x position of each model (its order, its number of components).
    best : str
        The name of the chosen model (a row of ``table``).
    xlabel : str
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` joins the models' ``elpd_loo`` in order of complexity;
        ``ax.lines[1]`` is the marker of ``best``.
    """
    if best not in table.index:
        raise ValueError(f"best must be a row of the table {list(table.index)}, got {best!r}.")
    ax = axes(ax, figsize=(6.0, 4.0))
    names = sorted(table.index, key=lambda n: complexity[n])
    x = np.array([complexity[n] for n in names], dtype=float)
    elpd = table.loc[names, "elpd_loo"].to_numpy(dtype=float)
    se = table.loc[names, "se"].to_numpy(dtype=float)
    ax.plot(x, elpd, "-", color="C0", lw=1.0, label="elpd_loo")
    b = names.index(best)
    ax.plot([x[b]], [elpd[b]], "*", color="C3", ms=16, zorder=4, label=f"best: {best}")
    ax.errorbar(x, elpd, yerr=se, fmt="none", ecolor="C0", capsize=3, label="± 1 se")
    bad = (
        table.loc[names, "warning"].to_numpy(dtype=bool)
        if "warning" in table
        else np.zeros(len(names), dtype=bool)
    )
    ax.scatter(x[~bad], elpd[~bad], color="C0", zorder=3)
    if bad.any():
        ax.scatter(
            x[bad],
            elpd[bad],
            facecolors="white",
            edgecolors="C0",
            zorder=3,
            label="unreliable LOO (Pareto k > 0.7)",
        )
    ax.set_xticks(x, [str(int(v)) if float(v).is_integer() else str(v) for v in x])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("elpd_loo (higher is better)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_posterior_intervals(
    draws: dict[str, np.ndarray], *, ax=None, interval: tuple[float, float] = (0.05, 0.95)
):
    """Posterior median and interval of each scalar, one row per parameter entry.

    Parameters
    ----------
    draws : dict of str to numpy.ndarray
        A label and the draws of one scalar (any shape; flattened).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    interval : tuple of float, default (0.05, 0.95)
        The quantiles of the interval.

    Returns
    -------
    matplotlib.axes.Axes
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


def plot_image_grid(
    images: np.ndarray,
    *,
    ncols: int | None = None,
    ax=None,
    cmap: str = "gray_r",
    vmin: float = 0.0,
    vmax: float = 1.0,
    pad: int = 1,
):
    """Images tiled row by row into one picture (VAE reconstructions, samples).

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, C, H, W)`` with ``C`` 1 (grey, drawn with ``cmap``) or 3 (RGB in
        ``[vmin, vmax]``), or ``(n, H, W)``.
    ncols : int, optional
        Images per row (default ``ceil(sqrt(n))``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    cmap : str, default "gray_r"
        Colour map of one-channel images.
    vmin : float, default 0.0
        The value drawn white (``gray_r``), and the blank between images.
    vmax : float, default 1.0
        The value drawn black.
    pad : int, default 1
        Blank pixels between images.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.images[0]`` is the tiled picture.
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
        canvas[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = images[
            i
        ].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if c == 1:
        ax.imshow(canvas[..., 0], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(np.clip((canvas - vmin) / (vmax - vmin), 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_latent_scatter(z: np.ndarray, labels=None, *, ax=None, s: float = 8.0):
    """Latent points in 2-D coloured by label.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, K)``: ``K = 2`` is drawn as is, ``K > 2`` projected on its first two
        principal components, ``K = 1`` against the label (or the index).
    labels : array-like, optional
        ``(n,)``; one scatter per distinct label, in sorted order, coloured
        ``"C{k % 10}"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    s : float, default 8.0
        Marker size.

    Returns
    -------
    matplotlib.axes.Axes
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
        share = sv[:2] ** 2 / np.sum(sv**2)
        names = (f"PC1 of z ({share[0]:.0%} of variance)", f"PC2 of z ({share[1]:.0%})")
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=s, color="C0")
    else:
        labels = np.asarray(labels)
        for k, value in enumerate(np.unique(labels)):
            keep = labels == value
            ax.scatter(xy[keep, 0], xy[keep, 1], s=s, color=f"C{k % 10}", label=str(value))
        ax.legend(
            title="label",
            frameon=False,
            fontsize="small",
            markerscale=2,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
        )
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    return ax
