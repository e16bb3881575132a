"""VAE plots: reconstructions, samples, the latent scatter, interpolation in ``z`` and the
loss curves. The :class:`~probmodels.models.vae.result.VAEFit` ``plot_*`` methods call these."""

from __future__ import annotations

import numpy as np

from probmodels._validation import check_int
from probmodels.plots.common import axes, plot_image_grid, plot_latent_scatter, plot_loss

__all__ = [
    "plot_vae_interpolation",
    "plot_vae_latent",
    "plot_vae_losses",
    "plot_vae_reconstructions",
    "plot_vae_samples",
]


def _check_images(fit, what: str) -> None:
    if len(fit.vae.input_shape) != 3:
        raise ValueError(
            f"{what} draws images; this VAE models vectors of shape "
            f"{fit.vae.input_shape}. Use fit.sample / fit.reconstruct directly."
        )


def plot_vae_reconstructions(fit, x, *, n: int = 10, ax=None):
    """The first ``n`` images of ``x`` (top row) above their reconstructions
    ``E[x | z = mu_phi(x)]`` (bottom row).

    Parameters
    ----------
    fit : VAEFit
        A VAE of images.
    x : array-like
        Examples, as for :meth:`VAE.fit`.
    n : int, default 10
        Images to show.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.images[0]`` is the two-row grid (:func:`~probmodels.plots.plot_image_grid`).
    """
    _check_images(fit, "plot_reconstructions")
    n = check_int(n, "n", minimum=1)
    x = np.asarray(fit._examples(x)[:n].cpu())
    grid = np.concatenate([x, fit.reconstruct(x)])
    ax = plot_image_grid(grid, ncols=len(x), ax=ax)
    ax.set_title("data (top) and reconstructions E[x | z = mu(x)] (bottom)")
    return ax


def plot_vae_samples(fit, n: int = 64, *, seed: int | None = 0, ax=None):
    """A grid of ``n`` images ``E[x | z]`` with ``z ~ N(0, I)`` (:meth:`VAEFit.sample`).

    Parameters
    ----------
    fit : VAEFit
        A VAE of images.
    n : int, default 64
        Images to draw.
    seed : int or None, default 0
        Seed of ``z``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check_images(fit, "plot_samples")
    ax = plot_image_grid(fit.sample(n, seed=seed), ax=ax)
    ax.set_title("samples E[x | z], z ~ N(0, I)")
    return ax


def plot_vae_latent(fit, x, labels=None, *, ax=None):
    """The posterior means ``mu_phi(x)`` in 2-D, one colour per label (first two
    principal components when ``K > 2``; :func:`~probmodels.plots.plot_latent_scatter`).

    Parameters
    ----------
    fit : VAEFit
    x : array-like
        Examples, as for :meth:`VAE.fit`.
    labels : array-like, optional
        ``(data,)`` class of each example.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        With labels, ``ax.collections[k]`` holds the examples of the ``k``-th
        label in sorted order, in colour ``"C{k % 10}"``.
    """
    loc, _ = fit.encode(x)
    if labels is not None and len(labels) != loc.shape[0]:
        raise ValueError(
            f"labels must give one label per example ({loc.shape[0]}), got {len(labels)}."
        )
    return plot_latent_scatter(loc, labels, ax=ax)


def plot_vae_interpolation(fit, x1, x2, *, steps: int = 8, ax=None):
    """Decoded means along the straight line in ``z`` between the posterior means of two
    examples (:meth:`VAEFit.interpolate`): the first is ``E[x | z = mu_phi(x1)]``, the
    last ``E[x | z = mu_phi(x2)]``.

    Images are shown in one row, left to right; vectors as the path of their
    first two coordinates (or of the one coordinate against the step).

    Parameters
    ----------
    fit : VAEFit
    x1 : array-like
        The first example, ``input_shape`` or ``(1,) + input_shape``.
    x2 : array-like
        The second example, likewise.
    steps : int, default 8
        Points on the line, both ends included.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Images: ``ax.images[0]`` is the one-row grid; vectors: ``ax.lines[0]`` the path.
    """
    path = fit.interpolate(x1, x2, steps=steps)  # (steps,) + input_shape
    if len(fit.vae.input_shape) == 3:
        ax = plot_image_grid(path, ncols=path.shape[0], ax=ax)
        ax.set_title("E[x | z] along z from mu(x1) to mu(x2)", fontsize="small")
        return ax
    ax = axes(ax, figsize=(5.0, 5.0))
    if path.shape[1] >= 2:
        ax.plot(path[:, 0], path[:, 1], "-o", color="C0", ms=4)
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]")
    else:
        ax.plot(np.arange(path.shape[0]), path[:, 0], "-o", color="C0", ms=4)
        ax.set_xlabel("step")
        ax.set_ylabel("x[0]")
    ax.set_title("decoded means along z from mu(x1) to mu(x2)")
    return ax


def plot_vae_losses(fit, *, window: int = 50, ax=None):
    """Training loss per epoch (with its running mean over ``window`` epochs) and the
    validation loss per epoch when the fit held data out.

    Parameters
    ----------
    fit : VAEFit
    window : int, default 50
        Epochs in the running mean.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` is the training loss, the last line the validation loss.
    """
    ax = plot_loss(fit.losses, val_losses=fit.val_losses, window=window, xlabel="epoch", ax=ax)
    ax.set_title("VAE loss (negative ELBO per example)")
    return ax
