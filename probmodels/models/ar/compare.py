"""Choosing the AR order by PSIS-LOO on common time steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from probmodels._validation import check_int
from probmodels.comparison import compare_fits
from probmodels.infer.runtime import resolve_seed
from probmodels.models.ar.model import BayesianAR, Method
from probmodels.models.ar.result import ARFit

__all__ = ["OrderComparison", "compare_orders"]


@dataclass
class OrderComparison:
    """PSIS-LOO comparison of AR orders fitted on the same time steps.

    Attributes
    ----------
    table : pandas.DataFrame
        ``arviz.compare`` columns (``rank``, ``elpd_loo``, ``p_loo``, ``elpd_diff``,
        ``weight``, ``se``, ``dse``) indexed by ``"AR(p)"``, best ``elpd_loo`` first,
        plus ``khat`` (the fit's PSIS k-hat, NaN for exact draws and NUTS),
        ``max_pareto_k`` (of the LOO) and ``warning`` (either above 0.7: that
        row's LOO is unreliable).
    fits : dict of int to ARFit
        The fit of each order.
    best : int
        The order to use, by the rule of :func:`probmodels.diagnostics.choose_best`:
        the lowest order whose ``elpd_loo`` is within one standard error of the
        best reliable one's; ``reason`` says why.
    reason : str
    hold_back : int
        The common number of initial values every order conditioned on.
    """

    table: pd.DataFrame
    fits: dict[int, ARFit]
    best: int
    reason: str
    hold_back: int

    def plot(self, *, ax=None):
        """``elpd_loo`` (± 1 se) of each order with :attr:`best` marked
        (:func:`probmodels.plots.ar.plot_order_comparison`); returns the Axes."""
        from probmodels.plots.ar import plot_order_comparison

        return plot_order_comparison(self, ax=ax)


def compare_orders(
    data,
    orders: Sequence[int] = range(1, 11),
    *,
    priors: Mapping[str, Any] | None = None,
    method: Method = "exact",
    seed: int | None = None,
    progress: bool | None = False,
    **options,
) -> OrderComparison:
    """Fit AR(p) for each order and compare them by PSIS-LOO.

    Every order conditions on the first ``max(orders)`` values (``hold_back``),
    so all are scored on the same time steps; comparing orders on different
    steps would be meaningless. ``**options`` go to :meth:`BayesianAR.fit`.
    """
    orders = sorted({check_int(p, "order", minimum=1) for p in orders})
    if not orders:
        raise ValueError("orders is empty; pass e.g. orders=range(1, 6).")
    hold_back = orders[-1]
    seed = resolve_seed(seed)
    fits = {
        p: BayesianAR(p, priors=priors, hold_back=hold_back).fit(
            data, method=method, seed=seed, progress=progress, **options
        )
        for p in orders
    }
    names = {p: f"AR({p})" for p in orders}
    table, best, reason = compare_fits(
        {names[p]: fit for p, fit in fits.items()}, {names[p]: p for p in orders}
    )
    return OrderComparison(
        table=table, fits=fits, best=int(best[3:-1]), reason=reason, hold_back=hold_back
    )
