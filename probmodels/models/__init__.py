"""The models: one module (or package) each. Importing this package registers their result
classes, so :func:`load` reads a fit of any model."""

from probmodels.models.ar import ARFit, BayesianAR, OrderComparison, compare_orders
from probmodels.models.ddpm import DDPM, DDPMEvaluation, DDPMFit
from probmodels.models.gmm import ComponentComparison, GaussianMixture, GMMFit, compare_components
from probmodels.models.vae import VAE, VAEFit
from probmodels.results import FitResult, _load


def load(path) -> FitResult:
    """Load a fit saved with ``fit.save(path)``; returns the model's result class
    (see :func:`probmodels.results.load` for the errors)."""
    return _load(path, FitResult)


__all__ = [
    "ARFit",
    "BayesianAR",
    "ComponentComparison",
    "DDPM",
    "DDPMEvaluation",
    "DDPMFit",
    "GMMFit",
    "GaussianMixture",
    "OrderComparison",
    "VAE",
    "VAEFit",
    "compare_components",
    "compare_orders",
    "load",
]
