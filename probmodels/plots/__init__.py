"""Plots (matplotlib). Every function takes ``ax=None`` (``axes=None`` for the multi-panel
:func:`plot_residual_diagnostics`) and returns what it drew on.

:mod:`~probmodels.plots.common` holds the plots every model shares (forecast,
loss, intervals, image grids, latent scatters, LOO comparisons); one module per
model holds its own (:mod:`~probmodels.plots.ar`, :mod:`~probmodels.plots.gmm`,
:mod:`~probmodels.plots.vae`, :mod:`~probmodels.plots.ddpm`). The result classes'
``plot_*`` methods call these.
"""

from probmodels.plots.ar import (
    ar_residuals,
    pit_values,
    plot_fan_chart,
    plot_order_comparison,
    plot_pit_histogram,
    plot_residual_acf,
    plot_residual_diagnostics,
    plot_residual_qq,
    plot_residuals,
    plot_stationarity_region,
)
from probmodels.plots.common import (
    axes,
    plot_forecast,
    plot_image_grid,
    plot_latent_scatter,
    plot_loo_comparison,
    plot_loss,
    plot_posterior_intervals,
)
from probmodels.plots.ddpm import plot_bits_per_timestep, plot_ddpm_samples, plot_ddpm_trajectory
from probmodels.plots.gmm import (
    component_colors,
    plot_component_comparison,
    plot_covariance_ellipses,
    plot_mixture_density,
    plot_mixture_scatter,
    plot_responsibility_map,
)
from probmodels.plots.vae import (
    plot_vae_interpolation,
    plot_vae_latent,
    plot_vae_losses,
    plot_vae_reconstructions,
    plot_vae_samples,
)

__all__ = [
    # shared
    "axes",
    "plot_forecast",
    "plot_image_grid",
    "plot_latent_scatter",
    "plot_loo_comparison",
    "plot_loss",
    "plot_posterior_intervals",
    # AR
    "ar_residuals",
    "pit_values",
    "plot_fan_chart",
    "plot_order_comparison",
    "plot_pit_histogram",
    "plot_residual_acf",
    "plot_residual_diagnostics",
    "plot_residual_qq",
    "plot_residuals",
    "plot_stationarity_region",
    # GMM
    "component_colors",
    "plot_component_comparison",
    "plot_covariance_ellipses",
    "plot_mixture_density",
    "plot_mixture_scatter",
    "plot_responsibility_map",
    # VAE
    "plot_vae_interpolation",
    "plot_vae_latent",
    "plot_vae_losses",
    "plot_vae_reconstructions",
    "plot_vae_samples",
    # DDPM
    "plot_bits_per_timestep",
    "plot_ddpm_samples",
    "plot_ddpm_trajectory",
]
