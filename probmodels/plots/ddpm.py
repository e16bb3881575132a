r"""DDPM plots: samples against the data, the denoising trajectory and the bound per
timestep in bits per dimension.

The negative ELBO of Ho et al. (2020, eq. 5) splits into one term per timestep,

.. math::

    L = L_T + \sum_{t=2}^{T} L_{t-1} + L_0,

(:meth:`~probmodels.models.ddpm.result.DDPMFit.evaluate`'s ``terms``); each term
divided by ``num_dims * ln 2`` is its share of the bits per dimension, and the
shares add up to the fit's ``bits_per_dim``.
"""

from __future__ import annotations

import numpy as np

from probmodels.metrics import bits_per_dim
from probmodels.plots.common import axes, plot_image_grid

__all__ = ["plot_bits_per_timestep", "plot_ddpm_samples", "plot_ddpm_trajectory"]


def _image_range(fit) -> dict:
    """Images of a DDPM live in [-1, 1] (discretised decoder) or in the data's own range."""
    return {"vmin": -1.0, "vmax": 1.0}


def plot_ddpm_samples(
    fit, n: int = 1000, *, steps: int | None = None, seed: int | None = None, data=None, ax=None
):
    """Scatter of ``n`` samples of a DDPM of vectors over ``data`` (grey; the first and
    last coordinates), or a grid of sampled images.

    Parameters
    ----------
    fit : DDPMFit
    n : int, default 1000
        Samples to draw (:meth:`DDPMFit.sample`).
    steps : int, optional
        Denoising steps (default ``T``, ancestral; fewer: DDIM).
    seed : int, optional
        Seed of the samples (default: the fit's).
    data : array-like, optional
        ``(N, D)`` data to draw underneath (vectors only).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Vectors: ``ax.collections`` are the data (when given), then the samples.
    """
    samples = fit.sample(n, steps=steps, seed=seed)
    ax = axes(ax, figsize=(5, 5))
    T = fit.ddpm.timesteps
    if fit.ddpm.event_dim == 1:
        if data is not None:
            d = np.asarray(data)
            ax.scatter(d[:, 0], d[:, -1], s=3, color="0.75", label="data")
        ax.scatter(samples[:, 0], samples[:, -1], s=3, color="C0", label="DDPM samples")
        ax.set_aspect("equal")
        ax.legend(frameon=False, loc="upper right", markerscale=3)
    else:
        plot_image_grid(samples, ax=ax, **_image_range(fit))
    how = f"T={T}" if steps in (None, T) else f"{steps} DDIM steps"
    ax.set_title(f"{n} samples, {how}")
    return ax


def plot_ddpm_trajectory(
    fit,
    n: int = 500,
    *,
    steps: int | None = None,
    num_frames: int = 6,
    seed: int | None = None,
    ax=None,
):
    """The reverse process from ``x_T`` to ``x_0`` at ``num_frames`` timesteps, left to right.

    2-D data: one scatter of ``n`` points per timestep, side by side; images: one
    row per example (at most 8), one column per timestep.

    Parameters
    ----------
    fit : DDPMFit
    n : int, default 500
        Examples to follow (:meth:`DDPMFit.trajectory`).
    steps : int, optional
        Denoising steps (default ``T``, ancestral; fewer: DDIM).
    num_frames : int, default 6
        Timesteps shown, ``x_T`` to ``x_0``.
    seed : int, optional
        Seed of the path (default: the fit's).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Vectors: one scatter per frame in ``ax.collections`` and its ``"t = ..."``
        label in ``ax.texts``.
    """
    ts, frames = fit.trajectory(n, steps=steps, num_frames=num_frames, seed=seed)
    ax = axes(ax, figsize=(12, 2.8))
    if fit.ddpm.event_dim == 1:
        lo, hi = np.quantile(frames[..., 0], [0.001, 0.999])
        shift = 1.15 * (hi - lo)
        top = np.quantile(frames[..., -1], 0.999)
        for k, (t, x) in enumerate(zip(ts, frames)):
            ax.scatter(x[:, 0] + k * shift, x[:, -1], s=2, color="C0" if t == 0 else "0.4")
            ax.text(k * shift + (lo + hi) / 2, top, f"t = {t}", ha="center", va="bottom")
        ax.set_aspect("equal")
        ax.set_xticks([])
    else:
        rows = min(n, 8)
        # (frames, rows, C, H, W) -> one row per example, one column per frame
        tiles = np.swapaxes(frames[:, :rows], 0, 1).reshape((-1,) + frames.shape[2:])
        plot_image_grid(tiles, ncols=len(ts), ax=ax, **_image_range(fit))
        ax.set_title("t = " + ", ".join(str(t) for t in ts), fontsize="small")
    return ax


def plot_bits_per_timestep(
    fit, x=None, *, evaluation=None, num_draws: int = 1, seed: int | None = None, ax=None
):
    """Each timestep's term of the negative ELBO in bits per dimension: ``L_0`` (the
    decoder) at ``t = 0``, ``L_{t-1}`` (the KL of step ``t``) at ``t - 1`` and the prior
    term ``L_T`` at ``T``; the title gives their sum, the fit's bits/dim.

    Parameters
    ----------
    fit : DDPMFit
    x : array-like, optional
        Data to evaluate (:meth:`DDPMFit.evaluate`); not needed with ``evaluation``.
    evaluation : DDPMEvaluation, optional
        A result of ``fit.evaluate(x)`` to draw instead of evaluating again.
    num_draws : int, default 1
        Draws of the bound per example when evaluating ``x``.
    seed : int, optional
        Seed of the evaluation (default: the fit's).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` holds ``(t, bits/dim of term t)`` for ``t = 0..T``; its values
        add up to ``evaluation.bits_per_dim``.
    """
    if evaluation is None:
        if x is None:
            raise ValueError(
                "plot_bits_per_timestep needs data x to evaluate, or evaluation=fit.evaluate(x)."
            )
        evaluation = fit.evaluate(x, num_draws=num_draws, seed=seed)
    terms = np.asarray(evaluation.terms, dtype=float)
    T = fit.ddpm.timesteps
    if terms.shape != (T + 1,):
        raise ValueError(
            f"evaluation.terms must have shape (T + 1,) = ({T + 1},) for this fit's "
            f"T={T}, got {terms.shape}; pass the evaluation of this fit."
        )
    bpd = bits_per_dim(terms, fit.ddpm.num_dims)
    ax = axes(ax)
    t = np.arange(T + 1)
    ax.plot(t, bpd, drawstyle="steps-mid", color="C0", lw=1.2)
    ax.plot([0], [bpd[0]], "o", color="C1", label="L_0 (decoder)")
    ax.plot([T], [bpd[T]], "s", color="C2", label="L_T (prior)")
    ax.axhline(0.0, color="0.6", lw=0.8)
    if T >= 50:
        ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(-0.5, T + 0.5)
    ax.set_xlabel("timestep t (term L_t)")
    ax.set_ylabel("bits per dimension")
    ax.set_title(
        f"bound per timestep, total {evaluation.bits_per_dim:.3f} bits/dim "
        f"(sum {float(bpd.sum()):.3f})"
    )
    ax.legend(frameon=False, fontsize="small")
    return ax
