"""Choosing the number of mixture components by PSIS-LOO (and BIC)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from probmodels._validation import check_int
from probmodels.comparison import compare_fits
from probmodels.infer.runtime import resolve_seed
from probmodels.models.gmm.model import Covariance, GaussianMixture, Method
from probmodels.models.gmm.result import GMMFit

__all__ = ["ComponentComparison", "compare_components"]


@dataclass
class ComponentComparison:
    """Mixtures with different numbers of components compared by PSIS-LOO and BIC.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``"K=k"``, best by LOO first: ``rank``, ``elpd_loo``, ``p_loo``,
        ``elpd_diff``, ``weight``, ``se``, ``dse`` (``arviz.compare``), ``khat`` (the
        PSIS k-hat of the variational fit, NaN for NUTS), ``max_pareto_k`` (of the
        LOO), ``warning`` (either above 0.7: that row's LOO is unreliable), ``bic``
        (lower is better), ``n_parameters``.
    fits : dict of int to GMMFit
    best : int
        The ``K`` to use, by the rule of :func:`probmodels.diagnostics.choose_best`:
        the fewest components whose ``elpd_loo`` is within one standard error of the
        best reliable fit's; ``reason`` says why.
    reason : str
    best_bic : int
        ``K`` with the lowest BIC, for reference.
    """

    table: pd.DataFrame
    fits: dict[int, GMMFit]
    best: int
    reason: str
    best_bic: int

    def plot(self, *, ax=None):
        """``elpd_loo`` (± 1 se) of each ``K`` with :attr:`best` marked
        (:func:`probmodels.plots.gmm.plot_component_comparison`); returns the Axes."""
        from probmodels.plots.gmm import plot_component_comparison

        return plot_component_comparison(self, ax=ax)


def compare_components(
    data,
    n_components: Sequence[int] = range(1, 6),
    *,
    covariance: Covariance = "full",
    priors: Mapping[str, Any] | None = None,
    method: Method = "svi",
    seed: int | None = None,
    progress: bool | None = False,
    **options,
) -> ComponentComparison:
    """Fit a mixture for each ``K`` in ``n_components`` and compare them by PSIS-LOO and BIC.

    The fits' own PSIS warnings are not shown: their k-hat is in the table, and
    a fit whose k-hat exceeds 0.7 is never chosen as ``best``.

    ``priors`` apply to every ``K`` (a ``pi`` prior fixes ``K``, so leave it out
    here). The ``bic`` column is :meth:`GMMFit.bic`, at the maximum likelihood. ``**options`` go to :meth:`GaussianMixture.fit`.

    ``sample_weight`` is refused: PSIS-LOO takes one log-likelihood per row and
    would ignore the weights that the fits and BIC use. Integer frequency
    weights stand for replicated rows, so pass the replicated data
    (``np.repeat(x, w, axis=0)``, or ``x.loc[x.index.repeat(w)]`` for a
    DataFrame); other weights can be compared by BIC, ``fit.bic()`` of each
    weighted fit.
    """
    if "sample_weight" in options:
        raise ValueError(
            "compare_components does not take sample_weight: its PSIS-LOO uses one "
            "log-likelihood per row and would ignore the weights that the fits and BIC use. "
            "For integer frequency weights pass the replicated rows instead, "
            "np.repeat(x, w, axis=0) (x.loc[x.index.repeat(w)] for a DataFrame); for other "
            "weights compare GaussianMixture(k).fit(x, sample_weight=w).bic() across k."
        )
    ks = sorted({check_int(k, "n_components", minimum=1) for k in n_components})
    if not ks:
        raise ValueError("n_components is empty; pass e.g. n_components=range(1, 6).")
    seed = resolve_seed(seed)
    with warnings.catch_warnings():
        # a fit's PSIS warning is the table's khat and warning columns here
        warnings.filterwarnings("ignore", message="PSIS check", category=UserWarning)
        fits = {
            k: GaussianMixture(k, covariance=covariance, priors=priors).fit(
                data, method=method, seed=seed, progress=progress, **options
            )
            for k in ks
        }
    table, best, reason = compare_fits(
        {f"K={k}": fit for k, fit in fits.items()}, {f"K={k}": k for k in ks}
    )
    table["bic"] = [fits[int(str(i)[2:])].bic() for i in table.index]
    table["n_parameters"] = [fits[int(str(i)[2:])].layout.num_parameters() for i in table.index]
    best_bic = int(str(table["bic"].idxmin())[2:])
    return ComponentComparison(
        table=table, fits=fits, best=int(best[2:]), reason=reason, best_bic=best_bic
    )
