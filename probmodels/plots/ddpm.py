"""DDPM plots: samples against the data, and the denoising trajectory."""

from __future__ import annotations

import numpy as np

from probmodels.plots.common import axes, plot_image_grid

__all__ = ["plot_ddpm_samples", "plot_ddpm_trajectory"]


def _image_range(fit) -> dict:
    """Images of a DDPM live in [-1, 1] (discretised decoder) or in the data's own range."""
    return {"vmin": -1.0, "vmax": 1.0}


def plot_ddpm_samples(fit, n: int = 1000, *, steps: int | None = None, seed: int | None = None,
                      data=None, ax=None):
    """Scatter of ``n`` samples of a 2-D DDPM over ``data`` (grey), or a grid of sampled
    images; returns the Axes."""
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


def plot_ddpm_trajectory(fit, n: int = 500, *, steps: int | None = None, num_frames: int = 6,
                         seed: int | None = None, ax=None):
    """The reverse process from ``x_T`` to ``x_0`` at ``num_frames`` timesteps, left to right.

    2-D data: one scatter of ``n`` points per timestep, side by side; images: one
    row per example (at most 8), one column per timestep. Returns the Axes.
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
