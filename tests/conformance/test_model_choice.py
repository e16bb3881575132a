"""Choosing K and the AR order: ``best`` weighs the LOO difference against its standard
error (issue 10, item 3), on scikit-learn's blobs and a simulated AR(2).

The truth is known in both cases and confirmed here by a reference: scikit-learn's BIC
picks K = 3 for the blobs, statsmodels' ``ar_select_order`` (BIC) picks order 2.
"""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from statsmodels.tsa.ar_model import ar_select_order

import probmodels as pm


def simulate_ar2(T=300, phi=(0.6, -0.3), burn=200, seed=0):
    """A numpy AR(2) with unit innovations, the first ``burn`` values dropped."""
    rng = np.random.default_rng(seed)
    y = np.zeros(T + burn)
    for t in range(2, T + burn):
        y[t] = phi[0] * y[t - 1] + phi[1] * y[t - 2] + rng.standard_normal()
    return y[burn:]


@pytest.mark.filterwarnings("ignore:PSIS check")  # redundant components fit poorly; that is the point
def test_compare_components_best_is_three_on_three_blobs():
    x = make_blobs(600, centers=3, random_state=170)[0]
    ks = range(1, 6)
    reference = [SkGaussianMixture(k, n_init=5, random_state=0).fit(x).bic(x) for k in ks]
    assert int(np.argmin(reference)) + 1 == 3  # the reference agrees on the truth
    # 1,000 draws per fit: PSIS-LOO's standard errors need no more, and LOO, the
    # posterior predictive and BIC of five fits cost time in proportion
    result = pm.compare_components(x, ks, seed=0, num_samples=1000)
    assert result.best == 3, f"best K = {result.best}\n{result.table.to_string()}"
    assert list(result.table.index) and set(result.table.index) == {f"K={k}" for k in ks}


def test_compare_orders_best_is_two_for_a_simulated_ar2():
    y = simulate_ar2()
    reference = ar_select_order(y, maxlag=6, ic="bic", trend="c")
    assert reference.ar_lags == [1, 2]  # the reference agrees on the truth
    result = pm.compare_orders(y, range(1, 7), seed=0)
    assert result.best == 2, f"best order = {result.best}\n{result.table.to_string()}"
    assert set(result.table.index) == {f"AR({p})" for p in range(1, 7)}
