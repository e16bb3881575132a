"""The models: one module each. Importing this package registers their result classes."""

from probmodels.models.ar import ARFit, BayesianAR, OrderComparison, compare_orders

__all__ = ["ARFit", "BayesianAR", "OrderComparison", "compare_orders"]
