"""Variational autoencoder: networks and data checks (:mod:`.networks`), the model and
its Pyro pair (:mod:`.model`) and the result (:mod:`.result`)."""

from probmodels.models.vae.model import (
    ARCHITECTURES,
    LIKELIHOODS,
    VAE,
    Architecture,
    Likelihood,
    VAETrainConfig,
)
from probmodels.models.vae.result import VAEFit

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "LIKELIHOODS",
    "Likelihood",
    "VAE",
    "VAEFit",
    "VAETrainConfig",
]
