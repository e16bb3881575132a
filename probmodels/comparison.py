"""Model comparison by PSIS-LOO with a choice that weighs the difference against its error.

:func:`compare_fits` is the one implementation behind ``compare_orders`` (AR) and
``compare_components`` (mixture): ``arviz.compare``'s table (the same under ArviZ
0.23 and >= 1.0, :func:`probmodels.export.compare_loo`), each fit's reliability
(the largest Pareto k of its LOO and the PSIS k-hat of the fit itself) and the
model to use, by :func:`probmodels.diagnostics.choose_best`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from probmodels.diagnostics import KHAT_THRESHOLD, choose_best, loo_pointwise

__all__ = ["compare_fits"]


def compare_fits(
    fits: Mapping[str, Any], complexity: Mapping[str, float]
) -> tuple[pd.DataFrame, str, str]:
    """Compare fits scored on the same observations.

    Parameters
    ----------
    fits : mapping of model name to fit
        Each with ``to_arviz()``, ``log_likelihood()`` ``(chain, draw, ...)`` and
        ``diagnostics`` (``"khat"`` where the draws came from an approximation).
    complexity : mapping of model name to number
        What "simplest" means (the order, the number of components).

    Returns
    -------
    table : pandas.DataFrame
        ``compare_loo``'s columns, best ``elpd_loo`` first, plus ``khat`` (the fit's),
        ``max_pareto_k`` (of its LOO) and ``warning`` (True where either exceeds 0.7:
        that row's LOO is not reliable).
    best : str
        The name :func:`~probmodels.diagnostics.choose_best` picks.
    reason : str
        Why, in one sentence.
    """
    from probmodels.export import compare_loo

    with warnings.catch_warnings():
        # ArviZ warns about large Pareto k, which the table's columns report
        warnings.filterwarnings("ignore", message=r".*Pareto", category=UserWarning)
        table = compare_loo({name: fit.to_arviz() for name, fit in fits.items()}).copy()
    pointwise, reliable, max_k, khat = {}, {}, {}, {}
    for name, fit in fits.items():
        ll = np.asarray(fit.log_likelihood())
        elpd, k = loo_pointwise(ll.reshape(ll.shape[0] * ll.shape[1], -1))
        pointwise[name] = elpd
        khat[name] = float(fit.diagnostics.get("khat", np.nan))
        max_k[name] = float(k.max())
        # ArviZ's threshold for the LOO's Pareto k: 0.7, lower for fewer than 2,200 draws
        good_k = min(1.0 - 1.0 / np.log10(ll.shape[0] * ll.shape[1]), KHAT_THRESHOLD)
        reliable[name] = bool(max_k[name] <= good_k and not khat[name] > KHAT_THRESHOLD)
    table["khat"] = [khat[i] for i in table.index]
    table["max_pareto_k"] = [max_k[i] for i in table.index]
    table["warning"] = [not reliable[i] for i in table.index]
    best, reason = choose_best(pointwise, complexity, reliable)
    return table, best, reason
