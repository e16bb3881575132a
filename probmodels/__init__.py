"""probmodels: ready, correct and fast probabilistic models on Pyro and PyTorch.

Only the shared neural building blocks (:mod:`probmodels.nn`) have landed so
far; the models (Bayesian AR, Gaussian mixture, VAE, DDPM) are open issues.
"""

__version__ = "0.0.1"

__all__ = ["__version__"]
