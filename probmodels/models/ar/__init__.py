"""Bayesian AR(p): the regression design (:mod:`.design`), the model and its Pyro pair
(:mod:`.model`), the exact posterior (:mod:`.exact`), the result (:mod:`.result`) and
order comparison (:mod:`.compare`); many series of a long table (:mod:`.many`)."""

from probmodels.models.ar.compare import OrderComparison, compare_orders
from probmodels.models.ar.design import lag_matrix
from probmodels.models.ar.many import ManyARFit
from probmodels.models.ar.model import BayesianAR
from probmodels.models.ar.result import ARFit

__all__ = ["ARFit", "BayesianAR", "ManyARFit", "OrderComparison", "compare_orders", "lag_matrix"]
