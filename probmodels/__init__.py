"""probmodels: ready, correct and fast probabilistic models on Pyro and PyTorch.

The public names are imported lazily (PEP 562), so that torch-free modules such
as :mod:`probmodels.export` can be used without importing torch or Pyro.
"""

from importlib import import_module

__version__ = "0.0.1"

# public name -> module that defines it
_LAZY = {
    # models
    "BayesianAR": "probmodels.models.ar",
    "compare_orders": "probmodels.models.ar",
    "GaussianMixture": "probmodels.models.gmm",
    "compare_components": "probmodels.models.gmm",
    "VAE": "probmodels.models.vae",
    "DDPM": "probmodels.models.ddpm",
    "mmd2": "probmodels.metrics",
    # results and inference
    "FitResult": "probmodels.results",
    "load": "probmodels.models",
    # data
    "datasets": "probmodels.datasets",
    "nn": "probmodels.nn",
    "to_arviz": "probmodels.export",
}

__all__ = sorted(["__version__", *_LAZY])


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'probmodels' has no attribute {name!r}")
    mod = import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
