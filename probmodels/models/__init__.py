"""The models: one module each. Importing this package registers their result classes."""

from probmodels.models.ar import ARFit, BayesianAR, OrderComparison, compare_orders
from probmodels.models.ddpm import DDPM, DDPMEvaluation, DDPMFit, mmd2
from probmodels.models.gmm import ComponentComparison, GaussianMixture, GMMFit, compare_components
from probmodels.models.vae import VAE, VAEFit

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
    "mmd2",
]
