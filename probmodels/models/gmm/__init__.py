"""Gaussian mixture with latent assignments: sites and the Pyro model (:mod:`.sites`),
EM/MAP/Laplace starts (:mod:`.start`), the model class (:mod:`.model`), the variational
recipe (:mod:`.svi`), the result (:mod:`.result`) and the choice of K (:mod:`.compare`)."""

from probmodels.models.gmm.compare import ComponentComparison, compare_components
from probmodels.models.gmm.model import GaussianMixture
from probmodels.models.gmm.result import GMMFit
from probmodels.models.gmm.sites import OrderedIID

__all__ = ["ComponentComparison", "GMMFit", "GaussianMixture", "OrderedIID", "compare_components"]
