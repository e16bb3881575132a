"""Plots (matplotlib). Every function takes ``ax=None`` and returns the Axes.

:mod:`~probmodels.plots.common` holds the plots every model shares (forecast,
loss, intervals, image grids, latent scatters); one module per model holds its
own (:mod:`~probmodels.plots.gmm`). The result classes' ``plot_*`` methods call
these.
"""

from probmodels.plots.common import (axes, plot_forecast, plot_image_grid, plot_latent_scatter,
                                     plot_loss, plot_posterior_intervals)

__all__ = ["axes", "plot_forecast", "plot_image_grid", "plot_latent_scatter", "plot_loss",
           "plot_posterior_intervals"]
